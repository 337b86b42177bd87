package kamal_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/wombatworkouts/berth/config"
	"github.com/wombatworkouts/berth/config/internal/golden"
	"github.com/wombatworkouts/berth/config/kamal"
)

// Kamal validates deploy.yml against the example files of its configuration
// reference (lib/kamal/configuration/docs/*.yml): a key that is not in the
// matching example is "unknown". These tests walk the rendered deploy.yml
// against those same files (a copy of Kamal 2.12.0's lives in
// ../shared/kamal-config, next to the repository).

// referenceDir finds Kamal's configuration reference, or skips the test.
func referenceDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("BERTH_KAMAL_REFERENCE")
	if dir == "" {
		dir = filepath.Join(golden.ModuleRoot(t), "..", "shared", "kamal-config")
	}
	if _, err := os.Stat(filepath.Join(dir, "configuration.yml")); err != nil {
		t.Skipf("Kamal's configuration reference is not at %s (set BERTH_KAMAL_REFERENCE): %v", dir, err)
	}
	return dir
}

// reference holds the example mappings of each reference section.
type reference struct {
	sections map[string][]*yaml.Node // section key -> every example value for it
	root     []*yaml.Node
}

// sectionFiles says which file documents a `key: ...` placeholder.
var sectionFiles = map[string][]string{
	"registry":    {"registry.yml"},
	"servers":     {"servers.yml", "role.yml"},
	"env":         {"env.yml"},
	"ssh":         {"ssh.yml"},
	"builder":     {"builder.yml"},
	"accessories": {"accessory.yml", "env.yml"},
	"proxy":       {"proxy.yml"},
	"sshkit":      {"sshkit.yml"},
	"boot":        {"boot.yml"},
	"logging":     {"logging.yml"},
	"output":      {"output.yml"},
	"aliases":     {"alias.yml"},
}

// Maps whose keys are the user's own (label names, docker options, role and
// accessory names) rather than Kamal's.
var freeForm = map[string]bool{"labels": true, "options": true, "args": true, "clear": true, "aliases": true, "tags": true, "hooks_output": true}
var named = map[string]bool{"servers": true, "accessories": true}

func loadReference(t *testing.T) *reference {
	dir := referenceDir(t)
	topLevel := func(file string) map[string][]*yaml.Node {
		data, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		// Decoding into a node keeps the reference's repeated keys
		// (it shows alternatives one after another).
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		out := map[string][]*yaml.Node{}
		m := doc.Content[0]
		for i := 0; i+1 < len(m.Content); i += 2 {
			out[m.Content[i].Value] = append(out[m.Content[i].Value], m.Content[i+1])
		}
		return out
	}
	ref := &reference{sections: map[string][]*yaml.Node{}}
	for key, files := range sectionFiles {
		for _, f := range files {
			ref.sections[key] = append(ref.sections[key], topLevel(f)[key]...)
		}
	}
	ref.root = []*yaml.Node{{Kind: yaml.MappingNode}}
	for key, vals := range topLevel("configuration.yml") {
		for _, v := range vals {
			ref.root[0].Content = append(ref.root[0].Content, &yaml.Node{Kind: yaml.ScalarNode, Value: key}, v)
		}
	}
	return ref
}

func isPlaceholder(n *yaml.Node) bool { return n.Kind == yaml.ScalarNode && n.Value == "..." }

// child returns the example values of key under the given example mappings,
// following `key: ...` placeholders to the section that documents them.
func (r *reference) child(refs []*yaml.Node, key string) []*yaml.Node {
	var out []*yaml.Node
	for _, m := range refs {
		if m.Kind != yaml.MappingNode {
			continue
		}
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i].Value != key {
				continue
			}
			if v := m.Content[i+1]; isPlaceholder(v) {
				out = append(out, r.sections[key]...)
			} else {
				out = append(out, v)
			}
		}
	}
	return out
}

// anyChild is the union of all values in the example mappings: the schema of
// a user-named entry (a role, an accessory).
func (r *reference) anyChild(refs []*yaml.Node) []*yaml.Node {
	var out []*yaml.Node
	for _, m := range refs {
		if m.Kind != yaml.MappingNode {
			continue
		}
		for i := 1; i < len(m.Content); i += 2 {
			if !isPlaceholder(m.Content[i]) {
				out = append(out, m.Content[i])
			}
		}
	}
	return out
}

// unknownKeys walks ours against the reference and lists every key Kamal
// would reject, as slash-separated paths like Kamal prints them.
func (r *reference) unknownKeys(ours *yaml.Node, refs []*yaml.Node, path string, parentKey string) []string {
	if ours.Kind != yaml.MappingNode {
		return nil
	}
	var bad []string
	for i := 0; i+1 < len(ours.Content); i += 2 {
		key, val := ours.Content[i].Value, ours.Content[i+1]
		p := strings.TrimPrefix(path+"/"+key, "/")
		if strings.HasPrefix(key, "x-") {
			continue
		}
		var sub []*yaml.Node
		if named[parentKey] {
			sub = r.anyChild(refs)
		} else {
			sub = r.child(refs, key)
		}
		if len(sub) == 0 {
			bad = append(bad, p+": unknown key")
			continue
		}
		if freeForm[key] && !named[parentKey] {
			if key == "labels" {
				bad = append(bad, scalarValues(val, p)...)
			}
			continue
		}
		if val.Kind == yaml.MappingNode && !hasMapping(sub) {
			bad = append(bad, p+": Kamal expects a scalar or list here, not a mapping")
			continue
		}
		bad = append(bad, r.unknownKeys(val, sub, p, key)...)
	}
	return bad
}

