package plugin

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"
)

// A fallback instance sits on a router whose service is not the app: it
// never forwards (not for /up, not for an allowed operator), answers the
// unavailable page, and the maintenance page when one applies.
func TestFallbackNeverForwards(t *testing.T) {
	var called atomic.Int64
	next := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { called.Add(1) })
	dir := t.TempDir()
	cfg := testConfig("fallback-app")
	cfg.Fallback = true
	cfg.Health.Enabled = true // a fallback never probes, whatever it says
	cfg.RetryAfter = "5s"
	cfg.StateDir = dir
	cfg.AllowCIDRs = []string{"192.0.2.1"}
	b := newBerth(t, cfg, next)

	cases := []struct {
		name, path, remote string
	}{
		{"visitor", "/workouts", "198.51.100.9:1234"},
		{"always-pass path", "/up", "198.51.100.9:1234"},
		{"allowed operator", "/workouts", "192.0.2.1:1234"},
	}
	for _, tc := range cases {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, tc.path, nil)
		req.RemoteAddr = tc.remote
		b.ServeHTTP(rec, req)
		if rec.Code != 503 || rec.Header().Get("X-Berth-Mode") != "unavailable" || rec.Header().Get("Retry-After") != "5" {
			t.Errorf("%s: %d mode %q Retry-After %q, want the unavailable page", tc.name, rec.Code, rec.Header().Get("X-Berth-Mode"), rec.Header().Get("Retry-After"))
		}
	}
	if n := called.Load(); n != 0 {
		t.Errorf("the fallback forwarded %d requests", n)
	}

	if err := WriteStateFile(filepath.Join(dir, "apps", "fallback-app.json"), State{Mode: ModeMaintenance, Message: "Planned"}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		rec := httptest.NewRecorder()
		b.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/workouts", nil))
		if rec.Header().Get("X-Berth-Mode") == "maintenance" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the fallback does not show the maintenance page")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := called.Load(); n != 0 {
		t.Errorf("the fallback forwarded %d requests", n)
	}
}
