package kamal_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wombatworkouts/berth/e2e/internal/kamalhost/recdocker"
	"github.com/wombatworkouts/berth/hooks/restorepoint"
)

// migrations are the `docker run` calls of a db:migrate (status or not)
// among calls.
func migrations(calls []recdocker.Call, word string) []recdocker.Call {
	var out []recdocker.Call
	for _, c := range calls {
		if len(c.Argv) > 0 && c.Argv[0] == "run" && contains(c.Argv, word) {
			out = append(out, c)
		}
	}
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// envVar reads a variable from the env file a call's container got.
func envVar(t *testing.T, c recdocker.Call, name string) string {
	t.Helper()
	if len(c.EnvFiles) == 0 {
		t.Fatalf("%q got no env file", c.Argv)
	}
	if c.EnvFiles[0].Error != "" {
		t.Fatalf("%q: env file: %s", c.Argv, c.EnvFiles[0].Error)
	}
	return c.EnvFiles[0].Vars()[name]
}

// One app through the commands a user runs, with berth's hooks under the
// real Kamal: a first deploy (no env file on the server yet), a deploy that
// rotates a secret, `kamal app boot` and the deploy after it, a rollback.
func TestBerthHooksUnderRealKamal(t *testing.T) {
	a := newBerthApp(t, "berthk1")
	a.mustKamal(t, "accessory", "boot", "litestream")
	a.preConnectRuns(t)
	a.srv.NewCalls(t)

	// 1. First deploy without `kamal setup`: no env file exists on the
	// server, and db:migrate still gets the secrets.
	r := a.mustKamal(t, "deploy", "--skip-push", "--version", "v1")
	a.assertLive(t)
	// hooks_output (rendered for the Kamal 2.12 in Gemfile.lock, accepted
	// by the real one) shows berth's lines on a normal deploy: the restore
	// command is on screen, not only with -v.
	for _, want := range []string{"to restore it: kamal accessory exec litestream", "ok   smoke checks"} {
		if !strings.Contains(r.Output, want) {
			t.Errorf("a deploy at default verbosity does not show %q:\n%s", want, r.Output)
		}
	}
	calls := a.srv.NewCalls(t)
	for _, word := range []string{"db:migrate:status", "db:migrate"} {
		m := migrations(calls, word)
		if len(m) != 1 {
			t.Fatalf("%d `%s` runs in one deploy, want exactly 1 (web role only, though the manifest adds a job role): %q", len(m), word, argsOf(m))
		}
		if name := argAfter(m[0].Argv, "--name"); !strings.HasPrefix(name, "berthk1-web-exec-v1-") {
			t.Errorf("%s ran in container %q, want the web role's exec container of v1", word, name)
		}
		if got := envVar(t, m[0], "RAILS_MASTER_KEY"); got != "master-key-v1" {
			t.Errorf("%s saw RAILS_MASTER_KEY=%q, want this deploy's master-key-v1", word, got)
		}
		if got := envVar(t, m[0], "STRIPE_KEY"); got != "sk_test_stripe_1" {
			t.Errorf("%s saw STRIPE_KEY=%q", word, got)
		}
	}
	runs := a.preConnectRuns(t)
	nested := 0
	for _, r := range runs {
		if !strings.HasPrefix(r, "kamal|") {
			nested++
		}
	}
	t.Logf("kamal deploy ran the user's pre-connect hook %d times: %q", len(runs), runs)
	if len(runs) == 0 || runs[0] != "kamal|deploy" || nested != len(runs)-1 {
		t.Errorf("pre-connect runs %q: want the deploy's own first, then only nested calls marked BERTH_NESTED", runs)
	}

	// 2. A deploy that rotates RAILS_MASTER_KEY: the env file on the server
	// still holds v1's value until Kamal boots v2, but the migration must
	// see the new one.
	a.setSecrets(t, strings.ReplaceAll(secretsV1, "master-key-v1", "master-key-v2"))
	a.mustKamal(t, "deploy", "--skip-push", "--version", "v2")
	calls = a.srv.NewCalls(t)
	m := migrations(calls, "db:migrate")
	if len(m) != 1 || envVar(t, m[0], "RAILS_MASTER_KEY") != "master-key-v2" {
		t.Fatalf("the migration of the deploy that rotated RAILS_MASTER_KEY saw %q, want master-key-v2", envVar(t, m[0], "RAILS_MASTER_KEY"))
	}
	for _, c := range calls {
		if strings.Contains(strings.Join(c.Argv, " "), "master-key-v2") {
			t.Fatalf("a secret's value reached a docker command line: %q", c.Argv)
		}
	}
	rec, ok := restorepoint.Latest(a.Dir, "berthk1", "v2")
	if !ok || rec.PreviousVersion != "v1" {
		t.Fatalf("restore point of v2: %+v (want previous version v1)", rec)
	}
	a.preConnectRuns(t)

	// 3. `kamal app boot` without --version runs <svc>-web-latest; the next
	// deploy must record v2 (the version behind latest), never "latest".
	a.mustKamal(t, "app", "boot")
	a.mustKamal(t, "deploy", "--skip-push", "--version", "v3")
	rec, ok = restorepoint.Latest(a.Dir, "berthk1", "v3")
	if !ok || rec.PreviousVersion != "v2" {
		t.Fatalf("after kamal app boot the rollback hint is %q, want v2", rec.PreviousVersion)
	}
	a.srv.NewCalls(t)

	// 4. Redeploy runs the same hooks as deploy.
	a.mustKamal(t, "redeploy", "--skip-push", "--version", "v4")
	if m := migrations(a.srv.NewCalls(t), "db:migrate"); len(m) != 1 || envVar(t, m[0], "RAILS_MASTER_KEY") != "master-key-v2" {
		t.Fatalf("kamal redeploy: %d migrations, want 1 with this deploy's secrets", len(m))
	}
	if rec, _ := restorepoint.Latest(a.Dir, "berthk1", "v4"); rec.PreviousVersion != "v3" || rec.Command != "redeploy" {
		t.Fatalf("redeploy's record: %+v", rec)
	}
	a.assertLive(t)

	// 5. Rollback: a restore point, no forward migration.
	a.mustKamal(t, "rollback", "v2")
	if m := migrations(a.srv.NewCalls(t), "db:migrate"); len(m) != 0 {
		t.Fatalf("kamal rollback migrated: %q", argsOf(m))
	}
	if rec, ok := restorepoint.Latest(a.Dir, "berthk1", "v2"); !ok || rec.Command != "rollback" {
		t.Fatalf("no restore point recorded for the rollback: %+v", rec)
	}
	a.assertLive(t)
}

// assertLive checks that post-deploy took the app back to live: no state
// file is left for it (a deploy's maintenance or deploying state ended).
func (a *berthApp) assertLive(t *testing.T) {
	t.Helper()
	if b, err := os.ReadFile(filepath.Join(a.stateDir, "apps", a.Service+".json")); err == nil {
		t.Fatalf("the app is not live after the command; its state file holds:\n%s", b)
	}
}

func argsOf(calls []recdocker.Call) [][]string {
	out := make([][]string, len(calls))
	for i, c := range calls {
		out[i] = c.Argv
	}
	return out
}

func argAfter(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// `kamal setup` runs docker-setup (no secrets: berth reads none there), then
// the first deploy, where pre-deploy meets no Litestream accessory yet
// (Kamal boots accessories after it) and skips the restore point and the
// migration without a FAIL line; post-deploy still holds the lock there.
//
// docker-setup writes Traefik's files where a server keeps them
// (/etc/traefik, /opt/berth): this machine plays the server, so the test
// runs only where neither exists, and removes what it wrote.
func TestBerthHooksOnKamalSetup(t *testing.T) {
	for _, p := range []string{"/etc/traefik", "/opt/berth"} {
		if _, err := os.Stat(p); err == nil {
			t.Skipf("%s exists on this machine, which plays the server here: kamal setup would change it (a real Traefik's?), so this test does not run", p)
		}
	}
	t.Cleanup(func() {
		os.RemoveAll("/etc/traefik")
		os.RemoveAll("/opt/berth")
	})
	a := newBerthApp(t, "berthk2")
	r := a.mustKamal(t, "setup", "--skip-push", "--version", "v1")
	if strings.Contains(r.Output, "FAIL") {
		t.Errorf("a successful first kamal setup printed a FAIL line:\n%s", r.Output)
	}
	for _, want := range []string{"skip restore point: first `kamal setup`", "skip db:migrate: first `kamal setup`", "ok   smoke checks"} {
		if !strings.Contains(r.Output, want) {
			t.Errorf("kamal setup's output lacks %q:\n%s", want, r.Output)
		}
	}
	var traefikRun, appRun bool
	for _, c := range a.srv.NewCalls(t) {
		if len(c.Argv) > 0 && c.Argv[0] == "run" && contains(c.Argv, "berth-traefik") {
			traefikRun = true
		}
		if len(c.Argv) > 0 && c.Argv[0] == "run" && contains(c.Argv, "berthk2-web-v1") {
			appRun = true
		}
	}
	if !traefikRun || !appRun {
		t.Fatalf("docker-setup started Traefik: %v; the app booted: %v", traefikRun, appRun)
	}
	if _, err := os.Stat("/etc/traefik/dynamic/berthk2.yml"); err != nil {
		t.Fatalf("docker-setup did not write the app's dynamic file: %v", err)
	}
	a.assertLive(t)
}
