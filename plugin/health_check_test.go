package plugin

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestProbeThrough(t *testing.T) {
	hs := healthSettings{enabled: true, path: "/up", timeout: 300 * time.Millisecond}
	cases := []struct {
		name    string
		handler http.HandlerFunc
		errPart string // "" for healthy
	}{
		{"200", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) }, ""},
		{"204", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) }, ""},
		{"body only", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) }, ""},
		{"streamed", func(w http.ResponseWriter, r *http.Request) { w.(http.Flusher).Flush(); _, _ = w.Write([]byte("ok")) }, ""},
		{"nothing written", func(w http.ResponseWriter, r *http.Request) {}, ""},
		{"early hints then 200", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(103); w.WriteHeader(200) }, ""},
		{"500", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }, "status 500"},
		{"503 then 200 ignored", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503); w.WriteHeader(200) }, "status 503"},
		{"502 like a dead upstream", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "Bad Gateway", http.StatusBadGateway) }, "status 502"},
		{"redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/login", http.StatusFound) }, "status 302"},
		{"panic", func(w http.ResponseWriter, r *http.Request) { panic("kaboom") }, "panicked: kaboom"},
		{"hangs past the timeout", func(w http.ResponseWriter, r *http.Request) { time.Sleep(2 * time.Second) }, "no answer within 300ms"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), hs.timeout)
			defer cancel()
			err := probeThrough(ctx, "probe-test", tc.handler, hs)
			if tc.errPart == "" {
				if err != nil {
					t.Errorf("probe failed: %v", err)
				}
			} else if err == nil || !strings.Contains(err.Error(), tc.errPart) {
				t.Errorf("err = %v, want one containing %q", err, tc.errPart)
			}
			if took := time.Since(start); took > time.Second {
				t.Errorf("probe took %s; it must give up at its timeout", took)
			}
		})
	}
}

func TestProbeThroughRequest(t *testing.T) {
	var got *http.Request
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Clone(context.Background()) })
	hs := healthSettings{path: "/healthz?full=1", host: "app.example.com", timeout: time.Second}
	if err := probeThrough(context.Background(), "x", h, hs); err != nil {
		t.Fatal(err)
	}
	if got.Method != "GET" || got.URL.Path != "/healthz" || got.URL.RawQuery != "full=1" || got.Host != "app.example.com" {
		t.Errorf("probe request: %s %s host %q", got.Method, got.URL, got.Host)
	}
	if got.Header.Get("User-Agent") != "berth-health/1" || got.Header.Get("X-Forwarded-Proto") != "https" {
		t.Errorf("probe headers: %v", got.Header)
	}
	if got.RemoteAddr == "" {
		t.Errorf("probe has no RemoteAddr (a reverse proxy adds it to X-Forwarded-For)")
	}
	hs.host = ""
	_ = probeThrough(context.Background(), "x", h, hs)
	if got.Host != "localhost" {
		t.Errorf("default probe host = %q, want localhost", got.Host)
	}
}

func TestProbeURL(t *testing.T) {
	var status atomic.Int64
	status.Store(200)
	var host atomic.Value
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host.Store(r.Host)
		if r.URL.Path == "/slow" {
			select {
			case <-time.After(time.Second):
			case <-r.Context().Done():
			}
		}
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/up", http.StatusFound)
			return
		}
		w.WriteHeader(int(status.Load()))
	}))
	// A port that refuses connections.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + l.Addr().String() + "/up"
	l.Close()

	probe := func(u, h string) error {
		hs := healthSettings{url: u, host: h, timeout: 300 * time.Millisecond}
		ctx, cancel := context.WithTimeout(context.Background(), hs.timeout)
		defer cancel()
		return probeURL(ctx, hs)
	}
	if err := probe(srv.URL+"/up", ""); err != nil {
		t.Errorf("healthy: %v", err)
	}
	if err := probe(srv.URL+"/up", "app.example.com"); err != nil || host.Load() != "app.example.com" {
		t.Errorf("host override: err %v, host %v", err, host.Load())
	}
	status.Store(503)
	if err := probe(srv.URL+"/up", ""); err == nil || !strings.Contains(err.Error(), "status 503") {
		t.Errorf("503: %v", err)
	}
	status.Store(200)
	if err := probe(srv.URL+"/redirect", ""); err == nil || !strings.Contains(err.Error(), "status 302") {
		t.Errorf("a redirect counted as healthy: %v", err)
	}
	if err := probe(refused, ""); err == nil {
		t.Errorf("a refused connection counted as healthy")
	}
	start := time.Now()
	if err := probe(srv.URL+"/slow", ""); err == nil {
		t.Errorf("a probe past its timeout counted as healthy")
	}
	if took := time.Since(start); took > 800*time.Millisecond {
		t.Errorf("slow probe took %s", took)
	}
}

