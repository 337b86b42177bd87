package config_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wombatworkouts/berth/config"
	_ "github.com/wombatworkouts/berth/config/internal/golden" // defines -update for go test ./config/...
)

// base is a minimal valid manifest; cases below change one thing in it. Its
// line numbers matter: errors are checked with them.
const base = `app: wombat_workouts
image: ghcr.io/wombatworkouts/wombat_workouts
hosts:
  - 203.0.113.10
domains:
  - wombatworkouts.com
  - www.wombatworkouts.com
litestream:
  replica: s3://wombat-backups/wombat_workouts
  endpoint: https://fsn1.your-objectstorage.com
  region: fsn1
server:
  acme:
    email: ops@wombatworkouts.com
`

const file = "config/berth.yml"

func parse(t *testing.T, src string) (*config.Manifest, error) {
	t.Helper()
	return config.Parse([]byte(src), file)
}

func TestParseValidBase(t *testing.T) {
	if _, err := parse(t, base); err != nil {
		t.Fatalf("base manifest should be valid: %v", err)
	}
}

// edit replaces exactly one occurrence of old in base.
func edit(t *testing.T, old, new string) string {
	t.Helper()
	if strings.Count(base, old) != 1 {
		t.Fatalf("test bug: %q occurs %d times in base", old, strings.Count(base, old))
	}
	return strings.Replace(base, old, new, 1)
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		old  string // replaced in base by new; "" appends new
		new  string
		want []string // substrings of the error, each usually "file:line: key: ..."
	}{
		// The example from the design brief.
		{"bad domain", "  - www.wombatworkouts.com\n", "  - wombat..com\n",
			[]string{`config/berth.yml:7: domains[1]: "wombat..com" is not a valid host name: empty label between dots`}},
		{"uppercase domain", "  - www.wombatworkouts.com\n", "  - Wombat.com\n", []string{`:7: domains[1]: "Wombat.com" must be lowercase`}},
		{"domain with scheme", "  - www.wombatworkouts.com\n", "  - https://wombat.com\n", []string{`:7: domains[1]:`, "without a scheme"}},
		{"wildcard domain", "  - www.wombatworkouts.com\n", "  - \"*.wombat.com\"\n", []string{":7: domains[1]:", "wildcards need a DNS challenge"}},
		{"ip as domain", "  - www.wombatworkouts.com\n", "  - 203.0.113.5\n", []string{":7: domains[1]:", "an IP address"}},
		{"single label domain", "  - www.wombatworkouts.com\n", "  - localhost\n", []string{":7: domains[1]:", "at least two labels"}},
		{"duplicate domain", "  - www.wombatworkouts.com\n", "  - wombatworkouts.com\n", []string{`:7: domains[1]: "wombatworkouts.com" is listed twice`}},
		{"no domains", "domains:\n  - wombatworkouts.com\n  - www.wombatworkouts.com\n", "", []string{"config/berth.yml: domains: missing"}},

		{"unknown key with suggestion", "", "maintenance:\n  polcy: always\n", []string{`:16: maintenance.polcy: unknown key "polcy" (did you mean "policy"?)`}},
		{"unknown root key with hint", "", "servers:\n  - 1.2.3.4\n", []string{`:15: servers: unknown key "servers"; list the app's servers under "hosts:"`}},
		{"unknown key lists known keys", "", "storage:\n  zzzzzz: 1\n", []string{`:16: storage.zzzzzz: unknown key "zzzzzz"; known keys here: database, queue_database, volume`}},
		{"duplicate key", "", "app: other\n", []string{":15: app: duplicate key (first set on line 1)"}},
		{"merge key", "", "x: &x\n  path: /up\nhealth:\n  <<: *x\n", []string{`unknown key "x"`, ":18: health: YAML merge keys (<<) are not supported"}},

		{"missing image", "image: ghcr.io/wombatworkouts/wombat_workouts\n", "", []string{"config/berth.yml: image: missing; set it to ghcr.io/OWNER/NAME"}},
		{"image with tag", "wombat_workouts\nhosts", "wombat_workouts:latest\nhosts", []string{`:2: image:`, `drop the tag ":latest"`}},
		{"image on docker hub", "image: ghcr.io/wombatworkouts/wombat_workouts", "image: wombatworkouts/wombat_workouts", []string{":2: image:", "must be on GitHub's registry"}},
		{"uppercase image", "image: ghcr.io/wombatworkouts/wombat_workouts", "image: ghcr.io/WombatWorkouts/wombat_workouts", []string{":2: image:", "must be lowercase"}},
		{"image too deep", "image: ghcr.io/wombatworkouts/wombat_workouts", "image: ghcr.io/a/b/c", []string{":2: image:", "ghcr.io/OWNER/NAME"}},

		{"bad app name", "app: wombat_workouts", "app: wombat.workouts", []string{`:1: app: "wombat.workouts" can only include letters, digits, hyphens and underscores`}},
		{"uppercase app", "app: wombat_workouts", "app: Wombat", []string{`:1: app: "Wombat" must be lowercase`}},
		{"poll interval too short", "", "maintenance:\n  poll_interval: 10ms\n", []string{`:16: maintenance.poll_interval: "10ms" is out of range (50ms to 1m0s)`}},
		{"probe timeout too long", "", "health:\n  probe:\n    timeout: 2m\n", []string{`:17: health.probe.timeout: "2m" is out of range`}},
		{"negative hold timeout", "", "traffic:\n  hold_timeout: -1s\n", []string{`:16: traffic.hold_timeout: "-1s" must be a duration from 0s to 10m`}},
		{"cookie with a dot", "", "maintenance:\n  bypass:\n    secret_file: /k\n    cookie: a.b\n", []string{`maintenance.bypass.cookie: "a.b" is not a valid cookie name`}},
		{"app starts with underscore", "app: wombat_workouts", "app: _wombat", []string{`:1: app:`, "must start with a letter or digit"}},

		{"hosts not a list", "hosts:\n  - 203.0.113.10\n", "hosts: 203.0.113.10\n", []string{`:3: hosts: should be a list`}},
		{"two hosts", "  - 203.0.113.10\n", "  - 203.0.113.10\n  - 203.0.113.11\n", []string{":3: hosts: lists 2 hosts, but a SQLite app has one primary"}},
		{"host with port", "  - 203.0.113.10\n", "  - wombat:2222\n", []string{":4: hosts[0]:", "SSH port"}},

		{"bad redirect", "", "redirect: sideways\n", []string{`:15: redirect: "sideways" must be one of`}},
		{"redirect without pair", "  - www.wombatworkouts.com\n", "  - wombat.fit\nredirect: apex-to-www\n", []string{":8: redirect:", "needs a pair"}},

		{"no litestream", "litestream:\n  replica: s3://wombat-backups/wombat_workouts\n  endpoint: https://fsn1.your-objectstorage.com\n  region: fsn1\n", "",
			[]string{"config/berth.yml: litestream.replica: missing"}},
		{"replica without path", "s3://wombat-backups/wombat_workouts", "s3://wombat-backups", []string{":9: litestream.replica:", "needs a path after the bucket"}},
		{"replica with credentials", "s3://wombat-backups/wombat_workouts", "s3://KEY:SECRET@wombat-backups/x", []string{":9: litestream.replica: has credentials in the URL"}},
		{"replica other scheme", "s3://wombat-backups/wombat_workouts", "gs://wombat-backups/x", []string{":9: litestream.replica:", "s3://"}},
		{"relative file replica", "s3://wombat-backups/wombat_workouts", "backups/wombat", []string{":9: litestream.replica:", "absolute directory"}},
		{"file replica in volume", "s3://wombat-backups/wombat_workouts", "/rails/storage/backup", []string{":9: litestream.replica:", "inside the app's own volume"}},
		{"endpoint for a file replica", "s3://wombat-backups/wombat_workouts", "/srv/backups/wombat", []string{":10: litestream.endpoint: only applies to s3:// replicas", ":11: litestream.region: only applies"}},
		{"no region", "  region: fsn1\n", "", []string{"litestream.region: missing"}},
		{"endpoint not a URL", "https://fsn1.your-objectstorage.com", "fsn1.your-objectstorage.com", []string{":10: litestream.endpoint:", "https://"}},
		{"duplicate section", "", "litestream:\n  region: nbg1\n", []string{":15: litestream: duplicate key (first set on line 8)"}},
		{"old litestream image", "  region: fsn1\n", "  region: fsn1\n  image: litestream/litestream:0.3.13\n", []string{":12: litestream.image:", "pin a 0.5.x tag"}},
		{"unpinned litestream image", "  region: fsn1\n", "  region: fsn1\n  image: litestream/litestream\n", []string{":12: litestream.image:", "pin a version tag"}},

		{"bad policy", "", "maintenance:\n  policy: sometimes\n", []string{`:16: maintenance.policy: "sometimes" must be one of always, when-migrations-pending, never`}},
		{"bad window", "", "maintenance:\n  windows:\n    - start: tomorrow\n      end: 2026-01-10T02:30:00Z\n", []string{":17: maintenance.windows[0].start:", "RFC 3339"}},
		{"window ends first", "", "maintenance:\n  windows:\n    - start: 2026-01-10T03:00:00Z\n      end: 2026-01-10T02:30:00Z\n", []string{"maintenance.windows[0].end: must be after start"}},
		{"bare ip in allow_cidrs", "", "maintenance:\n  allow_cidrs: [198.51.100.7]\n", []string{`:16: maintenance.allow_cidrs[0]: "198.51.100.7" is an address, not a range; write 198.51.100.7/32`}},
		{"trusted proxies under maintenance", "", "maintenance:\n  trusted_proxies: [10.0.0.0/8]\n", []string{":16: maintenance.trusted_proxies: moved to server.trusted_proxies"}},
		{"bad trusted proxy", "    email: ops@wombatworkouts.com\n", "    email: ops@wombatworkouts.com\n  trusted_proxies: [10.0.0.0/33]\n", []string{`:15: server.trusted_proxies[0]: "10.0.0.0/33"`}},
		{"status out of range", "", "maintenance:\n  status: 200\n", []string{":16: maintenance.status: 200 is out of range (400 to 599)"}},
		{"bad retry_after", "", "maintenance:\n  retry_after: soon\n", []string{`:16: maintenance.retry_after: "soon" is not a duration`}},
		{"missing template file", "", "maintenance:\n  template_file: nope.html\n", []string{`:16: maintenance.template_file: cannot read "nope.html"`}},
		{"cookie without secret file", "", "maintenance:\n  bypass:\n    cookie: b\n", []string{"maintenance.bypass.secret_file: missing"}},
		{"bypass key pasted", "", "maintenance:\n  bypass:\n    secret_file: 8f3Kq9ZpL2mXv7Rt4Wb6\n", []string{":17: maintenance.bypass.secret_file: this looks like the key itself"}},
		{"bad header name", "", "maintenance:\n  bypass:\n    secret_file: /k\n    header: \"X Bypass\"\n", []string{`maintenance.bypass.header: "X Bypass" is not a valid header name`}},

		{"kamal owns proxy", "", "kamal:\n  servers:\n    web:\n      proxy: true\n", []string{":18: kamal.servers.web.proxy: is written by berth from the manifest"}},
		{"kamal traefik label", "", "kamal:\n  servers:\n    web:\n      labels:\n        traefik.enable: \"false\"\n", []string{":19: kamal.servers.web.labels.traefik.enable: is written by berth"}},
		{"kamal root proxy", "", "kamal:\n  proxy:\n    ssl: true\n", []string{":16: kamal.proxy: is kamal-proxy's configuration"}},
		{"kamal litestream accessory", "", "kamal:\n  accessories:\n    litestream:\n      image: x\n", []string{":17: kamal.accessories.litestream: is written by berth"}},
		{"kamal health cmd", "", "kamal:\n  servers:\n    web:\n      options:\n        health-cmd: \"true\"\n", []string{":19: kamal.servers.web.options.health-cmd: is written by berth"}},
		{"kamal not a mapping", "", "kamal: [ssh]\n", []string{":15: kamal: should be a mapping of deploy.yml keys"}},
		{"kamal restart policy", "", "kamal:\n  servers:\n    web:\n      options:\n        restart: always\n", []string{":19: kamal.servers.web.options.restart: Kamal runs every app container with --restart unless-stopped"}},
		{"deploy_timeout at start period", "", "kamal:\n  deploy_timeout: 30\n", []string{":16: kamal.deploy_timeout: 30 is not above health.container.start_period (30s) plus one Docker probe (5s)", "Use at least 36", "berth writes 43"}},
		{"deploy_timeout one probe short", "", "kamal:\n  deploy_timeout: 35\n", []string{":16: kamal.deploy_timeout: 35 is not above"}},
		{"deploy_timeout with a shorter start period", "", "health:\n  container:\n    start_period: 10s\n    interval: 7s\nkamal:\n  deploy_timeout: 17\n", []string{":20: kamal.deploy_timeout: 17 is not above health.container.start_period (10s) plus one Docker probe (7s)", "Use at least 18"}},
		{"deploy_timeout not seconds", "", "kamal:\n  deploy_timeout: 40s\n", []string{":16: kamal.deploy_timeout: \"40s\" must be a whole number of seconds"}},
		{"deploy_timeout quoted", "", "kamal:\n  deploy_timeout: \"40\"\n", []string{":16: kamal.deploy_timeout: \"40\" must be a whole number of seconds"}},
		{"deploy_timeout zero", "", "kamal:\n  deploy_timeout: 0\n", []string{":16: kamal.deploy_timeout: \"0\" must be a whole number of seconds"}},
		{"retry attempts out of range", "", "traffic:\n  retry:\n    attempts: 11\n", []string{":17: traffic.retry.attempts: 11 is out of range (1 to 10)"}},
		{"quoted number", "", "traffic:\n  max_held: \"100\"\n", []string{`:16: traffic.max_held: should be a whole number, not "100"`}},
		{"bool as word", "    email: ops@wombatworkouts.com\n", "    email: ops@wombatworkouts.com\n    staging: yes\n", []string{`:15: server.acme.staging: should be true or false, not "yes"`}},
		{"mapping expected", "", "health: [/up]\n", []string{":15: health: should be a mapping of keys, not a list"}},

		{"smoke status", "", "smoke:\n  checks:\n    - path: /\n      status: 700\n", []string{"smoke.checks[0].status: 700 is out of range"}},
		{"smoke host", "", "smoke:\n  checks:\n    - path: /\n      host: example.net\n", []string{`:18: smoke.checks[0].host: "example.net" is not one of domains`}},
		{"smoke path", "", "smoke:\n  checks:\n    - path: up\n", []string{`:17: smoke.checks[0].path: "up" must start with /`}},
		{"certificate days", "", "smoke:\n  certificate_min_days: 45\n", []string{":16: smoke.certificate_min_days: 45 is out of range (1 to 30)"}},

		{"no email", "  acme:\n    email: ops@wombatworkouts.com\n", "  acme: {}\n", []string{":13: server.acme.email: missing"}},
		{"example email", "ops@wombatworkouts.com", "ops@example.com", []string{":14: server.acme.email:", "Let's Encrypt refuses"}},
		{"bad challenge", "    email: ops@wombatworkouts.com\n", "    email: ops@wombatworkouts.com\n    challenge: dns\n", []string{`:15: server.acme.challenge: "dns" must be http`}},
		{"tls-alpn challenge", "    email: ops@wombatworkouts.com\n", "    email: ops@wombatworkouts.com\n    challenge: tls\n", []string{`:15: server.acme.challenge: tls (TLS-ALPN-01) is refused`, "ordered again about once a second", "write http"}},
		{"old traefik", "", "  traefik_version: v3.5.4\n", []string{":15: server.traefik_version:", "v3.6.1 or newer"}},
		{"catalog without version", "", "  plugin:\n    source: catalog\n", []string{":15: server.plugin.version: missing"}},
		{"local with version", "", "  plugin:\n    version: v1.0.0\n", []string{":16: server.plugin.version: only applies to source: catalog"}},
		{"bad plugin version", "", "  plugin:\n    source: catalog\n    version: \"1.0\"\n", []string{":17: server.plugin.version:", "semver"}},
		{"relative state dir", "", "  state_dir: var/lib/berth\n", []string{":15: server.state_dir:", "absolute"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := base + tc.new
			if tc.old != "" {
				src = edit(t, tc.old, tc.new)
			}
			_, err := parse(t, src)
			if err == nil {
				t.Fatalf("no error for:\n%s", src)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
			var list config.ErrorList
			var one *config.Error
			if !errors.As(err, &list) && !errors.As(err, &one) {
				t.Errorf("error is %T, want config.ErrorList or *config.Error", err)
			}
		})
	}
}

