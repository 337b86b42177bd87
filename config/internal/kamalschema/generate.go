package kamalschema

import (
	"bytes"
	"fmt"
	"go/format"
	"os"
	"path/filepath"
	"sort"

	"gopkg.in/yaml.v3"
)

// Kamal validates each part of deploy.yml against an example in its
// configuration reference (lib/kamal/configuration/docs/<part>.yml): a key
// that is not in the example is unknown, and the example's value says
// whether a scalar, a list or a mapping is wanted. A value written as "..."
// stands for a whole part documented in its own file. The rules below are
// what Kamal 2.12's validator (lib/kamal/configuration/validator*.rb) adds in
// code; they are facts about Kamal, restated here.

// part is a reference file and the top-level key of its example.
type part struct{ file, key string }

// parts says where a "..." placeholder is documented.
var parts = map[string][]part{
	"registry":    {{"registry.yml", "registry"}},
	"ssh":         {{"ssh.yml", "ssh"}},
	"builder":     {{"builder.yml", "builder"}},
	"proxy":       {{"proxy.yml", "proxy"}},
	"sshkit":      {{"sshkit.yml", "sshkit"}},
	"boot":        {{"boot.yml", "boot"}},
	"logging":     {{"logging.yml", "logging"}},
	"output":      {{"output.yml", "output"}},
	"servers":     {{"servers.yml", "servers"}},
	"accessories": {{"accessory.yml", "accessories"}},
	"aliases":     {{"alias.yml", "aliases"}},
}

// named parts: their keys are names the user chooses, and every entry is
// validated against one example entry (Kamal's Role, Accessory and Alias
// classes pick these).
var named = map[string]part{
	"servers":     {"role.yml", "servers.workers"},
	"accessories": {"accessory.yml", "accessories.mysql"},
	"aliases":     {"alias.yml", "aliases.uname"},
}

// shapeOf is the shape Kamal's validator (validate_against_example!) wants
// for key, given the example's value: mostly the example's own kind, with
// the exceptions it makes by key name.
func shapeOf(key string, example *yaml.Node) Shape {
	switch key {
	case "ssl": // true, or certificate_pem/private_key_pem
		return Scalar | Map
	case "hooks_output": // one level, or a level per hook
		return Scalar | Free
	case "hosts": // plain or tagged hosts
		return List
	}
	switch example.Kind {
	case yaml.MappingNode:
		switch key {
		case "options", "args", "labels": // docker options, build args, label names
			return Free
		}
		return Map
	case yaml.SequenceNode:
		switch key {
		case "arch", "config": // amd64 or [amd64, arm64]; ssh config true, a path or paths
			return Scalar | List
		}
		return List
	}
	return Scalar
}

// Env is its own validator in Kamal: either NAME: value pairs, or clear:,
// secret: and (only at the top level) tags:, each tag an env of its own.
func addEnv(t map[string]Shape, path string, tags bool) {
	t[path] = Map | Free
	t[path+".clear"] = Free
	t[path+".secret"] = List
	if tags {
		t[path+".tags"] = Names
		addEnv(t, path+".tags."+Wildcard, false)
	}
}

// Generate builds the table from Kamal's configuration reference in dir.
func Generate(dir string) (map[string]Shape, error) {
	g := &generator{dir: dir, docs: map[string]*yaml.Node{}, table: map[string]Shape{}}
	root, err := g.doc("configuration.yml")
	if err != nil {
		return nil, err
	}
	if err := g.walk(root, ""); err != nil {
		return nil, err
	}
	return g.table, nil
}

type generator struct {
	dir   string
	docs  map[string]*yaml.Node
	table map[string]Shape
}

func (g *generator) doc(file string) (*yaml.Node, error) {
	if d, ok := g.docs[file]; ok {
		return d, nil
	}
	data, err := os.ReadFile(filepath.Join(g.dir, file))
	if err != nil {
		return nil, fmt.Errorf("kamal reference: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("kamal reference %s: %w", file, err)
	}
	if len(doc.Content) != 1 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("kamal reference %s: not a mapping", file)
	}
	g.docs[file] = doc.Content[0]
	return doc.Content[0], nil
}

