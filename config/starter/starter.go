// Package starter writes a first config/berth.yml for an app, taking what it
// can from the app's existing Kamal config/deploy.yml (as `rails new`
// generates it) and filling the rest with placeholders that are valid, so
// `berth config render` works at once, and that are listed as to-dos.
package starter

import (
	"bytes"
	"fmt"
	"net"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/wombatworkouts/berth/config"
	"github.com/wombatworkouts/berth/config/internal/ynode"
)

// Inputs are the values the starter manifest is written from.
type Inputs struct {
	App              string
	Image            string // ghcr.io/OWNER/NAME
	RegistryUsername string // only when it differs from OWNER
	Hosts            []string
	Domains          []string
	Volume           string // only when it differs from <app>_storage
	// Kamal is the kamal: section: settings of the existing deploy.yml
	// that berth does not write itself (kamal.Compare), so that rendering
	// keeps them.
	Kamal *yaml.Node
	// From names the deploy.yml they came from, for the comment.
	From string
	// ToDo lists what the user must check or change, one line each.
	ToDo []string
}

// Rails' placeholders in the generated deploy.yml.
const (
	railsPlaceholderHost  = "192.168.0.1"
	railsPlaceholderProxy = "app.example.com"
	placeholderOwner      = "your-github-user"
)

var erbTag = regexp.MustCompile(`<%.*?%>`)

// FromDeploy reads what it can from an existing deploy.yml.
func FromDeploy(data []byte) (Inputs, error) {
	var d struct {
		Service  string    `yaml:"service"`
		Image    string    `yaml:"image"`
		Servers  yaml.Node `yaml:"servers"`
		Registry struct {
			Server   string    `yaml:"server"`
			Username yaml.Node `yaml:"username"`
		} `yaml:"registry"`
		Proxy struct {
			Host  string   `yaml:"host"`
			Hosts []string `yaml:"hosts"`
		} `yaml:"proxy"`
		Volumes []string `yaml:"volumes"`
	}
	// ERB cannot be evaluated here; neutralise it so the YAML parses.
	if err := yaml.Unmarshal(erbTag.ReplaceAll(data, []byte("ERB")), &d); err != nil {
		return Inputs{}, fmt.Errorf("parsing deploy.yml: %w", err)
	}
	if d.Service == "" {
		return Inputs{}, fmt.Errorf("deploy.yml has no service: name")
	}
	in := Inputs{App: d.Service}

	user := ""
	if d.Registry.Username.Kind == yaml.ScalarNode && !strings.Contains(d.Registry.Username.Value, "ERB") {
		user = d.Registry.Username.Value
	}
	in.Image, in.RegistryUsername = image(d.Image, d.Registry.Server, user, d.Service, &in.ToDo)

	in.Hosts = hosts(&d.Servers)
	for _, h := range in.Hosts {
		if h == railsPlaceholderHost {
			in.ToDo = append(in.ToDo, fmt.Sprintf("hosts: %s is the placeholder `rails new` writes; put your server's address", h))
		}
	}
	if len(in.Hosts) == 0 {
		in.Hosts = []string{"203.0.113.10"}
		in.ToDo = append(in.ToDo, "hosts: 203.0.113.10 is a placeholder; put your server's address")
	}
	if len(in.Hosts) > 1 {
		in.ToDo = append(in.ToDo, fmt.Sprintf("hosts: deploy.yml lists %d servers; berth runs a SQLite app on one, keep the primary", len(in.Hosts)))
	}

	for _, h := range append([]string{d.Proxy.Host}, d.Proxy.Hosts...) {
		if h != "" && h != railsPlaceholderProxy {
			in.Domains = append(in.Domains, h)
		}
	}
	for _, v := range d.Volumes {
		name, mount, ok := strings.Cut(v, ":")
		if ok && strings.TrimSuffix(strings.SplitN(mount, ":", 2)[0], "/") == config.StorageMount && name != d.Service+"_storage" {
			in.Volume = name
		}
	}
	return in, nil
}

// image turns Kamal's image and registry into ghcr.io/OWNER/NAME.
func image(img, server, user, service string, todo *[]string) (string, string) {
	parts := strings.Split(strings.ToLower(img), "/")
	name := parts[len(parts)-1]
	if name == "" {
		name = strings.ToLower(service)
	}
	owner := ""
	if len(parts) >= 2 {
		owner = parts[len(parts)-2]
	}
	if server != "ghcr.io" || owner == "" {
		if owner == "" {
			owner = strings.ToLower(user)
		}
		if owner == "" || strings.Contains(owner, "<") {
			owner = placeholderOwner
		}
		*todo = append(*todo, fmt.Sprintf("image: berth pushes to GitHub's registry; check ghcr.io/%s/%s "+
			"(your GitHub user or organisation, lowercase)", owner, name))
	}
	regUser := ""
	if user != "" && strings.ToLower(user) != owner && !strings.Contains(user, "<") {
		regUser = user
	}
	return "ghcr.io/" + owner + "/" + name, regUser
}

