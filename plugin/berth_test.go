package plugin

import (
	"bufio"
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// ---- shared helpers (used by every _test.go file of the package) ----

// testLog collects what the middleware logs, so tests can check that a
// problem is reported (once) and the test output stays readable. Run with
// BERTH_TEST_LOG=1 to see it.
var testLog = &logCapture{}

type logCapture struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (l *logCapture) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if os.Getenv("BERTH_TEST_LOG") != "" {
		_, _ = os.Stderr.Write(p)
	}
	return l.buf.Write(p)
}

// lines returns the logged lines that contain substr.
func (l *logCapture) lines(substr string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(l.buf.String(), "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return out
}

func TestMain(m *testing.M) {
	log.SetOutput(testLog)
	// Each line is marked with the level Traefik would give it, so tests
	// can check that routine news and faults are told apart.
	infoSink = func(line string) { _, _ = testLog.Write([]byte("info: " + line + "\n")) }
	errorSink = func(line string) { _, _ = testLog.Write([]byte("error: " + line + "\n")) }
	os.Exit(m.Run())
}

// testConfig returns the defaults for app with the health probe off, fast
// state polling and a short hold, the base most tests start from. The
// registry is process-wide, so every test passes its own app name.
func testConfig(app string) *Config {
	cfg := CreateConfig()
	cfg.App = app
	cfg.PollInterval = "50ms"
	cfg.Health.Enabled = false
	cfg.HoldTimeout = "2s"
	return cfg
}

// newBerth builds an instance the way Traefik does (New with a context that
// is cancelled when the configuration is replaced). At the end of the test
// the context is cancelled and the controller is stopped at once instead of
// after its grace period, so no poller outlives its test.
func newBerth(t *testing.T, cfg *Config, next http.Handler) *Berth {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b, err := newInstance(ctx, next, cfg, "berth-test@file")
	if err != nil {
		cancel()
		t.Fatalf("New: %v", err)
	}
	registry.mu.Lock()
	first := b.c.refs == 1
	registry.mu.Unlock()
	if first {
		// Registered before the cancel below, so it runs after it (and
		// after the cancels of later instances sharing the controller).
		t.Cleanup(func() { stopNow(t, b.c) })
	}
	t.Cleanup(cancel)
	return b
}

// stopNow waits until nobody holds c any more and then fires its stop timer
// immediately rather than after stopGrace.
func stopNow(t *testing.T, c *controller) {
	deadline := time.Now().Add(5 * time.Second)
	fired := false
	for {
		select {
		case <-c.stop:
			return
		default:
		}
		if !fired {
			registry.mu.Lock()
			if c.refs == 0 && c.stopTimer != nil {
				c.stopTimer.Reset(time.Millisecond)
				fired = true
			}
			registry.mu.Unlock()
		}
		if time.Now().After(deadline) {
			t.Errorf("controller for %q was not stopped (refs still held?)", c.s.app)
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitFor polls cond until it holds or within passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// waitMode waits until c's effective mode is want.
func waitMode(t *testing.T, c *controller, want Mode, within time.Duration) {
	t.Helper()
	waitFor(t, within, "mode "+string(want), func() bool { return c.current().effective() == want })
}

// serve starts a real HTTP server for h.
func serve(t *testing.T, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// noRedirect is a client that shows redirects instead of following them.
var noRedirect = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	Timeout:       20 * time.Second,
}

// do sends req and returns the response with its body read.
func do(t *testing.T, client *http.Client, req *http.Request) (*http.Response, string) {
	t.Helper()
	if client == nil {
		client = noRedirect
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body of %s %s: %v", req.Method, req.URL, err)
	}
	return resp, string(body)
}

func get(t *testing.T, url string, header ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	return do(t, nil, req)
}

// countingApp is the app behind the middleware: it counts requests and
// answers "app <path>".
type countingApp struct {
	calls atomic.Int64
}

func (a *countingApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.calls.Add(1)
	w.Header().Set("X-From", "app")
	_, _ = io.WriteString(w, "app "+r.URL.Path)
}

// setHealth records a probe result on c as the health loop would.
func setHealth(c *controller, ok bool) {
	var err error
	if !ok {
		err = errors.New("test: app is down")
	}
	c.recordProbe(err, time.Now())
}

// writeAppState writes the app's state file.
func writeAppState(t *testing.T, dir, app string, st State) {
	t.Helper()
	if err := WriteStateFile(AppStatePath(dir, app), st); err != nil {
		t.Fatal(err)
	}
}

// ---- berth.go: New and ServeHTTP ----

func TestNewRejectsMissingInputs(t *testing.T) {
	if _, err := New(context.Background(), nil, testConfig("new-nil-next"), "mw"); err == nil ||
		!strings.Contains(err.Error(), "no next handler") || !strings.Contains(err.Error(), "mw") {
		t.Errorf("nil next: err = %v, want a 'no next handler' error naming the middleware", err)
	}
	if _, err := New(context.Background(), http.NotFoundHandler(), nil, "mw"); err == nil ||
		!strings.Contains(err.Error(), "no configuration") {
		t.Errorf("nil config: err = %v, want 'no configuration'", err)
	}
	cfg := testConfig("new-bad-status")
	cfg.Status = 200
	_, err := New(context.Background(), http.NotFoundHandler(), cfg, "my-router-mw@file")
	if err == nil || !strings.Contains(err.Error(), "my-router-mw@file") || !strings.Contains(err.Error(), "status") {
		t.Errorf("bad status: err = %v, want an error naming the field and the middleware", err)
	}
	registry.mu.Lock()
	for _, c := range registry.byKey {
		if c.s.app == "new-bad-status" {
			t.Errorf("a rejected configuration left a controller in the registry")
		}
	}
	registry.mu.Unlock()
}

// New hands Traefik the instance's own handler: live requests reach next,
// the status path and other modes do not.
func TestNewReturnsTheFastPath(t *testing.T) {
	var called atomic.Int64
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called.Add(1) })
	cfg := testConfig("new-fast-path")
	cfg.AllowCIDRs = []string{"192.0.2.1"}
	b := newBerth(t, cfg, next) // the same config: New below shares its controller
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h, err := New(ctx, next, cfg, "mw")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := h.(http.HandlerFunc); !ok {
		t.Fatalf("New returned %T, want the http.HandlerFunc Traefik calls without a wrapper", h)
	}

	serve := func(path string) int {
		rec := httptest.NewRecorder()
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.RemoteAddr = "192.0.2.1:1234"
		h.ServeHTTP(rec, r)
		return rec.Code
	}
	if serve("/workouts"); called.Load() != 1 {
		t.Fatalf("live request: next called %d times, want 1", called.Load())
	}
	if code := serve(b.statusPath); code != http.StatusOK || called.Load() != 1 {
		t.Errorf("status path: code %d, next called %d times; want 200 from berth and next untouched", code, called.Load())
	}
	b.c.mu.Lock()
	b.c.s.enabled = true // as a state file would
	b.c.publishLocked(time.Now())
	b.c.mu.Unlock()
	if len(b.c.notLive) != 1 || len(b.c.inMaintenance) != 1 {
		t.Fatalf("flags after maintenance began: notLive %d inMaintenance %d, want 1 and 1", len(b.c.notLive), len(b.c.inMaintenance))
	}
	r := httptest.NewRequest(http.MethodGet, "/workouts", nil)
	r.RemoteAddr = "198.51.100.9:1234" // a visitor, not the allowed operator
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if rec.Code != http.StatusServiceUnavailable || called.Load() != 1 {
		t.Errorf("maintenance: code %d, next called %d times; want 503 and next untouched", rec.Code, called.Load())
	}
	b.c.mu.Lock()
	b.c.s.enabled = false
	b.c.publishLocked(time.Now())
	b.c.mu.Unlock()
	if len(b.c.notLive) != 0 || len(b.c.inMaintenance) != 0 {
		t.Fatalf("flags after maintenance ended: notLive %d inMaintenance %d, want 0 and 0", len(b.c.notLive), len(b.c.inMaintenance))
	}
	if serve("/workouts"); called.Load() != 2 {
		t.Errorf("live again: next called %d times, want 2", called.Load())
	}
}

func TestNewWithNilContext(t *testing.T) {
	// Traefik never passes nil, but New must not fall over if it did.
	var ctx context.Context
	b, err := newInstance(ctx, http.NotFoundHandler(), testConfig("new-nil-ctx"), "mw")
	if err != nil {
		t.Fatal(err)
	}
	// A background context never releases the controller; do it by hand.
	b.c.release()
	stopNow(t, b.c)
}

// identityWriter is a ResponseWriter whose identity the test can compare.
type identityWriter struct {
	h    http.Header
	code int
}

func (w *identityWriter) Header() http.Header         { return w.h }
func (w *identityWriter) Write(p []byte) (int, error) { return len(p), nil }
func (w *identityWriter) WriteHeader(code int)        { w.code = code }

func TestLivePassesOriginalWriter(t *testing.T) {
	var seenW http.ResponseWriter
	var seenR *http.Request
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seenW, seenR = w, r
		w.WriteHeader(http.StatusTeapot)
	})
	b := newBerth(t, testConfig("live-identity"), next)
	if !b.c.isLive() {
		t.Fatal("a fresh controller without state should be live")
	}
	w := &identityWriter{h: http.Header{}}
	r := httptest.NewRequest(http.MethodGet, "/anything", nil)
	b.ServeHTTP(w, r)
	if seenW != http.ResponseWriter(w) {
		t.Fatalf("next saw writer %T %p, want the original %p", seenW, seenW, w)
	}
	if seenR != r {
		t.Errorf("next saw a different *http.Request")
	}
	if w.code != http.StatusTeapot {
		t.Errorf("status = %d", w.code)
	}

	// The slow path in live mode (the status path for a non-operator)
	// must not wrap the writer either.
	seenW = nil
	b.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/_berth/status", nil))
	if seenW != http.ResponseWriter(w) {
		t.Fatalf("status path for a non-operator: next saw writer %T, want the original", seenW)
	}
}

