package traefik_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/wombatworkouts/berth/plugin"
)

// A state file written by `berth maintenance` takes effect within a second,
// and goes away as quickly, without Traefik loading a new configuration.
func TestStateFileToggleWithoutReload(t *testing.T) {
	app := startBackend(t, "toggle")
	state := t.TempDir()
	apply(t, shared, "toggle.yml", dynamicFile(
		[]route{{name: "toggle", middlewares: []string{"toggle-berth"}, servers: []string{app.URL()}}},
		map[string]string{"toggle-berth": berthMiddleware(fmt.Sprintf("app: toggle\nstateDir: %s\npollInterval: 200ms\nhealth:\n  enabled: false", state))},
	), "toggle")
	waitStatus(t, "/toggle", 200, 5*time.Second)
	reloadsBefore := strings.Count(shared.Log(), "Configuration received")

	until := time.Now().Add(2 * time.Hour).UTC().Truncate(time.Second)
	writeState(t, state, "toggle", plugin.State{Mode: plugin.ModeMaintenance, Message: "Moving <the> furniture", Until: until, By: "test"})
	took := waitStatus(t, "/toggle", 503, 3*time.Second)
	t.Logf("maintenance on after %s", took)
	if took > time.Second {
		t.Errorf("maintenance took %s to apply, want within 1s", took)
	}

	resp, body := get(t, "/toggle", nil)
	if ra, _ := strconv.Atoi(resp.Header.Get("Retry-After")); ra < 7190 || ra > 7200 {
		t.Errorf("Retry-After = %q, want about 7200 (the state's until)", resp.Header.Get("Retry-After"))
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control = %q", cc)
	}
	if !strings.Contains(body, "Moving &lt;the&gt; furniture") {
		t.Errorf("page lacks the escaped message:\n%s", body)
	}

	resp, body = get(t, "/toggle", http.Header{"Accept": {"application/json"}})
	var page struct {
		Mode    string `json:"mode"`
		Message string `json:"message"`
	}
	if err := json.Unmarshal([]byte(body), &page); err != nil || page.Mode != "maintenance" || page.Message != "Moving <the> furniture" {
		t.Errorf("JSON page = %q (%v)", body, err)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("JSON Content-Type = %q", ct)
	}

	if err := plugin.RemoveStateFile(plugin.AppStatePath(state, "toggle")); err != nil {
		t.Fatal(err)
	}
	took = waitStatus(t, "/toggle", 200, 3*time.Second)
	t.Logf("live again after %s", took)
	if took > time.Second {
		t.Errorf("live took %s to apply, want within 1s", took)
	}
	if after := strings.Count(shared.Log(), "Configuration received"); after != reloadsBefore {
		t.Errorf("Traefik received %d new configurations during the toggle; the state file must work without a reload", after-reloadsBefore)
	}
}

// A malformed state file keeps the last good state.
func TestMalformedStateFileKeepsLastGood(t *testing.T) {
	app := startBackend(t, "malformed")
	state := t.TempDir()
	apply(t, shared, "malformed.yml", dynamicFile(
		[]route{{name: "malformed", middlewares: []string{"malformed-berth"}, servers: []string{app.URL()}}},
		map[string]string{"malformed-berth": berthMiddleware(fmt.Sprintf("app: malformed\nstateDir: %s\npollInterval: 100ms\nhealth:\n  enabled: false", state))},
	), "malformed")
	writeState(t, state, "malformed", plugin.State{Mode: plugin.ModeMaintenance})
	waitStatus(t, "/malformed", 503, 3*time.Second)

	if err := writeRaw(plugin.AppStatePath(state, "malformed"), `{"mode": "maintenance", "until": `); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if resp, _ := get(t, "/malformed", nil); resp.StatusCode != 503 {
		t.Errorf("after a malformed write: %d, want the last good state (503)", resp.StatusCode)
	}
	if n := strings.Count(shared.Log(), "apps/malformed.json: state file is not valid JSON"); n != 1 {
		t.Errorf("malformed file logged %d times, want once", n)
	}
}

