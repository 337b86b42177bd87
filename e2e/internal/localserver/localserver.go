// Package localserver adapts the Traefik static configuration that berth
// renders for a real server so that it runs on this machine: what cannot
// exist here is changed (ports 80/443/8080, the Docker socket, the file
// provider's directory, the volume ACME keeps its storage on, Let's
// Encrypt), and every other key reaches Traefik as rendered. Each adapted
// key must be present in the rendering, so a change in the generator cannot
// slip past the tests that use this.
package localserver

import (
	"fmt"
	"path"
	"path/filepath"
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
	// ACMEDir stands in for the volume Traefik keeps its ACME storage on
	// (berthtraefik.ACMEDir): the rendered storage file keeps its name and
	// moves into this directory, so a rendering that changes the file
	// (staging and production have one each) changes it here too.
	ACMEDir string
	// ProductionCA and StagingCA stand in for Let's Encrypt: the directory
	// URL of a test CA (internal/pebble) for a rendering without caServer
	// (Traefik's default, Let's Encrypt production) and for one with Let's
	// Encrypt's staging directory. A rendering that needs one not given is
	// refused, so no test can ever reach Let's Encrypt.
	ProductionCA, StagingCA string
	// Ports fixes an entry point's loopback address (127.0.0.1:port) by
	// name; the others get free ports. A test CA validates HTTP-01 on the
	// web entry point, so it must know that port before Traefik starts
	// (and keep it across a restart).
	Ports map[string]string
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
		ports[name] = s.Ports[name]
		if ports[name] == "" {
			p, err := traefikrun.FreePort()
			if err != nil {
				return nil, err
			}
			ports[name] = "127.0.0.1:" + strconv.Itoa(p)
		}
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
	if err := adaptACME(acme, s); err != nil {
		return nil, err
	}
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

// adaptACME moves the storage file onto the stand-in volume and points the
// resolver at the stand-in for the CA the rendering names.
func adaptACME(acme map[string]any, s Settings) error {
	storage, _ := acme["storage"].(string)
	if storage == "" {
		return fmt.Errorf("rendered static config has no ACME storage")
	}
	if path.Dir(storage) != berthtraefik.ACMEDir {
		return fmt.Errorf("rendered ACME storage %s is not on the volume at %s", storage, berthtraefik.ACMEDir)
	}
	if s.ACMEDir == "" {
		return fmt.Errorf("localserver: Settings.ACMEDir is empty")
	}
	acme["storage"] = filepath.Join(s.ACMEDir, path.Base(storage))
	rendered, _ := acme["caServer"].(string)
	switch {
	case rendered == "" && s.ProductionCA != "":
		acme["caServer"] = s.ProductionCA
	case rendered == berthtraefik.LetsEncryptStaging && s.StagingCA != "":
		acme["caServer"] = s.StagingCA
	case rendered == "":
		return fmt.Errorf("the rendering uses Let's Encrypt production and Settings.ProductionCA is empty")
	case rendered == berthtraefik.LetsEncryptStaging:
		return fmt.Errorf("the rendering uses Let's Encrypt staging and Settings.StagingCA is empty")
	default:
		return fmt.Errorf("rendered caServer %q is neither Let's Encrypt production nor staging", rendered)
	}
	return nil
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
