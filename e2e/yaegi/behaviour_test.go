// Package yaegi runs berth's behaviour tests twice: against the compiled
// package and against the same source interpreted by Yaegi v0.16.1 exactly
// as Traefik loads it (internal/yaegiload). Each scenario talks HTTP over a
// real loopback socket.
package yaegi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mitchellh/mapstructure"

	"github.com/wombatworkouts/berth/e2e/internal/yaegiload"
	"github.com/wombatworkouts/berth/plugin"
)

// builder makes a middleware from Traefik-style options.
type builder func(ctx context.Context, next http.Handler, options map[string]any, name string) (http.Handler, error)

func compiled(ctx context.Context, next http.Handler, options map[string]any, name string) (http.Handler, error) {
	cfg := plugin.CreateConfig()
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		DecodeHook:       mapstructure.StringToSliceHookFunc(","),
		WeaklyTypedInput: true,
		Result:           cfg,
	})
	if err != nil {
		return nil, err
	}
	if err := dec.Decode(options); err != nil {
		return nil, err
	}
	return plugin.New(ctx, next, cfg, name)
}

var (
	interpOnce sync.Once
	interp     *yaegiload.Plugin
	interpErr  error
)

func interpreted(t *testing.T) builder {
	interpOnce.Do(func() {
		dir, err := os.MkdirTemp("", "berth-yaegi-")
		if err != nil {
			interpErr = err
			return
		}
		interp, interpErr = yaegiload.Load(dir)
	})
	if interpErr != nil {
		t.Fatalf("load the plugin in Yaegi: %v", interpErr)
	}
	return interp.Build
}

// flavours runs fn once per way of loading the plugin.
func flavours(t *testing.T, fn func(t *testing.T, build builder, prefix string)) {
	t.Run("compiled", func(t *testing.T) { fn(t, compiled, "c-") })
	t.Run("yaegi", func(t *testing.T) { fn(t, interpreted(t), "y-") })
}

// app is the stand-in Rails app behind the middleware.
type app struct {
	status  atomic.Int32 // status of every answer; 0 means 200
	health  atomic.Int32 // status of /up; 0 means 200
	hits    atomic.Int64
	writers sync.Map // request path -> the ResponseWriter the app saw
}

func (a *app) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/panic" {
		panic("app bug")
	}
	if r.URL.Path == "/up" {
		if c := a.health.Load(); c != 0 {
			w.WriteHeader(int(c))
			return
		}
		io.WriteString(w, "ok")
		return
	}
	a.hits.Add(1)
	a.writers.Store(r.URL.Path, fmt.Sprintf("%T", w))
	if c := a.status.Load(); c != 0 {
		w.WriteHeader(int(c))
		fmt.Fprintf(w, "app says %d", c)
		return
	}
	io.WriteString(w, "app")
}

// serve builds the middleware over a fresh app and serves it on loopback.
func serve(t *testing.T, build builder, options map[string]any) (*app, *httptest.Server) {
	t.Helper()
	a := &app{}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	h, err := build(ctx, a, options, "test@file")
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return a, srv
}

func do(t *testing.T, method, url string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

var client = &http.Client{
	Timeout:       20 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func noHealth(opts map[string]any) map[string]any {
	opts["health"] = map[string]any{"enabled": "false"}
	return opts
}

func TestMaintenancePage(t *testing.T) {
	flavours(t, func(t *testing.T, build builder, p string) {
		_, srv := serve(t, build, noHealth(map[string]any{"app": p + "page", "enabled": "true", "message": "Wax <on>", "retryAfter": "90s"}))
		cases := []struct {
			name, method, accept string
			wantType             string
			wantBody             string
		}{
			{"html", "GET", "text/html,application/xhtml+xml,*/*;q=0.8", "text/html", "Wax &lt;on&gt;"},
			{"json", "GET", "application/json", "application/json", `"message":"Wax \u003con\u003e"`},
			{"json preferred by weight", "GET", "text/html;q=0.5, application/json", "application/json", `"mode":"maintenance"`},
			{"no accept", "GET", "", "text/html", "Down for maintenance"},
			{"head", "HEAD", "", "text/html", ""},
		}
		for _, tc := range cases {
			h := http.Header{}
			if tc.accept != "" {
				h.Set("Accept", tc.accept)
			}
			resp, body := do(t, tc.method, srv.URL+"/anything", h)
			if resp.StatusCode != 503 {
				t.Errorf("%s: status %d", tc.name, resp.StatusCode)
			}
			if resp.Header.Get("Retry-After") != "90" || resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("%s: Retry-After %q Cache-Control %q", tc.name, resp.Header.Get("Retry-After"), resp.Header.Get("Cache-Control"))
			}
			if !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.wantType) {
				t.Errorf("%s: Content-Type %q", tc.name, resp.Header.Get("Content-Type"))
			}
			if tc.method == "HEAD" && body != "" {
				t.Errorf("HEAD has a body")
			}
			if !strings.Contains(body, tc.wantBody) {
				t.Errorf("%s: body lacks %q:\n%s", tc.name, tc.wantBody, body)
			}
		}
		// /up always passes by default.
		if resp, _ := do(t, "GET", srv.URL+"/up", nil); resp.StatusCode != 200 {
			t.Errorf("/up during maintenance: %d", resp.StatusCode)
		}
	})
}

