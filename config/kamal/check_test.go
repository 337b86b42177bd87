package kamal_test

import (
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/wombatworkouts/berth/config"
	"github.com/wombatworkouts/berth/config/internal/golden"
	"github.com/wombatworkouts/berth/config/kamal"
)

func wombat(t *testing.T) *config.Manifest { return wombatFor(t) }

func wombatFor(t testing.TB) *config.Manifest {
	t.Helper()
	m, err := config.Load(filepath.Join(golden.ModuleRoot(t), "config", "examples", "wombatworkouts", "berth.yml"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func findings(t *testing.T, deploy string, m *config.Manifest) map[string]kamal.Finding {
	t.Helper()
	fs, err := kamal.Check([]byte(deploy), m)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]kamal.Finding{}
	for _, f := range fs {
		key := f.Path
		if _, dup := out[key]; dup {
			key += "#" + f.Problem
		}
		out[key] = f
	}
	return out
}

func TestCheckRenderedIsComplete(t *testing.T) {
	m := wombat(t)
	out, err := kamal.Render(m)
	if err != nil {
		t.Fatal(err)
	}
	if got := findings(t, string(out), m); len(got) != 0 {
		t.Errorf("berth's own deploy.yml lacks: %v", got)
	}
}

// What `rails new` generates, compared with the wombatworkouts manifest.
func TestCheckRailsGenerated(t *testing.T) {
	for name, deploy := range golden.RailsDeploys(t) {
		t.Run(name, func(t *testing.T) { checkRailsGenerated(t, deploy) })
	}
}

func checkRailsGenerated(t *testing.T, deploy []byte) {
	got := findings(t, string(deploy), wombat(t))
	for path, required := range map[string]bool{
		"image":             true,
		"servers.web":       true,
		"registry.server":   true,
		"registry.username": true,
		"registry.password": true,
		"accessories":       true,
		"asset_path":        false,
		"logging":           false,
		"deploy_timeout":    false,
	} {
		f, ok := got[path]
		if !ok {
			t.Errorf("no finding for %s", path)
			continue
		}
		if f.Required != required {
			t.Errorf("%s required = %v, want %v", path, f.Required, required)
		}
	}
	if f := got["servers.web"]; !strings.Contains(f.Problem, "plain list of hosts") || !strings.Contains(f.Fix, "proxy: false") {
		t.Errorf("servers.web finding = %+v", f)
	}
	for _, present := range []string{"volumes", "env", "builder", "aliases", "service"} {
		if f, ok := got[present]; ok {
			t.Errorf("%s matches what berth writes, but was reported: %+v", present, f)
		}
	}
	if len(got) != 9 {
		t.Errorf("got %d findings, want 9: %v", len(got), got)
	}
}

func TestCheckPartialDeploy(t *testing.T) {
	m := wombat(t)
	deploy := `service: wombat_workouts
image: wombatworkouts/wombat_workouts
traefik:
  options: {}
servers:
  web:
    hosts: [203.0.113.10, 203.0.113.99]
    proxy: false
    labels:
      traefik.enable: "true"
      my.own.label: kept
    options:
      health-cmd: <%= ENV["HEALTH"] %>
      restart: unless-stopped
registry:
  server: ghcr.io
  username: wombatworkouts
  password: [KAMAL_REGISTRY_PASSWORD]
volumes: [wombat_workouts_storage:/rails/storage]
builder:
  arch: amd64
x-anchors: &a {}
`
	got := findings(t, deploy, m)
	if f := got["traefik"]; !f.Required || !strings.Contains(f.Problem, "Kamal 2 rejects it") {
		t.Errorf("traefik finding = %+v", f)
	}
	if f := got["servers.web.options.health-cmd"]; !f.Required || !strings.Contains(f.Problem, `is "ERB"`) {
		t.Errorf("health-cmd finding = %+v", f)
	}
	if f := got["servers.web.options.health-interval"]; !f.Required || f.Problem != "missing" {
		t.Errorf("health-interval finding = %+v", f)
	}
	if f, ok := got["servers.web.options.restart"]; !ok || f.Required || !strings.Contains(f.Problem, "--restart unless-stopped") {
		t.Errorf("restart finding = %+v (want a recommendation to remove it)", f)
	}
	if f := got["deploy_timeout"]; f.Required || f.Problem != "missing" || f.Fix != "deploy_timeout: 43" {
		t.Errorf("deploy_timeout finding = %+v", f)
	}
	if f := got["servers.web.labels.traefik.http.services.wombat_workouts.loadbalancer.passhostheader"]; !f.Required {
		t.Errorf("service label finding = %+v", f)
	}
	for path := range got {
		if strings.Contains(path, "my.own.label") || strings.Contains(path, "hosts") || strings.HasPrefix(path, "builder") || strings.HasPrefix(path, "x-") {
			t.Errorf("reported something berth does not mind: %s", path)
		}
	}
}

func TestCheckBadYAML(t *testing.T) {
	if _, err := kamal.Check([]byte("service: [\n"), wombat(t)); err == nil {
		t.Error("broken YAML accepted")
	}
	if _, err := kamal.Check([]byte("- a\n"), wombat(t)); err == nil {
		t.Error("a list accepted as deploy.yml")
	}
}

func TestKamalSectionIsMerged(t *testing.T) {
	m, err := config.Parse([]byte(`app: wombat_workouts
image: ghcr.io/wombatworkouts/wombat_workouts
hosts: [203.0.113.10]
domains: [wombatworkouts.com]
litestream: {replica: /srv/backups/wombat}
server: {acme: {email: ops@wombatworkouts.com}}
kamal:
  ssh: {user: deploy}
  builder: {arch: arm64}
  env:
    clear: {WEB_CONCURRENCY: 2}
    secret: [SMTP_PASSWORD, RAILS_MASTER_KEY]
  volumes: [wombat_uploads:/rails/public/uploads]
  servers:
    web:
      labels: {com.example.team: fitness}
      options: {memory: 2g}
    job:
      hosts: [203.0.113.10]
      cmd: bin/jobs
`), "berth.yml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := kamal.Render(m)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		SSH     map[string]string `yaml:"ssh"`
		Builder map[string]string `yaml:"builder"`
		Env     struct {
			Clear  map[string]any `yaml:"clear"`
			Secret []string       `yaml:"secret"`
		} `yaml:"env"`
		Volumes []string `yaml:"volumes"`
		Servers map[string]struct {
			Proxy   *bool             `yaml:"proxy"`
			Labels  map[string]string `yaml:"labels"`
			Options map[string]any    `yaml:"options"`
			Cmd     string            `yaml:"cmd"`
		} `yaml:"servers"`
	}
	if err := yamlUnmarshal(out, &d); err != nil {
		t.Fatal(err)
	}
	if d.SSH["user"] != "deploy" || d.Builder["arch"] != "arm64" {
		t.Errorf("ssh %v builder %v", d.SSH, d.Builder)
	}
	if d.Env.Clear["SOLID_QUEUE_IN_PUMA"] != true || d.Env.Clear["WEB_CONCURRENCY"] != 2 {
		t.Errorf("env.clear = %v", d.Env.Clear)
	}
	if strings.Join(d.Env.Secret, ",") != "RAILS_MASTER_KEY,SMTP_PASSWORD" {
		t.Errorf("env.secret = %v (berth's first, additions appended once)", d.Env.Secret)
	}
	if len(d.Volumes) != 2 || d.Volumes[0] != "wombat_workouts_storage:/rails/storage" {
		t.Errorf("volumes = %v", d.Volumes)
	}
	web := d.Servers["web"]
	if web.Proxy == nil || *web.Proxy || web.Labels["traefik.enable"] != "true" || web.Labels["com.example.team"] != "fitness" ||
		web.Options["memory"] != "2g" || web.Options["health-cmd"] == nil {
		t.Errorf("web role = %+v", web)
	}
	if d.Servers["job"].Cmd != "bin/jobs" {
		t.Errorf("job role = %+v", d.Servers["job"])
	}
	// Such a deploy.yml still has everything berth needs.
	if got := findings(t, string(out), m); len(got) != 0 {
		t.Errorf("findings on berth's own output: %v", got)
	}
}

func yamlUnmarshal(data []byte, v any) error { return yaml.Unmarshal(data, v) }
