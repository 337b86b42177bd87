package config

import (
	"fmt"
	"net"
	"strings"
)

// Placeholders are values that cannot be meant for a real deploy: what
// `rails new` and `berth config init` write until the user fills in their
// own (192.168.0.1, 203.0.113.10, <app>.example.com, your-github-user), and
// names reserved for documentation (RFC 2606 domains, RFC 5737 and RFC 3849
// addresses). A manifest with them is valid, so a starter renders and can be
// looked at, but Let's Encrypt cannot issue for such a domain and Kamal
// cannot reach such a host: `berth config check` and `validate` warn, and
// `render` refuses them unless told to render anyway.

// RailsPlaceholderHost is the server address `rails new` writes.
const RailsPlaceholderHost = "192.168.0.1"

// PlaceholderOwner is the image owner `berth config init` writes when it
// cannot tell the GitHub user.
const PlaceholderOwner = "your-github-user"

// documentationNets are address ranges reserved for examples.
var documentationNets = mustCIDRs("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24", "2001:db8::/32")

func mustCIDRs(cidrs ...string) []*net.IPNet {
	var out []*net.IPNet
	for _, c := range cidrs {
		_, n, err := net.ParseCIDR(c)
		if err != nil {
			panic(err) // a constant above is wrong
		}
		out = append(out, n)
	}
	return out
}

// Placeholders lists every placeholder in the manifest, each naming its key
// and line and what to put there.
func (m *Manifest) Placeholders() ErrorList {
	var out ErrorList
	add := func(key, msg string) {
		v := validator{m: m}
		out = append(out, &Error{File: m.Path, Line: v.line(key), Key: key, Msg: msg})
	}
	for i, h := range m.Hosts {
		if why := placeholderHost(h); why != "" {
			add(fmt.Sprintf("hosts[%d]", i), fmt.Sprintf("%s is %s: put your server's address (or SSH name)", h, why))
		}
	}
	for i, d := range m.Domains {
		if suffix := reservedSuffix(d); suffix != "" {
			add(fmt.Sprintf("domains[%d]", i), fmt.Sprintf("%s is under %s, a name reserved for examples, and Let's Encrypt "+
				"issues no certificate for it: list the domain your app answers on", d, suffix))
		}
	}
	if m.Owner() == PlaceholderOwner {
		add("image", fmt.Sprintf("%s is a placeholder from `berth config init`: put your GitHub user or organisation "+
			"(lowercase), e.g. ghcr.io/wombatworkouts/%s", m.Image, imageName(m.Image)))
	}
	if strings.EqualFold(m.Registry.Username, PlaceholderOwner) {
		add("registry.username", fmt.Sprintf("%s is a placeholder: put your GitHub user", m.Registry.Username))
	}
	if e := m.Server.ACME.Email; strings.Contains(e, "@") {
		if suffix := reservedSuffix(e[strings.LastIndex(e, "@")+1:]); suffix != "" {
			add("server.acme.email", fmt.Sprintf("%s is an address under %s, a name reserved for examples: put an "+
				"address you read (Let's Encrypt writes to it about expiring certificates)", e, suffix))
		}
	}
	return out.sorted()
}

func imageName(image string) string {
	_, name := splitImage(image)
	return name
}

// placeholderHost says why a host is a placeholder, or "".
func placeholderHost(h string) string {
	if h == RailsPlaceholderHost {
		return "the placeholder `rails new` writes"
	}
	ip := net.ParseIP(h)
	if ip == nil {
		if suffix := reservedSuffix(h); suffix != "" {
			return "under " + suffix + ", a name reserved for examples"
		}
		return ""
	}
	for _, n := range documentationNets {
		if n.Contains(ip) {
			return "an address reserved for documentation (" + n.String() + "), a placeholder"
		}
	}
	return ""
}

// reservedSuffixes are names that never reach a real server (RFC 2606, RFC
// 6761): example domains and special-use top-level names.
var reservedSuffixes = []string{"example.com", "example.net", "example.org", "example", "test", "invalid", "localhost"}

// reservedSuffix returns the reserved name d is under, or "".
func reservedSuffix(d string) string {
	d = strings.TrimSuffix(strings.ToLower(d), ".")
	for _, s := range reservedSuffixes {
		if d == s || strings.HasSuffix(d, "."+s) {
			return s
		}
	}
	return ""
}
