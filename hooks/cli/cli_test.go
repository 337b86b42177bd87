package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wombatworkouts/berth/hooks/cli"
	"github.com/wombatworkouts/berth/hooks/hookstest/testapp"
	"github.com/wombatworkouts/berth/hooks/internal/fakekamal"
)

// Fast unit tests: a stand-in kamal records argv and
// plays recorded outputs.
func TestMain(m *testing.M) {
	fakekamal.MaybeMain()
	os.Exit(m.Run())
}

func kamalEnv(t *testing.T) {
	for k, v := range map[string]string{"KAMAL_SERVICE": "shop", "KAMAL_VERSION": "new2222", "KAMAL_HOSTS": "203.0.113.10",
		"KAMAL_COMMAND": "deploy", "KAMAL_DESTINATION": "", "BERTH_TRANSPORT": ""} {
		t.Setenv(k, v)
	}
}

func runHook(t *testing.T, dir, hook string) (int, string, string) {
	var out, errb bytes.Buffer
	code := cli.Hook([]string{hook}, dir, &out, &errb)
	return code, out.String(), errb.String()
}

func TestHookStopsBeforeChangingAnything(t *testing.T) {
	f := fakekamal.Setup(t, fakekamal.Rule{Match: "", Stdout: "should not be called"})
	tests := []struct {
		name     string
		setup    func(t *testing.T) string
		wantCode int
		want     []string
	}{
		{"missing config", func(t *testing.T) string { kamalEnv(t); return t.TempDir() }, 1,
			[]string{"config/berth.yml: no such file", "berth config init", "stopped before changing anything"}},
		{"bad config values", func(t *testing.T) string {
			kamalEnv(t)
			dir := t.TempDir()
			os.MkdirAll(filepath.Join(dir, "config"), 0o755)
			os.WriteFile(filepath.Join(dir, "config", "berth.yml"), []byte("app: Shop!\nimage: nope\nhosts: []\ndomains: [x..y]\nlitestream: {replica: relative/dir}\nserver: {acme: {email: a@b.example.net}}\n"), 0o644)
			return dir
		}, 1, []string{"config/berth.yml:1: app", "config/berth.yml:4: domains[0]"}},
		{"missing KAMAL vars", func(t *testing.T) string {
			kamalEnv(t)
			t.Setenv("KAMAL_VERSION", "")
			os.Unsetenv("KAMAL_VERSION")
			t.Setenv("KAMAL_HOSTS", "")
			return testapp.New(t, testapp.Options{}).Dir
		}, 1, []string{"KAMAL_VERSION, KAMAL_HOSTS are not set"}},
		{"another app's hooks", func(t *testing.T) string {
			kamalEnv(t)
			t.Setenv("KAMAL_SERVICE", "blog")
			return testapp.New(t, testapp.Options{}).Dir
		}, 1, []string{`KAMAL_SERVICE="blog" but config/berth.yml says app: "shop"`}},
		{"bad BERTH_ setting", func(t *testing.T) string {
			kamalEnv(t)
			t.Setenv("BERTH_TIMEOUTS", "sync=forever")
			return testapp.New(t, testapp.Options{}).Dir
		}, 1, []string{"BERTH_TIMEOUTS"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("BERTH_KAMAL", f.Bin)
			dir := tc.setup(t)
			code, out, errs := runHook(t, dir, "pre-deploy")
			if code != tc.wantCode {
				t.Fatalf("exit %d\n%s\n%s", code, out, errs)
			}
			for _, w := range tc.want {
				if !strings.Contains(errs, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errs)
				}
			}
			if calls := f.Calls(t); len(calls) != 0 {
				t.Fatalf("kamal was called: %q", calls)
			}
			if _, err := os.Stat(filepath.Join(dir, "server")); err == nil {
				t.Fatal("a state file directory was created")
			}
		})
	}
}

