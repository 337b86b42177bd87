package plugin

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestRetryable(t *testing.T) {
	mk := func(method string, edit func(*http.Request)) *http.Request {
		r := httptest.NewRequest(method, "/", nil)
		if edit != nil {
			edit(r)
		}
		return r
	}
	cases := []struct {
		name string
		r    *http.Request
		want bool
	}{
		{"GET", mk("GET", nil), true},
		{"HEAD", mk("HEAD", nil), true},
		{"OPTIONS", mk("OPTIONS", nil), true},
		{"POST", mk("POST", nil), false},
		{"PUT", mk("PUT", nil), false},
		{"PATCH", mk("PATCH", nil), false},
		{"DELETE", mk("DELETE", nil), false},
		{"GET with a body", mk("GET", func(r *http.Request) { r.ContentLength = 5 }), false},
		{"GET with an unknown-length body", mk("GET", func(r *http.Request) { r.ContentLength = -1 }), false},
		{"GET chunked", mk("GET", func(r *http.Request) { r.TransferEncoding = []string{"chunked"} }), false},
		{"websocket upgrade", mk("GET", func(r *http.Request) {
			r.Header.Set("Connection", "Upgrade")
			r.Header.Set("Upgrade", "websocket")
		}), false},
		{"server-sent events", mk("GET", func(r *http.Request) { r.Header.Set("Accept", "text/event-stream") }), false},
		{"server-sent events among others", mk("GET", func(r *http.Request) { r.Header.Set("Accept", "text/html, text/event-stream;q=0.9") }), false},
		{"gRPC", mk("GET", func(r *http.Request) { r.Header.Set("Content-Type", "application/grpc+proto") }), false},
		{"JSON GET", mk("GET", func(r *http.Request) { r.Header.Set("Accept", "application/json") }), true},
	}
	for _, tc := range cases {
		if got := retryable(tc.r); got != tc.want {
			t.Errorf("%s: retryable = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// flakyApp fails the first `failures` requests with `status` (a draining
// container, or Traefik answering for one), then answers 200.
type flakyApp struct {
	failures int64
	status   int
	calls    atomic.Int64
}

func (a *flakyApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := a.calls.Add(1)
	if n <= a.failures {
		w.Header().Set("X-Failed-Attempt", "yes")
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(a.status)
		_, _ = io.WriteString(w, "draining")
		return
	}
	w.Header().Set("X-From", "app")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "fresh "+r.Method)
}

// deployingBerth is an instance whose app is in deploying mode.
func deployingBerth(t *testing.T, app string, hold string, next http.Handler) *Berth {
	t.Helper()
	dir := t.TempDir()
	cfg := testConfig(app)
	cfg.StateDir = dir
	cfg.HoldTimeout = hold
	writeAppState(t, dir, app, State{Mode: ModeDeploying, Until: time.Now().Add(time.Hour)})
	b := newBerth(t, cfg, next)
	if m := b.c.current().effective(); m != ModeDeploying {
		t.Fatalf("mode = %s, want deploying", m)
	}
	if b.c.isLive() {
		t.Fatal("deploying must leave the fast path")
	}
	return b
}

func TestDeployingRetriesIdempotentRequests(t *testing.T) {
	for _, status := range []int{502, 503, 504} {
		t.Run(http.StatusText(status), func(t *testing.T) {
			app := &flakyApp{failures: 3, status: status}
			b := deployingBerth(t, "retry-"+strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "-")), "5s", app)
			srv := serve(t, b)
			resp, body := get(t, srv.URL+"/page")
			if resp.StatusCode != 200 || body != "fresh GET" {
				t.Fatalf("got %d %q, want the fresh answer", resp.StatusCode, body)
			}
			if resp.Header.Get("X-Failed-Attempt") != "" {
				t.Errorf("a failed attempt's header leaked to the client")
			}
			if resp.Header.Get("X-From") != "app" || resp.Header.Get("Content-Type") == "" {
				t.Errorf("the good attempt's headers are missing: %v", resp.Header)
			}
			if n := app.calls.Load(); n != 4 {
				t.Errorf("app saw %d attempts, want 4", n)
			}
			// HEAD is retried as well.
			app.calls.Store(0)
			req, _ := http.NewRequest(http.MethodHead, srv.URL+"/page", nil)
			if resp, _ := do(t, nil, req); resp.StatusCode != 200 || app.calls.Load() != 4 {
				t.Errorf("HEAD: %d after %d attempts", resp.StatusCode, app.calls.Load())
			}
		})
	}
}

func TestDeployingNeverRetriesUnsafeOrStreams(t *testing.T) {
	app := &flakyApp{failures: 1 << 30, status: 502}
	b := deployingBerth(t, "retry-unsafe", "5s", app)
	srv := serve(t, b)
	cases := []struct {
		name   string
		method string
		body   string
		header [][2]string
	}{
		{"POST", "POST", "a=1", nil},
		{"PUT", "PUT", "x", nil},
		{"DELETE", "DELETE", "", nil},
		{"GET with a body", "GET", "q", nil},
		{"server-sent events", "GET", "", [][2]string{{"Accept", "text/event-stream"}}},
		{"websocket upgrade", "GET", "", [][2]string{{"Connection", "Upgrade"}, {"Upgrade", "websocket"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app.calls.Store(0)
			var body io.Reader
			if tc.body != "" {
				body = strings.NewReader(tc.body)
			}
			req, _ := http.NewRequest(tc.method, srv.URL+"/x", body)
			for _, h := range tc.header {
				req.Header.Set(h[0], h[1])
			}
			start := time.Now()
			resp, got := do(t, nil, req)
			if resp.StatusCode != 502 || got != "draining" {
				t.Errorf("got %d %q, want the app's own 502", resp.StatusCode, got)
			}
			if n := app.calls.Load(); n != 1 {
				t.Errorf("sent %d times, want once", n)
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("took %s: the request was delayed", took)
			}
		})
	}
}

// When the deadline comes the last attempt goes to the client as the app
// answered it: the app's own 503 is delayed, never replaced by berth's page.
func TestDeployingLastAttemptPassesThrough(t *testing.T) {
	var calls atomic.Int64
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("X-App-Own", "1")
		w.Header().Set("Retry-After", "120")
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "the app's own 503")
	})
	b := deployingBerth(t, "retry-last", "300ms", app)
	srv := serve(t, b)
	start := time.Now()
	resp, body := get(t, srv.URL+"/")
	took := time.Since(start)
	if resp.StatusCode != 503 || body != "the app's own 503" || resp.Header.Get("X-App-Own") != "1" || resp.Header.Get("Retry-After") != "120" {
		t.Errorf("got %d %q %v, want the app's answer untouched", resp.StatusCode, body, resp.Header)
	}
	if resp.Header.Get("X-Berth-Mode") != "" {
		t.Errorf("berth's page was served instead of the app's answer")
	}
	if n := calls.Load(); n < 3 {
		t.Errorf("only %d attempts in 300ms", n)
	}
	// The last attempt is made once less than one back-off step is left.
	if took < 300*time.Millisecond-maxRetryBackoff || took > 3*time.Second {
		t.Errorf("answered after %s, want about the hold timeout (300ms)", took)
	}
}

