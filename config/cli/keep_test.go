package cli_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/wombatworkouts/berth/config/cli"
)

// The app: a deploy.yml with settings berth does not write (an SSH
// user, an ARM builder, environment entries, a job role, an accessory), real
// hosts and domains, and a secret someone wrote in clear.
const ownDeploy = `service: wombat_workouts
image: wombatworkouts/wombat_workouts
servers:
  web:
    - 95.217.1.10
  job:
    hosts:
      - 95.217.1.10
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
asset_path: /rails/public/assets
builder:
  arch: arm64
accessories:
  redis:
    image: valkey/valkey:8
    host: 95.217.1.10
    port: "127.0.0.1:6379:6379"
`

func ownApp(t *testing.T, deploy string) string {
	t.Helper()
	dir := t.TempDir()
	write(t, dir, "config/deploy.yml", deploy)
	write(t, dir, "config/environments/production.rb", "Rails.application.configure do\n  config.assume_ssl = true\n  config.force_ssl = true\nend\n")
	return dir
}

func readDeploy(t *testing.T, dir string) map[string]any {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "config", "deploy.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var d map[string]any
	if err := yaml.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	return d
}

// dig follows keys through nested mappings.
func dig(d map[string]any, keys ...string) any {
	var v any = d
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// init then render --force keeps every setting the user owns, and says
// what berth wrote itself instead.
func TestInitThenRenderKeepsTheUsersSettings(t *testing.T) {
	dir := ownApp(t, ownDeploy)
	code, out, errs := run(dir, "init")
	expect(t, "init", code, cli.ExitOK, out+errs, "read config/deploy.yml",
		"kept in kamal: (berth does not write them): servers.job, env.secret, env.clear.WEB_CONCURRENCY, ssh, builder.arch, accessories.redis",
		"berth writes these itself, from the manifest: proxy, asset_path")
	if strings.Contains(out, "Fix these") || strings.Contains(out, "Placeholders") {
		t.Fatalf("the imported manifest is not clean:\n%s", out)
	}
	manifest, err := os.ReadFile(filepath.Join(dir, "config", "berth.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(manifest), "kamal:\n  servers:\n    job:") {
		t.Errorf("berth.yml has no kamal: section:\n%s", manifest)
	}

	code, out, errs = run(dir, "render", "config", "--force")
	expect(t, "render --force", code, cli.ExitOK, out+errs, "wrote config/deploy.yml",
		"config/deploy.yml: berth changed these settings of the previous file:",
		`line 10: proxy: was a mapping, dropped: kamal-proxy's settings`,
		`line 29: asset_path: was "/rails/public/assets", dropped: has no effect without kamal-proxy`)
	d := readDeploy(t, dir)
	for _, c := range []struct {
		keys []string
		want any
	}{
		{[]string{"ssh", "user"}, "deploy"},
		{[]string{"builder", "arch"}, "arm64"},
		{[]string{"env", "clear", "WEB_CONCURRENCY"}, 2},
		{[]string{"servers", "job", "cmd"}, "bin/jobs"},
		{[]string{"accessories", "redis", "port"}, "127.0.0.1:6379:6379"},
		{[]string{"servers", "web", "proxy"}, false},
	} {
		if got := dig(d, c.keys...); got != c.want {
			t.Errorf("rendered %s = %v, want %v", strings.Join(c.keys, "."), got, c.want)
		}
	}
	if secrets, _ := dig(d, "env", "secret").([]any); len(secrets) != 2 || secrets[1] != "SMTP_PASSWORD" {
		t.Errorf("rendered env.secret = %v, want RAILS_MASTER_KEY and SMTP_PASSWORD", secrets)
	}
	// Rendering again changes nothing and needs nothing.
	code, out, errs = run(dir, "render", "config")
	expect(t, "render again", code, cli.ExitOK, out+errs, "wrote config/deploy.yml")
	if strings.Contains(out, "changed these settings") {
		t.Errorf("a second render reports changes:\n%s", out)
	}
}

// A manifest that does not carry the user's settings (written by hand, or
// by an init that did not see this deploy.yml): render refuses to drop
// them, even with --force, names each with its line, and writes nothing.
func TestRenderRefusesToDropSettings(t *testing.T) {
	dir := ownApp(t, ownDeploy)
	code, _, _ := run(dir, "init", "--from", "none.yml")
	if code == cli.ExitOK {
		t.Fatal("init --from none.yml worked")
	}
	// A manifest as someone writes it from the README, without kamal:.
	write(t, dir, "config/berth.yml", `app: wombat_workouts
image: ghcr.io/wombatworkouts/wombat_workouts
hosts: [95.217.1.10]
domains: [wombatworkouts.com]
litestream:
  replica: /srv/backups/wombat_workouts
server:
  acme:
    email: ops@wombatworkouts.com
`)
	code, out, errs := run(dir, "render", "config", "--force")
	expect(t, "render --force", code, cli.ExitFailed, out+errs,
		"config/deploy.yml has settings that config/berth.yml does not carry, and rendering would drop them:",
		`config/deploy.yml:6: servers.job: a mapping (berth writes nothing there)`,
		`config/deploy.yml:19: env.secret: ["SMTP_PASSWORD"] (berth writes ["RAILS_MASTER_KEY"])`,
		`config/deploy.yml:24: env.clear.WEB_CONCURRENCY: "2" (berth writes nothing there)`,
		`config/deploy.yml:25: ssh: a mapping (berth writes nothing there)`,
		`config/deploy.yml:31: builder.arch: "arm64" (berth writes "amd64")`,
		`config/deploy.yml:33: accessories.redis: a mapping (berth writes nothing there)`,
		"Keep them by adding this to config/berth.yml:",
		"  kamal:\n    servers:\n      job:",
		"    ssh:\n      user: deploy",
		"Delete from config/deploy.yml what you no longer want, then render again.")
	if strings.Contains(errs, "--force to replace") {
		t.Errorf("a hand-written deploy.yml must not be droppable with --force:\n%s", errs)
	}
	if strings.Contains(out, "wrote") {
		t.Errorf("render wrote files although it refused:\n%s", out)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "config", "deploy.yml")); string(data) != ownDeploy {
		t.Errorf("config/deploy.yml was changed")
	}
	// check lists the same settings, with the entry to add.
	code, out, errs = run(dir, "check")
	expect(t, "check", code, cli.ExitFailed, out+errs,
		"Yours, which config/berth.yml does not carry (berth config render refuses to drop them",
		`config/deploy.yml:25: ssh: a mapping`, "add to config/berth.yml:")
}

// A deploy.yml berth wrote and someone edited: render refuses to drop the
// edit, and --force replaces it, listing what was dropped.
func TestRenderNoticesHandEdits(t *testing.T) {
	dir := ownApp(t, ownDeploy)
	if code, out, errs := run(dir, "init"); code != cli.ExitOK {
		t.Fatalf("init: %s%s", out, errs)
	}
	if code, out, errs := run(dir, "render", "config", "--force"); code != cli.ExitOK {
		t.Fatalf("render: %s%s", out, errs)
	}
	p := filepath.Join(dir, "config", "deploy.yml")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	edited := strings.Replace(string(data), "\nssh:\n  user: deploy\n", "\nssh:\n  user: deploy\n  port: 2222\n", 1)
	if edited == string(data) {
		t.Fatalf("test bug: no ssh section in\n%s", data)
	}
	write(t, dir, "config/deploy.yml", edited)

	code, out, errs := run(dir, "render", "config")
	expect(t, "render over an edit", code, cli.ExitFailed, out+errs,
		"config/deploy.yml was changed since berth wrote it, and rendering would drop these settings",
		`config/deploy.yml:98: ssh.port: "2222" (berth writes nothing there)`, "  kamal:\n    ssh:\n      port: 2222",
		"Or pass --force to replace it with what berth writes, dropping these.")
	code, out, errs = run(dir, "render", "config", "--force")
	expect(t, "render --force over an edit", code, cli.ExitOK, out+errs, "wrote config/deploy.yml",
		`ssh.port: was "2222", dropped: dropped with --force`)
	if dig(readDeploy(t, dir), "ssh", "port") != nil {
		t.Error("ssh.port survived render --force")
	}
}

// A secret written in clear is neither copied into the manifest nor
// printed; render keeps refusing until it is moved out of deploy.yml.
func TestSecretsInDeployAreNotCarried(t *testing.T) {
	const secret = "hunter2-smtp"
	dir := ownApp(t, strings.Replace(ownDeploy, "    WEB_CONCURRENCY: 2\n", "    WEB_CONCURRENCY: 2\n    SMTP_PASSWORD: "+secret+"\n", 1))
	code, out, errs := run(dir, "init")
	expect(t, "init", code, cli.ExitOK, out+errs, "wrote config/berth.yml")
	manifest, err := os.ReadFile(filepath.Join(dir, "config", "berth.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(manifest), secret) {
		t.Errorf("init copied the secret into berth.yml:\n%s", manifest)
	}
	if !strings.Contains(string(manifest), "config/deploy.yml:25 env.clear.SMTP_PASSWORD looks like a secret written in clear, so it was not copied") {
		t.Errorf("berth.yml's to-do list does not mention the secret:\n%s", manifest)
	}
	code, out, errs = run(dir, "render", "config", "--force")
	expect(t, "render", code, cli.ExitFailed, out+errs,
		"config/deploy.yml:25: env.clear.SMTP_PASSWORD: (a value that looks secret, not shown)",
		"put the value in .kamal/secrets")
	code, out2, errs2 := run(dir, "check")
	for _, o := range []string{out, errs, out2, errs2} {
		if strings.Contains(o, secret) {
			t.Errorf("the secret was printed:\n%s", o)
		}
	}
	_ = code
}