func hasMapping(ns []*yaml.Node) bool {
	for _, n := range ns {
		if n.Kind == yaml.MappingNode {
			return true
		}
	}
	return false
}

// scalarValues checks Kamal's rule that label values are strings.
func scalarValues(m *yaml.Node, path string) []string {
	var bad []string
	for i := 0; i+1 < len(m.Content); i += 2 {
		if v := m.Content[i+1]; v.Kind != yaml.ScalarNode || v.Tag != "!!str" {
			bad = append(bad, fmt.Sprintf("%s/%s: Kamal wants a string label value", path, m.Content[i].Value))
		}
	}
	return bad
}

func renderedDeploys(t *testing.T) map[string]*yaml.Node {
	out := map[string]*yaml.Node{}
	for _, dir := range golden.Examples(t) {
		m, err := config.Load(filepath.Join(dir, "berth.yml"))
		if err != nil {
			t.Fatal(err)
		}
		data, err := kamal.Render(m)
		if err != nil {
			t.Fatal(err)
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(data, &doc); err != nil {
			t.Fatalf("rendered deploy.yml for %s does not parse: %v", m.App, err)
		}
		out[m.App] = doc.Content[0]
	}
	return out
}

func TestDeployUsesOnlyKeysKamalAccepts(t *testing.T) {
	ref := loadReference(t)
	for app, root := range renderedDeploys(t) {
		if bad := ref.unknownKeys(root, ref.root, "", ""); len(bad) > 0 {
			t.Errorf("%s deploy.yml has keys Kamal 2.12 rejects:\n  %s", app, strings.Join(bad, "\n  "))
		}
	}
}

// The checker itself must notice bad keys, or the test above proves nothing.
func TestReferenceCheckerFindsBadKeys(t *testing.T) {
	ref := loadReference(t)
	for _, tc := range []struct {
		yaml string
		want []string
	}{
		{"traefik:\n  image: traefik\n", []string{"traefik: unknown key"}},
		{"servers:\n  web:\n    healthcheck:\n      path: /up\n", []string{"servers/web/healthcheck: unknown key"}},
		{"accessories:\n  litestream:\n    command: x\n", []string{"accessories/litestream/command: unknown key"}},
		{"registry:\n  server: ghcr.io\n  token: x\n", []string{"registry/token: unknown key"}},
		{"env:\n  secret: [A]\n  clear:\n    ANYTHING: 1\n", nil},
		{"servers:\n  web:\n    labels:\n      a: true\n", []string{"servers/web/labels/a: Kamal wants a string label value"}},
		{"servers:\n  web:\n    hosts: [a]\n    proxy: false\n    options:\n      anything-goes: 1\n", nil},
		{"logging:\n  driver: json-file\n  options:\n    max-size: 10m\n", nil},
		{"builder:\n  arch:\n    x: 1\n", []string{"builder/arch: Kamal expects a scalar or list here, not a mapping"}},
	} {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(tc.yaml), &doc); err != nil {
			t.Fatal(err)
		}
		got := ref.unknownKeys(doc.Content[0], ref.root, "", "")
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%q: got %q, want %q", tc.yaml, got, tc.want)
		}
	}
}

// Kamal's own extra rules for roles and accessories
// (Validator::Role, Validator::Accessory, validate_restart_policy!).
func TestDeployFollowsKamalValidatorRules(t *testing.T) {
	for app, root := range renderedDeploys(t) {
		var d map[string]any
		if err := root.Decode(&d); err != nil {
			t.Fatal(err)
		}
		web := d["servers"].(map[string]any)["web"].(map[string]any)
		if web["proxy"] != false {
			t.Errorf("%s: servers.web.proxy = %v, want false", app, web["proxy"])
		}
		// Kamal 2.12 takes options.restart as the container's policy,
		// earlier releases refuse it: berth leaves it to Kamal's default.
		if r, ok := web["options"].(map[string]any)["restart"]; ok {
			t.Errorf("%s: options.restart %v is written; Kamal already runs app containers with --restart unless-stopped", app, r)
		}
		if dt, ok := d["deploy_timeout"].(int); !ok || dt <= 0 {
			t.Errorf("%s: deploy_timeout %v: Kamal wants a positive whole number of seconds", app, d["deploy_timeout"])
		}
		for k := range web["labels"].(map[string]any) {
			if k == "service" || k == "role" || k == "destination" {
				t.Errorf("%s: label %q is reserved by Kamal", app, k)
			}
		}
		acc := d["accessories"].(map[string]any)["litestream"].(map[string]any)
		var placement []string
		for _, k := range []string{"host", "hosts", "role", "roles", "tag", "tags"} {
			if _, ok := acc[k]; ok {
				placement = append(placement, k)
			}
		}
		if len(placement) != 1 {
			t.Errorf("%s: the accessory must name exactly one of host/hosts/role/roles/tag/tags, has %v", app, placement)
		}
		if _, root := d["proxy"]; root {
			t.Errorf("%s: a root proxy: section configures kamal-proxy, which berth does not use", app)
		}
		var keys []string
		for k := range d {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, required := range []string{"service", "image", "registry", "servers"} {
			if _, ok := d[required]; !ok {
				t.Errorf("%s: missing required key %s (have %v)", app, required, keys)
			}
		}
	}
}
