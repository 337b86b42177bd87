package traefik_test

import (
	"bytes"
	"fmt"
	"path"
	"regexp"
	"strings"
	"testing"
	"text/template"

	"gopkg.in/yaml.v3"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/wombatworkouts/berth/config"
	_ "github.com/wombatworkouts/berth/config/internal/golden" // defines -update for go test ./config/...
	"github.com/wombatworkouts/berth/config/traefik"
)

const base = `app: wombat_workouts
image: ghcr.io/wombatworkouts/wombat_workouts
hosts: [203.0.113.10]
domains: [wombatworkouts.com, www.wombatworkouts.com]
litestream:
  replica: s3://wombat-backups/wombat_workouts
  region: fsn1
server:
  acme:
    email: ops@wombatworkouts.com
`

func manifest(t *testing.T, extra string) *config.Manifest {
	t.Helper()
	m, err := config.Parse([]byte(base+extra), "berth.yml")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// dig walks a decoded YAML tree by dotted path.
func dig(t *testing.T, tree any, path string) any {
	t.Helper()
	cur := tree
	for _, k := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[k]
	}
	return cur
}

func decode(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var out map[string]any
	if err := yaml.Unmarshal(data, &out); err != nil {
		t.Fatalf("output is not YAML: %v\n%s", err, data)
	}
	return out
}

func TestStatic(t *testing.T) {
	for _, tc := range []struct {
		name   string
		server string
		want   map[string]any // path -> value; nil value means absent
	}{
		{"defaults", "", map[string]any{
			"entryPoints.web.address":                                         ":80",
			"entryPoints.web.http.redirections.entryPoint.to":                 "websecure",
			"entryPoints.web.http.redirections.entryPoint.scheme":             "https",
			"entryPoints.web.http.redirections.entryPoint.permanent":          true,
			"entryPoints.websecure.address":                                   ":443",
			"certificatesResolvers.letsencrypt.acme.email":                    "ops@wombatworkouts.com",
			"certificatesResolvers.letsencrypt.acme.storage":                  "/letsencrypt/acme.json",
			"certificatesResolvers.letsencrypt.acme.caServer":                 nil,
			"certificatesResolvers.letsencrypt.acme.httpChallenge.entryPoint": "web",
			"certificatesResolvers.letsencrypt.acme.tlsChallenge":             nil,
			"providers.docker.exposedByDefault":                               false,
			"providers.docker.network":                                        "kamal",
			"providers.file.directory":                                        "/etc/traefik/dynamic",
			"providers.file.watch":                                            true,
			"experimental.localPlugins.berth.moduleName":                      "github.com/wombatworkouts/berth",
			"experimental.plugins":                                            nil,
			"api.insecure":                                                    false,
			"ping.entryPoint":                                                 "traefik",
			"global.sendAnonymousUsage":                                       false,
		}},
		// Staging has its own storage file: a switch back to production
		// must not find the staging certificates (acme.go).
		{"staging", "    staging: true\n", map[string]any{
			"certificatesResolvers.letsencrypt.acme.caServer":                 traefik.LetsEncryptStaging,
			"certificatesResolvers.letsencrypt.acme.storage":                  "/letsencrypt/acme-staging.json",
			"certificatesResolvers.letsencrypt.acme.httpChallenge.entryPoint": "web",
			"certificatesResolvers.letsencrypt.acme.tlsChallenge":             nil,
		}},
		{"http challenge written out", "    challenge: http\n", map[string]any{
			"certificatesResolvers.letsencrypt.acme.httpChallenge.entryPoint": "web",
			"certificatesResolvers.letsencrypt.acme.tlsChallenge":             nil,
			"certificatesResolvers.letsencrypt.acme.storage":                  "/letsencrypt/acme.json",
		}},
		{"catalog plugin", "  plugin:\n    source: catalog\n    version: v0.2.1\n", map[string]any{
			"experimental.plugins.berth.moduleName": "github.com/wombatworkouts/berth",
			"experimental.plugins.berth.version":    "v0.2.1",
			"experimental.localPlugins":             nil,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := manifest(t, tc.server)
			out, err := traefik.NewStatic(m.Server).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			tree := decode(t, out)
			for path, want := range tc.want {
				if got := dig(t, tree, path); got != want {
					t.Errorf("%s = %#v, want %#v", path, got, want)
				}
			}
			if tc.name == "defaults" {
				if _, ok := tree["accessLog"].(map[string]any); !ok {
					t.Errorf("accessLog not enabled:\n%s", out)
				}
			}
		})
	}
}