// In live mode a server-sent event reaches the client while the handler is
// still running: nothing buffers the stream.
func TestLiveStreamsAreNotBuffered(t *testing.T) {
	release := make(chan struct{})
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
		_, _ = io.WriteString(w, "data: two\n\n")
	})
	b := newBerth(t, testConfig("live-sse"), next)
	srv := serve(t, b)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/events", nil)
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	got := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(resp.Body).ReadString('\n')
		got <- line
	}()
	select {
	case line := <-got:
		if line != "data: one\n" {
			t.Errorf("first line = %q", line)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the first event did not arrive while the handler was still running")
	}
	close(release)
}

func TestMaintenanceFromConfig(t *testing.T) {
	app := &countingApp{}
	cfg := testConfig("maint-config")
	cfg.Enabled = true
	cfg.Message = "Back at <b>noon</b>"
	b := newBerth(t, cfg, app)
	srv := serve(t, b)

	resp, body := get(t, srv.URL+"/")
	if resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("status = %d, want 503", resp.StatusCode)
	}
	if !strings.Contains(body, "Back at &lt;b&gt;noon&lt;/b&gt;") {
		t.Errorf("page does not carry the escaped message:\n%s", body)
	}
	if resp.Header.Get("X-Berth-Mode") != "maintenance" || resp.Header.Get("Retry-After") != "30" {
		t.Errorf("headers = %v", resp.Header)
	}
	// /up always passes (the default alwaysPass).
	resp, body = get(t, srv.URL+"/up")
	if resp.StatusCode != 200 || body != "app /up" {
		t.Errorf("/up: %d %q, want the app's answer", resp.StatusCode, body)
	}
	// HEAD: status and headers, no body.
	req, _ := http.NewRequest(http.MethodHead, srv.URL+"/", nil)
	resp, body = do(t, nil, req)
	if resp.StatusCode != 503 || body != "" || resp.Header.Get("Content-Type") == "" {
		t.Errorf("HEAD: %d %q %v", resp.StatusCode, body, resp.Header)
	}
	if n := app.calls.Load(); n != 1 {
		t.Errorf("app saw %d requests, want 1 (only /up)", n)
	}
}