func TestRecordProbeThresholds(t *testing.T) {
	cfg := testConfig("thresholds")
	cfg.Health.Enabled = true
	cfg.Health.HealthyThreshold = 2
	cfg.Health.UnhealthyThreshold = 3
	s, err := compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := newController("thresholds-key", s, true)
	fail := errors.New("down")
	steps := []struct {
		err     error
		healthy bool
	}{
		{fail, true}, {fail, true}, {nil, true}, // a success resets the failure streak
		{fail, true}, {fail, true}, {fail, false}, // three in a row
		{nil, false}, {fail, false}, {nil, false}, {nil, true}, // two in a row
	}
	for i, st := range steps {
		c.recordProbe(st.err, time.Now())
		snap := c.current()
		if snap.healthy != st.healthy {
			t.Fatalf("step %d: healthy = %v, want %v", i, snap.healthy, st.healthy)
		}
		if st.err != nil && snap.probeError != "down" {
			t.Errorf("step %d: probeError = %q", i, snap.probeError)
		}
		if st.err == nil && snap.probeError != "" {
			t.Errorf("step %d: probeError = %q after a success", i, snap.probeError)
		}
		if snap.lastProbe.IsZero() {
			t.Errorf("step %d: lastProbe not recorded", i)
		}
		if c.isLive() != st.healthy {
			t.Errorf("step %d: live flag %v", i, c.isLive())
		}
	}
}

// backend is a real HTTP server that can be taken down and brought back;
// proxy is what Traefik's service would be: a reverse proxy to it.
type backend struct {
	srv   *httptest.Server
	down  atomic.Bool
	calls atomic.Int64
}

func newBackend(t *testing.T) *backend {
	b := &backend{}
	b.srv = serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("User-Agent") != "berth-health/1" {
			b.calls.Add(1)
		}
		if b.down.Load() {
			http.Error(w, "backend down", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("backend " + r.URL.Path))
	}))
	return b
}

func (b *backend) proxy() http.Handler {
	u, _ := url.Parse(b.srv.URL)
	p := httputil.NewSingleHostReverseProxy(u)
	p.ErrorLog = nil
	return p
}

// The probe goes through next (the router's service): a failing app turns
// the mode to unavailable, visitors are held and then get the page, and the
// app coming back ends it.
func TestHealthThroughNextMarksUnavailableAndBack(t *testing.T) {
	be := newBackend(t)
	cfg := testConfig("health-next")
	cfg.Health.Enabled = true
	cfg.Health.Interval = "100ms"
	cfg.Health.Timeout = "1s"
	cfg.HoldTimeout = "200ms"
	cfg.UnavailableMessage = "Our app is restarting."
	b := newBerth(t, cfg, be.proxy())
	srv := serve(t, b)
	if resp, body := get(t, srv.URL+"/x"); resp.StatusCode != 200 || body != "backend /x" {
		t.Fatalf("healthy: %d %q", resp.StatusCode, body)
	}

	be.down.Store(true)
	waitMode(t, b.c, ModeUnavailable, 3*time.Second)
	calls := be.calls.Load()
	start := time.Now()
	resp, body := get(t, srv.URL+"/x")
	if resp.StatusCode != 503 || !strings.Contains(body, "Our app is restarting.") || resp.Header.Get("X-Berth-Mode") != "unavailable" {
		t.Errorf("down: %d %q", resp.StatusCode, body)
	}
	if took := time.Since(start); took < 150*time.Millisecond {
		t.Errorf("the request was answered after %s, not held for the hold timeout", took)
	}
	if be.calls.Load() != calls {
		t.Errorf("a request reached the failing app while it was unavailable")
	}
	snap := b.c.current()
	if !strings.Contains(snap.probeError, "status 503") {
		t.Errorf("probeError = %q", snap.probeError)
	}

	be.down.Store(false)
	waitMode(t, b.c, ModeLive, 3*time.Second)
	if !b.c.isLive() {
		t.Errorf("fast path not restored")
	}
	if resp, body := get(t, srv.URL+"/x"); resp.StatusCode != 200 || body != "backend /x" {
		t.Errorf("back: %d %q", resp.StatusCode, body)
	}
}

// With health.url the probe goes straight to the app, not through next.
func TestHealthURL(t *testing.T) {
	be := newBackend(t)
	cfg := testConfig("health-url")
	cfg.Health.Enabled = true
	cfg.Health.URL = be.srv.URL + "/up"
	cfg.Health.Interval = "100ms"
	var viaNext atomic.Int64
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		viaNext.Add(1)
	})
	b := newBerth(t, cfg, next)
	be.down.Store(true)
	waitMode(t, b.c, ModeUnavailable, 3*time.Second)
	be.down.Store(false)
	waitMode(t, b.c, ModeLive, 3*time.Second)
	if n := viaNext.Load(); n != 0 {
		t.Errorf("%d probes went through next although health.url is set", n)
	}
}
