package config

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/wombatworkouts/berth/config/internal/kamalschema"
)

// kamalOwned are deploy.yml paths berth writes and depends on: routing,
// health gating, the registry and the Litestream accessory. The manifest's
// kamal: section may add to deploy.yml but not change these. A path ending
// in "*" owns every key with that prefix.
var kamalOwned = []string{
	"service", "image", "registry",
	"servers.web.hosts", "servers.web.proxy", "servers.web.cmd",
	"servers.web.labels.traefik.*",
	"servers.web.options.health-*", "servers.web.options.restart",
	"accessories.litestream",
	"proxy", "traefik",
}

// KamalOwned reports whether a dotted deploy.yml path is one berth owns
// (the path itself, or anything inside an owned path).
func KamalOwned(p string) bool {
	for _, o := range kamalOwned {
		if prefix, ok := strings.CutSuffix(o, "*"); ok {
			if strings.HasPrefix(p, prefix) {
				return true
			}
			continue
		}
		if p == o || strings.HasPrefix(p, o+".") {
			return true
		}
	}
	return false
}

// holdsOwned reports whether p is a mapping berth writes owned keys into
// (servers, servers.web, accessories, ...): a kamal: value there that is not
// a mapping would replace them all.
func holdsOwned(p string) bool {
	for _, o := range kamalOwned {
		if strings.HasPrefix(o, p+".") {
			return true
		}
	}
	return false
}

// why an owned key cannot be set through kamal:.
var kamalOwnedWhy = map[string]string{
	"proxy":   "is kamal-proxy's configuration; berth routes with Traefik (servers.web.proxy: false)",
	"traefik": "is a Kamal 1 key that Kamal 2 rejects; Traefik is configured by berth",
	// Kamal 2.12 takes it as the container's policy instead of its own;
	// earlier Kamal 2 releases refuse the key, or repeat it on the
	// `docker run --rm` of every `kamal app exec`, which Docker refuses.
	"servers.web.options.restart": "Kamal runs every app container with --restart unless-stopped, which is what berth " +
		"needs (Docker brings a crashed app back); earlier Kamal 2 releases refuse a restart option: remove it",
}

// kamalEntry is one key of the kamal: section with where it sits in Kamal's
// schema (config/internal/kamalschema).
type kamalEntry struct {
	// Path is the deploy.yml path, dotted (servers.job.options.publish).
	Path string
	// Parent is the schema path of the mapping holding the key ("" for
	// the top level, "servers.*.options" for a role's docker options).
	Parent string
	// Schema is the key's own schema path and Shape what Kamal accepts
	// there; Known is false for a key Kamal does not have.
	Schema string
	Shape  kamalschema.Shape
	Known  bool
	// UserKey is set when the key is the user's own word (an environment
	// variable, a label, a docker option, a role or accessory name).
	UserKey bool
	// DupLine is the line where the same key was first set in this
	// mapping, if it is a repeat.
	DupLine    int
	Key, Value *yaml.Node
}

// eachKamalEntry calls visit for every key of mapping n, depth first;
// visit says whether to look inside the key's value.
func eachKamalEntry(n *yaml.Node, path, schema string, visit func(kamalEntry) bool) {
	shape := kamalschema.Map
	if schema != "" {
		shape, _ = kamalschema.Lookup(schema)
	}
	// Only env: may be free (NAME: value) or keyed (clear:, secret:,
	// tags:); Kamal takes it as keyed when any of those three is there.
	keyed := shape&kamalschema.Map != 0
	if keyed && shape&kamalschema.Free != 0 {
		keyed = envKeyed(n)
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		e := kamalEntry{Path: joinKey(path, k.Value), Parent: schema, Key: k, Value: val, DupLine: seen[k.Value]}
		if e.DupLine == 0 {
			seen[k.Value] = k.Line
		}
		switch {
		case shape&kamalschema.Names != 0:
			e.Schema = joinKey(schema, kamalschema.Wildcard)
			e.Shape, e.Known = kamalschema.Lookup(e.Schema)
			e.UserKey = true
		case keyed:
			e.Schema = joinKey(schema, k.Value)
			e.Shape, e.Known = kamalschema.Lookup(e.Schema)
		default:
			e.UserKey, e.Known = true, true
		}
		if visit(e) && val.Kind == yaml.MappingNode && e.Schema != "" && e.Known {
			eachKamalEntry(val, e.Path, e.Schema, visit)
		}
	}
}

