package kamal

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/wombatworkouts/berth/config"
	"github.com/wombatworkouts/berth/config/internal/ynode"
)

// A deploy.yml written before berth (by `rails new`, or by hand) holds
// settings berth does not write: an SSH user, an ARM builder, environment
// variables, other roles and accessories. Rendering replaces the file, so
// each of them must either come back through the manifest's kamal: section
// or be dropped on purpose by the user. Compare tells which is which;
// `berth config init` carries them into kamal:, and `berth config render`
// refuses to drop one.

// Setting is one key of an existing deploy.yml that rendering changes.
type Setting struct {
	// Path is the dotted key (ssh.user, env.clear.WEB_CONCURRENCY), and
	// Keys the same key by key (a label's name may hold dots).
	Path string
	Keys []string
	// Line is the key's line in the existing deploy.yml.
	Line int
	// Value is the existing value (for a list: the items berth lacks).
	Value *yaml.Node
	// Now is what berth writes there instead, for messages ("" when
	// nothing).
	Now string
	// Why berth writes its own (Replaced only).
	Why string
	// Secret marks a value that looks like a secret in clear: it is never
	// printed and never copied into the manifest.
	Secret bool
	// ERB marks a value berth could not read (ERB that is not valid YAML
	// until Kamal evaluates it); it must be copied by hand.
	ERB bool
}

// Shown is the existing value for messages, hidden when it looks secret.
func (s Setting) Shown() string {
	if s.Secret {
		return "(a value that looks secret, not shown)"
	}
	return show(s.Value)
}

// Comparison is what rendering a manifest would do to an existing deploy.yml.
type Comparison struct {
	// Lost are the user's settings the rendered file would not have.
	Lost []Setting
	// Replaced are settings berth writes itself (or drops because they
	// fight with Traefik), which the manifest cannot carry.
	Replaced []Setting
}

// erbSentinel stands in for ERB tags when the file is not YAML without them.
const erbSentinel = "__berth_erb__"

// Compare compares an existing deploy.yml with the one berth writes for m.
func Compare(existing []byte, m *config.Manifest) (*Comparison, error) {
	have, erb, err := parseDeploy(existing)
	if err != nil {
		return nil, err
	}
	timing, _ := m.Health.Container.Timing()
	have = normalise(have)
	c := &comparer{erb: erb, minTimeout: timing.MinDeployTimeout(), unknown: config.UnknownKamalKeys(have), out: &Comparison{}}
	c.walk(have, Deploy(m), nil)
	return c.out, nil
}

// parseDeploy parses deploy.yml as it is, or with its ERB tags replaced
// when they make it invalid YAML (then erb is true).
func parseDeploy(data []byte) (*yaml.Node, bool, error) {
	root, err := parseMapping(data)
	if err == nil {
		return root, false, nil
	}
	if !erbTag.Match(data) {
		return nil, false, err
	}
	root, err2 := parseMapping(erbTag.ReplaceAll(data, []byte(erbSentinel)))
	if err2 != nil {
		return nil, false, fmt.Errorf("%w (its ERB could not be read either way; berth does not evaluate ERB)", err)
	}
	return root, true, nil
}

func parseMapping(data []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parsing deploy.yml: %w", err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("deploy.yml is not a mapping of keys")
	}
	budget := maxNodes
	return resolve(doc.Content[0], 0, &budget)
}

// maxNodes bounds the tree resolve builds, so that YAML aliases cannot
// expand a small file into a huge one.
const maxNodes = 100000

// resolve copies a tree with YAML aliases replaced by what they point to,
// keeping line numbers; the depth bound stops alias cycles.
func resolve(n *yaml.Node, depth int, budget *int) (*yaml.Node, error) {
	if depth > 64 {
		return nil, fmt.Errorf("deploy.yml nests deeper than 64 levels (YAML alias loop?)")
	}
	if *budget--; *budget < 0 {
		return nil, fmt.Errorf("deploy.yml expands to more than %d values (YAML aliases?)", maxNodes)
	}
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	out := *n
	out.Anchor, out.Alias, out.Content = "", nil, nil
	out.HeadComment, out.LineComment, out.FootComment = "", "", ""
	for _, c := range n.Content {
		cc, err := resolve(c, depth+1, budget)
		if err != nil {
			return nil, err
		}
		out.Content = append(out.Content, cc)
	}
	return &out, nil
}

