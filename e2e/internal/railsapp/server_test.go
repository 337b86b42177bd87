package railsapp_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

func decode(t *testing.T, r reply) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

// Thruster answers an empty 502 from the moment it listens until Puma is up
// boot-delay later; then /up is 200 and the app answers with its version.
func TestBootDelayThrusterAnswers502UntilPumaIsUp(t *testing.T) {
	dbPath := newDBPath(t)
	p := start(t, "-listen", "127.0.0.1:0", "-db", dbPath, "-migrations", migrationsV1, "-prepare",
		"-boot-delay", "1s", "-app-version", "v1-boot", "-container-name", "wombat-web-v1-boot")
	c := freshClient()
	for _, path := range []string{"/up", "/", "/workouts"} {
		r := get(c, p.url(path))
		if r.err != nil || r.status != 502 {
			t.Fatalf("GET %s while Puma boots: %d %v, want 502", path, r.status, r.err)
		}
		if r.body != "" || r.header.Get("X-App-Version") != "" {
			t.Errorf("GET %s: Thruster's 502 should be empty and carry nothing of the app: body %q, X-App-Version %q", path, r.body, r.header.Get("X-App-Version"))
		}
	}
	waitUp(t, p)
	listened := p.logTime(`Thruster listening`)
	booted := p.logTime(`Puma booted`)
	if d := booted.Sub(listened); d < time.Second || d > 3*time.Second {
		t.Errorf("Puma up %s after Thruster listened, want the boot delay of 1s", d)
	}
	if !strings.Contains(p.stdout.String(), "Created database '"+dbPath+"'") {
		t.Errorf("db:prepare did not say it created the database:\n%s", p.stdout.String())
	}
	for i := 1; i <= 2; i++ {
		r := get(c, p.url("/"))
		if r.err != nil || r.status != 200 {
			t.Fatalf("GET / after boot: %d %v %s", r.status, r.err, r.body)
		}
		if v := r.header.Get("X-App-Version"); v != "v1-boot" {
			t.Errorf("X-App-Version %q, want v1-boot", v)
		}
		if v := r.header.Get("X-Container-Name"); v != "wombat-web-v1-boot" {
			t.Errorf("X-Container-Name %q", v)
		}
		m := decode(t, r)
		if m["version"] != "v1-boot" || m["visits"] != float64(i) {
			t.Errorf("GET / #%d: %v", i, m)
		}
	}
}

// With -before-boot=refuse nothing listens until Puma is up.
func TestBeforeBootRefuse(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p := startProc(t, nil, "-listen", addr, "-db", newDBPath(t), "-migrations", migrationsV1, "-prepare",
		"-boot-delay", "800ms", "-before-boot", "refuse")
	p.waitLog(regexp.MustCompile(`Puma booting`), 20*time.Second)
	p.addr = addr
	if r := get(freshClient(), p.url("/up")); !refused(r.err) {
		t.Fatalf("GET /up before Puma is up: %d %v, want connection refused", r.status, r.err)
	}
	p.waitLog(listenRe, 10*time.Second)
	waitUp(t, p)
}

