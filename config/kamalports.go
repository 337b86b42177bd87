package config

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// TraefikHostPorts are the ports Traefik listens on, by entry point
// (config/traefik's static configuration; a test keeps the two in step).
// No other container may publish them: Docker would refuse to start it, and
// with Kamal that happens after the pre-deploy hook has migrated the
// database. 8080 (ping and the API) is not published by the docker-setup
// hook today, but it is Traefik's, and kept free for it.
var TraefikHostPorts = map[int]string{
	80:   "web",
	443:  "websecure",
	8080: "traefik",
}

// kamalPort returns why entry e would take a port Traefik needs, or "".
func kamalPort(e kamalEntry) string {
	switch {
	case (e.Parent == "servers.*.options" || e.Parent == "accessories.*.options") && (e.Key.Value == "publish" || e.Key.Value == "p"):
		for _, spec := range scalars(e.Value) {
			if port, ok := publishesTraefikPort(spec); ok {
				return fmt.Sprintf("%q publishes port %d on the server, where Traefik listens (entry point %s): Docker would "+
					"refuse to start the container, after the pre-deploy hook already migrated the database. %s",
					spec, port, TraefikHostPorts[port], publishAdvice(e))
			}
		}
	case e.Schema == "accessories.*.port" && e.Value.Kind == yaml.ScalarNode:
		spec := e.Value.Value
		if !strings.Contains(spec, ":") {
			spec += ":" + spec // Kamal publishes a bare port on the same host port
		}
		if port, ok := publishesTraefikPort(spec); ok {
			return fmt.Sprintf("%q publishes port %d on the server, where Traefik listens (entry point %s): the accessory "+
				"would not start. Publish another host port (e.g. \"127.0.0.1:6379:6379\"), or none: the app reaches "+
				"accessories over the kamal network by name (<service>-<accessory>)", e.Value.Value, port, TraefikHostPorts[port])
		}
	case (e.Schema == "servers.*.proxy" || e.Schema == "accessories.*.proxy") &&
		!(e.Value.Kind == yaml.ScalarNode && strings.EqualFold(e.Value.Value, "false")):
		return "would start kamal-proxy, which publishes ports 80 and 443 where Traefik listens: remove it " +
			"(berth routes with Traefik; give the container Traefik labels to route HTTP to it)"
	}
	return ""
}

func publishAdvice(e kamalEntry) string {
	if strings.HasPrefix(e.Path, "servers.web.") {
		return "Traefik reaches the web role over the kamal network by its labels: remove it"
	}
	return "Publish another host port, or none: containers reach each other over the kamal network by name"
}

// scalars lists a scalar value, or the scalars of a list.
func scalars(n *yaml.Node) []string {
	switch n.Kind {
	case yaml.ScalarNode:
		return []string{n.Value}
	case yaml.SequenceNode:
		var out []string
		for _, c := range n.Content {
			if c.Kind == yaml.ScalarNode {
				out = append(out, c.Value)
			}
		}
		return out
	}
	return nil
}

// publishesTraefikPort reads a docker --publish value ([IP:]HOST:CONTAINER
// with optional /proto and port ranges, or the long form published=...,
// target=...) and returns the first Traefik port among its host ports.
func publishesTraefikPort(spec string) (int, bool) {
	host := hostPortSpec(strings.TrimSpace(spec))
	if host == "" {
		return 0, false // no host port: Docker picks a free one
	}
	lo, hi, ok := portRange(host)
	if !ok {
		return 0, false
	}
	ports := make([]int, 0, len(TraefikHostPorts))
	for p := range TraefikHostPorts {
		ports = append(ports, p)
	}
	sort.Ints(ports)
	for _, p := range ports {
		if p >= lo && p <= hi {
			return p, true
		}
	}
	return 0, false
}

// hostPortSpec extracts the host port (or range) from a --publish value.
func hostPortSpec(spec string) string {
	if strings.Contains(spec, "=") {
		for _, kv := range strings.Split(spec, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok && strings.TrimSpace(k) == "published" {
				return strings.TrimSpace(v)
			}
		}
		return ""
	}
	if i := strings.LastIndex(spec, "/"); i >= 0 {
		spec = spec[:i] // tcp, udp, sctp
	}
	if strings.HasPrefix(spec, "[") { // [IPv6]:HOST:CONTAINER
		end := strings.Index(spec, "]")
		if end < 0 {
			return ""
		}
		spec = strings.TrimPrefix(spec[end+1:], ":")
		if parts := strings.Split(spec, ":"); len(parts) == 2 {
			return parts[0]
		}
		return ""
	}
	parts := strings.Split(spec, ":")
	if len(parts) < 2 {
		return "" // CONTAINER only
	}
	return parts[len(parts)-2]
}

func portRange(s string) (int, int, bool) {
	a, b, isRange := strings.Cut(s, "-")
	lo, err := strconv.Atoi(a)
	if err != nil {
		return 0, 0, false
	}
	if !isRange {
		return lo, lo, true
	}
	hi, err := strconv.Atoi(b)
	if err != nil || hi < lo {
		return 0, 0, false
	}
	return lo, hi, true
}