// The storage files of the two CAs are different files on the one volume
// Traefik mounts.
func TestACMEStoragePerCA(t *testing.T) {
	prod, staging := traefik.ACMEStoragePath(false), traefik.ACMEStoragePath(true)
	if prod == staging {
		t.Fatalf("production and staging share %s", prod)
	}
	for _, p := range []string{prod, staging} {
		if path.Dir(p) != traefik.ACMEDir {
			t.Errorf("%s is not on the ACME volume %s", p, traefik.ACMEDir)
		}
	}
}

// Behind a proxy or load balancer, both public entry points keep
// X-Forwarded-For from exactly the proxies the plugin trusts; without one,
// no entry point trusts anybody's forwarded headers.
func TestStaticTrustsTheSameProxiesAsThePlugin(t *testing.T) {
	for _, tc := range []struct {
		name, server string
		want         []any
	}{
		{"no proxy", "", nil},
		{"behind a load balancer", "  trusted_proxies: [10.0.0.2/32, 10.0.1.0/24]\n", []any{"10.0.0.2/32", "10.0.1.0/24"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := manifest(t, tc.server)
			out, err := traefik.NewStatic(m.Server).Marshal()
			if err != nil {
				t.Fatal(err)
			}
			tree := decode(t, out)
			for _, ep := range []string{traefik.EntryPointWeb, traefik.EntryPointSecure} {
				got, _ := dig(t, tree, "entryPoints."+ep+".forwardedHeaders.trustedIPs").([]any)
				if fmt.Sprint(got) != fmt.Sprint(tc.want) {
					t.Errorf("%s trustedIPs = %v, want %v", ep, got, tc.want)
				}
			}
			if dig(t, tree, "entryPoints."+traefik.EntryPointTraefik+".forwardedHeaders") != nil {
				t.Errorf("the internal entry point trusts forwarded headers")
			}
			opts := traefik.PluginOptions(m)
			if fmt.Sprint(opts["trustedProxies"]) != fmt.Sprint(tc.want) && !(tc.want == nil && opts["trustedProxies"] == nil) {
				t.Errorf("plugin trustedProxies = %v, want %v", opts["trustedProxies"], tc.want)
			}
		})
	}
}

