package deploy_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wombatworkouts/berth/hooks/deploy"
	"github.com/wombatworkouts/berth/hooks/hookstest/testapp"
	"github.com/wombatworkouts/berth/hooks/internal/fakekamal"
	"github.com/wombatworkouts/berth/hooks/kamalenv"
	"github.com/wombatworkouts/berth/hooks/maintenance"
	"github.com/wombatworkouts/berth/hooks/output"
	"github.com/wombatworkouts/berth/hooks/restorepoint"
	"github.com/wombatworkouts/berth/hooks/transport"
	"github.com/wombatworkouts/berth/plugin"
)

// Fast unit tests: a stand-in kamal records argv, plays
// recorded outputs and failures, and runs server scripts on this machine.
func TestMain(m *testing.M) {
	fakekamal.MaybeMain()
	// The accessory's litestream, for the sync scripts ruleSync runs here.
	bin, err := os.MkdirTemp("", "berth-deploy-test-")
	if err == nil {
		err = fakekamal.WriteProgram(bin, "litestream", `{"db_path":"/rails/storage/production.sqlite3","txid":42,"replica_txid":42}`+"\n", 0)
	}
	if err != nil {
		panic(err)
	}
	os.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	code := m.Run()
	os.RemoveAll(bin)
	os.Exit(code)
}

var (
	ruleVersion = fakekamal.Rule{Match: "app version", Stdout: "App Host: 203.0.113.10\nold1111\n"}
	ruleSync    = fakekamal.Rule{Match: "litestream sync", Exec: true}
	ruleLTX     = fakekamal.Rule{Match: "litestream ltx", Stdout: `[{"level":0,"min_txid":"000000000000002a","max_txid":"000000000000002a","timestamp":"2026-01-01T00:00:00Z"}]`}
	rulePending = fakekamal.Rule{Match: "db:migrate:status", Stdout: " Status   Migration ID    Migration Name\n   up     20240101000000  Create users\n  down    20250101000000  Add email\n"}
	ruleNone    = fakekamal.Rule{Match: "db:migrate:status", Stdout: " Status   Migration ID    Migration Name\n   up     20240101000000  Create users\n"}
	ruleMigrate = fakekamal.Rule{Match: "db:migrate", Stdout: "== 20250101000000 AddEmail: migrated\n"}
	ruleServer  = fakekamal.Rule{Match: "server exec", Exec: true}
)

func env(command string) *kamalenv.Env {
	return &kamalenv.Env{Service: "shop", Version: "new2222", Hosts: []string{"203.0.113.10"}, Command: command, Destination: "production"}
}

type run struct {
	calls [][]string
	out   string
	err   error
	app   *testapp.App
}

func (r run) joined() string {
	var b strings.Builder
	for _, c := range r.calls {
		b.WriteString(strings.Join(c, " ") + "\n")
	}
	return b.String()
}

func (r run) state(t *testing.T) (plugin.State, bool) {
	st, ok, err := maintenance.Local{}.Read(context.Background(), r.app.StateDir+"/apps/shop.json")
	if err != nil {
		t.Fatal(err)
	}
	return st, ok
}

// secrets is the hook's environment as Kamal exports .kamal/secrets to it.
func secrets(k string) (string, bool) {
	v, ok := map[string]string{"RAILS_MASTER_KEY": "new-master-key\"2", "KAMAL_REGISTRY_PASSWORD": "reg"}[k]
	return v, ok
}

func preDeploy(t *testing.T, policy, command string, rules ...fakekamal.Rule) run {
	t.Helper()
	a := testapp.New(t, testapp.Options{Policy: policy, Replica: "/srv/backups/shop"})
	f := fakekamal.Setup(t, rules...)
	var buf bytes.Buffer
	d := deploy.Deps{Manifest: a.Manifest, Env: env(command), Transport: &transport.Kamal{Bin: f.Bin, Dir: a.Dir, Destination: "production", Role: "web"},
		Printer: output.New(&buf), AppDir: a.Dir, Now: func() time.Time { return time.Now() }, Lookup: secrets}
	d.Timeouts = deploy.DefaultTimeouts
	d.Timeouts.Migrate = 3 * time.Second
	err := deploy.PreDeploy(context.Background(), d)
	if err != nil {
		var f *deploy.Failure
		if errors.As(err, &f) {
			f.Report(&buf)
		}
	}
	return run{calls: f.Calls(t), out: buf.String(), err: err, app: a}
}

