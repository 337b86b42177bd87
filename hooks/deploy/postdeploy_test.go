package deploy_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/wombatworkouts/berth/hooks/deploy"
	"github.com/wombatworkouts/berth/hooks/hookstest/testapp"
	"github.com/wombatworkouts/berth/hooks/internal/fakekamal"
	"github.com/wombatworkouts/berth/hooks/internal/testcerts"
	"github.com/wombatworkouts/berth/hooks/kamalenv"
	"github.com/wombatworkouts/berth/hooks/maintenance"
	"github.com/wombatworkouts/berth/hooks/output"
	"github.com/wombatworkouts/berth/hooks/restorepoint"
	"github.com/wombatworkouts/berth/hooks/smoke"
	"github.com/wombatworkouts/berth/hooks/transport"
	"github.com/wombatworkouts/berth/plugin"
)

// The post-deploy and app-boot tests use version v2 (previous v1) and the
// manifest of testapp: shop.example.org and www.shop.example.org (www
// redirects to the apex), plus one configured check of the home page.
const (
	newVersion  = "v2"
	prevVersion = "v1"
	homeText    = "Welcome to the Shop"
)

var shopNames = []string{"shop.example.org", "www.shop.example.org"}

// smokeExtra adds a configured check, so that a wrong status and a wrong
// body can fail one check without touching the certificate checks.
const smokeExtra = "smoke:\n  checks:\n    - path: /\n      contains: " + homeText + "\n"

// hookEnv builds the Env the way the berth program does, from KAMAL_*.
func hookEnv(t *testing.T, hook, command, subcommand string) *kamalenv.Env {
	t.Helper()
	vars := map[string]string{
		"KAMAL_SERVICE":     "shop",
		"KAMAL_VERSION":     newVersion,
		"KAMAL_HOSTS":       "203.0.113.10",
		"KAMAL_DESTINATION": "production",
		"KAMAL_PERFORMER":   "deployer",
		"KAMAL_COMMAND":     command,
		"KAMAL_SUBCOMMAND":  subcommand,
	}
	e, err := kamalenv.Parse(hook, func(k string) (string, bool) { v, ok := vars[k]; return v, ok })
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func stateFile(a *testapp.App) string { return filepath.Join(a.StateDir, "apps", "shop.json") }

func readState(t *testing.T, a *testapp.App) (plugin.State, bool) {
	t.Helper()
	st, ok, err := maintenance.Local{}.Read(context.Background(), stateFile(a))
	if err != nil {
		t.Fatal(err)
	}
	return st, ok
}

func writeState(t *testing.T, a *testapp.App, st plugin.State) {
	t.Helper()
	if err := (maintenance.Local{}).Write(context.Background(), stateFile(a), st); err != nil {
		t.Fatal(err)
	}
}

// sameState compares what matters of two states (times by instant).
func sameState(a, b plugin.State) bool {
	return a.Mode == b.Mode && a.Message == b.Message && a.By == b.By && a.Until.Equal(b.Until) && a.At.Equal(b.At)
}

// seen is the app's state file as one https request found it.
type seen struct {
	present bool
	state   plugin.State
}

// site is a local stand-in for Traefik and the berth plugin in front of
// the app: https on one loopback port with the given certificate, plain
// http (redirect to https) on another. With gate set it answers the
// maintenance page (503) while the app's state file says an active
// maintenance, the way the plugin does for visitors; otherwise the app.
type site struct {
	httpsAddr, httpAddr string

	mu   sync.Mutex
	seen []seen
}

func (s *site) requests() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]seen(nil), s.seen...)
}

func startSite(t *testing.T, a *testapp.App, cert tls.Certificate, gate bool, app http.HandlerFunc) *site {
	t.Helper()
	s := &site{}
	quiet := log.New(io.Discard, "", 0) // failed handshakes are expected in some cases
	hs := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		st, ok, err := maintenance.Local{}.Read(r.Context(), stateFile(a))
		if err != nil {
			http.Error(w, "state file unreadable: "+err.Error(), http.StatusInternalServerError)
			return
		}
		s.mu.Lock()
		s.seen = append(s.seen, seen{present: ok, state: st})
		s.mu.Unlock()
		if gate && ok && st.Mode == plugin.ModeMaintenance && maintenance.Active(st, time.Now()) {
			w.Header().Set("Retry-After", "30")
			http.Error(w, "Down for maintenance. "+st.Message, http.StatusServiceUnavailable)
			return
		}
		app(w, r)
	}))
	hs.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	hs.Config.ErrorLog = quiet
	hs.StartTLS()
	t.Cleanup(hs.Close)
	h := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://"+r.Host+r.URL.RequestURI(), http.StatusMovedPermanently)
	}))
	h.Config.ErrorLog = quiet
	h.Start()
	t.Cleanup(h.Close)
	s.httpsAddr = strings.TrimPrefix(hs.URL, "https://")
	s.httpAddr = strings.TrimPrefix(h.URL, "http://")
	return s
}

