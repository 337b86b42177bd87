package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// DefaultPath is where the manifest lives in an app's repository.
const DefaultPath = "config/berth.yml"

// maxManifestSize bounds what Load reads; a manifest is a few kilobytes.
const maxManifestSize = 1 << 20

// Load reads, decodes, defaults and validates a manifest. Every problem is
// reported (as an ErrorList), each naming the key and its line.
func Load(path string) (*Manifest, error) {
	return LoadFrom("", path)
}

// LoadFrom is Load for a path relative to dir (an app's root directory),
// with messages naming the file as the user wrote it.
func LoadFrom(dir, path string) (*Manifest, error) {
	full := path
	if dir != "" && !filepath.IsAbs(path) {
		full = filepath.Join(dir, path)
	}
	data, err := readLimited(full, path)
	if err != nil {
		return nil, err
	}
	return parse(data, path, filepath.Dir(full))
}

func readLimited(full, path string) ([]byte, error) {
	f, err := os.Open(full)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%s: no such file; `berth config init` writes a starter manifest: %w", path, fs.ErrNotExist)
	}
	if err != nil {
		return nil, fmt.Errorf("reading manifest %s: %w", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxManifestSize+1))
	if err != nil {
		return nil, fmt.Errorf("reading manifest %s: %w", path, err)
	}
	if len(data) > maxManifestSize {
		return nil, &Error{File: path, Msg: "file is larger than 1 MiB; this is not a berth manifest"}
	}
	return data, nil
}

// Parse is Load for bytes already in memory. file names the manifest in
// messages, and maintenance.template_file is read relative to its directory.
func Parse(data []byte, file string) (*Manifest, error) {
	return parse(data, file, filepath.Dir(file))
}

func parse(data []byte, file, baseDir string) (*Manifest, error) {
	root, err := parseDocument(data, file)
	if err != nil {
		return nil, err
	}
	m := &Manifest{Path: file, lines: map[string]int{}}
	d := &decoder{file: file, lines: m.lines, budget: maxNodes}
	d.decode(root, reflect.ValueOf(m).Elem(), "")
	if len(d.errs) > 0 {
		return nil, d.errs.err()
	}
	m.applyDefaults()
	if major, minor, ok := LockedKamal(baseDir); ok {
		m.KamalVersion = [2]int{major, minor}
	}
	v := &validator{m: m}
	v.validate()
	v.readTemplate(baseDir)
	if len(v.errs) > 0 {
		return nil, v.errs.err()
	}
	return m, nil
}

// parseDocument parses exactly one YAML document into a node tree. yaml.v3
// nodes keep line numbers, which is why berth decodes from nodes rather
// than straight into structs.
func parseDocument(data []byte, file string) (*yaml.Node, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, &Error{File: file, Msg: "the manifest is empty; run `berth config init` for a starter"}
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
		return nil, &Error{File: file, Msg: "the manifest is empty; run `berth config init` for a starter"}
	} else if err != nil {
		return nil, yamlError(file, err)
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		return nil, &Error{File: file, Line: extra.Line, Msg: "more than one YAML document (---); a manifest is one document"}
	} else if !errors.Is(err, io.EOF) {
		return nil, yamlError(file, err)
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) != 1 {
		return nil, &Error{File: file, Msg: "the manifest is empty"}
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, &Error{File: file, Line: root.Line, Msg: "the manifest must be a mapping of keys (app:, image:, ...)"}
	}
	return root, nil
}

// yamlError turns yaml.v3's "yaml: line 3: ..." into "file:3: ...".
func yamlError(file string, err error) error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if i := strings.Index(rest, ":"); i > 0 {
			if n, convErr := strconv.Atoi(rest[:i]); convErr == nil {
				return &Error{File: file, Line: n, Msg: "invalid YAML: " + strings.TrimSpace(rest[i+1:])}
			}
		}
	}
	return &Error{File: file, Msg: "invalid YAML: " + msg}
}

var nodeType = reflect.TypeOf(yaml.Node{})

// maxNodes caps how many nodes decoding may visit, so YAML aliases cannot
// expand a small file into a huge amount of work.
const maxNodes = 20000

// decoder is a strict, reflection-based YAML-node-to-struct decoder: unknown
// and duplicate keys are errors, scalars must have the right type, and the
// line of every key is recorded for later validation messages.
type decoder struct {
	file   string
	lines  map[string]int
	errs   ErrorList
	budget int
}

func (d *decoder) errorf(line int, key, format string, args ...any) {
	d.errs = append(d.errs, &Error{File: d.file, Line: line, Key: key, Msg: fmt.Sprintf(format, args...)})
}

