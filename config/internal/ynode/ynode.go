// Package ynode builds yaml.v3 node trees in a fixed key order, for files a
// person will read (deploy.yml, litestream.yml). Scalars that a YAML 1.1
// reader would take for something else are quoted: Kamal reads deploy.yml
// with Ruby's Psych, where `1000:1000` is a base-60 number and `on` a bool.
package ynode

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Map builds a mapping from alternating keys (string) and values (*yaml.Node).
// It panics on a programming error (odd arguments, wrong types), never on
// user input.
func Map(kv ...any) *yaml.Node {
	if len(kv)%2 != 0 {
		panic("ynode.Map: odd number of arguments")
	}
	n := &yaml.Node{Kind: yaml.MappingNode}
	for i := 0; i < len(kv); i += 2 {
		n.Content = append(n.Content, Str(kv[i].(string)), kv[i+1].(*yaml.Node))
	}
	return n
}

// Add appends a key and value to a mapping.
func Add(m *yaml.Node, key string, v *yaml.Node) {
	m.Content = append(m.Content, Str(key), v)
}

// Comment sets a head comment on the value of key in mapping m (shown above
// the key).
func Comment(m *yaml.Node, key, comment string) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			m.Content[i].HeadComment = comment
			return
		}
	}
}

// Seq builds a sequence of nodes.
func Seq(items ...*yaml.Node) *yaml.Node {
	return &yaml.Node{Kind: yaml.SequenceNode, Content: items}
}

// Strs builds a sequence of strings.
func Strs(items ...string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.SequenceNode}
	for _, s := range items {
		n.Content = append(n.Content, Str(s))
	}
	return n
}

// Str is a string scalar, quoted when a YAML 1.1 reader would misread it.
func Str(s string) *yaml.Node {
	n := &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
	if Ambiguous11(s) {
		n.Style = yaml.DoubleQuotedStyle
	}
	return n
}

// Bool is a boolean scalar.
func Bool(b bool) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(b)}
}

// Int is an integer scalar.
func Int(i int) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: fmt.Sprint(i)}
}

// Raw is a scalar with an explicit tag and literal text (e.g. an octal int).
func Raw(tag, value string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: value}
}

var (
	yaml11Bool = map[string]bool{"y": true, "n": true, "yes": true, "no": true, "on": true, "off": true, "true": true, "false": true, "null": true, "~": true}
	// Numbers in YAML 1.1, including base 60 (190:20:30) and 0o/0x forms.
	// Digits with colons (1000:1000) look like YAML 1.1 base-60 numbers
	// to a reader even when the spec says otherwise: quote them.
	numberish    = regexp.MustCompile(`^[0-9][0-9_]*(?::[0-9_]+)+$`)
	yaml11Number = regexp.MustCompile(`^[-+]?(?:[0-9][0-9_]*(?::[0-5]?[0-9])*(?:\.[0-9_]*)?(?:[eE][-+]?[0-9]+)?|\.[0-9]+|0x[0-9a-fA-F_]+|0o?[0-7_]+|0b[01_]+|\.inf|\.nan)$`)
)

// Ambiguous11 reports whether a plain scalar would not read back as this
// string under YAML 1.1.
func Ambiguous11(s string) bool {
	l := strings.ToLower(s)
	return s == "" || yaml11Bool[l] || yaml11Number.MatchString(l) || numberish.MatchString(l)
}

// Encode renders a document with a header comment and 2-space indent.
func Encode(header string, root *yaml.Node) ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(header)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(root); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