// traefikReads renders a dynamic file the way Traefik's file provider does:
// text/template first, then YAML.
func traefikReads(t *testing.T, data []byte) map[string]any {
	t.Helper()
	tmpl, err := template.New("f").Parse(string(data))
	if err != nil {
		t.Fatalf("Traefik would reject the file as a template: %v", err)
	}
	var buf bytes.Buffer
	if err := tmpl.Execute(&buf, false); err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if err := sigsyaml.Unmarshal(buf.Bytes(), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDynamicSurvivesTraefikTemplating(t *testing.T) {
	m := manifest(t, "maintenance:\n  message: \"Back at {{ noon }} }} {{{\"\n")
	m.Template = "<p>{{ .Message }}</p>\n<style>a{color:red}</style>\n{{- if .Message }}x{{ end }}\n"
	out, err := traefik.RenderApp(m)
	if err != nil {
		t.Fatal(err)
	}
	tree := traefikReads(t, out)
	opts := dig(t, tree, "http.middlewares.wombat_workouts-berth.plugin.berth").(map[string]any)
	if opts["template"] != m.Template {
		t.Errorf("template after Traefik's templating = %q, want %q", opts["template"], m.Template)
	}
	if opts["message"] != "Back at {{ noon }} }} {{{" {
		t.Errorf("message = %q", opts["message"])
	}
}

func TestDynamicContents(t *testing.T) {
	m := manifest(t, "")
	out, err := traefik.RenderApp(m)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("{}")) || bytes.Contains(out, []byte("[]")) {
		t.Errorf("empty objects must be pruned (docs/traefik.md#genconf):\n%s", out)
	}
	tree := traefikReads(t, out)
	mw := "http.middlewares.wombat_workouts-"
	for path, want := range map[string]any{
		mw + "headers.headers.stsSeconds":                        float64(31536000),
		mw + "headers.headers.stsIncludeSubdomains":              true,
		mw + "headers.headers.contentTypeNosniff":                true,
		mw + "headers.headers.frameDeny":                         true,
		mw + "headers.headers.referrerPolicy":                    "strict-origin-when-cross-origin",
		mw + "retry.retry.attempts":                              float64(6),
		mw + "retry.retry.initialInterval":                       "500ms",
		mw + "www-redirect.redirectRegex.permanent":              true,
		mw + "berth.plugin.berth.app":                            "wombat_workouts",
		mw + "berth.plugin.berth.stateDir":                       "/var/lib/berth/state",
		mw + "berth.plugin.berth.health.path":                    "/up",
		mw + "berth.plugin.berth.health.host":                    "wombatworkouts.com",
		mw + "fallback.plugin.berth.fallback":                    true,
		mw + "fallback.plugin.berth.retryAfter":                  "10s",
		mw + "fallback.plugin.berth.app":                         "wombat_workouts",
		"http.routers.wombat_workouts-fallback.rule":             "Host(`wombatworkouts.com`) || Host(`www.wombatworkouts.com`)",
		"http.routers.wombat_workouts-fallback.priority":         float64(1),
		"http.routers.wombat_workouts-fallback.service":          "noop@internal",
		"http.routers.wombat_workouts-fallback.tls.certResolver": "letsencrypt",
	} {
		if got := dig(t, tree, path); got != want {
			t.Errorf("%s = %#v, want %#v", path, got, want)
		}
	}
	if len(tree) != 1 || len(dig(t, tree, "http").(map[string]any)) != 2 || len(dig(t, tree, "http.routers").(map[string]any)) != 1 {
		t.Errorf("an app file holds http.middlewares and the fallback router only (the app's routers come from labels; TLS options from %s):\n%s", traefik.ServerFile, out)
	}
	if got := dig(t, tree, "http.routers.wombat_workouts-fallback.middlewares"); fmt.Sprint(got) != "[wombat_workouts-headers wombat_workouts-fallback]" {
		t.Errorf("fallback router middlewares = %v", got)
	}
	// One certificate per name: each name is its own tls.domains entry
	// (without the list Traefik orders one certificate for the whole rule).
	if got := dig(t, tree, "http.routers.wombat_workouts-fallback.tls.domains"); fmt.Sprint(got) != "[map[main:wombatworkouts.com] map[main:www.wombatworkouts.com]]" {
		t.Errorf("fallback router tls.domains = %v", got)
	}
	// No redirect middleware without a pair.
	single := manifest(t, "redirect: none\n")
	out, err = traefik.RenderApp(single)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("www-redirect")) {
		t.Errorf("redirect: none still writes a redirect:\n%s", out)
	}
}

func TestServerDynamic(t *testing.T) {
	out, err := traefik.RenderServer()
	if err != nil {
		t.Fatal(err)
	}
	tree := traefikReads(t, out)
	if got := dig(t, tree, "tls.options.default.minVersion"); got != "VersionTLS12" {
		t.Errorf("minVersion = %v", got)
	}
	if bytes.Contains(out, []byte("clientAuth")) {
		t.Errorf("genconf's empty clientAuth must be pruned (Traefik rejects it):\n%s", out)
	}
}