// shopApp is the new version working as it should.
func shopApp(w http.ResponseWriter, r *http.Request) {
	if r.Host == "www.shop.example.org" {
		http.Redirect(w, r, "https://shop.example.org"+r.URL.RequestURI(), http.StatusMovedPermanently)
		return
	}
	switch r.URL.Path {
	case "/up":
		fmt.Fprint(w, "ok")
	case "/":
		fmt.Fprint(w, "<h1>"+homeText+"</h1>")
	default:
		http.NotFound(w, r)
	}
}

// brokenHome breaks only the configured check of the home page.
func brokenHome(status int, body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Host == "shop.example.org" && r.URL.Path == "/" {
			w.WriteHeader(status)
			fmt.Fprint(w, body)
			return
		}
		shopApp(w, r)
	}
}

type postRun struct {
	err    error
	out    string // the printer's output (stdout of the hook)
	report string // Failure.Report (stderr of the hook), "" without one
	calls  [][]string
}

// postDeploy runs PostDeploy against s with the stand-in kamal running the
// state-file scripts on this machine (the remote store, as in a real
// deploy).
func postDeploy(t *testing.T, a *testapp.App, s *site, ca *testcerts.CA) postRun {
	t.Helper()
	f := fakekamal.Setup(t, ruleServer)
	var buf bytes.Buffer
	d := deploy.Deps{Manifest: a.Manifest, Env: hookEnv(t, kamalenv.PostDeploy, "deploy", ""),
		Transport: &transport.Kamal{Bin: f.Bin, Dir: a.Dir, Destination: "production"},
		Printer:   output.New(&buf), AppDir: a.Dir, Now: time.Now,
		Smoke: smoke.Options{HTTPSAddr: s.httpsAddr, HTTPAddr: s.httpAddr, RootCAs: ca.Pool,
			Attempts: 2, Interval: 20 * time.Millisecond, Timeout: 5 * time.Second}}
	d.Timeouts = deploy.DefaultTimeouts
	d.Timeouts.State = 30 * time.Second
	d.Timeouts.Smoke = 30 * time.Second
	start := time.Now()
	err := deploy.PostDeploy(context.Background(), d)
	if el := time.Since(start); el > 45*time.Second {
		t.Fatalf("post-deploy took %s", el)
	}
	r := postRun{err: err, out: buf.String(), calls: f.Calls(t)}
	var fl *deploy.Failure
	if errors.As(err, &fl) {
		var rb bytes.Buffer
		fl.Report(&rb)
		r.report = rb.String()
	}
	return r
}

// stepLines returns the output lines that report step name (ok or FAIL).
func stepLines(out, name string) []string {
	var ls []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "berth: ok   "+name+" (") || strings.HasPrefix(l, "berth: FAIL "+name+" (") {
			ls = append(ls, l)
		}
	}
	return ls
}

func oneStep(t *testing.T, out, name, status, detail string) {
	t.Helper()
	ls := stepLines(out, name)
	if len(ls) != 1 {
		t.Errorf("%d lines for step %q, want 1:\n%s", len(ls), name, out)
		return
	}
	if !strings.HasPrefix(ls[0], "berth: "+status) || !strings.Contains(ls[0], detail) {
		t.Errorf("step line %q, want %s ... %q", ls[0], status, detail)
	}
}

// tableRow returns the smoke table's row of check name.
func tableRow(out, name string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, name+" ") {
			return l
		}
	}
	return ""
}

var allChecks = []string{
	"https+certificate shop.example.org",
	"http->https shop.example.org",
	"https+certificate www.shop.example.org",
	"http->https www.shop.example.org",
	`GET shop.example.org/ -> 200 containing "` + homeText + `"`,
}