// A pasted secret is refused, and the error never repeats it (error output
// lands in CI logs).
func TestSecretValuesRefusedAndNotEchoed(t *testing.T) {
	for _, secret := range []string{
		"AKIAIOSFODNN7EXAMPLE",                     // AWS access key id
		"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", // AWS secret key
		"K7PQ2X9ZJ4M1B8T6C3VD",                     // S3-compatible key id: uppercase and digits
		"ghp_16C7e42F292c6912E7710c838347Ae178B4a", // GitHub token
		"x4Tb8sKq2VfLm9wRzN3p",                     // random mixed case
	} {
		src := strings.Replace(base, "  region: fsn1\n", "  region: fsn1\n  secrets:\n    access_key_id: "+secret+"\n", 1)
		_, err := parse(t, src)
		if err == nil {
			t.Errorf("%s: accepted as a secret name", secret[:4])
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, ":13: litestream.secrets.access_key_id: this looks like an actual secret") ||
			!strings.Contains(msg, ".kamal/secrets") {
			t.Errorf("%s...: unexpected message:\n%s", secret[:4], msg)
		}
		if strings.Contains(msg, secret) {
			t.Errorf("the error repeats the secret value:\n%s", msg)
		}
	}
	for _, name := range []string{"LITESTREAM_ACCESS_KEY_ID", "WOMBAT_S3_KEY", "S3_KEY_2", "HETZNER_OBJECT_STORAGE_SECRET"} {
		src := strings.Replace(base, "  region: fsn1\n", "  region: fsn1\n  secrets:\n    access_key_id: "+name+"\n", 1)
		if _, err := parse(t, src); err != nil {
			t.Errorf("%s refused as a secret name: %v", name, err)
		}
	}
	src := strings.Replace(base, "  region: fsn1\n", "  region: fsn1\n  secrets:\n    access_key_id: litestream key\n", 1)
	if _, err := parse(t, src); err == nil || !strings.Contains(err.Error(), "must be the name of an entry in .kamal/secrets") {
		t.Errorf("lowercase name: %v", err)
	}
}

