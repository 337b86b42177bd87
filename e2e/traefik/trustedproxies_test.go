package traefik_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wombatworkouts/berth/config"
	berthtraefik "github.com/wombatworkouts/berth/config/traefik"
	"github.com/wombatworkouts/berth/e2e/internal/pluginsrc"
	"github.com/wombatworkouts/berth/e2e/internal/traefikrun"
)

// Behind a proxy or load balancer: the example manifest with
// server.trusted_proxies set to the proxy's address (127.0.0.3 plays it),
// rendered by berth. The entry point carries exactly the rendered
// forwardedHeaders (address moved to loopback) and the middleware exactly
// the rendered options (maintenance forced on, the allowlist set, no
// probe). An allowlisted client behind the proxy passes; a forged
// X-Forwarded-For from any other peer, or a forged left part behind the
// proxy, gets the page. A second entry point without forwardedHeaders (what
// berth rendered before) shows why both halves are needed: there the
// allowlisted client behind the proxy is refused too, because Traefik
// drops the header before berth runs (fail closed).
func TestTrustedProxiesEndToEnd(t *testing.T) {
	root, err := pluginsrc.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	m, err := config.Load(filepath.Join(root, "config", "examples", "wombatworkouts", "berth.yml"))
	if err != nil {
		t.Fatal(err)
	}
	m.Server.TrustedProxies = []string{"127.0.0.3/32"}
	rendered := berthtraefik.NewStatic(m.Server)
	opts := berthtraefik.PluginOptions(m)
	if fmt.Sprint(opts["trustedProxies"]) != "[127.0.0.3/32]" {
		t.Fatalf("rendered plugin trustedProxies = %v", opts["trustedProxies"])
	}
	opts["stateDir"] = t.TempDir()
	opts["enabled"] = true
	opts["allowCIDRs"] = []any{"198.51.100.0/24"}
	opts["health"] = map[string]any{"enabled": false}
	optsJSON, err := json.Marshal(opts)
	if err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	ports := map[string]string{}
	for _, name := range []string{"behind", "direct", "traefik"} {
		p, err := traefikrun.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ports[name] = "127.0.0.1:" + strconv.Itoa(p)
	}
	behind := *rendered.EntryPoints[berthtraefik.EntryPointSecure]
	behind.Address = berthtraefik.Quoted(ports["behind"])
	if behind.ForwardedHeaders == nil {
		t.Fatal("the rendered websecure entry point does not trust the proxy")
	}
	entryPoints, err := yaml.Marshal(map[string]*berthtraefik.EntryPoint{
		"behind":  &behind,
		"direct":  {Address: berthtraefik.Quoted(ports["direct"])},
		"traefik": {Address: berthtraefik.Quoted(ports["traefik"])},
	})
	if err != nil {
		t.Fatal(err)
	}
	dynDir := filepath.Join(dir, "dynamic")
	if err := os.MkdirAll(dynDir, 0o755); err != nil {
		t.Fatal(err)
	}
	static := "entryPoints:\n" + indent(string(entryPoints), "  ") + fmt.Sprintf(`
api:
  insecure: true
ping: {}
log:
  level: DEBUG
  noColor: true
providers:
  providersThrottleDuration: 200ms
  file:
    directory: %q
    watch: true
experimental:
  localPlugins:
    berth:
      moduleName: %s
`, dynDir, pluginsrc.ModuleName)
	staticFile := filepath.Join(dir, "traefik.yml")
	if err := os.WriteFile(staticFile, []byte(static), 0o644); err != nil {
		t.Fatal(err)
	}
	tr, err := traefikrun.StartStatic(dir, traefikrun.StaticOptions{ConfigFile: staticFile, PingURL: "http://" + ports["traefik"], DynamicDir: dynDir})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Stop()

	be := startBackend(t, "tp")
	dyn := fmt.Sprintf(`http:
  routers:
    tp-behind:
      rule: "PathPrefix(`+"`/`"+`)"
      entryPoints: [behind]
      service: tp
      middlewares: [tp-berth]
    tp-direct:
      rule: "PathPrefix(`+"`/`"+`)"
      entryPoints: [direct]
      service: tp
      middlewares: [tp-berth]
  services:
    tp:
      loadBalancer:
        servers:
          - url: %q
  middlewares:
    tp-berth:
      plugin:
        berth: %s
`, be.URL(), optsJSON)
	if err := tr.WriteDynamic("tp.yml", dyn); err != nil {
		t.Fatal(err)
	}
	for _, r := range []string{"tp-behind@file", "tp-direct@file"} {
		if err := tr.WaitRouter(r, 15*time.Second); err != nil {
			t.Fatalf("%v\n%s", err, tr.LogTail(30))
		}
	}

	cases := []struct {
		name, entry, from, xff string
		want                   int
	}{
		{"allowlisted client behind the proxy", "behind", "127.0.0.3", "198.51.100.7", 200},
		{"stranger behind the proxy", "behind", "127.0.0.3", "203.0.113.9", 503},
		{"forged left part behind the proxy", "behind", "127.0.0.3", "198.51.100.7, 203.0.113.9", 503},
		{"the proxy itself, no header", "behind", "127.0.0.3", "", 503},
		{"spoofed header from another peer", "behind", "127.0.0.1", "198.51.100.7", 503},
		{"spoofed chain naming the proxy", "behind", "127.0.0.2", "198.51.100.7, 127.0.0.3", 503},
		{"entry point that does not trust the proxy", "direct", "127.0.0.3", "198.51.100.7", 503},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, "http://"+ports[tc.entry]+"/page", nil)
			if tc.xff != "" {
				req.Header.Set("X-Forwarded-For", tc.xff)
			}
			resp, err := clientFrom(tc.from).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}