// The deploy put the app into maintenance for its migrations: post-deploy
// must turn that into deploying before the checks (visitors, and the
// checks, get the new version instead of the 503 page), then go live.
func TestPostDeployPassesAndGoesLive(t *testing.T) {
	now := time.Now()
	a := testapp.New(t, testapp.Options{Extra: smokeExtra})
	ca := testcerts.NewCA(t, now)
	good := ca.Leaf(t, shopNames, now.Add(-24*time.Hour), now.Add(80*24*time.Hour), false)
	s := startSite(t, a, good, true, shopApp)
	written := plugin.State{Mode: plugin.ModeMaintenance, Message: "Back soon.", By: maintenance.DeployBy + " " + newVersion,
		Until: now.Add(30 * time.Minute).UTC(), At: now.Add(-time.Minute).UTC()}
	writeState(t, a, written)

	r := postDeploy(t, a, s, ca)
	if r.err != nil {
		t.Fatalf("%v\n%s\n%s", r.err, r.out, r.report)
	}

	reqs := s.requests()
	if len(reqs) < 3 { // the apex, www and the home page checks
		t.Fatalf("the checks made %d https requests: %+v\n%s", len(reqs), reqs, r.out)
	}
	for _, q := range reqs {
		if !q.present || q.state.Mode != plugin.ModeDeploying || q.state.By != written.By || q.state.Message != "" || !q.state.Until.Equal(written.Until) {
			t.Fatalf("a check ran while the state file was %+v (present %v), want deploying by %q until %s",
				q.state, q.present, written.By, written.Until)
		}
	}
	if st, ok := readState(t, a); ok {
		t.Fatalf("state file left after a passing post-deploy: %+v", st)
	}

	if !strings.HasPrefix(r.out, "berth: post-deploy shop version v2\n") {
		t.Errorf("first line:\n%s", r.out)
	}
	oneStep(t, r.out, "maintenance -> deploying", "ok", "the migrations are done and v2 serves")
	oneStep(t, r.out, "smoke checks", "ok", "5 of 5 passed")
	oneStep(t, r.out, "back to live", "ok", stateFile(a)+" removed")
	if strings.Contains(r.out, "FAIL") {
		t.Errorf("a FAIL in a passing run:\n%s", r.out)
	}
	// Steps in order, the table between the checks and going live.
	iMaint, iSmoke := strings.Index(r.out, "maintenance -> deploying"), strings.Index(r.out, "ok   smoke checks")
	iTable, iLive := strings.Index(r.out, "check "), strings.Index(r.out, "ok   back to live")
	if !(iMaint < iSmoke && iSmoke < iTable && iTable < iLive) {
		t.Errorf("steps out of order:\n%s", r.out)
	}
	for _, c := range allChecks {
		row := tableRow(r.out, c)
		if row == "" || !strings.Contains(row, " ok ") {
			t.Errorf("table row for %q: %q\n%s", c, row, r.out)
		}
	}
}

// A deploy without migrations (deploying already) passes too and goes
// live; the first step has nothing to change.
func TestPostDeployFromDeploying(t *testing.T) {
	now := time.Now()
	a := testapp.New(t, testapp.Options{Extra: smokeExtra})
	ca := testcerts.NewCA(t, now)
	s := startSite(t, a, ca.Leaf(t, shopNames, now.Add(-time.Hour), now.Add(60*24*time.Hour), false), true, shopApp)
	writeState(t, a, plugin.State{Mode: plugin.ModeDeploying, By: maintenance.DeployBy + " " + newVersion, Until: now.Add(30 * time.Minute)})

	r := postDeploy(t, a, s, ca)
	if r.err != nil {
		t.Fatalf("%v\n%s\n%s", r.err, r.out, r.report)
	}
	oneStep(t, r.out, "maintenance -> deploying", "ok", "nothing to change")
	oneStep(t, r.out, "back to live", "ok", "removed")
	if st, ok := readState(t, a); ok {
		t.Fatalf("state file left: %+v", st)
	}
}