// values returns every value of key in mapping m: the reference repeats a
// key to show alternatives, and all of them are accepted.
func values(m *yaml.Node, key string) []*yaml.Node {
	var out []*yaml.Node
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			out = append(out, m.Content[i+1])
		}
	}
	return out
}

// lookup follows a dotted key path through a reference file.
func (g *generator) lookup(p part) ([]*yaml.Node, error) {
	d, err := g.doc(p.file)
	if err != nil {
		return nil, err
	}
	nodes := []*yaml.Node{d}
	for _, k := range splitPath(p.key) {
		var next []*yaml.Node
		for _, n := range nodes {
			if n.Kind == yaml.MappingNode {
				next = append(next, values(n, k)...)
			}
		}
		nodes = next
	}
	if len(nodes) == 0 {
		return nil, fmt.Errorf("kamal reference %s has no %s", p.file, p.key)
	}
	return nodes, nil
}

func splitPath(p string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(p); i++ {
		if i == len(p) || p[i] == '.' {
			out = append(out, p[start:i])
			start = i + 1
		}
	}
	return out
}

func isPlaceholder(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Value == "..." }

// walk records every key of the example mapping m under path.
func (g *generator) walk(m *yaml.Node, path string) error {
	for i := 0; i+1 < len(m.Content); i += 2 {
		key, val := m.Content[i].Value, m.Content[i+1]
		if err := g.add(join(path, key), key, val); err != nil {
			return err
		}
	}
	return nil
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func (g *generator) add(p, key string, val *yaml.Node) error {
	if key == "env" {
		// Only the top level's env has tags (Validator::Env).
		addEnv(g.table, p, p == "env")
		return nil
	}
	if isPlaceholder(val) {
		return g.addPart(p, key)
	}
	s := shapeOf(key, val)
	g.table[p] |= s
	if s&Map != 0 && val.Kind == yaml.MappingNode {
		return g.walk(val, p)
	}
	return nil
}

// addPart records a part documented in its own file ("key: ...").
func (g *generator) addPart(p, key string) error {
	if ex, ok := named[key]; ok {
		g.table[p] |= Names
		if key == "servers" {
			g.table[p] |= List // a plain list of hosts for the web role
		}
		entries, err := g.lookup(ex)
		if err != nil {
			return err
		}
		entry := join(p, Wildcard)
		for _, e := range entries {
			switch e.Kind {
			case yaml.MappingNode:
				g.table[entry] |= Map
				if key == "servers" {
					g.table[entry] |= List // a role may be a plain list of hosts
				}
				if err := g.walk(e, entry); err != nil {
					return err
				}
			case yaml.SequenceNode:
				g.table[entry] |= List
			default:
				g.table[entry] |= Scalar
			}
		}
		return nil
	}
	srcs, ok := parts[key]
	if !ok {
		return fmt.Errorf("kamal reference: %s is \"...\" but no file documents it; teach kamalschema.parts", p)
	}
	g.table[p] |= Map
	if key == "proxy" {
		g.table[p] |= Scalar // proxy: false (or true) instead of its settings
	}
	for _, src := range srcs {
		examples, err := g.lookup(src)
		if err != nil {
			return err
		}
		for _, ex := range examples {
			if ex.Kind == yaml.MappingNode {
				if err := g.walk(ex, p); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// Source is the Go file holding table, as committed in table.go.
func Source(t map[string]Shape) ([]byte, error) {
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	b.WriteString(`// Code generated by go generate (config/internal/kamalschema/gen) from Kamal
// 2.12.0's configuration reference (basecamp/kamal, MIT licence,
// lib/kamal/configuration/docs/*.yml, kept next to this repository in
// ../shared/kamal-config). DO NOT EDIT. To regenerate after a Kamal upgrade:
//
//	go generate ./config/internal/kamalschema
//
// TestTableMatchesReference fails when this table and the reference differ.

package kamalschema

// table maps every deploy.yml key path Kamal accepts to its value's shape;
// "*" stands for a name the user chooses (a role, an accessory, an alias).
var table = map[string]Shape{
`)
	for _, k := range keys {
		fmt.Fprintf(&b, "\t%q: %s,\n", k, t[k])
	}
	b.WriteString("}\n")
	return format.Source(b.Bytes())
}