// normalise rewrites Kamal's short forms into the long ones berth writes, so
// that they compare key by key: `servers: [host]` and `servers: {web: [host]}`
// are servers.web.hosts, and plain `env: {NAME: value}` is env.clear.
func normalise(root *yaml.Node) *yaml.Node {
	if s := get(root, "servers"); s != nil {
		switch s.Kind {
		case yaml.SequenceNode:
			set(root, "servers", ynode.Map(Role, ynode.Map("hosts", s)))
		case yaml.MappingNode:
			if w := get(s, Role); w != nil && w.Kind == yaml.SequenceNode {
				set(s, Role, ynode.Map("hosts", w))
			}
		}
	}
	if e := get(root, "env"); e != nil && e.Kind == yaml.MappingNode && get(e, "clear") == nil && get(e, "secret") == nil && get(e, "tags") == nil {
		clear := &yaml.Node{Kind: yaml.MappingNode, Content: e.Content, Line: e.Line}
		set(root, "env", &yaml.Node{Kind: yaml.MappingNode, Line: e.Line, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: "clear", Line: e.Line}, clear}})
	}
	return root
}

func set(m *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			if v.Line == 0 {
				v.Line = m.Content[i].Line
			}
			m.Content[i+1] = v
			return
		}
	}
}

// replacedWhy says why berth writes a key itself, by path prefix.
var replacedWhy = []struct{ prefix, why string }{
	{"service", "berth writes it from berth.yml's app:"},
	{"image", "berth writes it from berth.yml's image:"},
	{"registry", "berth pushes to ghcr.io as berth.yml's registry.username (or the image's owner)"},
	{"servers.web.hosts", "berth writes them from berth.yml's hosts:"},
	{"servers.web.proxy", "kamal-proxy's settings: Traefik routes to the app now, by berth.yml's domains:"},
	{"servers.web.cmd", "berth runs the image's own command (Thruster in front of Puma), which Docker's health check and Traefik expect"},
	{"servers.web.labels.traefik", "berth writes Traefik's labels from berth.yml"},
	{"servers.web.options.health-", "berth writes Docker's health check from berth.yml's health:"},
	{"servers.web.options.restart", "Kamal runs every app container with --restart unless-stopped; earlier Kamal 2 releases refuse a restart option"},
	{"servers.web.asset_path", "has no effect without kamal-proxy (Kamal bridges assets only for proxied roles)"},
	{"accessories.litestream", "berth writes the Litestream accessory from berth.yml's litestream:"},
	{"proxy", "kamal-proxy's settings: Traefik routes to the app now, by berth.yml's domains:"},
	{"traefik", "a Kamal 1 key that Kamal 2 rejects; berth configures Traefik"},
	{"asset_path", "has no effect without kamal-proxy (Kamal bridges assets only for proxied roles)"},
	{"x-", "a YAML extension block: its anchors are written out where they were used"},
}

func replaced(p string) (string, bool) {
	for _, r := range replacedWhy {
		if p == r.prefix || strings.HasPrefix(p, r.prefix+".") || strings.HasSuffix(r.prefix, "-") && strings.HasPrefix(p, r.prefix) {
			return r.why, true
		}
	}
	return "", false
}

type comparer struct {
	erb        bool
	minTimeout int
	// unknown are keys Kamal 2.12 does not accept: not carried.
	unknown map[*yaml.Node]bool
	out     *Comparison
}