// A panic off the live path is answered with a 500 and never reaches the
// server (in Traefik it would otherwise be Traefik's to recover).
func TestPanicBecomes500(t *testing.T) {
	flavours(t, func(t *testing.T, build builder, p string) {
		_, srv := serve(t, build, noHealth(map[string]any{"app": p + "panic", "enabled": "true", "alwaysPass": "/panic"}))
		resp, _ := do(t, "GET", srv.URL+"/panic", nil)
		if resp.StatusCode != 500 {
			t.Errorf("status %d, want 500", resp.StatusCode)
		}
		if resp, _ := do(t, "GET", srv.URL+"/other", nil); resp.StatusCode != 503 {
			t.Errorf("after the panic: %d, want the page", resp.StatusCode)
		}
	})
}

func TestLivePassThroughKeepsTheWriter(t *testing.T) {
	flavours(t, func(t *testing.T, build builder, p string) {
		a, srv := serve(t, build, noHealth(map[string]any{"app": p + "live"}))
		resp, body := do(t, "GET", srv.URL+"/live", nil)
		if resp.StatusCode != 200 || body != "app" {
			t.Fatalf("live: %d %q", resp.StatusCode, body)
		}
		w, _ := a.writers.Load("/live")
		if w != "*http.response" {
			t.Errorf("in live mode the app saw a %v, want the server's own *http.response", w)
		}
	})
}

