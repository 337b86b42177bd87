package kamalhost

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/wombatworkouts/berth/e2e/internal/kamalhost/recdocker"
)

// TestHooks runs each command with every hook recording itself and checks
// which hooks ran, in which order, with which KAMAL_* values, and which saw
// the secrets.
func TestHooks(t *testing.T) {
	t.Parallel()
	srv := StartServer(t, ServerOptions{})
	app := NewApp(t, srv, AppOptions{
		Service:   "khhooks",
		DeployYML: "env:\n  secret: [APP_SECRET]\n",
		Secrets:   map[string]string{"APP_SECRET": "hook-test-secret"},
	})
	app.RecordHooks(t, []string{"APP_SECRET"})
	rev := app.Revision

	deployHooks := []string{"pre-connect", "pre-deploy", "pre-app-boot", "post-app-boot", "post-deploy"}
	// Kamal exports the secrets to these hooks only.
	withSecrets := map[string]bool{"pre-connect": true, "pre-deploy": true, "post-deploy": true}

	tests := []struct {
		args    []string
		hooks   []string
		command string
		// version is KAMAL_VERSION per hook ("" = the default for the step).
		version    string
		versionOf  map[string]string
		lockOf     map[string]string
		extraCheck func(t *testing.T, calls []HookCall)
	}{
		{args: []string{"deploy", "--skip-push", "--version", "v1"}, hooks: deployHooks, command: "deploy", version: "v1",
			lockOf: map[string]string{"pre-connect": "false", "pre-deploy": "true", "pre-app-boot": "true", "post-app-boot": "true", "post-deploy": "false"}},
		{args: []string{"deploy", "--skip-push", "--version", "v2"}, hooks: deployHooks, command: "deploy", version: "v2"},
		{args: []string{"redeploy", "--skip-push", "--version", "v3"}, hooks: deployHooks, command: "redeploy", version: "v3",
			lockOf: map[string]string{"pre-deploy": "true", "post-deploy": "false"}},
		// pre-connect runs before rollback sets the version: it sees the
		// git revision.
		{args: []string{"rollback", "v2"}, hooks: deployHooks, command: "rollback", version: "v2",
			versionOf: map[string]string{"pre-connect": rev}},
		{args: []string{"app", "boot"}, hooks: []string{"pre-connect", "pre-app-boot", "post-app-boot"}, command: "app", version: "latest",
			versionOf: map[string]string{"pre-connect": rev}},
		// setup's post-deploy still holds the lock.
		{args: []string{"setup", "--skip-push", "--version", "v4"},
			hooks:   []string{"pre-connect", "docker-setup", "pre-deploy", "pre-app-boot", "post-app-boot", "post-deploy"},
			command: "setup", version: "v4",
			lockOf: map[string]string{"docker-setup": "true", "post-deploy": "true"}},
		{args: []string{"app", "exec", "-p", "-r", "web", "--version", "v4", "bin/rails db:migrate"},
			hooks: []string{"pre-connect"}, command: "app", version: "v4",
			extraCheck: func(t *testing.T, calls []HookCall) {
				if got := calls[0].Env["KAMAL_ROLES"]; got != "web" {
					t.Errorf("KAMAL_ROLES = %q, want web", got)
				}
			}},
		// -H after the subcommand does not skip pre-connect (Thor merges the
		// subcommand's default skip_hooks: false over it).
		{args: []string{"app", "exec", "-H", "-p", "-r", "web", "--version", "v4", "bin/rails db:migrate"},
			hooks: []string{"pre-connect"}, command: "app", version: "v4"},
		// On a top-level command it skips them all. (Before the command,
		// `kamal -H app exec ...` is Thor's help and fails.)
		{args: []string{"deploy", "-H", "--skip-push", "--version", "v5"}, hooks: []string{}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			app.ResetHookCalls(t)
			app.MustKamal(t, tc.args...)
			calls := app.HookCalls(t)
			if got := HookNamesOf(calls); !reflect.DeepEqual(got, tc.hooks) {
				t.Fatalf("hooks = %q, want %q", got, tc.hooks)
			}
			for _, c := range calls {
				if got := c.Secrets["APP_SECRET"]; got != withSecrets[c.Name] {
					t.Errorf("%s: APP_SECRET set = %v, want %v", c.Name, got, withSecrets[c.Name])
				}
				wantVersion := tc.version
				if v, ok := tc.versionOf[c.Name]; ok {
					wantVersion = v
				}
				for k, want := range map[string]string{
					"KAMAL_COMMAND": tc.command, "KAMAL_VERSION": wantVersion, "KAMAL_SERVICE": "khhooks",
					"KAMAL_HOSTS": Host, "KAMAL_PERFORMER": "kamalhost@example.invalid",
				} {
					if got := c.Env[k]; got != want {
						t.Errorf("%s: %s = %q, want %q", c.Name, k, got, want)
					}
				}
				if want, ok := tc.lockOf[c.Name]; ok && c.Env["KAMAL_LOCK"] != want {
					t.Errorf("%s: KAMAL_LOCK = %q, want %q", c.Name, c.Env["KAMAL_LOCK"], want)
				}
				if _, ok := c.Env["KAMAL_RUNTIME"]; ok != (c.Name == "post-deploy") {
					t.Errorf("%s: KAMAL_RUNTIME present = %v", c.Name, ok)
				}
				// Kamal 2.12 (with Thor 1.2) never sets it for `kamal app ...`.
				if v, ok := c.Env["KAMAL_SUBCOMMAND"]; ok {
					t.Errorf("%s: KAMAL_SUBCOMMAND = %q", c.Name, v)
				}
			}
			if tc.extraCheck != nil {
				tc.extraCheck(t, calls)
			}
		})
	}

	t.Run("a failing pre-deploy stops the deploy before any boot", func(t *testing.T) {
		app.WriteHook(t, "pre-deploy", "#!/bin/sh\necho 'pre-deploy says no' >&2\nexit 3\n")
		srv.NewCalls(t)
		r := app.Kamal(t, "deploy", "--skip-push", "--version", "v6")
		if r.Exit != 1 {
			t.Fatalf("exit %d, want 1:\n%s", r.Exit, r.Output)
		}
		requireOutput(t, r, "pre-deploy says no")
		calls := srv.NewCalls(t)
		requireOrder(t, calls, []string{"pull", app.Repository + ":v6"})
		if c := callsWith(calls, "run"); len(c) > 0 {
			t.Errorf("a container was started: %s", c[0].Line())
		}
		if _, err := os.Stat(filepath.Join(srv.RemoteHome, ".kamal", "lock-khhooks")); !os.IsNotExist(err) {
			t.Errorf("the deploy lock is still held (stat: %v)", err)
		}
	})
}