func TestWWWRedirect(t *testing.T) {
	for _, tc := range []struct {
		name     string
		domains  string
		redirect string
		cases    map[string]string // URL as Traefik builds it -> result ("" = no match)
	}{
		{"www to apex", "[wombatworkouts.com, www.wombatworkouts.com]", "www-to-apex", map[string]string{
			"https://www.wombatworkouts.com/":             "https://wombatworkouts.com/",
			"https://www.wombatworkouts.com/plans?x=1#no": "https://wombatworkouts.com/plans?x=1#no",
			"http://www.wombatworkouts.com:443/a":         "https://wombatworkouts.com/a",
			"https://wombatworkouts.com/":                 "",
			"https://www.wombatworkoutsXcom/":             "",
		}},
		{"apex to www", "[wombatworkouts.com, www.wombatworkouts.com]", "apex-to-www", map[string]string{
			"https://wombatworkouts.com/plans": "https://www.wombatworkouts.com/plans",
			"https://www.wombatworkouts.com/":  "",
		}},
		{"two pairs", "[a.com, www.a.com, b.org, www.b.org, c.net]", "www-to-apex", map[string]string{
			"https://www.a.com/x": "https://a.com/x",
			"https://www.b.org/":  "https://b.org/",
			"https://www.c.net/":  "",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, err := config.Parse([]byte(strings.Replace(base, "[wombatworkouts.com, www.wombatworkouts.com]", tc.domains, 1)+
				"redirect: "+tc.redirect+"\n"), "berth.yml")
			if err != nil {
				t.Fatal(err)
			}
			rr := traefik.Dynamic(m).HTTP.Middlewares["wombat_workouts-www-redirect"].RedirectRegex
			re := regexp.MustCompile(rr.Regex)
			for in, want := range tc.cases {
				got := ""
				if re.MatchString(in) {
					// What Traefik's redirectRegex does.
					got = re.ReplaceAllString(in, rr.Replacement)
				}
				if got != want {
					t.Errorf("%s -> %q, want %q", in, got, want)
				}
			}
		})
	}
}

func TestPluginOptions(t *testing.T) {
	t.Run("minimal", func(t *testing.T) {
		got := traefik.PluginOptions(manifest(t, ""))
		if len(got) != 3 || got["app"] != "wombat_workouts" || got["stateDir"] != "/var/lib/berth/state" {
			t.Errorf("minimal options = %#v, want only app, stateDir and health", got)
		}
		h := got["health"].(map[string]any)
		if len(h) != 2 || h["path"] != "/up" || h["host"] != "wombatworkouts.com" {
			t.Errorf("health = %#v", h)
		}
	})
	t.Run("everything set", func(t *testing.T) {
		m := manifest(t, `  trusted_proxies: [10.0.0.0/8]  # under server:, which base ends with
health:
  path: /healthz
  probe:
    enabled: false
    url: http://127.0.0.1/healthz
    interval: 2s
    timeout: 3s
    healthy_threshold: 2
    unhealthy_threshold: 3
maintenance:
  enabled: true
  message: Down
  unavailable_message: Gone
  status: 502
  retry_after: 1m
  windows:
    - start: 2026-01-10T02:00:00Z
      end: 2026-01-10T02:30:00Z
      message: Upgrade
  allow_cidrs: [198.51.100.0/24]
  bypass:
    secret_file: /var/lib/berth/state/bypass.key
    cookie: c
    header: X-B
  status_path: /_s
  poll_interval: 250ms
traffic:
  hold_timeout: 20s
  max_held: 50
`)
		got := traefik.PluginOptions(m)
		want := []string{"app", "stateDir", "health", "enabled", "message", "unavailableMessage", "status", "retryAfter", "windows",
			"allowCIDRs", "trustedProxies", "bypassSecretFile", "bypassCookie", "bypassHeader", "alwaysPass", "statusPath",
			"pollInterval", "holdTimeout", "maxHeld"}
		for _, k := range want {
			if _, ok := got[k]; !ok {
				t.Errorf("option %s missing", k)
			}
		}
		if len(got) != len(want) {
			t.Errorf("got %d options, want %d: %#v", len(got), len(want), got)
		}
		if got["enabled"] != true || got["status"] != 502 || got["maxHeld"] != 50 {
			t.Errorf("values: %#v", got)
		}
		// A health path other than /up must still pass in maintenance.
		if ap := got["alwaysPass"].([]any); len(ap) != 1 || ap[0] != "/healthz" {
			t.Errorf("alwaysPass = %#v", ap)
		}
		h := got["health"].(map[string]any)
		if h["enabled"] != false || h["healthyThreshold"] != 2 || h["url"] != "http://127.0.0.1/healthz" || len(h) != 8 {
			t.Errorf("health = %#v", h)
		}
		w := got["windows"].([]any)[0].(map[string]any)
		if w["start"] != "2026-01-10T02:00:00Z" || w["message"] != "Upgrade" {
			t.Errorf("windows = %#v", w)
		}
	})
	t.Run("explicit always_pass wins", func(t *testing.T) {
		got := traefik.PluginOptions(manifest(t, "health:\n  path: /healthz\nmaintenance:\n  always_pass: [/up, /healthz, /status]\n"))
		if ap := got["alwaysPass"].([]any); len(ap) != 3 {
			t.Errorf("alwaysPass = %#v", ap)
		}
	})
}