// Every app request reads and writes the SQLite file, which another
// connection sees; the app waits for a lock held by another process
// (busy_timeout) instead of failing.
func TestRequestsReadAndWriteSQLite(t *testing.T) {
	dbPath := newDBPath(t)
	p := start(t, "-listen", "127.0.0.1:0", "-db", dbPath, "-migrations", migrationsV1, "-prepare", "-app-version", "v1")
	waitUp(t, p)
	c := keepAliveClient(t)
	for i := 0; i < 3; i++ {
		r := do(c, "POST", p.url("/workouts"), "application/x-www-form-urlencoded", "name=squats")
		if r.err != nil || r.status != 201 {
			t.Fatalf("POST /workouts: %d %v %s", r.status, r.err, r.body)
		}
	}
	r := do(c, "POST", p.url("/workouts"), "application/json", `{"name":"lunges"}`)
	if r.err != nil || r.status != 201 || decode(t, r)["name"] != "lunges" {
		t.Fatalf("POST /workouts (JSON): %d %v %s", r.status, r.err, r.body)
	}
	for i := 0; i < 2; i++ {
		if r := get(c, p.url("/")); r.status != 200 {
			t.Fatalf("GET /: %d %v %s", r.status, r.err, r.body)
		}
	}
	r = get(c, p.url("/workouts"))
	if r.err != nil || r.status != 200 {
		t.Fatalf("GET /workouts: %d %v %s", r.status, r.err, r.body)
	}
	m := decode(t, r)
	list, _ := m["workouts"].([]any)
	if m["total"] != float64(4) || len(list) != 4 || list[0].(map[string]any)["name"] != "lunges" {
		t.Errorf("GET /workouts: %s", r.body)
	}
	if r := get(c, p.url("/nope")); r.status != 404 {
		t.Errorf("GET /nope: %d, want 404", r.status)
	}

	db := openDB(t, dbPath)
	if n := queryInt(t, db, `SELECT count(*) FROM workouts`); n != 4 {
		t.Errorf("workouts in the file: %d, want 4", n)
	}
	if n := queryInt(t, db, `SELECT count FROM visits WHERE path = '/'`); n != 2 {
		t.Errorf("visits[/] in the file: %d, want 2", n)
	}
	if n := queryInt(t, db, `SELECT count FROM visits WHERE path = '/workouts'`); n != 5 {
		t.Errorf("visits[/workouts] in the file: %d, want 5 (4 POST, 1 GET)", n)
	}
	if mode := queryStrings(t, db, `PRAGMA journal_mode`); len(mode) != 1 || mode[0] != "wal" {
		t.Errorf("journal_mode %v, want wal", mode)
	}

	// Hold the write lock from this process for 1s: the app's request waits
	// for it and succeeds.
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		t.Fatal(err)
	}
	released := make(chan struct{})
	go func() {
		time.Sleep(time.Second)
		_, _ = conn.ExecContext(ctx, `COMMIT`)
		close(released)
	}()
	r = get(c, p.url("/"))
	<-released
	if r.err != nil || r.status != 200 {
		t.Fatalf("GET / while another process holds the write lock: %d %v %s", r.status, r.err, r.body)
	}
	if r.took < 800*time.Millisecond {
		t.Errorf("GET / took %s while the lock was held for 1s: did it wait?", r.took)
	}
}

// Without db:prepare a fresh database has no tables: the app answers 500
// with the SQL error (production Rails does not check pending migrations)
// while /up stays 200 (no database check); -unhealthy-file makes /up 500.
func TestMissingTableIs500AndUpHasNoDatabaseCheck(t *testing.T) {
	unhealthy := filepath.Join(t.TempDir(), "unhealthy")
	p := start(t, "-listen", "127.0.0.1:0", "-db", newDBPath(t), "-migrations", migrationsV1, "-unhealthy-file", unhealthy)
	waitUp(t, p)
	c := freshClient()
	r := get(c, p.url("/"))
	if r.status != 500 || !strings.Contains(r.body, "no such table: visits") {
		t.Errorf("GET / without tables: %d %q, want 500 naming the table", r.status, r.body)
	}
	if err := os.WriteFile(unhealthy, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := get(c, p.url("/up")); r.status != 500 {
		t.Errorf("/up with the unhealthy file: %d, want 500", r.status)
	}
	os.Remove(unhealthy)
	if r := get(c, p.url("/up")); r.status != 200 {
		t.Errorf("/up after removing the unhealthy file: %d, want 200", r.status)
	}
}

// -threads 1: a second request waits for the first, as with one Puma thread.
func TestThreadsQueueRequests(t *testing.T) {
	p := start(t, "-listen", "127.0.0.1:0", "-db", newDBPath(t), "-migrations", migrationsV1, "-prepare", "-threads", "1")
	waitUp(t, p)
	c := freshClient()
	var wg sync.WaitGroup
	begin := time.Now()
	for i := 0; i < 2; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if r := get(c, p.url("/?sleep=400ms")); r.status != 200 {
				t.Errorf("GET /?sleep=400ms: %d %v", r.status, r.err)
			}
		}()
	}
	wg.Wait()
	if d := time.Since(begin); d < 750*time.Millisecond {
		t.Errorf("two 400ms requests on one thread took %s, want them one after the other", d)
	}
}