// Other statuses are the app's answer, not a draining server: no retry.
func TestDeployingDoesNotRetryOtherStatuses(t *testing.T) {
	for _, status := range []int{200, 404, 500, 429} {
		var calls atomic.Int64
		app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			calls.Add(1)
			w.WriteHeader(status)
		})
		b := deployingBerth(t, "retry-other-"+strconv.Itoa(status), "5s", app)
		rec := httptest.NewRecorder()
		b.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
		if rec.Code != status || calls.Load() != 1 {
			t.Errorf("status %d: client got %d after %d attempts", status, rec.Code, calls.Load())
		}
	}
}

// switchingProxy is a reverse proxy that first points at a port nobody
// listens on (the old container is gone: the proxy answers 502) and then at
// the new container.
func TestDeployingRetriesRefusedConnections(t *testing.T) {
	fresh := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "new container")
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadURL, _ := url.Parse("http://" + l.Addr().String())
	l.Close()
	freshURL, _ := url.Parse(fresh.URL)
	var attempts atomic.Int64
	proxy := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			if attempts.Add(1) <= 2 {
				pr.SetURL(deadURL)
			} else {
				pr.SetURL(freshURL)
			}
		},
		ErrorLog: nil,
	}
	proxy.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		w.WriteHeader(http.StatusBadGateway)
	}
	b := deployingBerth(t, "retry-refused", "5s", proxy)
	srv := serve(t, b)
	resp, body := get(t, srv.URL+"/")
	if resp.StatusCode != 200 || body != "new container" {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
	if n := attempts.Load(); n != 3 {
		t.Errorf("%d attempts, want 3", n)
	}
}

// Maintenance declared while a request is being retried ends the retries
// with the page.
func TestDeployingSwitchesToMaintenance(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig("retry-to-maint")
	cfg.StateDir = dir
	cfg.HoldTimeout = "10s"
	writeAppState(t, dir, cfg.App, State{Mode: ModeDeploying})
	var calls atomic.Int64
	app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 2 {
			_ = WriteStateFile(AppStatePath(dir, cfg.App), State{Mode: ModeMaintenance, Message: "Rolled back"})
		}
		w.WriteHeader(502)
	})
	b := newBerth(t, cfg, app)
	srv := serve(t, b)
	start := time.Now()
	resp, body := get(t, srv.URL+"/")
	if resp.StatusCode != 503 || !strings.Contains(body, "Rolled back") {
		t.Errorf("got %d %q", resp.StatusCode, body)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("retried on for %s after maintenance began", time.Since(start))
	}
}

