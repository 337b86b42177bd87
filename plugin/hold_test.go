package plugin

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type result struct {
	code int
	body string
	took time.Duration
	err  error
}

// getAsync sends a GET in the background and reports its outcome.
func getAsync(ctx context.Context, url string) <-chan result {
	out := make(chan result, 1)
	go func() {
		start := time.Now()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := noRedirect.Do(req)
		if err != nil {
			out <- result{err: err, took: time.Since(start)}
			return
		}
		defer resp.Body.Close()
		var sb strings.Builder
		buf := make([]byte, 4096)
		for {
			n, rerr := resp.Body.Read(buf)
			sb.Write(buf[:n])
			if rerr != nil {
				break
			}
		}
		out <- result{code: resp.StatusCode, body: sb.String(), took: time.Since(start)}
	}()
	return out
}

func waitResult(t *testing.T, ch <-chan result, within time.Duration) result {
	t.Helper()
	select {
	case r := <-ch:
		return r
	case <-time.After(within):
		t.Fatalf("no answer within %s", within)
	}
	return result{}
}

func heldCount(b *Berth) int64 { return b.c.held.Load() }

// A request held while the app is down goes to the app the moment the probe
// passes again, long before the hold timeout.
func TestHoldReleasedWhenHealthReturns(t *testing.T) {
	app := &countingApp{}
	cfg := testConfig("hold-release")
	cfg.HoldTimeout = "20s"
	b := newBerth(t, cfg, app)
	setHealth(b.c, false)
	srv := serve(t, b)

	ch := getAsync(context.Background(), srv.URL+"/held")
	waitFor(t, 3*time.Second, "the request to be held", func() bool { return heldCount(b) == 1 })
	released := time.Now()
	setHealth(b.c, true)
	r := waitResult(t, ch, 3*time.Second)
	if r.err != nil || r.code != 200 || r.body != "app /held" {
		t.Fatalf("released request: %+v", r)
	}
	if lag := time.Since(released); lag > time.Second {
		t.Errorf("released %s after health returned", lag)
	}
	if heldCount(b) != 0 {
		t.Errorf("held = %d after release", heldCount(b))
	}
}

// A pause holds requests; removing the state file (resume) releases them.
func TestHoldReleasedOnResume(t *testing.T) {
	dir := t.TempDir()
	app := &countingApp{}
	cfg := testConfig("hold-resume")
	cfg.StateDir = dir
	cfg.HoldTimeout = "20s"
	writeAppState(t, dir, cfg.App, State{Mode: ModePaused})
	b := newBerth(t, cfg, app)
	srv := serve(t, b)
	ch := getAsync(context.Background(), srv.URL+"/p")
	waitFor(t, 3*time.Second, "the request to be held", func() bool { return heldCount(b) == 1 })
	if app.calls.Load() != 0 {
		t.Fatal("a paused app got a request")
	}
	if err := RemoveStateFile(AppStatePath(dir, cfg.App)); err != nil {
		t.Fatal(err)
	}
	r := waitResult(t, ch, 3*time.Second)
	if r.code != 200 || r.body != "app /p" {
		t.Fatalf("after resume: %+v", r)
	}
}

// Maintenance declared while a request is held answers it with the page
// at once.
func TestHoldEndsWithMaintenance(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig("hold-maint")
	cfg.StateDir = dir
	cfg.HoldTimeout = "20s"
	writeAppState(t, dir, cfg.App, State{Mode: ModePaused})
	b := newBerth(t, cfg, &countingApp{})
	srv := serve(t, b)
	ch := getAsync(context.Background(), srv.URL+"/")
	waitFor(t, 3*time.Second, "the request to be held", func() bool { return heldCount(b) == 1 })
	writeAppState(t, dir, cfg.App, State{Mode: ModeMaintenance, Message: "Changed plans"})
	r := waitResult(t, ch, 3*time.Second)
	if r.code != 503 || !strings.Contains(r.body, "Changed plans") || !strings.Contains(r.body, "Down for maintenance") {
		t.Fatalf("got %+v", r)
	}
}