func (d *decoder) decode(n *yaml.Node, v reflect.Value, key string) {
	for n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			d.errorf(n.Line, key, "broken YAML alias")
			return
		}
		n = n.Alias
	}
	d.budget--
	if d.budget < 0 {
		if d.budget == -1 {
			d.errorf(n.Line, key, "the manifest expands to too many values (YAML aliases?)")
		}
		return
	}
	if isNull(n) {
		// An empty value ("key:" or "key: ~") leaves the default in place.
		return
	}
	if v.Type() == nodeType {
		// Raw YAML (the kamal: section), copied with aliases resolved.
		c, err := copyNode(n, &d.budget)
		if err != nil {
			d.errorf(n.Line, key, "%v", err)
			return
		}
		v.Set(reflect.ValueOf(*c))
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, v, key)
	case reflect.Ptr:
		elem := reflect.New(v.Type().Elem())
		d.decode(n, elem.Elem(), key)
		v.Set(elem)
	case reflect.Slice:
		d.decodeSlice(n, v, key)
	case reflect.String:
		if s, ok := d.scalar(n, key, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Bool:
		if s, ok := d.scalar(n, key, "true or false"); ok {
			switch strings.ToLower(s) {
			case "true":
				v.SetBool(true)
			case "false":
				v.SetBool(false)
			default:
				d.errorf(n.Line, key, "should be true or false, not %q", s)
			}
		}
	case reflect.Int:
		if s, ok := d.scalar(n, key, "a whole number"); ok {
			i, err := strconv.ParseInt(s, 10, 32)
			if err != nil || n.Tag != "!!int" {
				d.errorf(n.Line, key, "should be a whole number, not %q", s)
				return
			}
			v.SetInt(i)
		}
	default:
		// Only reachable if a new field type is added to Manifest without
		// teaching the decoder; fail loudly in tests rather than silently.
		d.errorf(n.Line, key, "internal error: cannot decode into %s", v.Type())
	}
}

func (d *decoder) scalar(n *yaml.Node, key, want string) (string, bool) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n.Line, key, "should be %s, not %s", want, kindName(n))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) decodeSlice(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind != yaml.SequenceNode {
		d.errorf(n.Line, key, "should be a list (one \"- item\" per line), not %s", kindName(n))
		return
	}
	out := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		ik := fmt.Sprintf("%s[%d]", key, i)
		d.lines[ik] = item.Line
		d.decode(item, out.Index(i), ik)
	}
	v.Set(out)
}

func (d *decoder) decodeStruct(n *yaml.Node, v reflect.Value, key string) {
	if n.Kind != yaml.MappingNode {
		d.errorf(n.Line, key, "should be a mapping of keys, not %s", kindName(n))
		return
	}
	fields := yamlFields(v.Type())
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		kn, vn := n.Content[i], n.Content[i+1]
		name := kn.Value
		if kn.Kind != yaml.ScalarNode {
			d.errorf(kn.Line, key, "keys must be plain words")
			continue
		}
		child := joinKey(key, name)
		if name == "<<" {
			d.errorf(kn.Line, key, "YAML merge keys (<<) are not supported; write the keys out")
			continue
		}
		if first, dup := seen[name]; dup {
			d.errorf(kn.Line, child, "duplicate key (first set on line %d)", first)
			continue
		}
		seen[name] = kn.Line
		idx, ok := fields[name]
		if !ok {
			d.errorf(kn.Line, child, "%s", unknownKeyMessage(name, key, fields))
			continue
		}
		d.lines[child] = kn.Line
		d.decode(vn, v.Field(idx), child)
	}
}

func joinKey(parent, name string) string {
	if parent == "" {
		return name
	}
	return parent + "." + name
}

// yamlFields maps yaml tag names to field indexes, skipping `yaml:"-"`.
func yamlFields(t reflect.Type) map[string]int {
	out := map[string]int{}
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if !f.IsExported() {
			continue
		}
		tag := strings.Split(f.Tag.Get("yaml"), ",")[0]
		if tag == "-" || tag == "" {
			continue
		}
		out[tag] = i
	}
	return out
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.Tag == "!!null"
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	}
	return "something else"
}

// keyHints explains keys people bring from Kamal or elsewhere.
var keyHints = map[string]string{
	"service":  `the Kamal service name is "app:"`,
	"servers":  `list the app's servers under "hosts:"; server-wide settings go under "server:"`,
	"host":     `use "hosts:" (a list)`,
	"domain":   `use "domains:" (a list)`,
	"proxy":    `berth routes with Traefik; list the domains under "domains:"`,
	"traefik":  `Traefik settings go under "server:" (version, ACME) and "traffic:" (retry)`,
	"replicas": `Litestream v0.5 has one replica per database: use "replica:"`,
}

func unknownKeyMessage(name, parent string, fields map[string]int) string {
	msg := fmt.Sprintf("unknown key %q", name)
	if hint, ok := keyHints[name]; ok && parent == "" {
		return msg + "; " + hint
	}
	if best := closest(name, fields); best != "" {
		return msg + fmt.Sprintf(" (did you mean %q?)", best)
	}
	known := make([]string, 0, len(fields))
	for k := range fields {
		known = append(known, k)
	}
	sortStrings(known)
	return msg + "; known keys here: " + strings.Join(known, ", ")
}

// closest returns the known key within two edits of name, if any.
func closest(name string, fields map[string]int) string {
	best, bestDist := "", 3
	for k := range fields {
		if dist := editDistance(strings.ToLower(name), k); dist < bestDist || (dist == bestDist && k < best) {
			best, bestDist = k, dist
		}
	}
	if bestDist > 2 {
		return ""
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