func TestDocumentProblems(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{"empty", "  \n", "config/berth.yml: the manifest is empty"},
		{"only a comment", "# nothing\n", "config/berth.yml: the manifest is empty"},
		{"not a mapping", "- a\n- b\n", "config/berth.yml:1: the manifest must be a mapping"},
		{"syntax error", "app: x\n  image: [\n", "config/berth.yml:2: invalid YAML"},
		{"two documents", base + "---\napp: y\n", "config/berth.yml:15: more than one YAML document"},
		{"tab indentation", "app: x\n\timage: y\n", "invalid YAML"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse(t, tc.src)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// YAML aliases must not expand a small file into endless work.
func TestAliasExpansionIsBounded(t *testing.T) {
	var b strings.Builder
	b.WriteString(base)
	b.WriteString("x0: &a0 [/a, /a, /a, /a, /a, /a, /a, /a, /a, /a]\n")
	b.WriteString("maintenance:\n  always_pass: &big [")
	for i := 0; i < 3000; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("/p")
	}
	b.WriteString("]\nsmoke:\n  checks: [")
	for i := 0; i < 30000; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("{path: /}")
	}
	b.WriteString("]\n")
	_, err := parse(t, b.String())
	if err == nil || !strings.Contains(err.Error(), "too many values") {
		t.Fatalf("want a 'too many values' error, got %v", err)
	}
}