func TestPreDeployPendingMigrationsMaintenance(t *testing.T) {
	r := preDeploy(t, "when-migrations-pending", "deploy", ruleVersion, ruleSync, ruleLTX, rulePending, ruleMigrate, ruleServer)
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.out)
	}
	j := r.joined()
	for _, want := range []string{
		"app version -H -d production",
		"accessory exec litestream --reuse -H -d production sh -c 'echo; echo @@berth-begin-",
		"litestream sync -wait -json -timeout 120 -socket /rails/storage/.litestream.sock /rails/storage/production.sqlite3 2>&1",
		"accessory exec litestream --reuse -H -d production litestream ltx -json -level all -config /etc/litestream.yml /rails/storage/production.sqlite3",
		"server exec -i -H -d production",
		"app exec -p -r web -H -d production --version=new2222 bin/rails db:migrate:status",
		"app exec -p -r web -H -d production --version=new2222 bin/rails db:migrate\n",
	} {
		if !strings.Contains(j, want) {
			t.Errorf("missing call %q in\n%s", want, j)
		}
	}
	// Order: sync, then this deploy's env file, then the migration.
	if strings.Index(j, "litestream sync") > strings.Index(j, "db:migrate\n") {
		t.Error("migrated before the restore point")
	}
	if strings.Index(j, "server exec -i") > strings.Index(j, "db:migrate:status") {
		t.Error("asked the migration status before the env file was written")
	}
	// The fake kamal runs server scripts in the app directory, which plays
	// the SSH user's home here.
	envFile, err := os.ReadFile(filepath.Join(r.app.Dir, ".kamal/apps/shop-production/env/roles/web.env"))
	if err != nil || string(envFile) != "RAILS_MASTER_KEY=new-master-key\"2\n" {
		t.Fatalf("env file %q, %v", envFile, err)
	}
	if strings.Contains(r.out+j, "new-master-key") {
		t.Fatal("the secret's value reached a command line or the output")
	}
	st, ok := r.state(t)
	if !ok || st.Mode != plugin.ModeMaintenance || st.Message != "Back soon." || st.Until.IsZero() {
		t.Fatalf("state %+v", st)
	}
	for _, want := range []string{"TXID 000000000000002a", "kamal accessory exec litestream -d production 'restore -config /etc/litestream.yml -integrity-check full -txid 000000000000002a"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("output lacks %q:\n%s", want, r.out)
		}
	}
	rec, ok := restorepoint.Latest(r.app.Dir, "shop", "new2222")
	if !ok || rec.PreviousVersion != "old1111" || rec.Points[0].TXID != 42 {
		t.Fatalf("record %+v", rec)
	}
}

func TestPreDeployVariants(t *testing.T) {
	failMigrate := fakekamal.Rule{Match: "db:migrate", Exit: 1, Stdout: "rails aborted!\nStandardError: An error has occurred, this and all later migrations canceled:\nSQLite3::SQLException: duplicate column name: email\n"}
	behind := fakekamal.Rule{Match: "litestream ltx", Stdout: `[{"level":0,"max_txid":"0000000000000028","timestamp":"2026-01-01T00:00:00Z"}]`}
	noContainer := fakekamal.Rule{Match: "litestream sync", Exit: 1, Stdout: "Error response from daemon: No such container: shop-litestream\n"}
	tests := []struct {
		name      string
		policy    string
		command   string
		rules     []fakekamal.Rule
		wantErr   string
		wantOut   []string
		noCall    []string
		wantMode  plugin.Mode // "" = no state file
		wantCalls []string
	}{
		{"no pending - deploying without migrate", "when-migrations-pending", "deploy", []fakekamal.Rule{ruleVersion, ruleSync, ruleLTX, ruleNone, ruleMigrate, ruleServer},
			"", []string{"skip db:migrate: no pending migrations"}, []string{"db:migrate\n"}, plugin.ModeDeploying, nil},
		{"policy never migrates in deploying mode", "never", "deploy", []fakekamal.Rule{ruleVersion, ruleSync, ruleLTX, ruleMigrate, ruleServer},
			"", nil, []string{"db:migrate:status"}, plugin.ModeDeploying, []string{"--version=new2222 bin/rails db:migrate"}},
		{"policy always", "always", "deploy", []fakekamal.Rule{ruleVersion, ruleSync, ruleLTX, ruleMigrate, ruleServer},
			"", nil, []string{"db:migrate:status"}, plugin.ModeMaintenance, nil},
		{"rollback - restore point without migration", "always", "rollback", []fakekamal.Rule{ruleVersion, ruleSync, ruleLTX, ruleServer},
			"", []string{"skip db:migrate: kamal rollback"}, []string{"app exec"}, plugin.ModeDeploying, []string{"litestream sync"}},
		{"migration fails - maintenance put back", "when-migrations-pending", "deploy", []fakekamal.Rule{ruleVersion, ruleSync, ruleLTX, rulePending, failMigrate, ruleServer},
			"db:migrate", []string{"duplicate column name", "Not changed:", "keeps serving", "back to what it was", "restore -config"}, nil, "", nil},
		{"replica behind - nothing changed", "when-migrations-pending", "deploy", []fakekamal.Rule{ruleVersion, ruleSync, behind, ruleServer},
			"restore point", []string{"replica is behind", "Not changed:", "What to do:"}, []string{"app exec", "server exec"}, "", nil},
		{"accessory missing on a deploy is an error", "never", "deploy", []fakekamal.Rule{ruleVersion, noContainer, ruleServer},
			"restore point", []string{"kamal accessory boot litestream -d production"}, []string{"app exec", "server exec"}, "", nil},
		{"first setup skips the restore point and migrations", "always", "setup", []fakekamal.Rule{noContainer, ruleServer},
			"", []string{"skip restore point: first `kamal setup`", "skip db:migrate: first `kamal setup`"}, []string{"app exec", "app version"}, plugin.ModeDeploying, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := preDeploy(t, tc.policy, tc.command, tc.rules...)
			if tc.wantErr == "" && r.err != nil {
				t.Fatalf("%v\n%s", r.err, r.out)
			}
			if tc.wantErr != "" {
				var f *deploy.Failure
				if !errors.As(r.err, &f) || f.Step != tc.wantErr {
					t.Fatalf("err %v, want failure in %q\n%s", r.err, tc.wantErr, r.out)
				}
			}
			for _, w := range tc.wantOut {
				if !strings.Contains(r.out, w) {
					t.Errorf("output lacks %q:\n%s", w, r.out)
				}
			}
			if tc.wantErr == "" && strings.Contains(r.out, "FAIL") {
				t.Errorf("a pre-deploy that succeeded printed a FAIL line:\n%s", r.out)
			}
			j := r.joined()
			for _, n := range tc.noCall {
				if strings.Contains(j, n) {
					t.Errorf("unexpected call %q in\n%s", n, j)
				}
			}
			for _, w := range tc.wantCalls {
				if !strings.Contains(j, w) {
					t.Errorf("missing call %q in\n%s", w, j)
				}
			}
			st, ok := r.state(t)
			if tc.wantMode == "" && ok {
				t.Errorf("state file left: %+v", st)
			}
			if tc.wantMode != "" && (!ok || st.Mode != tc.wantMode) {
				t.Errorf("state %+v (present %v), want %s", st, ok, tc.wantMode)
			}
		})
	}
}