// validateKamal checks the kamal: section against Kamal 2.12's own keys
// (a typo would otherwise reach deploy.yml and fail on the deployer's
// machine), keeps it off what berth owns, refuses secrets written into it
// (the manifest is committed) and host ports Traefik needs.
func (v *validator) validateKamal() {
	n := &v.m.Kamal
	if n.Kind == 0 {
		return
	}
	if n.Kind != yaml.MappingNode {
		v.bad("kamal", "should be a mapping of deploy.yml keys")
		return
	}
	kamalBad := func(e kamalEntry, format string, args ...any) {
		v.errs = append(v.errs, &Error{File: v.m.Path, Line: e.Key.Line, Key: "kamal." + e.Path, Msg: fmt.Sprintf(format, args...)})
	}
	eachKamalEntry(n, "", "", func(e kamalEntry) bool {
		if e.Key.Kind != yaml.ScalarNode {
			v.errs = append(v.errs, &Error{File: v.m.Path, Line: e.Key.Line, Key: "kamal", Msg: "keys must be plain words"})
			return false
		}
		if e.Key.Value == "<<" {
			kamalBad(e, "YAML merge keys (<<) are not supported here; write the keys out")
			return false
		}
		if e.DupLine > 0 {
			// deploy.yml would get both, and Kamal's YAML reader
			// keeps only the last.
			kamalBad(e, "duplicate key (first set on line %d)", e.DupLine)
			return false
		}
		switch {
		case KamalOwned(e.Path):
			why, ok := kamalOwnedWhy[e.Path]
			if !ok {
				why = "is written by berth from the manifest and cannot be changed here"
			}
			kamalBad(e, "%s", why)
			return false
		case e.Parent == "" && strings.HasPrefix(e.Key.Value, "x-"):
			return false // a YAML extension block: Kamal ignores it
		case !e.Known:
			kamalBad(e, "%s", unknownKamalKey(e))
			return false
		case isNull(e.Value):
			kamalBad(e, "is empty; give it a value or remove it (an empty value would replace what berth writes there)")
			return false
		case e.Schema != "" && !fits(e.Shape, e.Value):
			kamalBad(e, "should be %s, not %s", e.Shape.Describe(), kindName(e.Value))
			return false
		case holdsOwned(e.Path) && e.Value.Kind != yaml.MappingNode:
			kamalBad(e, "berth writes %s as a mapping (with its own entries in it); add yours by name, "+
				"e.g. servers: {job: {hosts: [...], cmd: bin/jobs}}", e.Path)
			return false
		case e.Path == "env" && !envKeyed(e.Value):
			kamalBad(e, "berth writes env: with clear: and secret:, so NAME: value pairs here would make it invalid; "+
				"put plain values under env.clear and names of secrets under env.secret")
			return false
		}
		if msg := kamalSecret(e); msg != "" {
			kamalBad(e, "%s", msg)
			return false
		}
		if msg := kamalPort(e); msg != "" {
			kamalBad(e, "%s", msg)
			return false
		}
		return true
	})
}

// fits reports whether node n has a shape Kamal accepts.
func fits(s kamalschema.Shape, n *yaml.Node) bool {
	switch n.Kind {
	case yaml.ScalarNode:
		return s&kamalschema.Scalar != 0
	case yaml.SequenceNode:
		return s&kamalschema.List != 0
	case yaml.MappingNode:
		return s&(kamalschema.Map|kamalschema.Free|kamalschema.Names) != 0
	}
	return false
}

// envKeyed reports whether an env: mapping is in the clear:/secret: form.
func envKeyed(n *yaml.Node) bool {
	if n.Kind != yaml.MappingNode {
		return true // reported as the wrong shape
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		switch n.Content[i].Value {
		case "clear", "secret", "tags":
			return true
		}
	}
	return false
}

// unknownKamalKey explains a key Kamal 2.12 does not accept here.
func unknownKamalKey(e kamalEntry) string {
	known := kamalschema.Children(e.Parent)
	fields := map[string]int{}
	for i, k := range known {
		fields[k] = i
	}
	where := "at the top of deploy.yml"
	if e.Parent != "" {
		where = "under " + strings.ReplaceAll(e.Parent, "."+kamalschema.Wildcard, ".<name>") + ":"
	}
	msg := fmt.Sprintf("unknown key %q: Kamal 2.12 has no such setting %s and would refuse deploy.yml", e.Key.Value, where)
	if e.Key.Value == "tags" && strings.HasSuffix(e.Parent, "env") {
		return msg + "; env tags are allowed only in the top-level env:"
	}
	if strings.HasSuffix(e.Parent, "env") {
		return msg + "; environment variables go under env.clear (values) or env.secret (names of secrets)"
	}
	if best := closest(e.Key.Value, fields); best != "" {
		return msg + fmt.Sprintf(" (did you mean %q?)", best)
	}
	if len(known) > 0 {
		return msg + "; it accepts: " + strings.Join(known, ", ")
	}
	return msg
}

// copyNode deep-copies a YAML node, resolving aliases, within a budget so a
// small file cannot expand into a huge tree.
func copyNode(n *yaml.Node, budget *int) (*yaml.Node, error) {
	for n.Kind == yaml.AliasNode {
		if n.Alias == nil {
			return nil, fmt.Errorf("broken YAML alias")
		}
		n = n.Alias
	}
	*budget--
	if *budget < 0 {
		return nil, fmt.Errorf("expands to too many values (YAML aliases?)")
	}
	out := *n
	out.Anchor = ""
	out.Alias = nil
	out.Content = nil
	for _, c := range n.Content {
		cc, err := copyNode(c, budget)
		if err != nil {
			return nil, err
		}
		out.Content = append(out.Content, cc)
	}
	return &out, nil
}

// UnknownKamalKeys returns the key nodes of a deploy.yml mapping that Kamal
// 2.12 does not accept where they are (Kamal 1's healthcheck:, a typo):
// berth does not carry those into the manifest, since Kamal would refuse
// them anyway. Top-level x- keys are not reported.
func UnknownKamalKeys(deploy *yaml.Node) map[*yaml.Node]bool {
	out := map[*yaml.Node]bool{}
	if deploy == nil || deploy.Kind != yaml.MappingNode {
		return out
	}
	eachKamalEntry(deploy, "", "", func(e kamalEntry) bool {
		if e.Key.Kind != yaml.ScalarNode || e.Parent == "" && strings.HasPrefix(e.Key.Value, "x-") {
			return false
		}
		if !e.Known {
			out[e.Key] = true
			return false
		}
		return true
	})
	return out
}
