// End-to-end tests of the berth hooks with the local transport: a real
// `litestream replicate` daemon (the CLI built from the v0.5.18 module)
// replicating a real SQLite database under writes, to a file replica and to
// an in-process S3 (gofakes3). The local transport runs the same steps on
// this machine; e2e/kamal runs the hooks under the real Kamal 2.12.
package hooks_test

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/wombatworkouts/berth/e2e/hooks/lshelper"
	"github.com/wombatworkouts/berth/hooks/deploy"
	"github.com/wombatworkouts/berth/hooks/hookstest/testapp"
	"github.com/wombatworkouts/berth/hooks/kamalenv"
	"github.com/wombatworkouts/berth/hooks/maintenance"
	"github.com/wombatworkouts/berth/hooks/output"
	"github.com/wombatworkouts/berth/hooks/restorepoint"
	"github.com/wombatworkouts/berth/hooks/transport"
	"github.com/wombatworkouts/berth/plugin"
)

const (
	keyID  = "AKIAFAKEKEYID000"
	secret = "fake-secret-access-key-for-tests"
	v1     = "20240101000000"
	v2     = "20250101000000"
)

// fakeRails stands in for bin/rails in the new image: migrate:status lists
// v2 as pending until db:migrate (sqlite3 CLI) records it; FAIL_MIGRATE
// makes the migration fail.
const fakeRails = `#!/bin/sh
db="$BERTH_TEST_DB"
case "$1" in
  db:migrate:status)
    echo "database: $db"; echo; echo " Status   Migration ID    Migration Name"; echo "--------------------------------------------------"
    echo "   up     ` + v1 + `  Create items"
    if sqlite3 "$db" "SELECT 1 FROM schema_migrations WHERE version='` + v2 + `'" | grep -q 1; then s=up; else s=down; fi
    echo "  $s    ` + v2 + `  Add tags" ;;
  db:migrate)
    if [ -n "$FAIL_MIGRATE" ]; then echo "SQLite3::SQLException: duplicate column name: tags" >&2; exit 1; fi
    sqlite3 -cmd ".timeout 5000" "$db" "INSERT OR IGNORE INTO schema_migrations VALUES ('` + v2 + `')" && echo "== ` + v2 + ` AddTags: migrated" ;;
  *) echo "fake rails: $*" >&2; exit 2 ;;
esac
`

type fixture struct {
	t      *testing.T
	site   *lshelper.Site
	app    *testapp.App
	daemon *lshelper.Daemon
	writer *lshelper.Writer
	lookup func(string) (string, bool)
	out    bytes.Buffer
}

type fixtureOpts struct {
	s3       bool
	noSocket bool
	// badEndpoint makes the deployer's view of S3 unreachable.
	badEndpoint bool
}

func newFixture(t *testing.T, o fixtureOpts) *fixture {
	t.Helper()
	bin, err := lshelper.Binary()
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	f := &fixture{t: t, lookup: func(k string) (string, bool) {
		switch k {
		case "LITESTREAM_ACCESS_KEY_ID":
			return keyID, true
		case "LITESTREAM_SECRET_ACCESS_KEY":
			return secret, true
		case "RAILS_MASTER_KEY":
			// Kamal exports it to pre-deploy; berth writes the app's
			// env file from it before migrating.
			return "e2e-master-key", true
		}
		return "", false
	}}
	var r lshelper.Replica
	ao := testapp.Options{Policy: "when-migrations-pending"}
	if o.s3 {
		srv := httptest.NewServer(gofakes3.New(s3mem.New(), gofakes3.WithAutoBucket(true)).Server())
		t.Cleanup(srv.Close)
		r = lshelper.Replica{URL: "s3://backups/shop", Endpoint: srv.URL, KeyID: keyID, Secret: secret}
		ao.Replica, ao.Endpoint = "s3://backups/shop", srv.URL
		if o.badEndpoint {
			ao.Endpoint = "http://127.0.0.1:1"
		}
	} else {
		r = lshelper.Replica{Dir: filepath.Join(root, "backups")}
		ao.Replica = r.Dir
	}
	f.site, err = lshelper.NewSite(root, bin, r, !o.noSocket)
	if err != nil {
		t.Fatal(err)
	}
	f.app = testapp.New(t, ao)
	os.MkdirAll(filepath.Join(f.app.Dir, "bin"), 0o755)
	os.WriteFile(filepath.Join(f.app.Dir, "bin", "rails"), []byte(fakeRails), 0o755)
	if err := lshelper.Seed(f.site.DB, v1); err != nil {
		t.Fatal(err)
	}
	f.daemon, err = f.site.StartDaemon(!o.noSocket)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.daemon.Kill)
	f.writer, err = lshelper.StartWriter(f.site.DB, 200, 2*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if f.writer != nil {
			f.writer.Stop()
		}
	})
	time.Sleep(300 * time.Millisecond)
	return f
}

