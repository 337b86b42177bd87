package kamal_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/wombatworkouts/berth/config"
	"github.com/wombatworkouts/berth/config/internal/golden"
	"github.com/wombatworkouts/berth/config/kamal"
)

// A deploy.yml as a user has it after `rails new` and some weeks of work:
// settings berth does not write (the list) next to ones it does.
const usersDeploy = `service: wombat_workouts
image: wombatworkouts/wombat_workouts
servers:
  web:
    - 192.168.0.1
  job:
    hosts:
      - 192.168.0.1
    cmd: bin/jobs
proxy:
  ssl: true
  host: wombatworkouts.com
registry:
  server: ghcr.io
  username: wombatworkouts
  password:
    - KAMAL_REGISTRY_PASSWORD
env:
  secret:
    - RAILS_MASTER_KEY
    - SMTP_PASSWORD
  clear:
    SOLID_QUEUE_IN_PUMA: true
    WEB_CONCURRENCY: 2
ssh:
  user: deploy
volumes:
  - "wombat_workouts_storage:/rails/storage"
  - "/srv/uploads:/rails/uploads"
asset_path: /rails/public/assets
builder:
  arch: arm64
accessories:
  redis:
    image: valkey/valkey:8
    host: 192.168.0.1
    directories:
      - data:/data
`

func compare(t *testing.T, deploy string, m *config.Manifest) *kamal.Comparison {
	t.Helper()
	c, err := kamal.Compare([]byte(deploy), m)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func paths(s []kamal.Setting) string {
	var out []string
	for _, x := range kamal.Sorted(s) {
		out = append(out, x.Path)
	}
	return strings.Join(out, " ")
}

func TestCompareFindsTheUsersSettings(t *testing.T) {
	c := compare(t, usersDeploy, wombat(t))
	if got, want := paths(c.Lost), "servers.job env.secret env.clear.WEB_CONCURRENCY ssh volumes builder.arch accessories.redis"; got != want {
		t.Errorf("lost = %s\nwant   %s", got, want)
	}
	if got, want := paths(c.Replaced), "servers.web.hosts proxy asset_path"; got != want {
		t.Errorf("replaced = %s\nwant       %s", got, want)
	}
	for _, s := range c.Lost {
		if s.Path == "builder.arch" && (s.Line != 32 || s.Now != `"amd64"` || s.Shown() != `"arm64"`) {
			t.Errorf("builder.arch: line %d, now %s, was %s", s.Line, s.Now, s.Shown())
		}
	}
}

// Carrying the lost settings in kamal: keeps every one of them: the
// rendered deploy.yml then has the user's values and nothing is lost.
func TestCarriedSettingsComeBack(t *testing.T) {
	m := wombat(t)
	c := compare(t, usersDeploy, m)
	snippet := c.Snippet()
	for _, want := range []string{"kamal:\n", "  ssh:\n    user: deploy\n", "  builder:\n    arch: arm64\n", "      WEB_CONCURRENCY: 2\n", "      - SMTP_PASSWORD\n", "    job:\n", "    redis:\n"} {
		if !strings.Contains(snippet, want) {
			t.Errorf("snippet lacks %q:\n%s", want, snippet)
		}
	}
	withKamal := loadWith(t, snippet)
	if again := compare(t, usersDeploy, withKamal); len(again.Lost) != 0 {
		t.Errorf("with the snippet in kamal:, still lost: %s", paths(again.Lost))
	}
	out, err := kamal.Render(withKamal)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		SSH     struct{ User string }
		Builder struct{ Arch string }
		Servers map[string]any
	}
	if err := yaml.Unmarshal(out, &d); err != nil {
		t.Fatal(err)
	}
	if d.SSH.User != "deploy" || d.Builder.Arch != "arm64" || d.Servers["job"] == nil {
		t.Errorf("rendered deploy.yml lost the user's settings: ssh.user %q, builder.arch %q, servers %v", d.SSH.User, d.Builder.Arch, d.Servers)
	}
}