func TestLabels(t *testing.T) {
	m := manifest(t, "")
	labels := map[string]string{}
	for _, l := range traefik.Labels(m) {
		if _, dup := labels[l.Key]; dup {
			t.Errorf("duplicate label %s", l.Key)
		}
		if l.Value == "" {
			t.Errorf("empty label %s", l.Key)
		}
		labels[l.Key] = l.Value
	}
	apex := "traefik.http.routers.wombat_workouts-wombatworkouts-com."
	www := "traefik.http.routers.wombat_workouts-www-wombatworkouts-com."
	svc := "traefik.http.services.wombat_workouts.loadbalancer."
	for k, want := range map[string]string{
		"traefik.enable":                             "true",
		"traefik.docker.network":                     "kamal",
		svc + "passhostheader":                       "true",
		svc + "passivehealthcheck.failurewindow":     "5s",
		svc + "passivehealthcheck.maxfailedattempts": "3",
		apex + "rule":                                "Host(`wombatworkouts.com`)",
		apex + "entrypoints":                         "websecure",
		apex + "tls.certresolver":                    "letsencrypt",
		apex + "service":                             "wombat_workouts",
		apex + "middlewares":                         "wombat_workouts-headers@file,wombat_workouts-retry@file,wombat_workouts-berth@file",
		www + "rule":                                 "Host(`www.wombatworkouts.com`)",
		// Headers before the redirect: the redirect carries HSTS.
		www + "middlewares": "wombat_workouts-headers@file,wombat_workouts-www-redirect@file,wombat_workouts-retry@file,wombat_workouts-berth@file",
	} {
		if labels[k] != want {
			t.Errorf("%s = %q, want %q", k, labels[k], want)
		}
	}
	if _, ok := labels[svc+"server.port"]; ok {
		// A container that is not running would add a server without an
		// address to the pool; see Labels.
		t.Errorf("labelled %s: the port comes from the image's EXPOSE", svc+"server.port")
	}
	if len(labels) != 3+2+5*2 {
		t.Errorf("got %d labels", len(labels))
	}

	off := manifest(t, "traffic:\n  passive_health_check:\n    enabled: false\n")
	for _, l := range traefik.Labels(off) {
		if strings.Contains(l.Key, "passivehealthcheck") {
			t.Errorf("passive health check disabled but labelled: %s", l.Key)
		}
	}
}