func (f *fixture) deps(command string) deploy.Deps {
	tr := f.site.Transport(f.app.Dir)
	tr.Env = []string{"BERTH_TEST_DB=" + f.site.DB}
	d := deploy.Deps{Manifest: f.app.Manifest, Transport: tr, Printer: output.New(&f.out), AppDir: f.app.Dir, Lookup: f.lookup,
		Env: &kamalenv.Env{Service: "shop", Version: "new2222", Hosts: []string{"127.0.0.1"}, Command: command}, Check: true, WorkDir: f.t.TempDir()}
	d.Timeouts = deploy.DefaultTimeouts
	d.Timeouts.RestorePoint.Sync = 20 * time.Second
	d.Timeouts.RestorePoint.Confirm = 5 * time.Second
	d.Timeouts.RestorePoint.Check = 30 * time.Second
	d.Timeouts.Migrate = 20 * time.Second
	return d
}

func (f *fixture) state() (plugin.State, bool) {
	st, ok, err := maintenance.Local{}.Read(context.Background(), plugin.AppStatePath(f.app.StateDir, "shop"))
	if err != nil {
		f.t.Fatal(err)
	}
	return st, ok
}

func (f *fixture) schemaHas(v string) bool {
	cur, err := restorepoint.SchemaVersionFile(context.Background(), f.site.DB)
	if err != nil {
		f.t.Fatal(err)
	}
	return cur >= v
}

func TestPreDeployRestorePointAndMigration(t *testing.T) {
	for _, s3 := range []bool{false, true} {
		name := "file replica"
		if s3 {
			name = "s3 replica (gofakes3)"
		}
		t.Run(name, func(t *testing.T) {
			f := newFixture(t, fixtureOpts{s3: s3})
			before := f.writer.Committed()
			if err := deploy.PreDeploy(context.Background(), f.deps("deploy")); err != nil {
				t.Fatalf("%v\n%s", err, f.out.String())
			}
			rec, ok := restorepoint.Latest(f.app.Dir, "shop", "new2222")
			if !ok || len(rec.Points) != 1 {
				t.Fatalf("no record\n%s", f.out.String())
			}
			p := rec.Points[0]
			if p.TXID == 0 || p.ReplicaTXID < p.TXID || !p.Checked || p.SchemaVersion != v1 {
				t.Fatalf("point %+v\n%s", p, f.out.String())
			}
			if before == 0 {
				t.Fatal("the writer wrote nothing")
			}
			st, ok := f.state()
			if !ok || st.Mode != plugin.ModeMaintenance {
				t.Fatalf("state %+v", st)
			}
			if !f.schemaHas(v2) {
				t.Fatal("migration did not run")
			}
			for _, want := range []string{"ok   litestream sync production.sqlite3", "ok   confirm replica", "ok   restore check", "matches the live database",
				"-txid " + p.TXIDHex, "ok   db:migrate"} {
				if !strings.Contains(f.out.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, f.out.String())
				}
			}
			t.Logf("\n%s", f.out.String())
		})
	}
}

