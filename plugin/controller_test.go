package plugin

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestPrecedence builds controllers directly (no goroutines) over a state
// directory and checks which source wins.
// isLive is what the request path sees: the notLive flag, the other way
// round.
func (c *controller) isLive() bool { return len(c.notLive) == 0 }

func TestPrecedence(t *testing.T) {
	now := time.Now()
	hour := time.Hour
	rfc := func(t time.Time) string { return t.UTC().Format(time.RFC3339) }
	type files struct{ server, app *State }
	cases := []struct {
		name    string
		enabled bool
		windows []Window
		files   files
		mode    Mode
		source  string
		message string
		until   time.Time
	}{
		{name: "nothing: live", mode: ModeLive},
		{name: "config enabled", enabled: true, mode: ModeMaintenance, source: "config"},
		{name: "window open", windows: []Window{{Start: rfc(now.Add(-hour)), End: rfc(now.Add(hour)), Message: "w"}},
			mode: ModeMaintenance, source: "window", message: "w", until: now.Add(hour)},
		{name: "window ahead", windows: []Window{{Start: rfc(now.Add(hour)), End: rfc(now.Add(2 * hour))}}, mode: ModeLive},
		{name: "window over", windows: []Window{{Start: rfc(now.Add(-2 * hour)), End: rfc(now.Add(-hour))}}, mode: ModeLive},
		{name: "second window open", windows: []Window{
			{Start: rfc(now.Add(-3 * hour)), End: rfc(now.Add(-2 * hour)), Message: "old"},
			{Start: rfc(now.Add(-hour)), End: rfc(now.Add(hour)), Message: "now"}},
			mode: ModeMaintenance, source: "window", message: "now", until: now.Add(hour)},
		{name: "server file", files: files{server: &State{Mode: ModePaused, Message: "s"}}, mode: ModePaused, source: "server-state", message: "s"},
		{name: "app file", files: files{app: &State{Mode: ModeDeploying, Until: now.Add(hour)}}, mode: ModeDeploying, source: "app-state", until: now.Add(hour)},
		{name: "server paused beats app deploying", files: files{server: &State{Mode: ModePaused}, app: &State{Mode: ModeDeploying}}, mode: ModePaused, source: "server-state"},
		{name: "app maintenance beats server paused", files: files{server: &State{Mode: ModePaused}, app: &State{Mode: ModeMaintenance, Message: "a"}}, mode: ModeMaintenance, source: "app-state", message: "a"},
		{name: "app live cannot override server maintenance", files: files{server: &State{Mode: ModeMaintenance}, app: &State{Mode: ModeLive}}, mode: ModeMaintenance, source: "server-state"},
		{name: "config maintenance beats app paused", enabled: true, files: files{app: &State{Mode: ModePaused}}, mode: ModeMaintenance, source: "config"},
		{name: "expired server state is ignored", files: files{server: &State{Mode: ModeMaintenance, Until: now.Add(-time.Second)}, app: &State{Mode: ModeDeploying}}, mode: ModeDeploying, source: "app-state"},
		{name: "expired app state: live", files: files{app: &State{Mode: ModePaused, Until: now.Add(-time.Minute)}}, mode: ModeLive},
		{name: "window beats app paused", windows: []Window{{Start: rfc(now.Add(-hour)), End: rfc(now.Add(hour))}},
			files: files{app: &State{Mode: ModePaused}}, mode: ModeMaintenance, source: "window", until: now.Add(hour)},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := testConfig("precedence")
			cfg.StateDir = dir
			cfg.Enabled = tc.enabled
			cfg.Windows = tc.windows
			if tc.files.server != nil {
				if err := WriteStateFile(ServerStatePath(dir), *tc.files.server); err != nil {
					t.Fatal(err)
				}
			}
			if tc.files.app != nil {
				writeAppState(t, dir, cfg.App, *tc.files.app)
			}
			s, err := compile(cfg)
			if err != nil {
				t.Fatal(err)
			}
			c := newController("precedence-"+string(rune('a'+i)), s, true)
			t.Cleanup(func() { c.serverW.unwatch(c); c.appW.unwatch(c) })
			deadline := time.Now().Add(5 * time.Second)
			c.serverW.waitFirstLook(deadline)
			c.appW.waitFirstLook(deadline)
			snap := c.current()
			if snap.mode != tc.mode || snap.source != tc.source || snap.message != tc.message {
				t.Errorf("snapshot = mode %q source %q message %q, want %q %q %q", snap.mode, snap.source, snap.message, tc.mode, tc.source, tc.message)
			}
			if !snap.until.Truncate(time.Second).Equal(tc.until.Truncate(time.Second)) {
				t.Errorf("until = %v, want %v", snap.until, tc.until)
			}
			if got, want := c.isLive(), tc.mode == ModeLive; got != want {
				t.Errorf("live flag = %v, want %v", got, want)
			}
		})
	}
}

