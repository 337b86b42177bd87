package maintenance_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wombatworkouts/berth/hooks/internal/fakekamal"
	"github.com/wombatworkouts/berth/hooks/maintenance"
	"github.com/wombatworkouts/berth/hooks/transport"
	"github.com/wombatworkouts/berth/plugin"
)

// Fast unit tests: a stand-in kamal runs the server
// scripts on this machine, with a temporary directory as the server.
func TestMain(m *testing.M) {
	fakekamal.MaybeMain()
	os.Exit(m.Run())
}

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type storeCase struct {
	name  string
	store func(t *testing.T) (maintenance.Store, maintenance.Paths)
}

func stores() []storeCase {
	return []storeCase{
		{"local", func(t *testing.T) (maintenance.Store, maintenance.Paths) {
			s, p := maintenance.NewStore(&transport.Local{}, t.TempDir())
			p.App = "shop"
			return s, p
		}},
		{"remote through kamal", func(t *testing.T) (maintenance.Store, maintenance.Paths) {
			f := fakekamal.Setup(t, fakekamal.Rule{Match: "server exec", Exec: true})
			s, p := maintenance.NewStore(&transport.Kamal{Bin: f.Bin}, t.TempDir())
			p.App = "shop"
			return s, p
		}},
	}
}

func TestOnOffStatus(t *testing.T) {
	for _, sc := range stores() {
		t.Run(sc.name, func(t *testing.T) {
			ctx := context.Background()
			s, p := sc.store(t)
			req := maintenance.Request{Store: s, Paths: p, Message: "Upgrading <db>", Until: now.Add(time.Hour), By: "alice@laptop", Now: now}
			f, _, err := maintenance.On(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			st, err := plugin.ParseState(data)
			if err != nil || st.Mode != plugin.ModeMaintenance || st.Message != "Upgrading <db>" || !st.Until.Equal(now.Add(time.Hour)) {
				t.Fatalf("%+v %v", st, err)
			}
			// No temporary files are left next to it.
			entries, _ := os.ReadDir(filepath.Dir(f))
			if len(entries) != 1 {
				t.Fatalf("leftovers: %v", entries)
			}
			rows := maintenance.Status(ctx, s, p, now)
			if !rows[0].Active || rows[1].Present || !strings.HasPrefix(rows[0].Effective(now), "maintenance until") {
				t.Fatalf("%+v", rows)
			}
			// Expired states read as live.
			if e := rows[0].Effective(now.Add(2 * time.Hour)); e == "" {
				t.Fatal("empty")
			}
			all := req
			all.All = true
			if _, _, err := maintenance.On(ctx, all); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(p.ServerFile()); err != nil {
				t.Fatal(err)
			}
			if _, err := maintenance.Off(ctx, req); err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(f); !os.IsNotExist(err) {
				t.Fatalf("still there: %v", err)
			}
			// Off twice is fine.
			if _, err := maintenance.Off(ctx, req); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestOnRejectsBadInput(t *testing.T) {
	s, p := maintenance.NewStore(&transport.Local{}, t.TempDir())
	p.App = "shop"
	for name, req := range map[string]maintenance.Request{
		"until in the past": {Store: s, Paths: p, Until: now.Add(-time.Minute), Now: now},
		"message too long":  {Store: s, Paths: p, Message: strings.Repeat("x", 1001), Now: now},
	} {
		if _, _, err := maintenance.On(context.Background(), req); err == nil {
			t.Errorf("%s: no error", name)
		}
		if _, err := os.Stat(p.AppFile()); !os.IsNotExist(err) {
			t.Errorf("%s: a file was written", name)
		}
	}
}

func TestDeployStates(t *testing.T) {
	operator := plugin.State{Mode: plugin.ModeMaintenance, Message: "manual", By: "alice@laptop", Until: now.Add(time.Hour)}
	tests := []struct {
		name     string
		before   *plugin.State
		wantKept bool
	}{
		{"no state before", nil, false},
		{"operator maintenance stays", &operator, true},
		{"expired operator maintenance is replaced", &plugin.State{Mode: plugin.ModeMaintenance, By: "alice", Until: now.Add(-time.Minute)}, false},
		{"left-over deploy state is replaced", &plugin.State{Mode: plugin.ModeDeploying, By: maintenance.DeployBy + " old", Until: now.Add(time.Minute)}, false},
	}
	for _, sc := range stores() {
		for _, tc := range tests {
			t.Run(sc.name+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				s, p := sc.store(t)
				if tc.before != nil {
					if err := s.Write(ctx, p.AppFile(), *tc.before); err != nil {
						t.Fatal(err)
					}
				}
				saved, err := maintenance.BeginDeploy(ctx, s, p, plugin.ModeMaintenance, "Back soon", "v2", 30*time.Minute, now)
				if err != nil {
					t.Fatal(err)
				}
				if saved.Kept != tc.wantKept {
					t.Fatalf("kept %v", saved.Kept)
				}
				st, ok, err := s.Read(ctx, p.AppFile())
				if err != nil || !ok {
					t.Fatal(err)
				}
				if !tc.wantKept && (st.Mode != plugin.ModeMaintenance || !st.Until.Equal(now.Add(30*time.Minute)) || st.By != maintenance.DeployBy+" v2") {
					t.Fatalf("%+v", st)
				}
				// Restore puts back exactly what was there.
				if err := maintenance.Restore(ctx, s, saved); err != nil {
					t.Fatal(err)
				}
				st, ok, err = s.Read(ctx, p.AppFile())
				if err != nil {
					t.Fatal(err)
				}
				if tc.before == nil && ok {
					t.Fatalf("file left: %+v", st)
				}
				if tc.before != nil && (st.Mode != tc.before.Mode || st.By != tc.before.By) {
					t.Fatalf("restored %+v, want %+v", st, *tc.before)
				}
				// EndDeploy clears only a deploy's state.
				if _, err := maintenance.BeginDeploy(ctx, s, p, plugin.ModeDeploying, "", "v2", time.Minute, now); err != nil {
					t.Fatal(err)
				}
				_, cleared, err := maintenance.EndDeploy(ctx, s, p)
				if err != nil || cleared == tc.wantKept {
					t.Fatalf("cleared %v %v", cleared, err)
				}
			})
		}
	}
}

// Post-deploy turns the maintenance a deploy set for its migrations into
// deploying, and leaves an operator's maintenance, a deploying state and an
// expired one as they are.
func TestEndMigrationMaintenance(t *testing.T) {
	tests := []struct {
		name        string
		before      *plugin.State
		wantChanged bool
		wantMode    plugin.Mode
	}{
		{"no state", nil, false, ""},
		{"the deploy's maintenance", &plugin.State{Mode: plugin.ModeMaintenance, Message: "migrating", By: maintenance.DeployBy + " v2", Until: now.Add(time.Hour)}, true, plugin.ModeDeploying},
		{"an operator's maintenance", &plugin.State{Mode: plugin.ModeMaintenance, By: "alice@laptop", Until: now.Add(time.Hour)}, false, plugin.ModeMaintenance},
		{"the deploy's deploying", &plugin.State{Mode: plugin.ModeDeploying, By: maintenance.DeployBy + " v2", Until: now.Add(time.Hour)}, false, plugin.ModeDeploying},
		{"an expired maintenance", &plugin.State{Mode: plugin.ModeMaintenance, By: maintenance.DeployBy + " v1", Until: now.Add(-time.Minute)}, false, plugin.ModeMaintenance},
	}
	for _, sc := range stores() {
		for _, tc := range tests {
			t.Run(sc.name+"/"+tc.name, func(t *testing.T) {
				ctx := context.Background()
				s, p := sc.store(t)
				if tc.before != nil {
					if err := s.Write(ctx, p.AppFile(), *tc.before); err != nil {
						t.Fatal(err)
					}
				}
				changed, err := maintenance.EndMigrationMaintenance(ctx, s, p, now)
				if err != nil || changed != tc.wantChanged {
					t.Fatalf("changed %v, err %v; want %v", changed, err, tc.wantChanged)
				}
				st, ok, err := s.Read(ctx, p.AppFile())
				if err != nil || ok != (tc.before != nil) {
					t.Fatalf("read: %v %v", ok, err)
				}
				if ok && (st.Mode != tc.wantMode || !st.Until.Equal(tc.before.Until) || st.By != tc.before.By) {
					t.Errorf("state %+v, want mode %s with the same until and author", st, tc.wantMode)
				}
			})
		}
	}
}

func TestRemoteReadsMalformedFileAsError(t *testing.T) {
	f := fakekamal.Setup(t, fakekamal.Rule{Match: "server exec", Exec: true})
	dir := t.TempDir()
	s, p := maintenance.NewStore(&transport.Kamal{Bin: f.Bin}, dir)
	p.App = "shop"
	os.MkdirAll(filepath.Join(dir, "apps"), 0o755)
	os.WriteFile(p.AppFile(), []byte(`{"mode":"sideways"}`), 0o644)
	if _, _, err := s.Read(context.Background(), p.AppFile()); err == nil || !strings.Contains(err.Error(), "sideways") {
		t.Fatalf("%v", err)
	}
}