func TestStateFileAndHold(t *testing.T) {
	flavours(t, func(t *testing.T, build builder, p string) {
		dir := t.TempDir()
		name := p + "hold"
		_, srv := serve(t, build, noHealth(map[string]any{"app": name, "stateDir": dir, "pollInterval": "50ms", "holdTimeout": "5s"}))
		if err := plugin.WriteStateFile(plugin.AppStatePath(dir, name), plugin.State{Mode: plugin.ModePaused, Until: time.Now().Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond) // six poll intervals: the pause is in force

		// A request made while paused waits, and is answered by the app the
		// moment the pause ends.
		done := make(chan time.Duration, 1)
		go func() {
			start := time.Now()
			resp, err := client.Get(srv.URL + "/held")
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode == 200 {
					done <- time.Since(start)
					return
				}
			}
			done <- -1
		}()
		time.Sleep(500 * time.Millisecond)
		if err := plugin.RemoveStateFile(plugin.AppStatePath(dir, name)); err != nil {
			t.Fatal(err)
		}
		select {
		case d := <-done:
			if d < 400*time.Millisecond || d > 2*time.Second {
				t.Errorf("held request answered after %v, want soon after the pause ended (~0.5s)", d)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("held request never answered")
		}
	})
}

func TestUnavailableHoldsThenServesPage(t *testing.T) {
	flavours(t, func(t *testing.T, build builder, p string) {
		a, srv := serve(t, build, map[string]any{
			"app": p + "unavail", "holdTimeout": "600ms", "maxHeld": "2",
			"health": map[string]any{"interval": "100ms", "timeout": "1s"},
		})
		a.health.Store(500)
		time.Sleep(300 * time.Millisecond)
		start := time.Now()
		resp, body := do(t, "GET", srv.URL+"/x", nil)
		if resp.StatusCode != 503 || resp.Header.Get("X-Berth-Mode") != "unavailable" || !strings.Contains(body, "Temporarily unavailable") {
			t.Fatalf("status %d mode %q", resp.StatusCode, resp.Header.Get("X-Berth-Mode"))
		}
		if d := time.Since(start); d < 500*time.Millisecond {
			t.Errorf("answered after %v, want after the 600ms hold", d)
		}
		// Beyond maxHeld the answer is immediate.
		var wg sync.WaitGroup
		for i := 0; i < 2; i++ {
			wg.Add(1)
			go func() { defer wg.Done(); do(t, "GET", srv.URL+"/x", nil) }()
		}
		time.Sleep(100 * time.Millisecond)
		start = time.Now()
		resp, _ = do(t, "GET", srv.URL+"/x", nil)
		if d := time.Since(start); resp.StatusCode != 503 || d > 300*time.Millisecond {
			t.Errorf("over maxHeld: %d after %v, want 503 at once", resp.StatusCode, d)
		}
		wg.Wait()
		// Healthy again: requests pass.
		a.health.Store(0)
		waitFor(t, func() bool { r, _ := do(t, "GET", srv.URL+"/x", nil); return r.StatusCode == 200 }, 2*time.Second)
	})
}

func TestDeployingRetriesIdempotentRequests(t *testing.T) {
	flavours(t, func(t *testing.T, build builder, p string) {
		dir := t.TempDir()
		name := p + "deploy"
		a, srv := serve(t, build, noHealth(map[string]any{"app": name, "stateDir": dir, "pollInterval": "50ms", "holdTimeout": "3s"}))
		if err := plugin.WriteStateFile(plugin.AppStatePath(dir, name), plugin.State{Mode: plugin.ModeDeploying, Until: time.Now().Add(time.Minute)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		a.status.Store(502)
		go func() { time.Sleep(400 * time.Millisecond); a.status.Store(0) }()

		resp, body := do(t, "GET", srv.URL+"/retried", nil)
		if resp.StatusCode != 200 || body != "app" {
			t.Errorf("GET during a drain: %d %q, want the retried 200", resp.StatusCode, body)
		}
		if a.hits.Load() < 2 {
			t.Errorf("the app saw %d attempts, want retries", a.hits.Load())
		}

		a.status.Store(502)
		resp, _ = do(t, "POST", srv.URL+"/post", nil)
		if resp.StatusCode != 502 {
			t.Errorf("POST: %d, want the app's 502 passed through (never retried)", resp.StatusCode)
		}
		resp, _ = do(t, "GET", srv.URL+"/sse", http.Header{"Accept": {"text/event-stream"}})
		if resp.StatusCode != 502 {
			t.Errorf("SSE GET: %d, want 502 passed through (streams are never wrapped)", resp.StatusCode)
		}
		// Past the hold timeout the app's own answer reaches the client.
		start := time.Now()
		resp, body = do(t, "GET", srv.URL+"/stuck", nil)
		if resp.StatusCode != 502 || !strings.Contains(body, "app says 502") {
			t.Errorf("after the hold timeout: %d %q, want the app's own 502", resp.StatusCode, body)
		}
		if d := time.Since(start); d < 2500*time.Millisecond {
			t.Errorf("gave up after %v, want about the 3s hold timeout", d)
		}
	})
}

func TestBypassToken(t *testing.T) {
	flavours(t, func(t *testing.T, build builder, p string) {
		secret := strings.Repeat("s", 40)
		name := p + "token"
		_, srv := serve(t, build, noHealth(map[string]any{"app": name, "enabled": "true", "bypassSecret": secret, "allowCIDRs": "10.9.9.9,192.0.2.0/24"}))
		good := plugin.SignBypassToken([]byte(secret), name, time.Now().Add(time.Hour))
		bad := plugin.SignBypassToken([]byte(strings.Repeat("t", 40)), name, time.Now().Add(time.Hour))
		if resp, _ := do(t, "GET", srv.URL+"/", http.Header{"X-Berth-Bypass": {good}}); resp.StatusCode != 200 {
			t.Errorf("valid token: %d", resp.StatusCode)
		}
		if resp, _ := do(t, "GET", srv.URL+"/", http.Header{"X-Berth-Bypass": {bad}}); resp.StatusCode != 503 {
			t.Errorf("forged token: %d", resp.StatusCode)
		}
		resp, body := do(t, "GET", srv.URL+"/_berth/status", http.Header{"X-Berth-Bypass": {good}})
		var st map[string]any
		if err := json.Unmarshal([]byte(body), &st); err != nil || resp.StatusCode != 200 || st["mode"] != "maintenance" || st["source"] != "config" {
			t.Errorf("status endpoint: %d %s", resp.StatusCode, body)
		}
		if strings.Contains(body, secret) {
			t.Errorf("status endpoint leaks the secret")
		}
	})
}

func TestInvalidConfigNamesTheField(t *testing.T) {
	flavours(t, func(t *testing.T, build builder, p string) {
		cases := []struct {
			opts map[string]any
			want string
		}{
			{map[string]any{"app": "Bad/Name"}, "invalid app"},
			{map[string]any{"app": p + "x", "status": "302"}, "invalid status"},
			{map[string]any{"app": p + "x", "holdTimeout": "forever"}, "invalid holdTimeout"},
			{map[string]any{"app": p + "x", "allowCIDRs": "10.0.0.0/33"}, "invalid allowCIDRs[0]"},
			{map[string]any{"app": p + "x", "health": map[string]any{"interval": "1ms"}}, "invalid health.interval"},
			{map[string]any{"app": p + "x", "windows": []any{map[string]any{"start": "tomorrow", "end": "2026-01-01T00:00:00Z"}}}, "invalid windows[0].start"},
			{map[string]any{"app": p + "x", "bypassSecret": "short"}, "invalid bypassSecret"},
			{map[string]any{"app": p + "x", "template": "{{ .Nope"}, "invalid template"},
			// Traefik's decoder ignores unknown keys and words type errors
			// its own way; berth sees every key and words both.
			{map[string]any{"app": p + "x", "holdTimout": "5s"}, `unknown option "holdTimout": did you mean "holdTimeout"?`},
			{map[string]any{"app": p + "x", "health": map[string]any{"intervall": "2s"}}, `unknown option "health.intervall": did you mean "health.interval"?`},
			{map[string]any{"app": p + "x", "windows": []any{map[string]any{"begin": "x"}}}, `unknown option "windows[0].begin"`},
			{map[string]any{"app": p + "x", "status": "abc"}, `berth: invalid status "abc": want a whole number`},
			{map[string]any{"app": p + "x", "maxHeld": []any{1}}, `berth: invalid maxHeld "a list": want a whole number`},
			{map[string]any{"app": p + "x", "enabled": "maybe"}, `berth: invalid enabled "maybe": want true or false`},
			{map[string]any{"app": p + "x", "health": "on"}, `berth: invalid health "on": want a group of health options`},
			{map[string]any{"app": p + "x", "message": map[string]any{"a": 1}}, `berth: invalid message "a group of options"`},
		}
		for _, tc := range cases {
			_, err := build(context.Background(), &app{}, tc.opts, "bad@file")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%v: error %v, want it to mention %q", tc.opts, err, tc.want)
			}
			if err != nil && strings.Contains(err.Error(), "short") && strings.Contains(tc.want, "Secret") {
				t.Errorf("the error echoes the secret: %v", err)
			}
		}
	})
}

func TestCustomTemplateFile(t *testing.T) {
	flavours(t, func(t *testing.T, build builder, p string) {
		file := filepath.Join(t.TempDir(), "503.html")
		os.WriteFile(file, []byte(`<h1>{{.App}} is {{.Mode}}</h1><p>{{.Message}}</p>`), 0o644)
		_, srv := serve(t, build, noHealth(map[string]any{"app": p + "tmpl", "enabled": "true", "templateFile": file, "message": "<b>soon</b>"}))
		_, body := do(t, "GET", srv.URL+"/", nil)
		want := "<h1>" + p + "tmpl is maintenance</h1><p>&lt;b&gt;soon&lt;/b&gt;</p>"
		if body != want {
			t.Errorf("body %q, want %q", body, want)
		}
	})
}

func waitFor(t *testing.T, cond func() bool, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("condition not met within %s", limit)
}