func TestSecretsNeverPrinted(t *testing.T) {
	kamalEnv(t)
	a := testapp.New(t, testapp.Options{Policy: "always", Replica: "/srv/backups/shop"})
	os.MkdirAll(filepath.Join(a.Dir, ".kamal"), 0o755)
	os.WriteFile(filepath.Join(a.Dir, ".kamal", "secrets"), []byte("SMTP_LOGIN=$SMTP_LOGIN\nWEBHOOK_URL=https://hooks.example.net/T0/B0/abcdef123\n"), 0o600)
	secrets := map[string]string{
		"RAILS_MASTER_KEY":        "f00dfeedc0ffee1234567890",
		"KAMAL_REGISTRY_PASSWORD": "ghp_aaaabbbbccccdddd",
		"SMTP_LOGIN":              "smtp-login-secret",
		"STRIPE_SECRET":           "sk_live_stripe_secret",
		"GH_TOKEN":                "gh-token-value-1",
	}
	for k, v := range secrets {
		t.Setenv(k, v)
	}
	leak := strings.Join([]string{"f00dfeedc0ffee1234567890", "ghp_aaaabbbbccccdddd", "smtp-login-secret", "sk_live_stripe_secret", "gh-token-value-1", "https://hooks.example.net/T0/B0/abcdef123"}, " ")
	fakekamal.Program(t, "litestream", "env: "+leak+"\n{\"db_path\":\"/rails/storage/production.sqlite3\",\"txid\":7,\"replica_txid\":7}\n", 0)
	f := fakekamal.Setup(t,
		fakekamal.Rule{Match: "app version", Stdout: "App Host: 203.0.113.10\nold1111\n"},
		fakekamal.Rule{Match: "litestream sync", Exec: true},
		fakekamal.Rule{Match: "litestream ltx", Stdout: `[{"level":0,"max_txid":"0000000000000007","timestamp":"2026-01-01T00:00:00Z"}]`},
		fakekamal.Rule{Match: "server exec", Exec: true},
		fakekamal.Rule{Match: "db:migrate", Exit: 1, Stdout: "connecting with " + leak + "\nfailed\n"},
	)
	t.Setenv("BERTH_KAMAL", f.Bin)
	code, out, errs := runHook(t, a.Dir, "pre-deploy")
	if code != 1 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errs)
	}
	all := out + errs
	for k, v := range secrets {
		if strings.Contains(all, v) {
			t.Errorf("%s printed:\n%s", k, all)
		}
	}
	if strings.Contains(all, "abcdef123") {
		t.Errorf("literal secret from .kamal/secrets printed:\n%s", all)
	}
	if !strings.Contains(all, "[REDACTED]") {
		t.Errorf("nothing redacted? output:\n%s", all)
	}
}

func TestMaintenanceCommandLocal(t *testing.T) {
	a := testapp.New(t, testapp.Options{})
	t.Setenv("BERTH_TRANSPORT", "local")
	t.Setenv("BERTH_LOCAL_STORAGE", t.TempDir())
	t.Setenv("BERTH_LOCAL_HOME", t.TempDir())
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := cli.Maintenance(args, a.Dir, &out, &errb)
		return code, out.String() + errb.String()
	}
	if code, out := run("on", "--message", "Moving house", "--for", "20m"); code != 0 || !strings.Contains(out, "ends by itself") {
		t.Fatalf("%d %s", code, out)
	}
	code, out := run("status")
	if code != 0 || !strings.Contains(out, "maintenance until") || !strings.Contains(out, "Moving house") {
		t.Fatalf("%d %s", code, out)
	}
	if code, out := run("off"); code != 0 {
		t.Fatalf("%d %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(a.StateDir, "apps", "shop.json")); !os.IsNotExist(err) {
		t.Fatal("still on")
	}
	for _, bad := range [][]string{{"on", "--until", "tomorrow"}, {"on", "--for", "1m", "--until", "2030-01-01T00:00:00Z"}, {"sideways"}, {"off", "--message", "x"}} {
		if code, _ := run(bad...); code != 2 {
			t.Errorf("%q: exit %d", bad, code)
		}
	}
	if code, out := run("on", "--all"); code != 0 || !strings.Contains(out, "every app") {
		t.Fatalf("%d %s", code, out)
	}
	if _, err := os.Stat(filepath.Join(a.StateDir, "server.json")); err != nil {
		t.Fatal(err)
	}
}