func TestPostDeploySmokeFailure(t *testing.T) {
	now := time.Now()
	day := 24 * time.Hour
	ca := testcerts.NewCA(t, now)
	good := ca.Leaf(t, shopNames, now.Add(-day), now.Add(80*day), false)
	expired := ca.Leaf(t, shopNames, now.Add(-100*day), now.Add(-day), false)
	selfSigned := ca.Leaf(t, shopNames, now.Add(-day), now.Add(80*day), true)
	by := maintenance.DeployBy + " " + newVersion
	until := now.Add(25 * time.Minute).UTC()

	const kamalRestore = "kamal accessory exec litestream -d production 'restore -config /etc/litestream.yml -integrity-check full -txid 000000000000002a -o /rails/storage/production.sqlite3.restored-2a'"
	const queueRestore = "kamal accessory exec litestream -d production 'restore -config /etc/litestream.yml -integrity-check full -txid 0000000000000007 -o /rails/storage/production_queue.sqlite3.restored-7'"
	recordAt := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	records := []restorepoint.Record{
		// An older deploy's record: not the one for v2.
		{At: recordAt.Add(-time.Hour), App: "shop", Destination: "production", Version: prevVersion, PreviousVersion: "v0",
			Points: []restorepoint.Point{{DB: "production.sqlite3", TXID: 9, TXIDHex: "0000000000000009", KamalCommand: "kamal restore-v0-marker"}}},
		{At: recordAt, App: "shop", Destination: "production", Version: newVersion, PreviousVersion: prevVersion, Command: "deploy",
			Points: []restorepoint.Point{
				{DB: "production.sqlite3", TXID: 42, TXIDHex: "000000000000002a", KamalCommand: kamalRestore, RestoreCommand: "litestream restore -txid 000000000000002a"},
				{DB: "production_queue.sqlite3", TXID: 7, TXIDHex: "0000000000000007", KamalCommand: queueRestore},
			}},
		// Another app in the same log.
		{At: recordAt.Add(time.Minute), App: "blog", Version: newVersion, PreviousVersion: "blog-old",
			Points: []restorepoint.Point{{DB: "production.sqlite3", TXID: 1, TXIDHex: "0000000000000001"}}},
	}

	tests := []struct {
		name     string
		cert     tls.Certificate
		app      http.HandlerFunc
		start    plugin.Mode // the state the deploy wrote
		record   bool
		failing  map[string]string // check -> detail fragment; the others pass
		passText string
	}{
		{"wrong status", good, brokenHome(http.StatusInternalServerError, "We're sorry, but something went wrong"), plugin.ModeMaintenance, true,
			map[string]string{allChecks[4]: "answered 500, want 200"}, "4 of 5 passed"},
		{"wrong body", good, brokenHome(http.StatusOK, "<h1>Hello from Rails</h1>"), plugin.ModeDeploying, true,
			map[string]string{allChecks[4]: "does not contain"}, "4 of 5 passed"},
		{"expired certificate", expired, shopApp, plugin.ModeMaintenance, true,
			map[string]string{allChecks[0]: "expired on", allChecks[2]: "expired on", allChecks[4]: "expired on"}, "2 of 5 passed"},
		{"self-signed certificate", selfSigned, shopApp, plugin.ModeDeploying, true,
			map[string]string{allChecks[0]: "not trusted", allChecks[2]: "not trusted", allChecks[4]: "not trusted"}, "2 of 5 passed"},
		{"no restore point record", good, brokenHome(http.StatusNotFound, "gone"), plugin.ModeDeploying, false,
			map[string]string{allChecks[4]: "answered 404, want 200"}, "4 of 5 passed"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := testapp.New(t, testapp.Options{Extra: smokeExtra})
			if tc.record {
				for _, rec := range records {
					if _, err := restorepoint.Append(a.Dir, rec); err != nil {
						t.Fatal(err)
					}
				}
			}
			msg := ""
			if tc.start == plugin.ModeMaintenance {
				msg = "Back soon."
			}
			writeState(t, a, plugin.State{Mode: tc.start, Message: msg, By: by, Until: until, At: now.Add(-2 * time.Minute).UTC()})
			s := startSite(t, a, tc.cert, true, tc.app)

			r := postDeploy(t, a, s, ca)

			var f *deploy.Failure
			if !errors.As(r.err, &f) {
				t.Fatalf("err %v (%T), want a *deploy.Failure\n%s", r.err, r.err, r.out)
			}
			if f.Step != "post-deploy smoke checks" || !errors.Is(r.err, deploy.ErrSmoke) {
				t.Fatalf("failure %q: %v", f.Step, r.err)
			}

			// The printer: one line per step, then the table.
			oneStep(t, r.out, "smoke checks", "FAIL", tc.passText)
			if len(stepLines(r.out, "maintenance -> deploying")) != 1 {
				t.Errorf("maintenance -> deploying not reported once:\n%s", r.out)
			}
			if ls := stepLines(r.out, "back to live"); len(ls) != 0 {
				t.Errorf("went live after failed checks: %q", ls)
			}
			if !strings.Contains(r.out, "check ") || !strings.Contains(r.out, "result") || !strings.Contains(r.out, "detail") {
				t.Errorf("no table header:\n%s", r.out)
			}
			for _, c := range allChecks {
				row := tableRow(r.out, c)
				frag, bad := tc.failing[c]
				switch {
				case row == "":
					t.Errorf("no table row for %q:\n%s", c, r.out)
				case bad && (!strings.Contains(row, " FAIL ") || !strings.Contains(row, frag)):
					t.Errorf("row %q: want FAIL with %q", row, frag)
				case !bad && !strings.Contains(row, " ok "):
					t.Errorf("row %q: want ok", row)
				}
			}

			// The report: what to do, with exact commands.
			for _, w := range []string{"berth: post-deploy smoke checks FAILED", "smoke checks failed", "Not changed:", "Kamal already switched to v2", "What to do:"} {
				if !strings.Contains(r.report, w) {
					t.Errorf("report lacks %q:\n%s", w, r.report)
				}
			}
			if tc.record {
				for _, w := range []string{
					"roll back the app: kamal rollback -d production v1\n",
					"restore point 2026-11-27T10:00:00Z of production.sqlite3, TXID 000000000000002a): " + kamalRestore + " (runs in the Litestream accessory and writes a copy, the file after -o, beside the live database",
					"of production_queue.sqlite3, TXID 0000000000000007): " + queueRestore,
				} {
					if !strings.Contains(r.report, w) {
						t.Errorf("report lacks %q:\n%s", w, r.report)
					}
				}
				for _, no := range []string{"rollback -d production v0", "restore-v0-marker", "blog-old", "<previous version>"} {
					if strings.Contains(r.report, no) {
						t.Errorf("report has %q (another record's):\n%s", no, r.report)
					}
				}
			} else {
				w := "roll back the app: kamal rollback -d production <previous version> (`kamal app containers -d production` lists"
				if !strings.Contains(r.report, w) {
					t.Errorf("report lacks %q:\n%s", w, r.report)
				}
				if strings.Contains(r.report, "TXID") {
					t.Errorf("a restore command without a record:\n%s", r.report)
				}
			}

			// The state: not removed, still the deploy's, ending at its own
			// expiry (a maintenance was already turned into deploying before
			// the checks).
			st, ok := readState(t, a)
			if !ok {
				t.Fatal("state file removed after failed checks")
			}
			if st.Mode != plugin.ModeDeploying || st.By != by || !st.Until.Equal(until) || st.Message != "" {
				t.Fatalf("state after failed checks %+v", st)
			}
			for _, q := range s.requests() {
				if !q.present || q.state.Mode != plugin.ModeDeploying {
					t.Fatalf("a check saw the state %+v (present %v)", q.state, q.present)
				}
			}
		})
	}
}