func TestEffectiveMode(t *testing.T) {
	cases := []struct {
		mode    Mode
		healthy bool
		want    Mode
	}{
		{ModeLive, true, ModeLive},
		{ModeLive, false, ModeUnavailable},
		{ModeDeploying, true, ModeDeploying},
		{ModeDeploying, false, ModeUnavailable},
		{ModePaused, false, ModePaused},
		{ModeMaintenance, false, ModeMaintenance},
	}
	for _, tc := range cases {
		s := &snapshot{mode: tc.mode, healthy: tc.healthy}
		if got := s.effective(); got != tc.want {
			t.Errorf("%s healthy=%v: effective = %s, want %s", tc.mode, tc.healthy, got, tc.want)
		}
	}
	order := []Mode{ModeLive, ModeDeploying, ModePaused, ModeMaintenance}
	for i := 1; i < len(order); i++ {
		if order[i].rank() <= order[i-1].rank() {
			t.Errorf("rank(%s) <= rank(%s)", order[i], order[i-1])
		}
	}
}

// A state file written after New takes effect within the poll interval,
// without another New; removing it brings the app back.
func TestStateFileChangeNoticedWithoutReload(t *testing.T) {
	dir := t.TempDir()
	app := &countingApp{}
	cfg := testConfig("state-poll")
	cfg.StateDir = dir
	cfg.PollInterval = "100ms"
	b := newBerth(t, cfg, app)
	srv := serve(t, b)
	if resp, body := get(t, srv.URL+"/"); resp.StatusCode != 200 || body != "app /" {
		t.Fatalf("before: %d %q", resp.StatusCode, body)
	}
	limit := 500 * time.Millisecond // the poll interval plus room for a busy machine

	changed := b.c.changes()
	start := time.Now()
	writeAppState(t, dir, cfg.App, State{Mode: ModeMaintenance, Message: "Back at 3"})
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("the state file was never noticed")
	}
	if took := time.Since(start); took > limit {
		t.Errorf("noticed after %s, want within %s", took, limit)
	}
	resp, body := get(t, srv.URL+"/")
	if resp.StatusCode != 503 || !strings.Contains(body, "Back at 3") {
		t.Errorf("during: %d %q", resp.StatusCode, body)
	}

	// A malformed rewrite keeps maintenance and is logged once.
	logged := len(testLog.lines("state-poll.json"))
	if err := os.WriteFile(AppStatePath(dir, cfg.App), []byte(`{"mode":"maint`), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 3*time.Second, "the malformed file to be logged", func() bool {
		return len(testLog.lines("state-poll.json")) > logged
	})
	time.Sleep(350 * time.Millisecond) // three more polls of the same bad file
	if n := len(testLog.lines("state-poll.json")) - logged; n != 1 {
		t.Errorf("the malformed file was logged %d times, want once", n)
	}
	if resp, _ := get(t, srv.URL+"/"); resp.StatusCode != 503 {
		t.Errorf("a malformed file ended maintenance: %d", resp.StatusCode)
	}

	changed = b.c.changes()
	start = time.Now()
	if err := RemoveStateFile(AppStatePath(dir, cfg.App)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(5 * time.Second):
		t.Fatal("the removal was never noticed")
	}
	if took := time.Since(start); took > limit {
		t.Errorf("removal noticed after %s, want within %s", took, limit)
	}
	if resp, body := get(t, srv.URL+"/"); resp.StatusCode != 200 || body != "app /" {
		t.Errorf("after: %d %q", resp.StatusCode, body)
	}
}

// A state with an end, and a window, end by themselves.
func TestStatesAndWindowsExpire(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig("state-expiry")
	cfg.StateDir = dir
	writeAppState(t, dir, cfg.App, State{Mode: ModePaused, Until: time.Now().Add(300 * time.Millisecond)})
	b := newBerth(t, cfg, &countingApp{})
	if m := b.c.current().mode; m != ModePaused {
		t.Fatalf("mode = %s, want paused", m)
	}
	waitMode(t, b.c, ModeLive, 3*time.Second)

	now := time.Now()
	wcfg := testConfig("window-expiry")
	wcfg.Windows = []Window{{
		Start: now.Add(-time.Hour).UTC().Format(time.RFC3339),
		End:   now.Add(600 * time.Millisecond).UTC().Format(time.RFC3339Nano),
	}}
	wb := newBerth(t, wcfg, &countingApp{})
	rec := httptest.NewRecorder()
	wb.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 503 {
		t.Fatalf("window: status %d", rec.Code)
	}
	if ra := rec.Header().Get("Retry-After"); ra != "1" {
		t.Errorf("window Retry-After = %q, want the time to the window's end", ra)
	}
	waitMode(t, wb.c, ModeLive, 4*time.Second)
}

