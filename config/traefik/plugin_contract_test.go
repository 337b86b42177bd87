package traefik_test

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wombatworkouts/berth/config"
	"github.com/wombatworkouts/berth/config/internal/golden"
	"github.com/wombatworkouts/berth/config/traefik"
	"github.com/wombatworkouts/berth/plugin"
)

// The berth plugin refuses a config it cannot use, and Traefik then drops
// the app's routers (404). This checks what berth renders against the
// plugin's own New, decoding the options over CreateConfig's defaults as
// Traefik does. (encoding/json stands in for mapstructure here: both match
// field names case-insensitively; the e2e module checks the real decoder.)
func TestRenderedOptionsAreAcceptedByThePlugin(t *testing.T) {
	for _, dir := range golden.Examples(t) {
		dir := dir
		t.Run(filepath.Base(dir), func(t *testing.T) {
			m, err := config.Load(filepath.Join(dir, "berth.yml"))
			if err != nil {
				t.Fatal(err)
			}
			checkPluginAccepts(t, m)
		})
	}
	t.Run("everything set", func(t *testing.T) {
		m := manifest(t, `  trusted_proxies: [10.0.0.0/8]  # under server:, which base ends with
health:
  path: /healthz
  probe: {enabled: true, interval: 2s, timeout: 3s, healthy_threshold: 2, unhealthy_threshold: 3}
maintenance:
  enabled: false
  message: Down
  unavailable_message: Gone
  status: 502
  retry_after: 1m
  windows:
    - {start: "2026-01-10T02:00:00Z", end: "2026-01-10T02:30:00Z", message: Upgrade}
  allow_cidrs: [198.51.100.0/24, "2001:db8::/32"]
  bypass: {secret_file: /var/lib/berth/state/bypass.key, cookie: c, header: X-B}
  always_pass: [/up, /assets/*]
  status_path: /_s
  poll_interval: 250ms
traffic: {hold_timeout: 0s, max_held: 50}
`)
		checkPluginAccepts(t, m)
	})
}

func checkPluginAccepts(t *testing.T, m *config.Manifest) {
	t.Helper()
	out, err := traefik.RenderApp(m)
	if err != nil {
		t.Fatal(err)
	}
	tree := traefikReads(t, out)
	opts, ok := dig(t, tree, "http.middlewares."+m.App+"-berth.plugin.berth").(map[string]any)
	if !ok {
		t.Fatalf("no plugin options in:\n%s", out)
	}
	// The bypass key lives on the server; stand in a real one here.
	if _, ok := opts["bypassSecretFile"]; ok {
		key := filepath.Join(t.TempDir(), "bypass.key")
		if err := os.WriteFile(key, []byte(strings.Repeat("k", 64)), 0o600); err != nil {
			t.Fatal(err)
		}
		opts["bypassSecretFile"] = key
	}
	opts["stateDir"] = t.TempDir()
	// As Traefik hands them over: every option in Config.Options, which
	// New checks key by key (an option the plugin does not know fails).
	cfg := plugin.CreateConfig()
	cfg.Options = opts
	if opts["app"] != m.App || dig(t, tree, "http.middlewares."+m.App+"-berth.plugin.berth.health.host") != m.CanonicalDomain() {
		t.Errorf("rendered options = %+v", opts)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	next := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	if _, err := plugin.New(ctx, next, cfg, m.App+"-berth"); err != nil {
		t.Fatalf("the plugin refuses the rendered options: %v", err)
	}
}