func (c *comparer) walk(have, want *yaml.Node, keys []string) {
	for i := 0; i+1 < len(have.Content); i += 2 {
		k, hv := have.Content[i], have.Content[i+1]
		ks := append(append([]string(nil), keys...), k.Value)
		p := strings.Join(ks, ".")
		wv := get(want, k.Value)
		if why, ok := replaced(p); ok {
			if wv == nil || !same(hv, wv) {
				c.out.Replaced = append(c.out.Replaced, c.setting(ks, k, hv, wv, why))
			}
			continue
		}
		if c.unknown[k] {
			c.out.Replaced = append(c.out.Replaced, c.setting(ks, k, hv, wv,
				"Kamal 2.12 has no such setting here and would refuse deploy.yml with it"))
			continue
		}
		if p == "deploy_timeout" && hv.Kind == yaml.ScalarNode && atoi(hv.Value) < c.minTimeout {
			c.out.Replaced = append(c.out.Replaced, c.setting(ks, k, hv, wv, fmt.Sprintf(
				"Kamal would give up on an app that boots within health.container.start_period; berth needs at least %d", c.minTimeout)))
			continue
		}
		switch {
		case wv == nil && hv.Kind == yaml.MappingNode && (deepSecret(ks, hv) || c.holdsUnknown(hv)):
			// Key by key, so that only the secret or the key Kamal
			// refuses stays behind.
			c.walk(hv, ynode.Map(), ks)
		case wv == nil:
			c.lose(ks, k, hv, nil)
		case hv.Kind == yaml.MappingNode && wv.Kind == yaml.MappingNode:
			c.walk(hv, wv, ks)
		case hv.Kind == yaml.SequenceNode && wv.Kind == yaml.SequenceNode:
			var missing []*yaml.Node
			for _, item := range hv.Content {
				switch {
				case hasItem(wv, item):
				case p == "volumes" && mountsStorage(item):
					// berth mounts storage.volume there; a second
					// volume on the same path is a Docker error.
					c.out.Replaced = append(c.out.Replaced, c.setting(ks, k, item, wv,
						"berth mounts berth.yml's storage.volume at "+config.StorageMount))
				default:
					missing = append(missing, item)
				}
			}
			if len(missing) > 0 {
				c.lose(ks, k, &yaml.Node{Kind: yaml.SequenceNode, Content: missing, Line: hv.Line}, wv)
			}
		case !same(hv, wv):
			c.lose(ks, k, hv, wv)
		}
	}
}

// holdsUnknown reports whether a key inside n is one Kamal refuses.
func (c *comparer) holdsUnknown(n *yaml.Node) bool {
	for i, child := range n.Content {
		if c.unknown[child] || (i%2 == 1 && child.Kind == yaml.MappingNode && c.holdsUnknown(child)) {
			return true
		}
	}
	return false
}

// mountsStorage reports whether a volumes: item mounts at /rails/storage.
func mountsStorage(item *yaml.Node) bool {
	if item.Kind != yaml.ScalarNode {
		return false
	}
	parts := strings.Split(item.Value, ":")
	return len(parts) >= 2 && strings.TrimSuffix(parts[1], "/") == config.StorageMount
}

func (c *comparer) setting(keys []string, k, hv, wv *yaml.Node, why string) Setting {
	s := Setting{Path: strings.Join(keys, "."), Keys: keys, Line: k.Line, Value: hv, Why: why,
		Secret: deepSecret(keys, hv), ERB: c.erb && containsERB(hv)}
	if wv != nil {
		s.Now = show(wv)
	}
	return s
}

func (c *comparer) lose(keys []string, k, hv, wv *yaml.Node) {
	c.out.Lost = append(c.out.Lost, c.setting(keys, k, hv, wv, ""))
}

// deepSecret reports whether any value inside n holds a secret.
func deepSecret(keys []string, n *yaml.Node) bool {
	switch n.Kind {
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if deepSecret(append(append([]string(nil), keys...), n.Content[i].Value), n.Content[i+1]) {
				return true
			}
		}
		return false
	case yaml.SequenceNode:
		// Items have no names of their own (env.secret lists names of
		// secrets): only a credential's shape gives one away.
		for _, item := range n.Content {
			if config.HoldsSecret("", item) {
				return true
			}
		}
		return false
	}
	return holdsSecret(keys, n)
}