func TestRegistrySharesControllers(t *testing.T) {
	next := http.NotFoundHandler()
	a := newBerth(t, testConfig("registry-share"), next)
	b := newBerth(t, testConfig("registry-share"), next)
	if a.c != b.c {
		t.Fatalf("equal configurations got two controllers")
	}
	other := testConfig("registry-share")
	other.Message = "different"
	c := newBerth(t, other, next)
	if c.c == a.c {
		t.Fatalf("different configurations share a controller")
	}
	registry.mu.Lock()
	refs := a.c.refs
	registry.mu.Unlock()
	if refs != 2 {
		t.Errorf("refs = %d, want 2", refs)
	}
	// The newest instance's next handler is the one the prober uses.
	if a.c.nextHandler() == nil {
		t.Errorf("no next handler stored")
	}
}

func TestReleaseStopsAfterGrace(t *testing.T) {
	cfg := testConfig("registry-release")
	var probes atomic.Int64
	cfg.Health.Enabled = true
	cfg.Health.Interval = "100ms"
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("User-Agent") == "berth-health/1" {
			probes.Add(1)
		}
	})
	ctx1, cancel1 := context.WithCancel(context.Background())
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel1()
	defer cancel2()
	h1, err := newInstance(ctx1, next, cfg, "r1")
	if err != nil {
		t.Fatal(err)
	}
	h2, err := newInstance(ctx2, next, cfg, "r2")
	if err != nil {
		t.Fatal(err)
	}
	c := h1.c
	if h2.c != c {
		t.Fatal("not shared")
	}
	refs := func() (int, bool) {
		registry.mu.Lock()
		defer registry.mu.Unlock()
		return c.refs, c.stopTimer != nil
	}
	inRegistry := func() bool {
		registry.mu.Lock()
		defer registry.mu.Unlock()
		return registry.byKey[c.key] == c
	}
	if g := c.stopGrace(); g != 10*time.Second {
		t.Errorf("stopGrace = %s, want 10s", g)
	}

	cancel1()
	waitFor(t, 2*time.Second, "the first release", func() bool { n, _ := refs(); return n == 1 })
	if _, timer := refs(); timer {
		t.Errorf("a stop timer runs while an instance still uses the controller")
	}
	cancel2()
	waitFor(t, 2*time.Second, "the second release", func() bool { n, timer := refs(); return n == 0 && timer })
	if !inRegistry() {
		t.Fatal("the controller left the registry before its grace period")
	}

	// A reload within the grace period picks the same controller up again
	// and cancels the stop.
	ctx3, cancel3 := context.WithCancel(context.Background())
	defer cancel3()
	h3, err := newInstance(ctx3, next, cfg, "r3")
	if err != nil {
		t.Fatal(err)
	}
	if h3.c != c {
		t.Fatal("a reload within the grace period started a new controller")
	}
	if n, timer := refs(); n != 1 || timer {
		t.Errorf("after the reload: refs %d, stop timer %v", n, timer)
	}

	// Release again and let the grace period end now instead of in 10 s.
	cancel3()
	waitFor(t, 2*time.Second, "the third release", func() bool { n, timer := refs(); return n == 0 && timer })
	registry.mu.Lock()
	c.stopTimer.Reset(time.Millisecond)
	registry.mu.Unlock()
	select {
	case <-c.stop:
	case <-time.After(3 * time.Second):
		t.Fatal("the controller did not stop")
	}
	if inRegistry() {
		t.Errorf("a stopped controller is still in the registry")
	}
	// The prober stops with it.
	time.Sleep(50 * time.Millisecond)
	before := probes.Load()
	time.Sleep(300 * time.Millisecond)
	if after := probes.Load(); after != before {
		t.Errorf("%d probes after the controller stopped", after-before)
	}
	if before == 0 {
		t.Errorf("the prober never ran")
	}

	// The next New starts a fresh controller.
	b := newBerth(t, cfg, next)
	if b.c == c {
		t.Errorf("a stopped controller was handed out again")
	}
}

func TestStopGraceCoversSlowProbes(t *testing.T) {
	cfg := testConfig("grace")
	cfg.Health.Enabled = true
	cfg.Health.Interval = "5s"
	s, err := compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := &controller{s: s}
	if g := c.stopGrace(); g != 15*time.Second {
		t.Errorf("stopGrace = %s, want 3 intervals (15s)", g)
	}
}