// A scheduled window starts and ends by itself.
func TestScheduledWindow(t *testing.T) {
	app := startBackend(t, "window")
	start := time.Now().Add(2 * time.Second).UTC().Truncate(time.Second).Add(time.Second)
	end := start.Add(2 * time.Second)
	apply(t, shared, "window.yml", dynamicFile(
		[]route{{name: "window", middlewares: []string{"window-berth"}, servers: []string{app.URL()}}},
		map[string]string{"window-berth": berthMiddleware(fmt.Sprintf(
			"app: window\npollInterval: 100ms\nhealth:\n  enabled: false\nwindows:\n  - start: %q\n    end: %q\n    message: Planned database upgrade",
			start.Format(time.RFC3339), end.Format(time.RFC3339)))},
	), "window")

	if resp, _ := get(t, "/window", nil); resp.StatusCode != 200 {
		t.Fatalf("before the window: %d", resp.StatusCode)
	}
	time.Sleep(time.Until(start))
	waitStatus(t, "/window", 503, 1*time.Second)
	resp, body := get(t, "/window", nil)
	if !strings.Contains(body, "Planned database upgrade") {
		t.Errorf("window page lacks its message")
	}
	ra, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
	if ra < 1 || ra > 3 {
		t.Errorf("Retry-After = %q, want the seconds to the window's end", resp.Header.Get("Retry-After"))
	}
	time.Sleep(time.Until(end))
	waitStatus(t, "/window", 200, 1*time.Second)
}

// When the app stays down past the hold timeout, the unavailable page is
// served (not Traefik's 502), with its own message.
func TestUnavailablePageAfterHoldTimeout(t *testing.T) {
	app := startBackend(t, "down")
	apply(t, shared, "down.yml", dynamicFile(
		[]route{{name: "down", middlewares: []string{"down-berth"}, servers: []string{app.URL()}}},
		map[string]string{"down-berth": berthMiddleware("app: down\nholdTimeout: 1s\nretryAfter: 15s\nhealth:\n  interval: 200ms\n  timeout: 1s")},
	), "down")
	waitStatus(t, "/down", 200, 5*time.Second)
	app.Stop()
	time.Sleep(500 * time.Millisecond) // the prober notices within one interval

	start := time.Now()
	resp, body := get(t, "/down", nil)
	held := time.Since(start)
	if resp.StatusCode != 503 || resp.Header.Get("X-Berth-Mode") != "unavailable" {
		t.Fatalf("status %d mode %q, want 503 unavailable", resp.StatusCode, resp.Header.Get("X-Berth-Mode"))
	}
	if held < 900*time.Millisecond || held > 3*time.Second {
		t.Errorf("held for %s, want about the 1s hold timeout", held)
	}
	if resp.Header.Get("Retry-After") != "15" {
		t.Errorf("Retry-After = %q, want 15", resp.Header.Get("Retry-After"))
	}
	if !strings.Contains(body, "Temporarily unavailable") {
		t.Errorf("unavailable page has the wrong title:\n%s", body)
	}
	headResp, err := http.Head(shared.WebURL + "/down")
	if err != nil {
		t.Fatal(err)
	}
	headResp.Body.Close()
	if headResp.StatusCode != 503 || headResp.ContentLength > 0 && headResp.Header.Get("Content-Length") == "" {
		t.Errorf("HEAD: %d", headResp.StatusCode)
	}
}

// An invalid berth configuration drops only its own router, with an error
// that names the field; other routers keep serving.
func TestInvalidConfigDropsOnlyItsRouter(t *testing.T) {
	app := startBackend(t, "invalid")
	apply(t, shared, "invalid.yml", dynamicFile(
		[]route{
			{name: "invalid-ok", middlewares: []string{"invalid-ok-berth"}, servers: []string{app.URL()}},
			{name: "invalid-bad", middlewares: []string{"invalid-bad-berth"}, servers: []string{app.URL()}},
		},
		map[string]string{
			"invalid-ok-berth":  berthMiddleware("app: invalid-ok\nhealth:\n  enabled: false"),
			"invalid-bad-berth": berthMiddleware("app: invalid-bad\nstatus: 200\nhealth:\n  enabled: false"),
		},
	), "invalid-ok")
	waitStatus(t, "/invalid-ok", 200, 5*time.Second)

	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(shared.Log(), "invalid status") && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	log := shared.Log()
	if !strings.Contains(log, `berth: invalid status \"200\": want an HTTP status from 400 to 599`) || !strings.Contains(log, "routerName=invalid-bad@file") {
		t.Errorf("Traefik's log lacks berth's error naming the field")
	}
	if resp, _ := get(t, "/invalid-bad", nil); resp.StatusCode != 404 {
		t.Errorf("the invalid router answered %d, want 404 (dropped)", resp.StatusCode)
	}
	if resp, _ := get(t, "/invalid-ok", nil); resp.StatusCode != 200 {
		t.Errorf("the valid router answered %d, want 200", resp.StatusCode)
	}
}