func TestMaintenanceBypassForOperators(t *testing.T) {
	secret := strings.Repeat("s3cr3t-", 6)
	app := &countingApp{}
	cfg := testConfig("maint-bypass")
	cfg.Enabled = true
	cfg.BypassSecret = secret
	cfg.AllowCIDRs = []string{"203.0.113.0/24"}
	b := newBerth(t, cfg, app)
	srv := serve(t, b)
	tok := SignBypassToken([]byte(secret), "maint-bypass", time.Now().Add(time.Hour))
	other := SignBypassToken([]byte(secret), "some-other-app", time.Now().Add(time.Hour))

	cases := []struct {
		name   string
		header [2]string
		cookie string
		want   int
	}{
		{"nobody", [2]string{}, "", 503},
		{"header token", [2]string{"X-Berth-Bypass", tok}, "", 200},
		{"cookie token", [2]string{}, tok, 200},
		{"token of another app", [2]string{"X-Berth-Bypass", other}, "", 503},
		{"forged token", [2]string{"X-Berth-Bypass", tok[:len(tok)-2] + "AA"}, "", 503},
		{"spoofed X-Forwarded-For from an untrusted peer", [2]string{"X-Forwarded-For", "203.0.113.9"}, "", 503},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/admin", nil)
			if tc.header[0] != "" {
				req.Header.Set(tc.header[0], tc.header[1])
			}
			if tc.cookie != "" {
				req.AddCookie(&http.Cookie{Name: "berth_bypass", Value: tc.cookie})
			}
			resp, body := do(t, nil, req)
			if resp.StatusCode != tc.want {
				t.Fatalf("status = %d, want %d (%s)", resp.StatusCode, tc.want, body)
			}
			if tc.want == 200 && body != "app /admin" {
				t.Errorf("body = %q", body)
			}
		})
	}

	// The query parameter turns into a cookie and a redirect, even in
	// maintenance, and the cookie then lets the browser through.
	resp, _ := get(t, srv.URL+"/admin?berth_bypass="+tok+"&tab=2")
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin?tab=2" {
		t.Fatalf("query token: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	cookies := resp.Cookies()
	if len(cookies) != 1 || cookies[0].Value != tok {
		t.Fatalf("cookies = %v", cookies)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/admin?tab=2", nil)
	req.AddCookie(cookies[0])
	if resp, body := do(t, nil, req); resp.StatusCode != 200 || body != "app /admin" {
		t.Errorf("with the new cookie: %d %q", resp.StatusCode, body)
	}
}

// A panic in the app behind the slow path is not swallowed by berth: it
// reaches Traefik's recovery (a 500, or a cut connection for
// http.ErrAbortHandler) with its original value.
func TestPanicBecomes500(t *testing.T) {
	cfg := testConfig("panic-next")
	cfg.Enabled = true
	cfg.AlwaysPass = []string{"/boom"}
	b := newBerth(t, cfg, http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("app bug") }))
	rec := httptest.NewRecorder()
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Errorf("a panic reached the caller: %v", p)
			}
		}()
		b.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/boom", nil))
	}()
	if rec.Code != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", rec.Code)
	}
}