// Health learned by one controller carries over to the controller of a
// changed configuration of the same app, but must not strand an app whose
// new configuration has no probe to ever clear it.
func TestHealthCarriesOverReloads(t *testing.T) {
	cfg := testConfig("health-carry")
	cfg.Health.Enabled = true
	cfg.Health.Interval = "1h" // only the first probe runs; the test drives the rest
	down := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })
	a := newBerth(t, cfg, down)
	waitMode(t, a.c, ModeUnavailable, 3*time.Second)

	changed := testConfig("health-carry")
	changed.Health = cfg.Health
	changed.Message = "a new message" // another config key, same health key
	b := newBerth(t, changed, down)
	if b.c == a.c {
		t.Fatal("expected a second controller")
	}
	if b.c.current().healthy {
		t.Errorf("the new controller forgot that the app is down")
	}

	off := testConfig("health-carry")
	off.Health.Enabled = false
	off.Health.Path = cfg.Health.Path
	c := newBerth(t, off, &countingApp{})
	if got := c.c.current().effective(); got != ModeLive {
		t.Fatalf("with the probe turned off the app is %s, and nothing would ever bring it back", got)
	}
}

func TestSafelyRecovers(t *testing.T) {
	const line = "berth[safely-test]: recovered from a panic in the step: boom"
	logged := len(testLog.lines(line))
	ran := false
	safely("safely-test", "step", func() { panic("boom") })
	safely("safely-test", "step", func() { ran = true })
	if !ran {
		t.Fatal("the step after a panic did not run")
	}
	if len(testLog.lines(line))-logged != 1 {
		t.Errorf("the panic was not logged")
	}
}

// A request held by one configuration's controller is answered as soon as
// the app can take it, even when a configuration change (here only the
// message) started a new controller and let the old one go: the old one is
// kept while it holds or retries requests. Before, it stopped after its
// grace period and the request waited for its whole holdTimeout.
func TestHeldRequestSurvivesConfigurationChange(t *testing.T) {
	saved := minStopGrace
	minStopGrace = 200 * time.Millisecond
	defer func() { minStopGrace = saved }()

	cases := []struct {
		mode string
		// setUp makes the app unable to take requests; release makes it able.
		setUp, release func(t *testing.T, dir, app string, be *backend)
	}{
		{"paused", func(t *testing.T, dir, app string, be *backend) {
			writeAppState(t, dir, app, State{Mode: ModePaused})
		}, func(t *testing.T, dir, app string, be *backend) {
			if err := RemoveStateFile(AppStatePath(dir, app)); err != nil {
				t.Fatal(err)
			}
		}},
		{"unavailable", func(t *testing.T, dir, app string, be *backend) {
			be.down.Store(true)
		}, func(t *testing.T, dir, app string, be *backend) {
			be.down.Store(false)
		}},
		{"deploying", func(t *testing.T, dir, app string, be *backend) {
			writeAppState(t, dir, app, State{Mode: ModeDeploying})
			be.down.Store(true)
		}, func(t *testing.T, dir, app string, be *backend) {
			be.down.Store(false)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.mode, func(t *testing.T) {
			dir := t.TempDir()
			app := "survive-" + tc.mode
			be := newBackend(t)
			cfg := testConfig(app)
			cfg.StateDir = dir
			cfg.HoldTimeout = "6s"
			cfg.Health.Enabled = true
			cfg.Health.Interval = "100ms"
			tc.setUp(t, dir, app, be)

			ctxA, cancelA := context.WithCancel(context.Background())
			defer cancelA()
			a, err := newInstance(ctxA, be.proxy(), cfg, "a@file")
			if err != nil {
				t.Fatal(err)
			}
			want := ModeUnavailable
			if tc.mode == "paused" {
				want = ModePaused
			}
			waitMode(t, a.c, want, 3*time.Second)
			srv := serve(t, a)
			res := getAsync(context.Background(), srv.URL+"/page")
			waitFor(t, 3*time.Second, "the request to be held", func() bool { return a.c.busy.Load() == 1 })

			// Only the message changes: a new controller, the old one released.
			changed := testConfig(app)
			changed.StateDir = dir
			changed.HoldTimeout = "6s"
			changed.Health.Enabled = true
			changed.Health.Interval = "100ms"
			changed.Message = "a new message"
			b := newBerth(t, changed, be.proxy())
			if b.c == a.c {
				t.Fatal("the changed configuration shares the old controller")
			}
			cancelA()
			time.Sleep(4 * minStopGrace) // past the old controller's grace period

			start := time.Now()
			tc.release(t, dir, app, be)
			r := waitResult(t, res, 8*time.Second)
			if r.err != nil || r.code != 200 {
				t.Fatalf("held request: %d %v, want the app's answer", r.code, r.err)
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("answered %s after the app could take it, want well within a second (the hold was not woken)", took)
			}
			// Once idle, the old controller stops.
			select {
			case <-a.c.stop:
			case <-time.After(3 * time.Second):
				t.Errorf("the old controller was not stopped once its held request was answered")
			}
		})
	}
}