// An operator's maintenance (berth maintenance on) is theirs to end: the
// deploy neither turns it into deploying nor removes it, and says so.
func TestPostDeployKeepsOperatorMaintenance(t *testing.T) {
	now := time.Now()
	a := testapp.New(t, testapp.Options{Extra: smokeExtra})
	ca := testcerts.NewCA(t, now)
	// The deployer's address is on the plugin's allow list, so its checks
	// reach the app through the page: the stand-in does not gate.
	s := startSite(t, a, ca.Leaf(t, shopNames, now.Add(-time.Hour), now.Add(60*24*time.Hour), false), false, shopApp)
	op := plugin.State{Mode: plugin.ModeMaintenance, Message: "Moving to a new server", By: "alice@laptop",
		Until: now.Add(2 * time.Hour).UTC(), At: now.Add(-10 * time.Minute).UTC()}
	writeState(t, a, op)

	r := postDeploy(t, a, s, ca)
	if r.err != nil {
		t.Fatalf("%v\n%s\n%s", r.err, r.out, r.report)
	}
	st, ok := readState(t, a)
	if !ok || !sameState(st, op) {
		t.Fatalf("operator's maintenance changed: %+v (present %v), was %+v", st, ok, op)
	}
	for _, q := range s.requests() {
		if !q.present || !sameState(q.state, op) {
			t.Fatalf("state changed during the checks: %+v", q.state)
		}
	}
	oneStep(t, r.out, "maintenance -> deploying", "ok", "nothing to change")
	oneStep(t, r.out, "smoke checks", "ok", "5 of 5 passed")
	oneStep(t, r.out, "back to live", "ok", "the operator's maintenance (by alice@laptop) stays on: `berth maintenance off` when ready")
	if strings.Contains(r.out, "removed") {
		t.Errorf("output claims a removal:\n%s", r.out)
	}
}