// http.ErrAbortHandler is how a reverse proxy aborts a response whose
// upstream died half way; the middleware must let it through so the server
// cuts the connection, instead of finishing the response as if it were
// complete (with "Internal Server Error" glued to half a body).
func TestAbortHandlerPanicIsNotSwallowed(t *testing.T) {
	cfg := testConfig("abort-next")
	cfg.Enabled = true
	cfg.AlwaysPass = []string{"/download"}
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "first half of the file")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	})
	b := newBerth(t, cfg, next)
	srv := serve(t, b)
	srv.Config.ErrorLog = nil
	resp, err := http.Get(srv.URL + "/download")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil {
		t.Fatalf("the client read a complete response %q; want the connection aborted", body)
	}
	if strings.Contains(string(body), "Internal Server Error") {
		t.Errorf("an error text was appended to the partial body: %q", body)
	}
}

// The state directory is read at start: an app in maintenance when Traefik
// (re)starts is in maintenance from the first request.
func TestStateFileReadAtStart(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig("state-at-start")
	cfg.StateDir = dir
	writeAppState(t, dir, cfg.App, State{Mode: ModeMaintenance, Message: "Database upgrade"})
	b := newBerth(t, cfg, &countingApp{})
	rec := httptest.NewRecorder()
	b.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != 503 || !strings.Contains(rec.Body.String(), "Database upgrade") {
		t.Errorf("got %d %q", rec.Code, rec.Body.String())
	}
}