// After the hold timeout the held request gets the unavailable page (or
// the pause's own message).
func TestHoldTimeout(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig("hold-timeout")
	cfg.StateDir = dir
	cfg.HoldTimeout = "150ms"
	until := time.Now().Add(time.Hour)
	writeAppState(t, dir, cfg.App, State{Mode: ModePaused, Message: "Swapping disks", Until: until})
	app := &countingApp{}
	b := newBerth(t, cfg, app)
	srv := serve(t, b)
	r := waitResult(t, getAsync(context.Background(), srv.URL+"/"), 5*time.Second)
	if r.code != 503 || !strings.Contains(r.body, "Swapping disks") || !strings.Contains(r.body, "Temporarily unavailable") {
		t.Errorf("paused past the hold timeout: %+v", r)
	}
	if r.took < 140*time.Millisecond {
		t.Errorf("answered after %s, before the hold timeout", r.took)
	}
	if app.calls.Load() != 0 || heldCount(b) != 0 {
		t.Errorf("app calls %d, held %d", app.calls.Load(), heldCount(b))
	}
}

// Beyond maxHeld the answer is immediate.
func TestMaxHeldOverflow(t *testing.T) {
	cfg := testConfig("hold-max")
	cfg.HoldTimeout = "20s"
	cfg.MaxHeld = 2
	b := newBerth(t, cfg, &countingApp{})
	setHealth(b.c, false)
	srv := serve(t, b)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := getAsync(ctx, srv.URL+"/1")
	second := getAsync(ctx, srv.URL+"/2")
	waitFor(t, 3*time.Second, "two held requests", func() bool { return heldCount(b) == 2 })

	r := waitResult(t, getAsync(context.Background(), srv.URL+"/3"), 3*time.Second)
	if r.code != 503 || !strings.Contains(r.body, "Temporarily unavailable") {
		t.Errorf("overflow: %+v", r)
	}
	if r.took > time.Second {
		t.Errorf("overflow answered after %s, want at once", r.took)
	}
	if heldCount(b) != 2 {
		t.Errorf("held = %d after the overflow, want 2", heldCount(b))
	}
	setHealth(b.c, true)
	for _, ch := range []<-chan result{first, second} {
		if r := waitResult(t, ch, 3*time.Second); r.code != 200 {
			t.Errorf("held request: %+v", r)
		}
	}

	// maxHeld 0: never hold.
	cfg0 := testConfig("hold-max-zero")
	cfg0.HoldTimeout = "20s"
	cfg0.MaxHeld = 0
	b0 := newBerth(t, cfg0, &countingApp{})
	setHealth(b0.c, false)
	start := time.Now()
	rec := httptest.NewRecorder()
	b0.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
	if rec.Code != 503 || time.Since(start) > time.Second {
		t.Errorf("maxHeld 0: %d after %s", rec.Code, time.Since(start))
	}
}

// A client that gives up frees its slot, and nothing is sent to it or to
// the app.
func TestClientCancellationFreesHeldRequest(t *testing.T) {
	app := &countingApp{}
	cfg := testConfig("hold-cancel")
	cfg.HoldTimeout = "20s"
	cfg.MaxHeld = 1
	b := newBerth(t, cfg, app)
	setHealth(b.c, false)
	srv := serve(t, b)

	ctx, cancel := context.WithCancel(context.Background())
	ch := getAsync(ctx, srv.URL+"/")
	waitFor(t, 3*time.Second, "the request to be held", func() bool { return heldCount(b) == 1 })
	cancel()
	if r := waitResult(t, ch, 3*time.Second); r.err == nil {
		t.Errorf("the cancelled request got an answer: %+v", r)
	}
	waitFor(t, 3*time.Second, "the slot to be freed", func() bool { return heldCount(b) == 0 })

	// The freed slot is usable.
	ch = getAsync(context.Background(), srv.URL+"/again")
	waitFor(t, 3*time.Second, "the next request to be held", func() bool { return heldCount(b) == 1 })
	setHealth(b.c, true)
	if r := waitResult(t, ch, 3*time.Second); r.code != 200 {
		t.Errorf("next request: %+v", r)
	}
	if n := app.calls.Load(); n != 1 {
		t.Errorf("app saw %d requests, want 1 (the cancelled one never reaches it)", n)
	}

	// Directly: a cancelled request writes nothing at all.
	setHealth(b.c, false)
	rctx, rcancel := context.WithCancel(context.Background())
	req := httptest.NewRequest("GET", "/", nil).WithContext(rctx)
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		b.ServeHTTP(rec, req)
	}()
	waitFor(t, 3*time.Second, "the direct request to be held", func() bool { return heldCount(b) == 1 })
	rcancel()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		t.Fatal("ServeHTTP did not return after the client went away")
	}
	if rec.Body.Len() != 0 || len(rec.Header()) != 0 || rec.Flushed {
		t.Errorf("something was written to a client that left: %d bytes, headers %v", rec.Body.Len(), rec.Header())
	}
}
