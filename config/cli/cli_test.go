package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wombatworkouts/berth/config/cli"
	"github.com/wombatworkouts/berth/config/internal/golden"
)

// A Rails 8.1 app as `rails new` leaves it: deploy.yml and production.rb.
func railsApp(t *testing.T) string {
	t.Helper()
	deploys := golden.RailsDeploys(t)
	deploy, ok := deploys["generated"]
	if !ok {
		deploy = deploys["condensed"]
	}
	dir := t.TempDir()
	write(t, dir, "config/deploy.yml", string(deploy))
	write(t, dir, "config/environments/production.rb", "Rails.application.configure do\n  # config.assume_ssl = true\n  # config.force_ssl = true\nend\n")
	return dir
}

func write(t *testing.T, dir, rel, content string) {
	t.Helper()
	p := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fillIn replaces old with new in the app's config/berth.yml, pair by pair.
func fillIn(t *testing.T, dir string, oldNew ...string) {
	t.Helper()
	p := filepath.Join(dir, "config", "berth.yml")
	data, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for i := 0; i+1 < len(oldNew); i += 2 {
		if !strings.Contains(text, oldNew[i]) {
			t.Fatalf("config/berth.yml lacks %q:\n%s", oldNew[i], text)
		}
		text = strings.ReplaceAll(text, oldNew[i], oldNew[i+1])
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func run(dir string, args ...string) (int, string, string) {
	var out, errb bytes.Buffer
	code := cli.Run(args, dir, &out, &errb)
	return code, out.String(), errb.String()
}

func expect(t *testing.T, what string, code, wantCode int, output string, want ...string) {
	t.Helper()
	if code != wantCode {
		t.Errorf("%s: exit %d, want %d\n%s", what, code, wantCode, output)
	}
	for _, w := range want {
		if !strings.Contains(output, w) {
			t.Errorf("%s: output lacks %q:\n%s", what, w, output)
		}
	}
}

func TestWorkflowOnARailsApp(t *testing.T) {
	dir := railsApp(t)

	// check before anything: compares with the starter.
	code, out, errs := run(dir, "check")
	expect(t, "check (no manifest)", code, cli.ExitFailed, out+errs,
		"no config/berth.yml", "servers.web: is a plain list of hosts", "accessories: missing",
		"config/environments/production.rb:2: config.assume_ssl is commented out",
		"config.force_ssl is commented out", "required change(s)")

	code, out, errs = run(dir, "init")
	expect(t, "init", code, cli.ExitOK, out+errs, "read config/deploy.yml", "wrote config/berth.yml")
	if strings.Contains(out, "Fix these") {
		t.Errorf("the starter does not load:\n%s", out)
	}
	code, _, errs = run(dir, "init")
	expect(t, "init again", code, cli.ExitFailed, errs, "already exists")
	code, out, _ = run(dir, "init", "--force")
	expect(t, "init --force", code, cli.ExitOK, out, "Placeholders to replace before deploying",
		"config/berth.yml:15: hosts[0]: 192.168.0.1 is the placeholder `rails new` writes")

	// The starter's placeholders cannot deploy: render names each one
	// and writes nothing...
	code, out, errs = run(dir, "render", "config", "--force")
	expect(t, "render with placeholders", code, cli.ExitFailed, out+errs,
		"config/berth.yml:12: image: ghcr.io/your-github-user/wombat_workouts is a placeholder",
		"config/berth.yml:15: hosts[0]: 192.168.0.1 is the placeholder `rails new` writes",
		"config/berth.yml:18: domains[0]: wombat-workouts.example.com is under example.com",
		"server.acme.email: ops@wombat-workouts.example.com is an address under example.com",
		"still has 4 placeholder(s)", "--allow-placeholders")
	if strings.Contains(out, "wrote") {
		t.Errorf("render with placeholders wrote files:\n%s", out)
	}
	// ...unless asked to render anyway, to look at the files.
	look := filepath.Join(t.TempDir(), "look")
	code, out, errs = run(dir, "render", look, "--allow-placeholders")
	expect(t, "render --allow-placeholders", code, cli.ExitOK, out+errs, "wrote "+filepath.Join(look, "deploy.yml"), "Placeholders to replace before deploying")
	// The user works through the to-do list.
	fillIn(t, dir, "your-github-user", "wombatworkouts", "192.168.0.1", "95.217.1.10", "wombat-workouts.example.com", "wombatworkouts.com")

	// render refuses to replace the hand-written deploy.yml...
	code, _, errs = run(dir, "render", "config")
	expect(t, "render over hand-written deploy.yml", code, cli.ExitFailed, errs, "was not written by berth", "--force")
	// ...unless told to, and then everything is written.
	code, out, errs = run(dir, "render", "config", "--force")
	expect(t, "render --force", code, cli.ExitOK, out+errs, "wrote config/deploy.yml", "wrote config/litestream.yml",
		"wrote config/traefik/static.yml", "wrote config/traefik/dynamic/wombat_workouts.yml", "wrote config/traefik/dynamic/_server.yml")
	if strings.Contains(out, "note:") {
		t.Errorf("rendering into config/ needs no note:\n%s", out)
	}

	// Now deploy.yml is berth's own: check finds nothing missing, but still
	// warns about production.rb; re-rendering needs no --force.
	code, out, errs = run(dir, "check")
	expect(t, "check after render", code, cli.ExitOK, out+errs, "config/deploy.yml has everything berth needs", "assume_ssl")
	code, _, _ = run(dir, "render", "config")
	expect(t, "render again", code, cli.ExitOK, "")

	code, out, _ = run(dir, "render", "out")
	expect(t, "render elsewhere", code, cli.ExitOK, out, "wrote out/deploy.yml", "note: deploy.yml uploads config/litestream.yml")
}

func TestCheckWithoutProductionRB(t *testing.T) {
	dir := railsApp(t)
	if err := os.Remove(filepath.Join(dir, "config/environments/production.rb")); err != nil {
		t.Fatal(err)
	}
	code, out, errs := run(dir, "check")
	expect(t, "check", code, cli.ExitFailed, out+errs, "could not check config.assume_ssl")
}

func TestInitWithoutDeploy(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "Lists App")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	code, out, errs := run(dir, "init")
	expect(t, "init", code, cli.ExitOK, out+errs, "wrote config/berth.yml")
	data, err := os.ReadFile(filepath.Join(dir, "config/berth.yml"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "app: lists_app") {
		t.Errorf("app name not guessed from the directory:\n%s", data)
	}
	code, _, errs = run(dir, "init", "--from", "missing.yml", "--force")
	expect(t, "init --from missing", code, cli.ExitFailed, errs, "reading missing.yml")
}

func TestValidate(t *testing.T) {
	examples := filepath.Join(golden.ModuleRoot(t), "config", "examples")
	code, out, errs := run(examples, "validate", "wombatworkouts/berth.yml", "lists/berth.yml")
	// The examples use documentation addresses and lists.example.org:
	// valid, with a warning for each placeholder.
	expect(t, "validate examples", code, cli.ExitOK, out+errs, "ok: 2 manifest(s)", "Placeholders to replace before deploying",
		"wombatworkouts/berth.yml:9: hosts[0]: 203.0.113.10 is an address reserved for documentation",
		"lists/berth.yml:12: domains[0]: lists.example.org is under example.org")

	dir := t.TempDir()
	data, err := os.ReadFile(filepath.Join(examples, "wombatworkouts", "berth.yml"))
	if err != nil {
		t.Fatal(err)
	}
	write(t, dir, "a/berth.yml", string(data))
	write(t, dir, "b/berth.yml", strings.Replace(string(data), "app: wombat_workouts", "app: other", 1))
	code, _, errs = run(dir, "validate", "a/berth.yml", "b/berth.yml")
	expect(t, "validate conflicting", code, cli.ExitFailed, errs,
		`b/berth.yml:12: domains[0]: "wombatworkouts.com" is claimed by two apps`)

	write(t, dir, "c/berth.yml", "app: x\nbogus: 1\n")
	code, _, errs = run(dir, "validate", "c/berth.yml")
	expect(t, "validate invalid", code, cli.ExitFailed, errs, `c/berth.yml:2: bogus: unknown key`)
}

func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{nil, cli.ExitUsage, "usage: berth config"},
		{[]string{"help"}, cli.ExitOK, "usage: berth config"},
		{[]string{"frobnicate"}, cli.ExitUsage, `unknown command "frobnicate"`},
		{[]string{"render"}, cli.ExitUsage, "give the output directory"},
		{[]string{"render", "a", "b"}, cli.ExitUsage, "give the output directory"},
		{[]string{"render", "--nope", "x"}, cli.ExitUsage, "flag provided but not defined"},
		{[]string{"check", "extra"}, cli.ExitUsage, "unexpected argument"},
		{[]string{"init", "extra"}, cli.ExitUsage, "unexpected argument"},
	} {
		code, out, errs := run(t.TempDir(), tc.args...)
		expect(t, strings.Join(tc.args, " "), code, tc.code, out+errs, tc.want)
	}
	code, _, errs := run(t.TempDir(), "render", "config")
	expect(t, "render without manifest", code, cli.ExitFailed, errs, "config/berth.yml: no such file; `berth config init`")
	code, _, errs = run(t.TempDir(), "check")
	expect(t, "check without deploy.yml", code, cli.ExitFailed, errs, "reading config/deploy.yml")
}