// holdsSecret: environment variables and build arguments are judged by
// their names too (SMTP_PASSWORD: hunter2), as is a password; anything
// else only by looking like a credential.
func holdsSecret(keys []string, v *yaml.Node) bool {
	if v.Kind == yaml.ScalarNode && len(keys) >= 2 {
		last := keys[len(keys)-1]
		switch keys[len(keys)-2] {
		case "clear", "args", "env":
			return config.HoldsSecret(last, v)
		}
		if last == "password" && !strings.Contains(v.Value, "<%") {
			return true
		}
	}
	return config.HoldsSecret("", v)
}

func atoi(s string) int {
	n := 0
	for _, r := range s {
		if r < '0' || r > '9' {
			return 0
		}
		n = n*10 + int(r-'0')
		if n > 1<<20 {
			return n
		}
	}
	return n
}

func containsERB(n *yaml.Node) bool {
	if n.Kind == yaml.ScalarNode {
		return strings.Contains(n.Value, erbSentinel)
	}
	for _, c := range n.Content {
		if containsERB(c) {
			return true
		}
	}
	return false
}

// same compares two values as Kamal reads them: scalars by text (a quoted
// "true" and true give the container the same variable), a one-item list
// like its item (arch: [amd64] is arch: amd64), mappings key by key.
func same(a, b *yaml.Node) bool {
	if a.Kind == yaml.SequenceNode && len(a.Content) == 1 && b.Kind == yaml.ScalarNode {
		return same(a.Content[0], b)
	}
	if b.Kind == yaml.SequenceNode && len(b.Content) == 1 && a.Kind == yaml.ScalarNode {
		return same(a, b.Content[0])
	}
	if a.Kind != b.Kind {
		return false
	}
	switch a.Kind {
	case yaml.ScalarNode:
		return a.Value == b.Value
	case yaml.SequenceNode:
		if len(a.Content) != len(b.Content) {
			return false
		}
		for i := range a.Content {
			if !same(a.Content[i], b.Content[i]) {
				return false
			}
		}
		return true
	case yaml.MappingNode:
		if len(a.Content) != len(b.Content) {
			return false
		}
		for i := 0; i+1 < len(a.Content); i += 2 {
			bv := get(b, a.Content[i].Value)
			if bv == nil || !same(a.Content[i+1], bv) {
				return false
			}
		}
		return true
	}
	return false
}

func hasItem(seq, item *yaml.Node) bool {
	for _, c := range seq.Content {
		if same(c, item) {
			return true
		}
	}
	return false
}

// Carried returns the kamal: section that keeps every lost setting that
// can be carried (not secret, readable), as a nested mapping.
func (c *Comparison) Carried() *yaml.Node {
	root := ynode.Map()
	for _, s := range c.Lost {
		if s.Secret || s.ERB {
			continue
		}
		parts := s.Keys
		m := root
		for _, part := range parts[:len(parts)-1] {
			next := get(m, part)
			if next == nil || next.Kind != yaml.MappingNode {
				next = ynode.Map()
				ynode.Add(m, part, next)
			}
			m = next
		}
		ynode.Add(m, parts[len(parts)-1], plain(s.Value))
	}
	return root
}

// plain strips positions and styles so the value encodes cleanly in a
// new file, keeping what YAML 1.1 needs quoted quoted.
func plain(n *yaml.Node) *yaml.Node {
	out := &yaml.Node{Kind: n.Kind, Tag: n.Tag, Value: n.Value}
	if n.Kind == yaml.ScalarNode && (n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 || ynode.Ambiguous11(n.Value) && n.Tag == "!!str") {
		out.Style = yaml.DoubleQuotedStyle
	}
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "\n") {
		out.Style = yaml.LiteralStyle
	}
	for _, c := range n.Content {
		out.Content = append(out.Content, plain(c))
	}
	return out
}

// Snippet is the kamal: section as YAML (indented under "kamal:"), or ""
// when nothing can be carried.
func (c *Comparison) Snippet() string {
	carried := c.Carried()
	if len(carried.Content) == 0 {
		return ""
	}
	out, err := ynode.Encode("", ynode.Map("kamal", carried))
	if err != nil {
		return ""
	}
	return string(bytes.TrimRight(out, "\n"))
}

// Sorted orders settings by line.
func Sorted(s []Setting) []Setting {
	out := append([]Setting(nil), s...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Line < out[j].Line })
	return out
}