// A deploying app whose probe fails is unavailable: requests are held, and
// sent (with retries) once it is back.
func TestDeployingUnhealthyHoldsThenForwards(t *testing.T) {
	app := &flakyApp{failures: 1, status: 502}
	b := deployingBerth(t, "retry-unhealthy", "10s", app)
	setHealth(b.c, false)
	srv := serve(t, b)
	ch := getAsync(context.Background(), srv.URL+"/")
	waitFor(t, 3*time.Second, "the request to be held", func() bool { return heldCount(b) == 1 })
	if app.calls.Load() != 0 {
		t.Fatal("an unavailable app got a request")
	}
	setHealth(b.c, true)
	r := waitResult(t, ch, 5*time.Second)
	if r.code != 200 || r.body != "fresh GET" || app.calls.Load() != 2 {
		t.Errorf("got %+v after %d attempts", r, app.calls.Load())
	}
}

// The client leaving during the back-off ends the retries.
func TestDeployingClientLeaves(t *testing.T) {
	app := &flakyApp{failures: 1 << 30, status: 502}
	b := deployingBerth(t, "retry-leave", "20s", app)
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequest("GET", "/", nil).WithContext(ctx)
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.ServeHTTP(rec, req)
	}()
	waitFor(t, 3*time.Second, "a few attempts", func() bool { return app.calls.Load() >= 2 })
	cancel()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("retries went on after the client left")
	}
	n := app.calls.Load()
	time.Sleep(150 * time.Millisecond)
	if app.calls.Load() != n {
		t.Errorf("attempts continued after ServeHTTP returned")
	}
	if rec.Body.Len() != 0 {
		t.Errorf("wrote %q to a client that left", rec.Body.String())
	}
}

func TestRetryWriter(t *testing.T) {
	// A good answer is passed on as it comes, headers included.
	rec := httptest.NewRecorder()
	rw := &retryWriter{w: rec, header: http.Header{}}
	rw.Header().Set("X-A", "1")
	rw.WriteHeader(103) // informational: ignored
	rw.WriteHeader(201)
	rw.WriteHeader(500) // superfluous: ignored
	_, _ = rw.Write([]byte("body"))
	rw.Flush()
	if rw.failed || rec.Code != 201 || rec.Body.String() != "body" || rec.Header().Get("X-A") != "1" || !rec.Flushed {
		t.Errorf("good answer: failed %v, %d %q %v flushed %v", rw.failed, rec.Code, rec.Body.String(), rec.Header(), rec.Flushed)
	}

	// Write without WriteHeader means 200.
	rec = httptest.NewRecorder()
	rw = &retryWriter{w: rec, header: http.Header{}}
	_, _ = rw.Write([]byte("x"))
	if rw.failed || rec.Code != 200 || rec.Body.String() != "x" {
		t.Errorf("implicit 200: %d %q", rec.Code, rec.Body.String())
	}

	// Flush before anything is written commits a 200.
	rec = httptest.NewRecorder()
	rw = &retryWriter{w: rec, header: http.Header{}}
	rw.Flush()
	if rec.Code != 200 || !rec.Flushed {
		t.Errorf("flush first: %d flushed %v", rec.Code, rec.Flushed)
	}

	// A failed attempt leaves the real writer untouched.
	for _, code := range []int{502, 503, 504} {
		rec = httptest.NewRecorder()
		rw = &retryWriter{w: rec, header: http.Header{}}
		rw.Header().Set("X-Bad", "1")
		rw.WriteHeader(code)
		n, err := rw.Write([]byte("bad gateway"))
		rw.Flush()
		if !rw.failed || n != len("bad gateway") || err != nil {
			t.Errorf("%d: failed %v, write %d %v", code, rw.failed, n, err)
		}
		if rec.Body.Len() != 0 || len(rec.Header()) != 0 || rec.Flushed {
			t.Errorf("%d: a failed attempt reached the client", code)
		}
	}
}

// The probe failing between two attempts turns the retry into a hold: the
// request waits for the app instead of hammering it, then is sent again;
// if the app is not back in time the unavailable page is served.
func TestDeployingRetryMeetsOutage(t *testing.T) {
	for _, back := range []bool{true, false} {
		name := "app comes back"
		hold := "10s"
		if !back {
			name, hold = "app stays down", "400ms"
		}
		t.Run(name, func(t *testing.T) {
			appName := "retry-outage-back"
			if !back {
				appName = "retry-outage-down"
			}
			var b *Berth
			var calls atomic.Int64
			app := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if calls.Add(1) == 1 {
					setHealth(b.c, false) // the probe notices the outage meanwhile
					w.WriteHeader(502)
					return
				}
				_, _ = io.WriteString(w, "back")
			})
			b = deployingBerth(t, appName, hold, app)
			srv := serve(t, b)
			ch := getAsync(context.Background(), srv.URL+"/")
			if back {
				waitFor(t, 3*time.Second, "the retry to be held", func() bool { return heldCount(b) == 1 })
				setHealth(b.c, true)
				if r := waitResult(t, ch, 3*time.Second); r.code != 200 || r.body != "back" || calls.Load() != 2 {
					t.Errorf("got %+v after %d attempts", r, calls.Load())
				}
				return
			}
			r := waitResult(t, ch, 5*time.Second)
			if r.code != 503 || !strings.Contains(r.body, "Temporarily unavailable") || calls.Load() != 1 {
				t.Errorf("got %+v after %d attempts", r, calls.Load())
			}
		})
	}
}