func TestConcurrentRequestsAcrossModes(t *testing.T) {
	// A smoke test for the race detector: requests while the mode flips.
	dir := t.TempDir()
	cfg := testConfig("concurrent-modes")
	cfg.StateDir = dir
	cfg.HoldTimeout = "0s"
	b := newBerth(t, cfg, &countingApp{})
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				rec := httptest.NewRecorder()
				b.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
				if rec.Code != 200 && rec.Code != 503 {
					t.Errorf("status %d", rec.Code)
					return
				}
			}
		}()
	}
	modes := []Mode{ModeMaintenance, ModePaused, ModeDeploying, ModeLive}
	for i := 0; i < 8; i++ {
		m := modes[i%len(modes)]
		writeAppState(t, dir, cfg.App, State{Mode: m})
		waitFor(t, 3*time.Second, "mode "+string(m), func() bool { return b.c.current().mode == m })
	}
	_ = os.Remove(filepath.Join(dir, "apps", cfg.App+".json"))
	close(stop)
	wg.Wait()
}

// The page served in maintenance is prepared once per state and reused;
// it must still follow every change of message, mode and Accept, and
// count Retry-After down towards the end time.
func TestMaintenancePageFollowsState(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig("page-follows")
	cfg.StateDir = dir
	until := time.Now().Add(time.Hour)
	writeAppState(t, dir, cfg.App, State{Mode: ModeMaintenance, Message: "first", Until: until})
	b := newBerth(t, cfg, &countingApp{})
	page := func(accept string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		if accept != "" {
			r.Header.Set("Accept", accept)
		}
		rec := httptest.NewRecorder()
		b.ServeHTTP(rec, r)
		return rec
	}
	if rec := page(""); !strings.Contains(rec.Body.String(), "first") || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Fatalf("first page: %q", rec.Body.String())
	}
	if rec := page("application/json"); !strings.Contains(rec.Body.String(), `"message":"first"`) || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Errorf("JSON page: %q", rec.Body.String())
	}
	if rec := page("text/html"); !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/html") {
		t.Errorf("HTML after JSON: %q", rec.Header().Get("Content-Type"))
	}

	// Retry-After counts down while the state stays the same.
	ra := func() int {
		n, err := strconv.Atoi(page("").Header().Get("Retry-After"))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	first := ra()
	if first < 3590 || first > 3600 {
		t.Fatalf("Retry-After = %d, want about an hour", first)
	}
	waitFor(t, 3*time.Second, "Retry-After to count down", func() bool { return ra() < first })

	writeAppState(t, dir, cfg.App, State{Mode: ModeMaintenance, Message: "second"})
	waitFor(t, 3*time.Second, "the new message on the page", func() bool {
		return strings.Contains(page("").Body.String(), "second")
	})
	if got := page("").Header().Get("Retry-After"); got != "30" {
		t.Errorf("without an end time Retry-After = %q, want the default 30", got)
	}
	if rec := page("application/json"); !strings.Contains(rec.Body.String(), `"message":"second"`) {
		t.Errorf("stale JSON page: %q", rec.Body.String())
	}

	// Many clients at once (for the race detector) all get a whole page.
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			accept := ""
			if i%2 == 0 {
				accept = "application/json"
			}
			for j := 0; j < 50; j++ {
				rec := page(accept)
				if rec.Code != 503 || rec.Header().Get("Content-Length") != strconv.Itoa(rec.Body.Len()) {
					t.Errorf("concurrent page: %d, %s bytes announced, %d sent", rec.Code, rec.Header().Get("Content-Length"), rec.Body.Len())
					return
				}
			}
		}(i)
	}
	wg.Wait()
}
