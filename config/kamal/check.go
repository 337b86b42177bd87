package kamal

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/wombatworkouts/berth/config"
	"github.com/wombatworkouts/berth/config/internal/ynode"
)

// Finding is one thing a hand-written deploy.yml lacks for berth.
type Finding struct {
	// Path is the key, dot-separated (servers.web.proxy).
	Path string
	// Problem says what is wrong; Fix is YAML to add, when there is some.
	Problem string
	Fix     string
	// Required findings break berth (routing, health gating, backups);
	// the others are what berth would write but the app works without.
	Required bool
}

// isRequired: the paths berth owns (config.KamalOwned) break berth when
// missing or different (routing, health gating, registry, backups), and so
// does the storage volume. A parent of such a path is required too: a
// missing servers.web lacks its labels. Anything else berth writes (logging,
// builder, aliases, deploy_timeout) is recommended.
func isRequired(path string) bool {
	if config.KamalOwned(path) || path == "volumes" {
		return true
	}
	for _, p := range []string{"servers.web.hosts", "servers.web.options.health-cmd", "servers.web.labels.traefik.enable", "accessories.litestream"} {
		if strings.HasPrefix(p, path+".") {
			return true
		}
	}
	return false
}

// erbTag matches ERB tags, which Kamal evaluates before parsing YAML.
var erbTag = regexp.MustCompile(`<%.*?%>`)

// Check compares an existing deploy.yml with the one berth would write for
// the manifest and lists exactly what is missing or different. Keys berth
// does not write are the user's business and are not reported, except a few
// that conflict with running behind Traefik.
func Check(existing []byte, m *config.Manifest) ([]Finding, error) {
	// ERB cannot be evaluated here; a placeholder keeps the YAML parseable
	// and the affected values are then reported as different.
	src := erbTag.ReplaceAll(existing, []byte("ERB"))
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, fmt.Errorf("parsing deploy.yml: %w", err)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("deploy.yml is not a mapping of keys")
	}
	have := doc.Content[0]
	want := Deploy(m)

	c := &checker{}
	c.conflicts(have)
	c.compare(have, want, "")
	return c.findings, nil
}

type checker struct{ findings []Finding }

func (c *checker) add(path, problem, fix string) {
	c.findings = append(c.findings, Finding{Path: path, Problem: problem, Fix: fix, Required: isRequired(path)})
}

// conflicts reports keys that fight with berth's setup.
func (c *checker) conflicts(have *yaml.Node) {
	if get(have, "traefik") != nil {
		c.findings = append(c.findings, Finding{Path: "traefik", Required: true,
			Problem: "is a Kamal 1 key; Kamal 2 rejects it. Traefik is configured by berth now: remove it"})
	}
	if get(have, "proxy") != nil {
		c.findings = append(c.findings, Finding{Path: "proxy",
			Problem: "configures kamal-proxy, which berth replaces with Traefik; with servers.web.proxy: false it is unused: remove it"})
	}
	if get(get(get(get(have, "servers"), "web"), "options"), "restart") != nil {
		c.findings = append(c.findings, Finding{Path: "servers.web.options.restart",
			Problem: "repeats what Kamal already does (it runs every app container with --restart unless-stopped); " +
				"earlier Kamal 2 releases refuse the key (\"Cannot set restart policy in docker options\") or pass it " +
				"to every `kamal app exec` container, which Docker refuses with --rm: remove it"})
	}
	if get(have, "asset_path") != nil {
		c.findings = append(c.findings, Finding{Path: "asset_path",
			Problem: "has no effect without kamal-proxy (Kamal bridges assets only for proxied roles); berth's retry and " +
				"request holding cover the switch-over instead: remove it"})
	}
}

func (c *checker) compare(have, want *yaml.Node, path string) {
	for i := 0; i+1 < len(want.Content); i += 2 {
		key, wv := want.Content[i].Value, want.Content[i+1]
		p := joinPath(path, key)
		hv := get(have, key)
		if hv == nil {
			c.add(p, "missing", snippet(key, wv))
			continue
		}
		switch wv.Kind {
		case yaml.MappingNode:
			if hv.Kind != yaml.MappingNode {
				if p == "servers.web" || p == "servers" {
					c.add(p, "is a plain list of hosts; berth needs the long form with hosts:, proxy: false, labels and options", snippet(key, wv))
				} else {
					c.add(p, "should be a mapping", snippet(key, wv))
				}
				continue
			}
			c.compare(hv, wv, p)
		case yaml.SequenceNode:
			c.compareList(hv, wv, p)
		default:
			if hv.Kind != yaml.ScalarNode || hv.Value != wv.Value {
				c.add(p, fmt.Sprintf("is %s; berth needs %s", showSafely(key, hv), show(wv)), "")
			}
		}
	}
}

// compareList checks that every item berth writes is present; extra items
// are the user's.
func (c *checker) compareList(have, want *yaml.Node, path string) {
	if have.Kind != yaml.SequenceNode {
		// Kamal allows `arch: amd64` for `arch: [amd64]` and a single
		// value generally reads the same.
		if have.Kind == yaml.ScalarNode && len(want.Content) == 1 && have.Value == want.Content[0].Value {
			return
		}
		c.add(path, fmt.Sprintf("is %s; berth needs a list", showSafely(path[strings.LastIndex(path, ".")+1:], have)), "")
		return
	}
	for _, w := range want.Content {
		found := false
		for _, h := range have.Content {
			if h.Kind == yaml.ScalarNode && h.Value == w.Value {
				found = true
				break
			}
		}
		if !found {
			c.add(path, fmt.Sprintf("lacks %q", w.Value), "")
		}
	}
}

func get(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			v := m.Content[i+1]
			for v.Kind == yaml.AliasNode && v.Alias != nil {
				v = v.Alias
			}
			return v
		}
	}
	return nil
}

func joinPath(parent, key string) string {
	if parent == "" {
		return key
	}
	return parent + "." + key
}

func show(n *yaml.Node) string {
	switch n.Kind {
	case yaml.ScalarNode:
		return fmt.Sprintf("%q", n.Value)
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		// A short list of values is shown as it is.
		items := make([]string, 0, len(n.Content))
		size := 0
		for _, c := range n.Content {
			if c.Kind != yaml.ScalarNode {
				return "a list"
			}
			items = append(items, fmt.Sprintf("%q", c.Value))
			size += len(c.Value) + 4
		}
		if size > 72 {
			return "a list"
		}
		return "[" + strings.Join(items, ", ") + "]"
	}
	return "something else"
}

// showSafely is show for a value that may be a secret written in clear.
func showSafely(key string, n *yaml.Node) string {
	if config.HoldsSecret(key, n) || key == "password" {
		return "(a value that looks secret, not shown)"
	}
	return show(n)
}

// snippet is the YAML to add for a missing key.
func snippet(key string, v *yaml.Node) string {
	out, err := ynode.Encode("", ynode.Map(key, v))
	if err != nil {
		return ""
	}
	return string(bytes.TrimRight(out, "\n"))
}
