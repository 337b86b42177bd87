package plugin

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestStatusEndpoint(t *testing.T) {
	secret := strings.Repeat("z", 40)
	dir := t.TempDir()
	cfg := testConfig("status-ep")
	cfg.StateDir = dir
	cfg.BypassSecret = secret
	cfg.AllowCIDRs = []string{"127.0.0.1/32", "::1/128"} // the test client
	cfg.MaxHeld = 7
	app := &countingApp{}
	b := newBerth(t, cfg, app)
	srv := serve(t, b)

	resp, body := get(t, srv.URL+"/_berth/status")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Fatalf("status: %d %v", resp.StatusCode, resp.Header)
	}
	var st statusJSON
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, body)
	}
	if st.App != "status-ep" || st.Mode != "live" || st.WrittenMode != "live" || !st.Healthy || st.HealthCheck || st.Held != 0 || st.MaxHeld != 7 {
		t.Errorf("live status = %+v", st)
	}
	if _, err := time.Parse(time.RFC3339Nano, st.Since); err != nil {
		t.Errorf("since = %q: %v", st.Since, err)
	}
	if app.calls.Load() != 0 {
		t.Errorf("the status request reached the app")
	}

	until := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Second)
	writeAppState(t, dir, cfg.App, State{Mode: ModeMaintenance, Message: "Moving", Until: until, By: "alice@laptop", At: at})
	waitMode(t, b.c, ModeMaintenance, 3*time.Second)
	setHealth(b.c, false)
	_, body = get(t, srv.URL+"/_berth/status")
	st = statusJSON{}
	_ = json.Unmarshal([]byte(body), &st)
	if st.Mode != "maintenance" || st.Source != "app-state" || st.Message != "Moving" || st.Until != until.Format(time.RFC3339) ||
		st.Healthy || st.ProbeError != "test: app is down" || st.LastProbe == "" ||
		st.By != "alice@laptop" || st.At != at.Format(time.RFC3339) {
		t.Errorf("maintenance status = %+v", st)
	}
	if strings.Contains(body, secret) {
		t.Errorf("the status reveals the bypass secret")
	}

	req, _ := http.NewRequest(http.MethodHead, srv.URL+"/_berth/status", nil)
	if resp, body := do(t, nil, req); resp.StatusCode != 200 || body != "" {
		t.Errorf("HEAD: %d %q", resp.StatusCode, body)
	}
}

// Only operators see the status; everyone else reaches the app (or the
// page), so the path is no oracle for strangers.
func TestStatusOnlyForOperators(t *testing.T) {
	secret := strings.Repeat("y", 40)
	cfg := testConfig("status-ops")
	cfg.BypassSecret = secret
	cfg.AllowCIDRs = []string{"203.0.113.0/24"} // not the test client
	app := &countingApp{}
	b := newBerth(t, cfg, app)
	srv := serve(t, b)
	tok := SignBypassToken([]byte(secret), cfg.App, time.Now().Add(time.Hour))

	resp, body := get(t, srv.URL+"/_berth/status")
	if resp.StatusCode != 200 || body != "app /_berth/status" {
		t.Errorf("stranger: %d %q, want the app's answer", resp.StatusCode, body)
	}
	resp, body = get(t, srv.URL+"/_berth/status", "X-Berth-Bypass", tok)
	if resp.StatusCode != 200 || !strings.Contains(body, `"app": "status-ops"`) {
		t.Errorf("token in the header: %d %q", resp.StatusCode, body)
	}
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/_berth/status", nil)
	req.AddCookie(&http.Cookie{Name: "berth_bypass", Value: tok})
	if resp, body := do(t, nil, req); resp.StatusCode != 200 || !strings.Contains(body, `"mode": "live"`) {
		t.Errorf("token in the cookie: %d %q", resp.StatusCode, body)
	}
	resp, body = get(t, srv.URL+"/_berth/status", "X-Berth-Bypass", tok+"x")
	if body != "app /_berth/status" {
		t.Errorf("bad token: %d %q", resp.StatusCode, body)
	}
	resp, body = get(t, srv.URL+"/_berth/status", "X-Forwarded-For", "203.0.113.5")
	if body != "app /_berth/status" {
		t.Errorf("spoofed X-Forwarded-For: %d %q", resp.StatusCode, body)
	}

	// In maintenance a stranger gets the page there like anywhere else.
	mcfg := testConfig("status-ops-maint")
	mcfg.Enabled = true
	mb := newBerth(t, mcfg, app)
	msrv := serve(t, mb)
	if resp, body := get(t, msrv.URL+"/_berth/status"); resp.StatusCode != 503 || strings.Contains(body, `"held"`) {
		t.Errorf("stranger in maintenance: %d %q", resp.StatusCode, body)
	}
}

func TestStatusPathDisabled(t *testing.T) {
	cfg := testConfig("status-off")
	cfg.StatusPath = ""
	cfg.AllowCIDRs = []string{"127.0.0.1/32", "::1/128"}
	b := newBerth(t, cfg, &countingApp{})
	srv := serve(t, b)
	if _, body := get(t, srv.URL+"/_berth/status"); body != "app /_berth/status" {
		t.Errorf("disabled status path answered %q", body)
	}

	moved := testConfig("status-moved")
	moved.StatusPath = "/ops/berth"
	moved.AllowCIDRs = []string{"127.0.0.1/32", "::1/128"}
	mb := newBerth(t, moved, &countingApp{})
	msrv := serve(t, mb)
	if _, body := get(t, msrv.URL+"/ops/berth"); !strings.Contains(body, `"app": "status-moved"`) {
		t.Errorf("moved status path answered %q", body)
	}
	if _, body := get(t, msrv.URL+"/_berth/status"); body != "app /_berth/status" {
		t.Errorf("old status path answered %q", body)
	}
}

// The held count in the status is the live number of waiting requests.
func TestStatusShowsHeld(t *testing.T) {
	secret := strings.Repeat("h", 40)
	cfg := testConfig("status-held")
	cfg.BypassSecret = secret
	cfg.HoldTimeout = "20s"
	b := newBerth(t, cfg, &countingApp{})
	setHealth(b.c, false)
	srv := serve(t, b)
	tok := SignBypassToken([]byte(secret), cfg.App, time.Now().Add(time.Hour))

	ch := getAsync(context.Background(), srv.URL+"/")
	waitFor(t, 3*time.Second, "the request to be held", func() bool { return heldCount(b) == 1 })
	_, body := get(t, srv.URL+"/_berth/status", "X-Berth-Bypass", tok)
	var st statusJSON
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	if st.Held != 1 || st.Mode != "unavailable" || st.WrittenMode != "live" {
		t.Errorf("status = %+v, want 1 held, unavailable", st)
	}
	setHealth(b.c, true)
	if r := waitResult(t, ch, 3*time.Second); r.code != 200 {
		t.Errorf("held request: %+v", r)
	}
}
