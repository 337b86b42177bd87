// Package localserver adapts the Traefik static configuration that berth
// renders for a real server so that it runs on this machine: what cannot
// exist here is changed (ports 80/443/8080, the Docker socket, the file
// provider's directory, ACME's storage and CA), and every other key reaches
// Traefik as rendered. Each adapted key must be present in the rendering, so
// a change in the generator cannot slip past the tests that use this.
package localserver

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	berthtraefik "github.com/wombatworkouts/berth/config/traefik"
	"github.com/wombatworkouts/berth/e2e/internal/pluginsrc"
	"github.com/wombatworkouts/berth/e2e/internal/traefikrun"
)

// Settings are the local stand-ins.
type Settings struct {
	// DockerEndpoint is the stand-in Engine API, e.g. unix:///tmp/x/docker.sock.
	DockerEndpoint string
	// DynamicDir is where the rendered dynamic files are written.
	DynamicDir string
	// ACMEStorage is a temporary acme.json.
	ACMEStorage string
	// CAServer is a closed loopback URL, so ACME never reaches Let's Encrypt.
	CAServer string
}

// Adapted is the result: the YAML to run and the loopback address of each
// entry point.
type Adapted struct {
	YAML  []byte
	Ports map[string]string // entry point name -> 127.0.0.1:port
}

// AdaptStatic rewrites rendered (berth's static.yml) for this machine.
func AdaptStatic(rendered []byte, s Settings) (*Adapted, error) {
	var st map[string]any
	if err := yaml.Unmarshal(rendered, &st); err != nil {
		return nil, fmt.Errorf("rendered static config: %w", err)
	}
	eps, err := mapAt(st, "entryPoints")
	if err != nil {
		return nil, err
	}
	want := []string{berthtraefik.EntryPointTraefik, berthtraefik.EntryPointWeb, berthtraefik.EntryPointSecure}
	if got := sortedKeys(eps); strings.Join(got, ",") != strings.Join(sorted(want), ",") {
		return nil, fmt.Errorf("rendered entry points %v, this adapter knows %v", got, want)
	}
	ports := map[string]string{}
	for _, name := range want {
		p, err := traefikrun.FreePort()
		if err != nil {
			return nil, err
		}
		ports[name] = "127.0.0.1:" + strconv.Itoa(p)
		if err := setAt(st, ports[name], "entryPoints", name, "address"); err != nil {
			return nil, err
		}
	}
	if err := setAt(st, s.DockerEndpoint, "providers", "docker", "endpoint"); err != nil {
		return nil, err
	}
	if err := setAt(st, s.DynamicDir, "providers", "file", "directory"); err != nil {
		return nil, err
	}
	acme, err := mapAt(st, "certificatesResolvers", berthtraefik.CertResolver, "acme")
	if err != nil {
		return nil, err
	}
	if _, ok := acme["storage"]; !ok {
		return nil, fmt.Errorf("rendered static config has no ACME storage")
	}
	acme["storage"] = s.ACMEStorage
	acme["caServer"] = s.CAServer
	// Kept as rendered: traefikrun stages berth under
	// ./plugins-local/src/<moduleName>, Traefik's working directory.
	local, err := mapAt(st, "experimental", "localPlugins", berthtraefik.PluginAlias)
	if err != nil {
		return nil, err
	}
	if local["moduleName"] != pluginsrc.ModuleName {
		return nil, fmt.Errorf("localPlugins.%s.moduleName = %v, want %s", berthtraefik.PluginAlias, local["moduleName"], pluginsrc.ModuleName)
	}
	out, err := yaml.Marshal(st)
	if err != nil {
		return nil, err
	}
	return &Adapted{YAML: out, Ports: ports}, nil
}

func mapAt(tree map[string]any, keys ...string) (map[string]any, error) {
	cur := tree
	for i, k := range keys {
		next, ok := cur[k].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("rendered static config has no mapping at %s", strings.Join(keys[:i+1], "."))
		}
		cur = next
	}
	return cur, nil
}

func setAt(tree map[string]any, value string, keys ...string) error {
	parent, err := mapAt(tree, keys[:len(keys)-1]...)
	if err != nil {
		return err
	}
	last := keys[len(keys)-1]
	if _, ok := parent[last]; !ok {
		return fmt.Errorf("rendered static config has no %s", strings.Join(keys, "."))
	}
	parent[last] = value
	return nil
}

func sortedKeys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func sorted(xs []string) []string {
	out := append([]string(nil), xs...)
	sort.Strings(out)
	return out
}
