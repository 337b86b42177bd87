package plugin

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// validConfig is CreateConfig plus the one field without a default.
func validConfig() *Config {
	cfg := CreateConfig()
	cfg.App = "web"
	return cfg
}

func TestCreateConfigDefaultsAreValid(t *testing.T) {
	s, err := compile(validConfig())
	if err != nil {
		t.Fatalf("defaults (plus app) do not compile: %v", err)
	}
	checks := []struct {
		name      string
		got, want interface{}
	}{
		{"pollInterval", s.pollInterval, 100 * time.Millisecond},
		{"status", s.status, 503},
		{"retryAfter", s.retryAfter, 30 * time.Second},
		{"holdTimeout", s.holdTimeout, 10 * time.Second},
		{"maxHeld", s.maxHeld, 1000},
		{"alwaysPass", s.alwaysPass, []string{"/up"}},
		{"statusPath", s.statusPath, "/_berth/status"},
		{"bypassCookie", s.bypassCookie, "berth_bypass"},
		{"bypassHeader", s.bypassHeader, "X-Berth-Bypass"},
		{"bypassSecret", s.bypassSecret, []byte(nil)},
		{"health.enabled", s.health.enabled, true},
		{"health.path", s.health.path, "/up"},
		{"health.interval", s.health.interval, time.Second},
		{"health.timeout", s.health.timeout, 5 * time.Second},
		{"health thresholds", [2]int{s.health.healthyThreshold, s.health.unhealthyThreshold}, [2]int{1, 1}},
		{"custom page", s.page.custom, false},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// The app has no default: it names the state file.
	if _, err := compile(CreateConfig()); err == nil || !strings.Contains(err.Error(), "invalid app") {
		t.Errorf("CreateConfig without app: err = %v, want an 'invalid app' error", err)
	}
	// CreateConfig hands out a fresh value each time (Traefik decodes into it).
	a, b := CreateConfig(), CreateConfig()
	a.AlwaysPass[0] = "/changed"
	if b.AlwaysPass[0] != "/up" {
		t.Errorf("CreateConfig shares its slices between calls")
	}
}

func TestCompileRejectsBadFields(t *testing.T) {
	dir := t.TempDir()
	shortSecretFile := filepath.Join(dir, "short")
	if err := os.WriteFile(shortSecretFile, []byte("tooshort\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	goodSecret := strings.Repeat("k", 32)
	win := func(start, end string) []Window { return []Window{{Start: start, End: end}} }

	cases := []struct {
		name  string
		edit  func(*Config)
		field string // must appear as "invalid <field>"
		want  string // the allowed values, or part of them
	}{
		{"app empty", func(c *Config) { c.App = "" }, "app", "lowercase letters, digits"},
		{"app uppercase", func(c *Config) { c.App = "Web" }, "app", "Kamal service name"},
		{"app path", func(c *Config) { c.App = "../etc" }, "app", "Kamal service name"},
		{"app dot", func(c *Config) { c.App = "a.b" }, "app", "Kamal service name"},
		{"app too long", func(c *Config) { c.App = strings.Repeat("a", 64) }, "app", "Kamal service name"},
		{"pollInterval garbage", func(c *Config) { c.PollInterval = "soon" }, "pollInterval", "a duration from 50ms to 1m0s"},
		{"pollInterval too short", func(c *Config) { c.PollInterval = "10ms" }, "pollInterval", "from 50ms"},
		{"pollInterval too long", func(c *Config) { c.PollInterval = "2m" }, "pollInterval", "to 1m0s"},
		{"pollInterval empty", func(c *Config) { c.PollInterval = "" }, "pollInterval", "duration"},
		{"stateDir relative", func(c *Config) { c.StateDir = "var/berth" }, "stateDir", "an absolute directory path"},
		{"window start", func(c *Config) { c.Windows = win("tomorrow", "2026-12-01T03:00:00Z") }, "windows[0].start", "RFC 3339"},
		{"window end", func(c *Config) { c.Windows = win("2026-12-01T02:00:00Z", "2026-12-01 03:00") }, "windows[0].end", "RFC 3339"},
		{"window end before start", func(c *Config) { c.Windows = win("2026-12-01T03:00:00Z", "2026-12-01T02:00:00Z") }, "windows[0].end", "a time after windows[0].start"},
		{"window empty", func(c *Config) {
			c.Windows = win("2026-12-01T03:00:00Z", "2026-12-01T03:00:00Z")
		}, "windows[0].end", "a time after windows[0].start"},
		{"second window", func(c *Config) {
			c.Windows = []Window{{Start: "2026-12-01T02:00:00Z", End: "2026-12-01T03:00:00Z"}, {Start: "x", End: "y"}}
		}, "windows[1].start", "RFC 3339"},
		{"status 200", func(c *Config) { c.Status = 200 }, "status", "from 400 to 599"},
		{"status 600", func(c *Config) { c.Status = 600 }, "status", "from 400 to 599"},
		{"status 0", func(c *Config) { c.Status = 0 }, "status", "from 400 to 599"},
		{"retryAfter zero", func(c *Config) { c.RetryAfter = "0s" }, "retryAfter", "from 1s to 168h0m0s"},
		{"retryAfter too long", func(c *Config) { c.RetryAfter = "169h" }, "retryAfter", "to 168h0m0s"},
		{"template parse", func(c *Config) { c.Template = "<p>{{.Message" }, "template", "unclosed action"},
		{"template exec", func(c *Config) { c.Template = "<p>{{.NoSuchField}}</p>" }, "template", "NoSuchField"},
		{"template undefined", func(c *Config) { c.Template = `{{template "nope"}}` }, "template", "nope"},
		{"templateFile missing", func(c *Config) { c.TemplateFile = filepath.Join(dir, "missing.html") }, "templateFile", "missing.html"},
		{"template and file", func(c *Config) { c.Template = "x"; c.TemplateFile = "/etc/hostname" }, "template or templateFile", "not both"},
		{"allowCIDRs", func(c *Config) { c.AllowCIDRs = []string{"10.0.0.0/8", "office"} }, "allowCIDRs[1]", "an IP address or CIDR"},
		{"allowCIDRs bad mask", func(c *Config) { c.AllowCIDRs = []string{"10.0.0.0/33"} }, "allowCIDRs[0]", "an IP address or CIDR"},
		{"trustedProxies", func(c *Config) { c.TrustedProxies = []string{"172.16.0.0/12", "docker"} }, "trustedProxies[1]", "an IP address or CIDR"},
		{"bypassSecret short", func(c *Config) { c.BypassSecret = "hunter2-hunter2" }, "bypassSecret", "at least 32 characters"},
		{"bypassSecretFile missing", func(c *Config) { c.BypassSecretFile = filepath.Join(dir, "nope") }, "bypassSecretFile", "no such file"},
		{"bypassSecretFile short", func(c *Config) { c.BypassSecretFile = shortSecretFile }, "bypassSecretFile", "at least 32 characters"},
		{"bypassSecret and file", func(c *Config) { c.BypassSecret = goodSecret; c.BypassSecretFile = shortSecretFile }, "bypassSecret or bypassSecretFile", "not both"},
		{"bypassCookie", func(c *Config) { c.BypassSecret = goodSecret; c.BypassCookie = "bad cookie;" }, "bypassCookie", "letters, digits, '-' and '_'"},
		{"bypassCookie empty", func(c *Config) { c.BypassSecret = goodSecret; c.BypassCookie = "" }, "bypassCookie", "a cookie name"},
		{"bypassHeader", func(c *Config) { c.BypassSecret = goodSecret; c.BypassHeader = "X-Bypass:" }, "bypassHeader", "a header name"},
		{"alwaysPass", func(c *Config) { c.AlwaysPass = []string{"/up", "health"} }, "alwaysPass[1]", "a path starting with '/'"},
		{"statusPath", func(c *Config) { c.StatusPath = "status" }, "statusPath", "a path starting with '/', or empty"},
		{"health.url", func(c *Config) { c.Health.URL = "ftp://app/up" }, "health.url", "an http:// or https:// URL"},
		{"health.path", func(c *Config) { c.Health.Path = "up" }, "health.path", "a path starting with '/'"},
		{"health.host", func(c *Config) { c.Health.Host = "app host" }, "health.host", "a host name"},
		{"health.host slash", func(c *Config) { c.Health.Host = "app/x" }, "health.host", "a host name"},
		{"health.interval", func(c *Config) { c.Health.Interval = "10ms" }, "health.interval", "from 100ms to 1h0m0s"},
		{"health.timeout", func(c *Config) { c.Health.Timeout = "2m" }, "health.timeout", "from 10ms to 1m0s"},
		{"health.healthyThreshold", func(c *Config) { c.Health.HealthyThreshold = 0 }, "health.healthyThreshold", "a count from 1 to 100"},
		{"health.unhealthyThreshold", func(c *Config) { c.Health.UnhealthyThreshold = 101 }, "health.unhealthyThreshold", "a count from 1 to 100"},
		{"holdTimeout negative", func(c *Config) { c.HoldTimeout = "-1s" }, "holdTimeout", "from 0s to 10m0s"},
		{"holdTimeout too long", func(c *Config) { c.HoldTimeout = "11m" }, "holdTimeout", "to 10m0s"},
		{"maxHeld negative", func(c *Config) { c.MaxHeld = -1 }, "maxHeld", "from 0 to 1000000"},
		{"maxHeld huge", func(c *Config) { c.MaxHeld = 1000001 }, "maxHeld", "from 0 to 1000000"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg := validConfig()
			tc.edit(cfg)
			s, err := compile(cfg)
			if err == nil {
				t.Fatalf("compile accepted the config (%+v)", s)
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "berth: ") {
				t.Errorf("error %q does not start with 'berth: '", msg)
			}
			if !strings.Contains(msg, tc.field) {
				t.Errorf("error %q does not name the field %q", msg, tc.field)
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("error %q does not say what is allowed (%q)", msg, tc.want)
			}
		})
	}
}

// The bypass secret must never show up in an error, whatever else is wrong.
func TestSecretNeverInErrors(t *testing.T) {
	dir := t.TempDir()
	const secret = "Zq9-this-is-the-secret-value-0123456789"
	const shortSecret = "Zq9-short-secret"
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte(shortSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	edits := map[string]func(*Config){
		"short inline": func(c *Config) { c.BypassSecret = shortSecret },
		"short file":   func(c *Config) { c.BypassSecretFile = secretFile },
		"both":         func(c *Config) { c.BypassSecret = secret; c.BypassSecretFile = secretFile },
		"bad cookie":   func(c *Config) { c.BypassSecret = secret; c.BypassCookie = "a b" },
		"bad header":   func(c *Config) { c.BypassSecret = secret; c.BypassHeader = "a:b" },
		"bad status":   func(c *Config) { c.BypassSecret = secret; c.Status = 1 },
		"bad health":   func(c *Config) { c.BypassSecret = secret; c.Health.Interval = "x" },
		"bad hold":     func(c *Config) { c.BypassSecret = secret; c.HoldTimeout = "forever" },
		"bad template": func(c *Config) { c.BypassSecret = secret; c.Template = "{{" },
		"bad maxHeld":  func(c *Config) { c.BypassSecret = secret; c.MaxHeld = -5 },
	}
	for name, edit := range edits {
		cfg := validConfig()
		edit(cfg)
		_, err := compile(cfg)
		if err == nil {
			t.Errorf("%s: compile accepted it", name)
			continue
		}
		for _, s := range []string{secret, shortSecret} {
			if strings.Contains(err.Error(), s) {
				t.Errorf("%s: error reveals the secret: %v", name, err)
			}
		}
		// New wraps the same error; it must not add the config either.
		_, nerr := New(context.Background(), http.NotFoundHandler(), cfg, "mw")
		if nerr == nil || strings.Contains(nerr.Error(), secret) || strings.Contains(nerr.Error(), shortSecret) {
			t.Errorf("%s: New error = %v", name, nerr)
		}
	}
}

func TestCompileAcceptsEdgeValues(t *testing.T) {
	dir := t.TempDir()
	secretFile := filepath.Join(dir, "secret")
	fileSecret := strings.Repeat("f", 40)
	if err := os.WriteFile(secretFile, []byte("  "+fileSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tmplFile := filepath.Join(dir, "page.html")
	if err := os.WriteFile(tmplFile, []byte("<h1>{{.Title}}</h1>"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := validConfig()
	cfg.App = "a"
	cfg.Status = 599
	cfg.PollInterval = " 50ms "
	cfg.RetryAfter = "1s"
	cfg.HoldTimeout = "0s"
	cfg.MaxHeld = 0
	cfg.StatusPath = ""
	cfg.StateDir = "/var/lib/berth"
	cfg.AllowCIDRs = []string{" 203.0.113.7 ", "2001:db8::1", "10.0.0.0/8"}
	cfg.BypassSecretFile = secretFile
	cfg.TemplateFile = tmplFile
	cfg.AlwaysPass = []string{"/up", "/assets/*"}
	cfg.Windows = []Window{{Start: "2026-12-01T02:00:00+01:00", End: "2026-12-01T01:00:01Z"}}
	s, err := compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if string(s.bypassSecret) != fileSecret {
		t.Errorf("secret from file = %q, want it trimmed", s.bypassSecret)
	}
	gotCIDRs := []string{}
	for _, n := range s.allow {
		gotCIDRs = append(gotCIDRs, n.String())
	}
	if want := []string{"203.0.113.7/32", "2001:db8::1/128", "10.0.0.0/8"}; !reflect.DeepEqual(gotCIDRs, want) {
		t.Errorf("allow = %v, want %v", gotCIDRs, want)
	}
	if !s.page.custom {
		t.Errorf("templateFile not used")
	}
	if len(s.windows) != 1 || !s.windows[0].end.Equal(time.Date(2026, 12, 1, 1, 0, 1, 0, time.UTC)) {
		t.Errorf("windows = %+v", s.windows)
	}
	if s.pollInterval != 50*time.Millisecond || s.holdTimeout != 0 {
		t.Errorf("durations: poll %s hold %s", s.pollInterval, s.holdTimeout)
	}

	// With the probe off, its fields are not checked.
	cfg = validConfig()
	cfg.Health = HealthConfig{Enabled: false, Path: "nonsense", Interval: "x"}
	if _, err := compile(cfg); err != nil {
		t.Errorf("disabled health still validated: %v", err)
	}
	// A health URL makes the path irrelevant.
	cfg = validConfig()
	cfg.Health.URL = "http://10.0.0.5:3000/up"
	cfg.Health.Path = ""
	if _, err := compile(cfg); err != nil {
		t.Errorf("health.url with empty path: %v", err)
	}
	// The cookie and header names only matter with a secret.
	cfg = validConfig()
	cfg.BypassCookie, cfg.BypassHeader = "", "bad header"
	if _, err := compile(cfg); err != nil {
		t.Errorf("cookie/header checked without a secret: %v", err)
	}
}

// Traefik decodes options by Go field name, case-insensitively; the same
// names in JSON land in the same fields. This pins the option names the
// README documents.
func TestConfigFieldNames(t *testing.T) {
	doc := `{"app":"web","enabled":true,"stateDir":"/srv/berth","pollInterval":"1s",
	"windows":[{"start":"2026-12-01T02:00:00Z","end":"2026-12-01T03:00:00Z","message":"m"}],
	"status":503,"retryAfter":"60s","allowCIDRs":["10.0.0.0/8"],"trustedProxies":["172.16.0.0/12"],
	"alwaysPass":["/up"],"statusPath":"/_berth/status","holdTimeout":"10s","maxHeld":10,
	"health":{"enabled":true,"path":"/up","interval":"2s","timeout":"1s","healthyThreshold":2,"unhealthyThreshold":3}}`
	cfg := CreateConfig()
	dec := json.NewDecoder(strings.NewReader(doc))
	dec.DisallowUnknownFields()
	if err := dec.Decode(cfg); err != nil {
		t.Fatalf("an option name no longer matches a Config field: %v", err)
	}
	s, err := compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if !s.enabled || s.stateDir != "/srv/berth" || s.maxHeld != 10 || s.health.unhealthyThreshold != 3 || len(s.windows) != 1 {
		t.Errorf("decoded settings = %+v", s)
	}
}

// FuzzCompileConfig decodes arbitrary option values over the defaults the
// way Traefik does (by field name, case-insensitively) and compiles them:
// never a panic, every error says "berth: ", the secret never appears in an
// error, and what is accepted is within the documented bounds.
func FuzzCompileConfig(f *testing.F) {
	f.Add([]byte(`{"app":"web"}`), "web", "10s", "10.0.0.0/8", "", "", 503, 10)
	f.Add([]byte(`{"app":"web","windows":[{"start":"2026-12-01T02:00:00Z","end":"2026-12-01T01:00:00Z"}]}`), "", "", "", "", "", 0, 0)
	f.Add([]byte(`{"health":{"url":"ftp://x","interval":"1ms"}}`), "api", "-1s", "::1", "{{.Message}}", strings.Repeat("s", 40), 418, -1)
	f.Add([]byte(`{"alwaysPass":["/*","up"],"statusPath":"x","bypassCookie":"a b"}`), "x", "1h", "300.1.1.1/8", "{{.Nope}}", "short", 600, 1000001)
	f.Add([]byte(`{"Template":"{{template \"x\"}}","Status":"503","MaxHeld":"12"}`), "web", "500ms", "", "", "", 0, 0)
	f.Fuzz(func(t *testing.T, doc []byte, app, dur, cidr, tmpl, secret string, status, maxHeld int) {
		cfg := CreateConfig()
		_ = json.Unmarshal(doc, cfg) // a partial decode is still a config to check
		if app != "" {
			cfg.App = app
		}
		if dur != "" {
			cfg.PollInterval, cfg.HoldTimeout, cfg.Health.Timeout = dur, dur, dur
		}
		if cidr != "" {
			cfg.AllowCIDRs = append(cfg.AllowCIDRs, cidr)
			cfg.TrustedProxies = append(cfg.TrustedProxies, cidr)
		}
		if tmpl != "" {
			cfg.Template = tmpl
		}
		if secret != "" {
			cfg.BypassSecret = secret
		}
		if status != 0 {
			cfg.Status = status
		}
		if maxHeld != 0 {
			cfg.MaxHeld = maxHeld
		}
		// Files are not fuzzed: /dev/zero or a FIFO would only test the OS.
		cfg.TemplateFile, cfg.BypassSecretFile = "", ""
		_ = configKey(cfg)

		s, err := compile(cfg)
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, "berth: ") {
				t.Fatalf("error without the berth prefix: %q", msg)
			}
			if len(cfg.BypassSecret) >= 6 && strings.Contains(msg, cfg.BypassSecret) {
				rest := *cfg
				rest.BypassSecret = ""
				others, _ := json.Marshal(rest)
				if !strings.Contains(string(others), cfg.BypassSecret) {
					t.Fatalf("error reveals the secret: %q", msg)
				}
			}
			return
		}
		switch {
		case !appNamePattern.MatchString(s.app):
			t.Fatalf("accepted app %q", s.app)
		case s.status < 400 || s.status > 599:
			t.Fatalf("accepted status %d", s.status)
		case s.maxHeld < 0 || s.maxHeld > 1000000:
			t.Fatalf("accepted maxHeld %d", s.maxHeld)
		case s.pollInterval < 50*time.Millisecond || s.pollInterval > time.Minute:
			t.Fatalf("accepted pollInterval %s", s.pollInterval)
		case s.holdTimeout < 0 || s.holdTimeout > 10*time.Minute:
			t.Fatalf("accepted holdTimeout %s", s.holdTimeout)
		case s.retryAfter < time.Second:
			t.Fatalf("accepted retryAfter %s", s.retryAfter)
		case s.bypassSecret != nil && len(s.bypassSecret) < minSecretLen:
			t.Fatalf("accepted a %d-byte secret", len(s.bypassSecret))
		case s.stateDir != "" && !strings.HasPrefix(s.stateDir, "/"):
			t.Fatalf("accepted stateDir %q", s.stateDir)
		case s.health.enabled && (s.health.interval <= 0 || s.health.timeout <= 0 || s.health.healthyThreshold < 1 || s.health.unhealthyThreshold < 1):
			t.Fatalf("accepted health %+v", s.health)
		}
		for _, w := range s.windows {
			if !w.end.After(w.start) {
				t.Fatalf("accepted window %v..%v", w.start, w.end)
			}
		}
		for _, p := range s.alwaysPass {
			if !strings.HasPrefix(p, "/") {
				t.Fatalf("accepted alwaysPass %q", p)
			}
		}
		// An accepted page renders for both kinds of page without panicking.
		for _, m := range []Mode{ModeMaintenance, ModeUnavailable} {
			rec := httptest.NewRecorder()
			s.servePage(rec, httptest.NewRequest("GET", "/", nil), pageInfo{mode: m}, time.Now())
			if rec.Code != s.status {
				t.Fatalf("page status %d, want %d", rec.Code, s.status)
			}
		}
	})
}