// Each failure: its message, and nothing changed (no state file, no
// migration, no restore point recorded).
func TestPreDeployFailures(t *testing.T) {
	tests := []struct {
		name    string
		opts    fixtureOpts
		prepare func(t *testing.T, f *fixture, d *deploy.Deps)
		step    string
		want    string
		// migrated: the migration may have run (it failed); state must
		// still be restored.
	}{
		{"S3 unreachable", fixtureOpts{s3: true, badEndpoint: true}, nil, "restore point", "did not answer within"},
		{"socket disabled", fixtureOpts{noSocket: true}, nil, "restore point", "socket: enabled: true"},
		{"daemon stopped", fixtureOpts{}, func(t *testing.T, f *fixture, d *deploy.Deps) { f.daemon.Stop() }, "restore point", "litestream control socket unreachable"},
		{"replica behind", fixtureOpts{}, func(t *testing.T, f *fixture, d *deploy.Deps) {
			// The daemon now replicates somewhere else: the replica the
			// manifest names stops advancing while the database moves on.
			f.daemon.Stop()
			f.site.WriteConfig(lshelper.Replica{Dir: filepath.Join(t.TempDir(), "elsewhere")}, true)
			var err error
			if f.daemon, err = f.site.StartDaemon(true); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(f.daemon.Kill)
			time.Sleep(300 * time.Millisecond)
		}, "restore point", "the replica is behind"},
		{"migration fails", fixtureOpts{}, func(t *testing.T, f *fixture, d *deploy.Deps) {
			l := d.Transport.(*transport.Local)
			l.Env = append(l.Env, "FAIL_MIGRATE=1")
		}, "db:migrate", "duplicate column name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.opts)
			d := f.deps("deploy")
			if tc.prepare != nil {
				tc.prepare(t, f, &d)
			}
			start := time.Now()
			err := deploy.PreDeploy(context.Background(), d)
			var fail *deploy.Failure
			if !errors.As(err, &fail) || fail.Step != tc.step {
				t.Fatalf("err %v, want a failure in %s\n%s", err, tc.step, f.out.String())
			}
			var report bytes.Buffer
			fail.Report(&report)
			if !strings.Contains(report.String(), tc.want) || !strings.Contains(report.String(), "Not changed:") || !strings.Contains(report.String(), "What to do:") {
				t.Fatalf("report lacks %q:\n%s\n%s", tc.want, report.String(), f.out.String())
			}
			if _, ok := f.state(); ok {
				t.Fatal("state file left")
			}
			if tc.step == "restore point" {
				if f.schemaHas(v2) {
					t.Fatal("migrated without a restore point")
				}
				if _, ok := restorepoint.Latest(f.app.Dir, "shop", ""); ok {
					t.Fatal("a restore point was recorded")
				}
			}
			t.Logf("%s after %s:\n%s", tc.name, time.Since(start).Round(time.Millisecond), report.String())
		})
	}
}

func TestRollbackTakesRestorePointWithoutMigrating(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	if err := deploy.PreDeploy(context.Background(), f.deps("rollback")); err != nil {
		t.Fatalf("%v\n%s", err, f.out.String())
	}
	if f.schemaHas(v2) {
		t.Fatal("rollback migrated")
	}
	if _, ok := restorepoint.Latest(f.app.Dir, "shop", "new2222"); !ok {
		t.Fatal("no restore point")
	}
	if st, _ := f.state(); st.Mode != plugin.ModeDeploying {
		t.Fatalf("state %+v", st)
	}
}

func TestFirstSetupWithoutLitestream(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.daemon.Stop()
	if err := deploy.PreDeploy(context.Background(), f.deps("setup")); err != nil {
		t.Fatalf("%v\n%s", err, f.out.String())
	}
	if !strings.Contains(f.out.String(), "skip restore point: first `kamal setup`") {
		t.Fatalf("%s", f.out.String())
	}
}