func TestPreDeployMigrationDeadline(t *testing.T) {
	slow := fakekamal.Rule{Match: "db:migrate", Sleep: 20 * time.Second}
	start := time.Now()
	r := preDeploy(t, "always", "deploy", ruleVersion, ruleSync, ruleLTX, slow, ruleServer)
	if time.Since(start) > 15*time.Second {
		t.Fatalf("took %s", time.Since(start))
	}
	if r.err == nil || !errors.Is(r.err, transport.ErrTimeout) {
		t.Fatalf("%v", r.err)
	}
	if _, ok := r.state(t); ok {
		t.Fatal("maintenance left on after a timed-out migration")
	}
}

// After `kamal app boot` without --version the running container is named
// after "latest"; the rollback command must name the version behind it, or
// none, never `kamal rollback latest` (that boots the new image again).
func TestPreDeployPreviousVersionAfterAppBoot(t *testing.T) {
	bootedLatest := fakekamal.Rule{Match: "app version", Stdout: "App Host: 203.0.113.10\nlatest\n"}
	tests := []struct {
		name, tags, want string
	}{
		{"tag behind latest", "ghcr.io/example/shop:latest\nghcr.io/example/shop:abc1234\n", "abc1234"},
		{"registry with a port", "127.0.0.1:5000/example/shop:latest\n127.0.0.1:5000/example/shop:v42\n", "v42"},
		{"only latest", "ghcr.io/example/shop:latest\n", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The fake kamal runs server scripts with sh here; this docker
			// answers the image's tags for the container <app>-web-production-latest.
			bin := t.TempDir()
			script := "#!/bin/sh\ncase \"$*\" in\n" +
				"  *'inspect -f {{.Image}} shop-web-production-latest'*) echo sha256:0123;;\n" +
				"  *'image inspect'*) printf '" + strings.ReplaceAll(tt.tags, "\n", `\n`) + "';;\n" +
				"  *) exit 1;;\nesac\n"
			if err := os.WriteFile(filepath.Join(bin, "docker"), []byte(script), 0o755); err != nil {
				t.Fatal(err)
			}
			t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
			r := preDeploy(t, "never", "deploy", bootedLatest, ruleSync, ruleLTX, ruleMigrate, ruleServer)
			if r.err != nil {
				t.Fatalf("%v\n%s", r.err, r.out)
			}
			rec, ok := restorepoint.Latest(r.app.Dir, "shop", "new2222")
			if !ok || rec.PreviousVersion != tt.want {
				t.Fatalf("previous version %q, want %q\n%s", rec.PreviousVersion, tt.want, r.out)
			}
			if tt.want == "" && !strings.Contains(r.out, "no running version of shop is known") {
				t.Fatalf("no notice that the version is unknown:\n%s", r.out)
			}
		})
	}
}