// probe sends requests (alternately on a kept-alive connection and a new
// one) until a new connection is refused, and returns the statuses seen.
func probe(t *testing.T, p *proc, keep *httpClients) (statuses map[int]int, keepErrs int, refusedAt time.Time) {
	t.Helper()
	statuses = map[int]int{}
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; time.Now().Before(deadline); i++ {
		c := keep.fresh
		if i%2 == 0 {
			c = keep.keep
		}
		r := get(c, p.url("/"))
		switch {
		case r.err == nil:
			statuses[r.status]++
		case c == keep.fresh && (refused(r.err) || closedWhileStopping(r.err)):
			// Refused, or accepted in the instant the listener closed
			// and then cut: either way the server has stopped taking
			// requests.
			return statuses, keepErrs, time.Now()
		case c == keep.keep:
			keepErrs++ // the kept connection closed under it
		default:
			t.Fatalf("unexpected error: %v", r.err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("still accepting 10s after SIGTERM: %v", statuses)
	return
}

type httpClients struct{ keep, fresh *http.Client }

// SIGTERM in thruster mode: 502 for everything new (also on an open
// keep-alive connection) for the drain time while the request in flight
// finishes with 200; then connections are refused and the exit code is 0.
func TestSIGTERMThrusterAnswers502ForTheDrainTime(t *testing.T) {
	dbPath := newDBPath(t)
	p := start(t, "-listen", "127.0.0.1:0", "-db", dbPath, "-migrations", migrationsV1, "-prepare", "-sigterm", "thruster", "-drain", "1s")
	waitUp(t, p)
	clients := &httpClients{keep: keepAliveClient(t), fresh: freshClient()}
	if r := get(clients.keep, p.url("/")); r.status != 200 {
		t.Fatalf("GET /: %d %v", r.status, r.err)
	}
	db := openDB(t, dbPath)
	slow := make(chan reply, 1)
	go func() { slow <- get(freshClient(), p.url("/?sleep=400ms")) }()
	waitVisits(t, db, "/", 2) // the slow request is inside the app
	p.signal(syscall.SIGTERM)
	p.waitLog(regexp.MustCompile(`SIGTERM: Thruster relays it to Puma`), 5*time.Second)

	statuses, _, refusedAt := probe(t, p, clients)
	if r := <-slow; r.err != nil || r.status != 200 {
		t.Errorf("request in flight at SIGTERM: %d %v, want 200", r.status, r.err)
	}
	if len(statuses) != 1 || statuses[502] < 10 {
		t.Errorf("statuses while draining: %v, want only 502s", statuses)
	}
	relayed := p.logTime(`SIGTERM: Thruster relays`)
	stopped := p.logTime(`Thruster stopped`)
	if d := stopped.Sub(relayed); d < time.Second || d > 2*time.Second {
		t.Errorf("Thruster stopped %s after SIGTERM, want the drain time of 1s", d)
	}
	if refusedAt.Before(stopped.Add(-50 * time.Millisecond)) {
		t.Errorf("refused at %s, before Thruster stopped at %s", refusedAt, stopped)
	}
	if code := p.wait(5 * time.Second); code != 0 {
		t.Errorf("exit code %d, want 0", code)
	}
	if n := queryInt(t, db, `SELECT count FROM visits WHERE path = '/'`); n != 2 {
		t.Errorf("visits[/] = %d: a 502 reached the app", n)
	}
}

// Puma takes as long as its requests in flight need, even past the drain
// time; Thruster keeps answering 502 meanwhile.
func TestSIGTERMThrusterWaitsForRequestsInFlight(t *testing.T) {
	dbPath := newDBPath(t)
	p := start(t, "-listen", "127.0.0.1:0", "-db", dbPath, "-migrations", migrationsV1, "-prepare", "-drain", "200ms")
	waitUp(t, p)
	db := openDB(t, dbPath)
	slow := make(chan reply, 1)
	go func() { slow <- get(freshClient(), p.url("/?sleep=1200ms")) }()
	waitVisits(t, db, "/", 1)
	p.signal(syscall.SIGTERM)
	p.waitLog(regexp.MustCompile(`SIGTERM: Thruster relays it to Puma`), 5*time.Second)
	statuses, _, _ := probe(t, p, &httpClients{keep: keepAliveClient(t), fresh: freshClient()})
	if r := <-slow; r.err != nil || r.status != 200 {
		t.Errorf("request in flight at SIGTERM: %d %v, want 200", r.status, r.err)
	}
	if len(statuses) != 1 || statuses[502] == 0 {
		t.Errorf("statuses while draining: %v, want only 502s", statuses)
	}
	p.waitLog(regexp.MustCompile(`Puma waits for its requests in flight`), time.Second)
	if d := p.logTime(`Thruster stopped`).Sub(p.logTime(`SIGTERM: Thruster relays`)); d < 900*time.Millisecond {
		t.Errorf("Thruster stopped %s after SIGTERM, before the 1.2s request finished", d)
	}
	if code := p.wait(5 * time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// SIGTERM in clean mode: new connections are refused at once, the request
// in flight finishes with 200, then the process exits 0.
func TestSIGTERMCleanFinishesInFlightAndRefuses(t *testing.T) {
	dbPath := newDBPath(t)
	p := start(t, "-listen", "127.0.0.1:0", "-db", dbPath, "-migrations", migrationsV1, "-prepare", "-sigterm", "clean", "-drain", "5s")
	waitUp(t, p)
	db := openDB(t, dbPath)
	slow := make(chan reply, 1)
	go func() { slow <- get(freshClient(), p.url("/?sleep=800ms")) }()
	waitVisits(t, db, "/", 1)
	p.signal(syscall.SIGTERM)
	p.waitLog(regexp.MustCompile(`SIGTERM: listener closed`), 5*time.Second)
	if r := get(freshClient(), p.url("/up")); !refused(r.err) {
		t.Errorf("new connection after SIGTERM: %d %v, want connection refused", r.status, r.err)
	}
	select {
	case <-p.exited:
		t.Fatal("exited before the request in flight finished")
	default:
	}
	if r := <-slow; r.err != nil || r.status != 200 {
		t.Errorf("request in flight at SIGTERM: %d %v, want 200", r.status, r.err)
	}
	if code := p.wait(5 * time.Second); code != 0 {
		t.Errorf("exit code %d", code)
	}
	if d := p.logTime(`stopped`).Sub(p.logTime(`listener closed`)); d > 2*time.Second {
		t.Errorf("clean stop took %s: the drain time must not apply", d)
	}
}

// kill -9 in the middle of writes leaves a database that opens, passes
// integrity_check, holds every acknowledged write, and serves again.
func TestKill9LeavesAnIntactDatabase(t *testing.T) {
	dbPath := newDBPath(t)
	p := start(t, "-listen", "127.0.0.1:0", "-db", dbPath, "-migrations", migrationsV1, "-prepare")
	waitUp(t, p)
	var acked atomic.Int64
	var stop atomic.Bool
	var wg sync.WaitGroup
	for i := 0; i < 6; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := keepAliveClient(t)
			for !stop.Load() {
				r := do(c, "POST", p.url("/workouts"), "application/x-www-form-urlencoded", "name=burpees")
				if r.err == nil && r.status == 201 {
					acked.Add(1)
				}
			}
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for acked.Load() < 300 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-p.exited
	stop.Store(true)
	wg.Wait()
	if acked.Load() < 300 {
		t.Fatalf("only %d writes acknowledged before the kill", acked.Load())
	}
	if _, err := os.Stat(dbPath + "-wal"); err != nil {
		t.Logf("no WAL file left behind: %v", err)
	}

	db := openDB(t, dbPath)
	if res := queryStrings(t, db, `PRAGMA integrity_check`); len(res) != 1 || res[0] != "ok" {
		t.Fatalf("integrity_check after kill -9: %v", res)
	}
	n := queryInt(t, db, `SELECT count(*) FROM workouts`)
	if n < acked.Load() {
		t.Errorf("%d rows after kill -9, but %d writes were acknowledged", n, acked.Load())
	}
	t.Logf("%d writes acknowledged, %d rows after kill -9", acked.Load(), n)
	db.Close()

	p2 := start(t, "-listen", "127.0.0.1:0", "-db", dbPath, "-migrations", migrationsV1, "-prepare")
	waitUp(t, p2)
	if r := do(freshClient(), "POST", p2.url("/workouts"), "", ""); r.status != 201 || decode(t, r)["id"] != float64(n+1) {
		t.Errorf("POST /workouts after the restart: %d %s, want id %d", r.status, r.body, n+1)
	}
}

// Bad flags and environment values are reported by name.
func TestFlagAndEnvironmentErrors(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	dbPath := newDBPath(t)
	for _, tc := range []struct {
		env  []string
		args []string
		code int
		want string
	}{
		{nil, []string{"server", "-sigterm", "graceful", "-db", dbPath}, 2, `-sigterm "graceful": want thruster or clean`},
		{nil, []string{"-before-boot", "404", "-db", dbPath}, 2, `-before-boot "404"`},
		{nil, []string{"-boot-delay", "soon"}, 2, `-boot-delay`},
		{nil, []string{"-listen", "127.0.0.1:99999"}, 2, `-listen "127.0.0.1:99999"`},
		{nil, []string{"-listen", busy.Addr().String(), "-db", dbPath}, 1, `-listen ` + busy.Addr().String()},
		{[]string{"STANDIN_BOOT_DELAY=soon"}, nil, 2, `STANDIN_BOOT_DELAY="soon" (for -boot-delay)`},
		{[]string{"STANDIN_THREADS=many"}, nil, 2, `STANDIN_THREADS="many" (for -threads)`},
		{nil, []string{"deploy"}, 2, `unknown command "deploy"`},
		{nil, []string{"-prepare", "-db", dbPath, "-migrations", filepath.Join(t.TempDir(), "missing")}, 1, "db:prepare: migrations directory"},
	} {
		code, _, stderr := run(t, tc.env, tc.args...)
		if code != tc.code || !strings.Contains(stderr, tc.want) {
			t.Errorf("%v %q: exit %d, stderr %q; want exit %d and %q", tc.env, tc.args, code, stderr, tc.code, tc.want)
		}
	}
}