// hosts reads servers: as a list, or servers.web as a list or hosts:.
func hosts(n *yaml.Node) []string {
	var list *yaml.Node
	switch n.Kind {
	case yaml.SequenceNode:
		list = n
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value != "web" {
				continue
			}
			web := n.Content[i+1]
			if web.Kind == yaml.SequenceNode {
				list = web
			}
			for j := 0; web.Kind == yaml.MappingNode && j+1 < len(web.Content); j += 2 {
				if web.Content[j].Value == "hosts" {
					list = web.Content[j+1]
				}
			}
		}
	}
	var out []string
	if list == nil || list.Kind != yaml.SequenceNode {
		return nil
	}
	for _, item := range list.Content {
		switch item.Kind {
		case yaml.ScalarNode:
			out = append(out, item.Value)
		case yaml.MappingNode: // "- 10.0.0.1: tag"
			if len(item.Content) > 0 {
				out = append(out, item.Content[0].Value)
			}
		}
	}
	return out
}

// Defaults fills what FromDeploy could not find.
func (in *Inputs) Defaults() {
	if len(in.Domains) == 0 {
		d := strings.ToLower(strings.ReplaceAll(in.App, "_", "-")) + ".example.com"
		in.Domains = []string{d}
		in.ToDo = append(in.ToDo, fmt.Sprintf("domains: %s is a placeholder; list your domain (and its www. twin, if you use one)", d))
	}
}

// Render writes the starter manifest.
func Render(in Inputs) []byte {
	in.Defaults()
	var b bytes.Buffer
	app := in.App
	dashed := strings.ToLower(strings.ReplaceAll(app, "_", "-"))
	apex := strings.TrimPrefix(in.Domains[0], "www.")
	if net.ParseIP(apex) != nil {
		apex = dashed + ".example.com"
	}
	todo := append(in.ToDo,
		fmt.Sprintf("litestream: create the bucket %s-backups (or change replica:) and put LITESTREAM_ACCESS_KEY_ID and "+
			"LITESTREAM_SECRET_ACCESS_KEY in .kamal/secrets", dashed),
		fmt.Sprintf("server.acme.email: ops@%s must be an address you read (Let's Encrypt writes to it)", apex),
	)
	b.WriteString("# berth manifest: one file per app. `berth config render config` writes the\n")
	b.WriteString("# Traefik, Kamal and Litestream files from it. Every key: berth's config/README.md.\n")
	b.WriteString("#\n# To do before the first deploy:\n")
	for _, t := range todo {
		b.WriteString("#   - " + t + "\n")
	}
	fmt.Fprintf(&b, "\napp: %s  # the Kamal service name\n", q(app))
	fmt.Fprintf(&b, "image: %s\n", q(in.Image))
	if in.RegistryUsername != "" {
		fmt.Fprintf(&b, "registry:\n  username: %s\n", q(in.RegistryUsername))
	}
	b.WriteString("\nhosts:\n")
	for _, h := range in.Hosts {
		fmt.Fprintf(&b, "  - %s\n", q(h))
	}
	b.WriteString("\ndomains:\n")
	for _, d := range in.Domains {
		fmt.Fprintf(&b, "  - %s\n", q(d))
	}
	b.WriteString("# redirect: www-to-apex    # when both example.com and www.example.com are listed\n")
	b.WriteString("\nhealth:\n  path: /up\n")
	b.WriteString("\nstorage:\n")
	if in.Volume != "" {
		fmt.Fprintf(&b, "  volume: %s\n", q(in.Volume))
	}
	b.WriteString("  database: production.sqlite3\n")
	b.WriteString("  # queue_database: production_queue.sqlite3   # replicate Solid Queue too\n")
	fmt.Fprintf(&b, `
litestream:
  replica: s3://%s-backups/%s
  endpoint: https://fsn1.your-objectstorage.com   # Hetzner Object Storage; omit for AWS
  region: fsn1
  secrets:              # names of entries in .kamal/secrets, never the values
    access_key_id: %s
    secret_access_key: %s

maintenance:
  policy: when-migrations-pending   # always | when-migrations-pending | never
  # message: Back in a minute!

smoke:
  checks:
    - path: /up
  certificate_min_days: 14

server:                 # shared by every app on the server: keep it identical
  acme:
    email: %s
    staging: false      # true while testing, to stay clear of rate limits
  traefik_version: %s
  plugin:
    source: local
  state_dir: %s
  # trusted_proxies: [10.0.0.2/32]  # only behind a proxy or load balancer (its address)
`, dashed, app, config.DefaultAccessKeyIDSecret, config.DefaultSecretKeySecret,
		q("ops@"+apex), config.DefaultTraefikVersion, config.DefaultStateDir)
	if in.Kamal != nil && len(in.Kamal.Content) > 0 {
		fmt.Fprintf(&b, "\n# Settings of %s that berth does not write itself, copied by `berth config init`:\n"+
			"# berth config render merges them into the deploy.yml it writes.\n", in.From)
		if out, err := ynode.Encode("", ynode.Map("kamal", in.Kamal)); err == nil {
			b.Write(out)
		}
	}
	return b.Bytes()
}

// q renders a scalar safely for YAML.
func q(s string) string {
	n := ynode.Str(s)
	out, err := yaml.Marshal(n)
	if err != nil {
		return fmt.Sprintf("%q", s)
	}
	return strings.TrimSuffix(string(out), "\n")
}