// loadWith is the wombatworkouts example with a kamal: section appended.
func loadWith(t *testing.T, section string) *config.Manifest {
	t.Helper()
	p := filepath.Join(golden.ModuleRoot(t), "config", "examples", "wombatworkouts", "berth.yml")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	m, err := config.Parse(append(data, []byte("\n"+section+"\n")...), "config/berth.yml")
	if err != nil {
		t.Fatalf("the carried section does not load:\n%s\n%v", section, err)
	}
	return m
}

func TestCompareRailsNew(t *testing.T) {
	for name, deploy := range golden.RailsDeploys(t) {
		c := compare(t, string(deploy), wombat(t))
		if len(c.Lost) != 0 {
			t.Errorf("%s: rails new's deploy.yml has nothing berth drops, but lost = %s", name, paths(c.Lost))
		}
		t.Logf("%s: replaced %s", name, paths(c.Replaced))
	}
}

func TestCompareBadFiles(t *testing.T) {
	laughs := "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
	prev := "a"
	for i := 0; i < 8; i++ {
		name := string(rune('b' + i))
		laughs += name + ": &" + name + " [*" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + ", *" + prev + "]\n"
		prev = name
	}
	for _, tc := range []struct{ name, deploy, want string }{
		{"not YAML", "service: [\n", "parsing deploy.yml"},
		{"a list", "- a\n", "not a mapping of keys"},
		{"aliases that expand", laughs, "expands to more than 100000 values"},
		{"ERB control flow", "service: x\n<% if true %>\nssh: {user: a}\n<% end %>\n", "could not be read either way"},
	} {
		_, err := kamal.Compare([]byte(tc.deploy), wombat(t))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

// ERB that is valid YAML as written is carried as written: Kamal evaluates
// it in the rendered deploy.yml.
func TestCompareKeepsERB(t *testing.T) {
	c := compare(t, "service: wombat_workouts\nssh:\n  user: <%= ENV.fetch(\"DEPLOY_USER\") %>\n", wombat(t))
	if got := c.Snippet(); !strings.Contains(got, `user: <%= ENV.fetch("DEPLOY_USER") %>`) {
		t.Errorf("snippet = %s", got)
	}
}

// Secrets written in clear are found key by key, hidden, and never carried.
func TestCompareHidesSecrets(t *testing.T) {
	c := compare(t, "servers:\n  web:\n    hosts: [203.0.113.10]\n    env:\n      clear:\n        SMTP_PASSWORD: hunter2\n        WEB_CONCURRENCY: 2\nenv:\n  secret: [RAILS_MASTER_KEY, SMTP_TOKEN]\n", wombat(t))
	if got := paths(c.Lost); got != "servers.web.env.clear.SMTP_PASSWORD servers.web.env.clear.WEB_CONCURRENCY env.secret" {
		t.Fatalf("lost = %s", got)
	}
	for _, s := range c.Lost {
		if secret := s.Path == "servers.web.env.clear.SMTP_PASSWORD"; s.Secret != secret {
			t.Errorf("%s: Secret = %v", s.Path, s.Secret)
		}
		if strings.Contains(s.Shown(), "hunter2") {
			t.Errorf("%s shows the secret", s.Path)
		}
	}
	snippet := c.Snippet()
	if strings.Contains(snippet, "hunter2") || !strings.Contains(snippet, "WEB_CONCURRENCY: 2") || !strings.Contains(snippet, "SMTP_TOKEN") {
		t.Errorf("snippet:\n%s", snippet)
	}
}

// Keys Kamal 2.12 refuses (Kamal 1's healthcheck:, typos) are dropped with
// the reason, not carried into the manifest where they would fail.
func TestCompareDropsKeysKamalRefuses(t *testing.T) {
	c := compare(t, "healthcheck:\n  path: /up\nssh:\n  usr: deploy\n  port: 2222\nservers:\n  job:\n    hosts: [a]\n    command: x\n", wombat(t))
	if got := paths(c.Replaced); got != "healthcheck ssh.usr servers.job.command" {
		t.Errorf("replaced = %s", got)
	}
	if got := paths(c.Lost); got != "ssh.port servers.job.hosts" {
		t.Errorf("lost = %s", got)
	}
	for _, s := range c.Replaced {
		if !strings.Contains(s.Why, "Kamal 2.12 has no such setting") {
			t.Errorf("%s: why = %s", s.Path, s.Why)
		}
	}
}
