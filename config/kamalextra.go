package config

import (
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
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

// validateKamal checks the kamal: section: a mapping whose keys do not touch
// what berth owns. Values are Kamal's business; `kamal` itself validates them.
func (v *validator) validateKamal() {
	n := &v.m.Kamal
	if n.Kind == 0 {
		return
	}
	if n.Kind != yaml.MappingNode {
		v.bad("kamal", "should be a mapping of deploy.yml keys")
		return
	}
	v.walkKamal(n, "")
}

func (v *validator) walkKamal(n *yaml.Node, path string) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, val := n.Content[i], n.Content[i+1]
		p := joinKey(path, k.Value)
		key := "kamal." + p
		line := k.Line
		switch {
		case k.Kind != yaml.ScalarNode:
			v.errs = append(v.errs, &Error{File: v.m.Path, Line: line, Key: "kamal", Msg: "keys must be plain words"})
		case KamalOwned(p):
			why, ok := kamalOwnedWhy[p]
			if !ok {
				why = "is written by berth from the manifest and cannot be changed here"
			}
			v.errs = append(v.errs, &Error{File: v.m.Path, Line: line, Key: key, Msg: why})
		case val.Kind == yaml.MappingNode:
			v.walkKamal(val, p)
		}
	}
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