func TestDefaults(t *testing.T) {
	m, err := parse(t, base)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, got, want string }{
		{"redirect", m.Redirect, config.RedirectWWWToApex},
		{"canonical", m.CanonicalDomain(), "wombatworkouts.com"},
		{"health path", m.Health.Path, "/up"},
		{"volume", m.Storage.Volume, "wombat_workouts_storage"},
		{"database", m.Storage.Database, "production.sqlite3"},
		{"litestream image", m.Litestream.Image, "litestream/litestream:0.5.18"},
		{"access key secret", m.Litestream.Secrets.AccessKeyID, "LITESTREAM_ACCESS_KEY_ID"},
		{"secret key secret", m.Litestream.Secrets.SecretAccessKey, "LITESTREAM_SECRET_ACCESS_KEY"},
		{"policy", m.Maintenance.Policy, config.PolicyWhenMigrationsPending},
		{"retry interval", m.Traffic.Retry.InitialInterval, "500ms"},
		{"challenge", m.Server.ACME.Challenge, "http"},
		{"traefik", m.Server.TraefikVersion, "v3.6.12"},
		{"plugin", m.Server.Plugin.Source, "local"},
		{"state dir", m.Server.StateDir, "/var/lib/berth/state"},
		{"repository", m.Repository(), "wombatworkouts/wombat_workouts"},
		{"registry user", m.RegistryUsername(), "wombatworkouts"},
		{"replica", m.ReplicaURL("production.sqlite3"), "s3://wombat-backups/wombat_workouts/production.sqlite3"},
		{"smoke path", m.Smoke.Checks[0].Path, "/up"},
		{"smoke host", m.Smoke.Checks[0].Host, "wombatworkouts.com"},
		{"container start period", m.Health.Container.StartPeriod, "30s"},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if m.Traffic.Retry.Attempts != 6 || m.Smoke.CertificateMinDays != 14 || m.Smoke.Checks[0].Status != 200 {
		t.Errorf("numeric defaults: retry %d, cert days %d, smoke status %d", m.Traffic.Retry.Attempts, m.Smoke.CertificateMinDays, m.Smoke.Checks[0].Status)
	}
	if phc := m.Traffic.PassiveHealthCheck; phc.Enabled == nil || !*phc.Enabled || phc.MaxFailedAttempts != 3 || phc.FailureWindow != "5s" {
		t.Errorf("passive health check defaults: %+v", phc)
	}
	if got := m.Databases(); len(got) != 1 {
		t.Errorf("databases = %v, want only the primary", got)
	}
	if m.Line("domains[1]") != 7 || m.Line("server.acme.email") != 14 {
		t.Errorf("lines: domains[1]=%d email=%d", m.Line("domains[1]"), m.Line("server.acme.email"))
	}
}