// TestNestedKamal: a pre-deploy hook that calls kamal (as berth's does to
// migrate) reaches the same Kamal, is not blocked by the deploy lock, runs
// with the new image, and its container reads the env file of the LAST
// boot: a secret changed for this deploy is not there yet.
func TestNestedKamal(t *testing.T) {
	t.Parallel()
	srv := StartServer(t, ServerOptions{})
	app := NewApp(t, srv, AppOptions{
		Service:   "khnested",
		DeployYML: "env:\n  secret: [APP_SECRET]\n",
		Secrets:   map[string]string{"APP_SECRET": "old-secret"},
	})
	app.MustKamal(t, "deploy", "--skip-push", "--version", "v1")

	secrets, err := secretsFile(map[string]string{"APP_SECRET": "new-secret", "KAMAL_REGISTRY_PASSWORD": "kamalhost-test-registry-password"})
	if err != nil {
		t.Fatal(err)
	}
	app.writeFile(t, ".kamal/secrets", secrets, 0o600)
	app.WriteHook(t, "pre-deploy", `#!/bin/sh
set -e
echo "pre-deploy sees APP_SECRET=$APP_SECRET"
kamal app exec -p -r web -H --version="$KAMAL_VERSION" 'bin/rails db:migrate'
`)
	srv.AddRule(t, recdocker.Rule{Args: []string{"run", "--rm", "db:migrate"}, Stdout: "== 20261204 AddThings: migrated\n"})
	srv.NewCalls(t)
	r := app.MustKamal(t, "deploy", "-v", "--skip-push", "--version", "v2")
	requireOutput(t, r, "pre-deploy sees APP_SECRET=new-secret")
	requireOutput(t, r, "== 20261204 AddThings: migrated")

	calls := srv.NewCalls(t)
	idx := requireOrder(t, calls,
		[]string{"pull", app.Repository + ":v2"},
		[]string{"run", "--rm", "--name", "khnested-web-exec-v2-*", app.Repository + ":v2", "bin/rails", "db:migrate"},
		[]string{"run", "--detach", "--name", "khnested-web-v2"},
	)
	if n := len(callsWith(calls, "db:migrate")); n != 1 {
		t.Errorf("%d migrations, want exactly 1", n)
	}
	migrate, boot := calls[idx[1]], calls[idx[2]]
	if got := migrate.EnvFiles[0].Vars()["APP_SECRET"]; got != "old-secret" {
		t.Errorf("the migration read APP_SECRET=%q from %s, want the last boot's old-secret", got, migrate.EnvFiles[0].Path)
	}
	if got := boot.EnvFiles[0].Vars()["APP_SECRET"]; got != "new-secret" {
		t.Errorf("the new container read APP_SECRET=%q, want new-secret", got)
	}
}