func TestRedirectModes(t *testing.T) {
	for _, tc := range []struct {
		redirect, canonical string
		sources             []string
	}{
		{"", "wombatworkouts.com", []string{"www.wombatworkouts.com"}},
		{"www-to-apex", "wombatworkouts.com", []string{"www.wombatworkouts.com"}},
		{"apex-to-www", "www.wombatworkouts.com", []string{"wombatworkouts.com"}},
		{"none", "wombatworkouts.com", nil},
	} {
		src := base
		if tc.redirect != "" {
			src += "redirect: " + tc.redirect + "\n"
		}
		m, err := parse(t, src)
		if err != nil {
			t.Fatal(err)
		}
		if m.CanonicalDomain() != tc.canonical || strings.Join(m.RedirectSources(), ",") != strings.Join(tc.sources, ",") {
			t.Errorf("redirect %q: canonical %q sources %v; want %q %v", tc.redirect, m.CanonicalDomain(), m.RedirectSources(), tc.canonical, tc.sources)
		}
	}
}

func TestFileReplica(t *testing.T) {
	src := strings.Replace(base, "  replica: s3://wombat-backups/wombat_workouts\n  endpoint: https://fsn1.your-objectstorage.com\n  region: fsn1\n",
		"  replica: file:///srv/backups/wombat\n", 1)
	src += "storage:\n  queue_database: production_queue.sqlite3\n"
	m, err := parse(t, src)
	if err != nil {
		t.Fatal(err)
	}
	if m.ReplicaIsS3() || m.Litestream.Secrets.AccessKeyID != "" {
		t.Errorf("file replica treated as S3: %+v", m.Litestream)
	}
	if got := m.ReplicaURL("production_queue.sqlite3"); got != "/srv/backups/wombat/production_queue.sqlite3" {
		t.Errorf("ReplicaURL = %q", got)
	}
	if got := m.Databases(); len(got) != 2 {
		t.Errorf("Databases = %v", got)
	}
	bad := src + "  database: production_cache.sqlite3\n"
	if _, err := parse(t, bad); err == nil || !strings.Contains(err.Error(), "never replicated") {
		t.Errorf("cache database accepted: %v", err)
	}
}

func TestTemplateFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("ok.html", "<p>{{ .Message }}</p>")
	write("broken.html", "<p>{{ .Message </p>")
	manifest := func(tmpl string) string {
		p := filepath.Join(dir, "berth.yml")
		write("berth.yml", base+"maintenance:\n  template_file: "+tmpl+"\n")
		return p
	}
	m, err := config.Load(manifest("ok.html"))
	if err != nil {
		t.Fatal(err)
	}
	if m.Template != "<p>{{ .Message }}</p>" {
		t.Errorf("Template = %q", m.Template)
	}
	if _, err := config.Load(manifest("broken.html")); err == nil || !strings.Contains(err.Error(), "not a valid Go html/template") {
		t.Errorf("broken template: %v", err)
	}
	// LoadFrom names the file as given and resolves it against the app dir.
	if _, err := config.LoadFrom(filepath.Dir(dir), filepath.Join(filepath.Base(dir), "berth.yml")); err != nil &&
		!strings.Contains(err.Error(), "html/template") {
		t.Errorf("LoadFrom: %v", err)
	}
	if _, err := config.LoadFrom(dir, "missing.yml"); err == nil || !strings.Contains(err.Error(), "missing.yml: no such file; `berth config init`") {
		t.Errorf("missing manifest: %v", err)
	}
}

func TestZeroHoldTimeoutMeansNeverHold(t *testing.T) {
	m, err := parse(t, base+"traffic:\n  hold_timeout: 0s\n")
	if err != nil {
		t.Fatal(err)
	}
	if m.Traffic.HoldTimeout != "0s" {
		t.Errorf("hold_timeout = %q", m.Traffic.HoldTimeout)
	}
}

func TestKamalSectionAllowsAdditions(t *testing.T) {
	m, err := parse(t, base+`kamal:
  ssh:
    user: deploy
  builder:
    arch: arm64
  env:
    clear: {WEB_CONCURRENCY: 2}
    secret: [SMTP_PASSWORD]
  servers:
    web:
      labels:
        com.example.team: fitness
      options:
        memory: 2g
    job:
      hosts: [203.0.113.10]
      cmd: bin/jobs
  accessories:
    redis:
      image: valkey/valkey:9
      host: 203.0.113.10
`)
	if err != nil {
		t.Fatal(err)
	}
	if m.Kamal.Kind == 0 || len(m.Kamal.Content) != 10 {
		t.Errorf("kamal section not kept: %+v", m.Kamal)
	}
}
