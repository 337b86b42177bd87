package traefik_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wombatworkouts/berth/e2e/internal/traefikrun"
	"github.com/wombatworkouts/berth/plugin"
)

// answer is the outcome of one request sent in the background.
type answer struct {
	code int
	body string
	took time.Duration
	err  error
}

// visitor is a client whose connections leave from 127.0.0.5, an address
// no test allowlists (the tests' own 127.0.0.1 reads the status endpoint),
// with room for a 25 s hold.
var visitor = func() *http.Client {
	c := clientFrom("127.0.0.5")
	c.Timeout = 60 * time.Second
	return c
}()

// getAsync sends a visitor's GET through tr's web entry point in the
// background.
func getAsync(tr *traefikrun.Traefik, path string) <-chan answer {
	out := make(chan answer, 1)
	go func() {
		start := time.Now()
		req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, tr.WebURL+path, nil)
		resp, err := visitor.Do(req)
		if err != nil {
			out <- answer{err: err, took: time.Since(start)}
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
		out <- answer{code: resp.StatusCode, body: sb.String(), took: time.Since(start)}
	}()
	return out
}

func waitAnswer(t *testing.T, ch <-chan answer, within time.Duration, what string) answer {
	t.Helper()
	select {
	case a := <-ch:
		return a
	case <-time.After(within):
		t.Fatalf("%s: no answer within %s", what, within)
	}
	return answer{}
}

// statusOf reads berth's status endpoint at path (the test client is
// allowlisted) through tr.
func statusOf(t *testing.T, tr *traefikrun.Traefik, path string) map[string]any {
	t.Helper()
	resp, err := noRedirect.Get(tr.WebURL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st map[string]any
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("status %s: %d, not JSON: %v", path, resp.StatusCode, err)
	}
	return st
}

func waitStatusMode(t *testing.T, tr *traefikrun.Traefik, path, mode string, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		st := statusOf(t, tr, path)
		if st["mode"] == mode {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %s: mode %v after %s, want %s", path, st["mode"], within, mode)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// berthLines are the lines of tr's log written by the berth plugin that
// contain substr.
func berthLines(tr *traefikrun.Traefik, substr string) []string {
	var out []string
	for _, line := range strings.Split(tr.Log(), "\n") {
		if strings.Contains(line, "plugin-berth") && strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return out
}

// An operator's mistake at a state file's path in the real Traefik: a FIFO
// renamed over apps/<app>.json (opening it blocks until someone writes),
// a directory, a symlink loop, or a file that keeps growing. None of them
// may stall a request or Traefik's configuration builds: a paused request
// still gets its page when its 3 s holdTimeout ends, a new router added
// meanwhile is applied at once, the last good state is kept, and the
// problem is one ERROR line in Traefik's log. Before, the FIFO was opened
// under the lock that the hold and every New take: the request hung until
// the FIFO was opened for writing and the new router was never applied.
func TestStatePathThatIsNotAStateFile(t *testing.T) {
	cases := []struct {
		name  string
		spoil func(t *testing.T, dir, path string) (undo func())
		want  string
	}{
		{"fifo", func(t *testing.T, dir, path string) func() {
			tmp := filepath.Join(dir, "fifo.tmp")
			if err := syscall.Mkfifo(tmp, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
			// Whatever still waits to open it for reading is let go at
			// the end (a writer that opens and closes at once).
			return func() {
				if fd, err := syscall.Open(path, syscall.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
					_ = syscall.Close(fd)
				}
			}
		}, "a named pipe (FIFO), not a regular file"},
		{"directory", func(t *testing.T, dir, path string) func() {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
			if err := os.Mkdir(path, 0o755); err != nil {
				t.Fatal(err)
			}
			return nil
		}, "a directory, not a regular file"},
		{"symlink loop", func(t *testing.T, dir, path string) func() {
			tmp := filepath.Join(dir, "loop.tmp")
			if err := os.Symlink(path, tmp); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
			return nil
		}, "too many levels of symbolic links"},
		{"growing file", func(t *testing.T, dir, path string) func() {
			tmp := filepath.Join(dir, "grow.tmp")
			if err := os.WriteFile(tmp, []byte(`{"mode":"live","message":"`+strings.Repeat("x", 70<<10)), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
			stop, done := make(chan struct{}), make(chan struct{})
			go func() {
				defer close(done)
				f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
				if err != nil {
					return
				}
				defer f.Close()
				chunk := []byte(strings.Repeat("y", 4096))
				for {
					select {
					case <-stop:
						return
					case <-time.After(2 * time.Millisecond):
					}
					_, _ = f.Write(chunk)
				}
			}()
			return func() { close(stop); <-done }
		}, "more than the"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			app := fmt.Sprintf("notfile%d", i)
			dir := t.TempDir()
			be := startBackend(t, app)
			path := plugin.AppStatePath(dir, app)
			writeState(t, dir, app, plugin.State{Mode: plugin.ModePaused, Message: "short pause"})
			apply(t, shared, app+".yml", dynamicFile(
				[]route{{name: app, middlewares: []string{app + "-berth"}, servers: []string{be.URL()}}},
				map[string]string{app + "-berth": berthMiddleware(fmt.Sprintf(`app: %s
stateDir: %s
holdTimeout: 3s
pollInterval: 100ms
statusPath: /%s/_status
allowCIDRs: ["127.0.0.1"]
health:
  enabled: false`, app, dir, app))},
			), app)
			waitStatusMode(t, shared, "/"+app+"/_status", "paused", 5*time.Second)

			before := len(berthLines(shared, path))
			if undo := tc.spoil(t, dir, path); undo != nil {
				defer undo()
			}
			time.Sleep(300 * time.Millisecond) // several looks at the spoilt path

			// A visitor is held (the last good state is paused), and
			// meanwhile a new router is added.
			held := getAsync(shared, "/"+app+"/page")
			added := time.Now()
			extra := app + "extra"
			if err := shared.WriteDynamic(extra+".yml", dynamicFile([]route{{name: extra, servers: []string{be.URL()}}}, nil)); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = os.Remove(filepath.Join(shared.DynamicDir, extra+".yml")) })
			if err := shared.WaitRouter(extra+"@file", 6*time.Second); err != nil {
				t.Errorf("a router added while the state file was spoilt: %v", err)
			} else if took := time.Since(added); took > 2*time.Second {
				t.Errorf("a router added while the state file was spoilt took %s to apply", took)
			}
			a := waitAnswer(t, held, 8*time.Second, "the held request")
			if a.err != nil || a.code != 503 || a.took < 2900*time.Millisecond || a.took > 4*time.Second {
				t.Errorf("held request: %d %v after %s, want the page when the 3s hold ends", a.code, a.err, a.took)
			}
			if st := statusOf(t, shared, "/"+app+"/_status"); st["mode"] != "paused" {
				t.Errorf("mode %v, want the last good state (paused)", st["mode"])
			}
			lines := berthLines(shared, path)[before:]
			if len(lines) != 1 {
				t.Fatalf("%d log lines about %s, want 1:\n%s", len(lines), path, strings.Join(lines, "\n"))
			}
			if !strings.Contains(lines[0], tc.want) || !strings.Contains(lines[0], " ERR ") {
				t.Errorf("log line %q, want an ERR line saying %q", lines[0], tc.want)
			}
		})
	}
}

// One malformed state file read by three differently configured routers is
// one line in Traefik's log; a second malformed content whose error reads
// like the first one's is logged too.
func TestStateFileProblemLoggedOnce(t *testing.T) {
	const app = "logonce"
	dir := t.TempDir()
	be := startBackend(t, app)
	var routes []route
	mws := map[string]string{}
	for i := 0; i < 3; i++ {
		name := fmt.Sprintf("%s%d", app, i)
		routes = append(routes, route{name: name, middlewares: []string{name + "-berth"}, servers: []string{be.URL()}})
		mws[name+"-berth"] = berthMiddleware(fmt.Sprintf("app: %s\nstateDir: %s\npollInterval: 100ms\nmessage: router %d\nhealth:\n  enabled: false", app, dir, i))
	}
	apply(t, shared, app+".yml", dynamicFile(routes, mws), app+"0", app+"1", app+"2")
	path := plugin.AppStatePath(dir, app)
	write := func(content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := writeRaw(path, content); err != nil {
			t.Fatal(err)
		}
		time.Sleep(800 * time.Millisecond) // several looks by every router
	}
	errLines := func() int {
		n := 0
		for _, l := range berthLines(shared, path) {
			if strings.Contains(l, " ERR ") {
				n++
			}
		}
		return n
	}
	for i, step := range []struct {
		content string
		lines   int
	}{
		{`{"mode":"offline"}`, 1},
		{`{"mode":"offline"}`, 0},  // the same bytes rewritten
		{`{"mode": "offline"}`, 1}, // other bytes, the same error text
	} {
		before := errLines()
		write(step.content)
		if got := errLines() - before; got != step.lines {
			t.Errorf("step %d (%s): %d new ERR lines, want %d:\n%s", i, step.content, got, step.lines, strings.Join(berthLines(shared, path), "\n"))
		}
	}
}

// A request held in paused, unavailable and deploying mode with a 25 s
// holdTimeout; 0.3 s later only the middleware's message changes in the
// dynamic configuration; 12 s later the app can take the request. It must
// get the app then, not when its 25 s run out: the controller it waits on
// was let go by the configuration change and used to be stopped 10 s
// later without waking it.
func TestHeldRequestSurvivesConfigurationChange(t *testing.T) {
	if testing.Short() {
		t.Skip("13 s")
	}
	modes := []string{"paused", "unavailable", "deploying"}
	for _, mode := range modes {
		mode := mode
		t.Run(mode, func(t *testing.T) {
			t.Parallel()
			app := "survive" + mode
			dir := t.TempDir()
			be := startBackend(t, app)
			file := func(message string) string {
				return dynamicFile(
					[]route{{name: app, middlewares: []string{app + "-berth"}, servers: []string{be.URL()}}},
					map[string]string{app + "-berth": berthMiddleware(fmt.Sprintf(`app: %s
stateDir: %s
holdTimeout: 25s
message: %q
statusPath: /%s/_status
allowCIDRs: ["127.0.0.1"]
health:
  path: /up
  interval: 200ms`, app, dir, message, app))})
			}
			var release func()
			switch mode {
			case "paused":
				writeState(t, dir, app, plugin.State{Mode: plugin.ModePaused})
				release = func() {
					if err := plugin.RemoveStateFile(plugin.AppStatePath(dir, app)); err != nil {
						t.Error(err)
					}
				}
			case "unavailable":
				be.SetHealthy(false)
				release = func() { be.SetHealthy(true) }
			case "deploying":
				writeState(t, dir, app, plugin.State{Mode: plugin.ModeDeploying})
				be.SetHealthy(false)
				release = func() { be.SetHealthy(true) }
			}
			apply(t, shared, app+".yml", file("first message"), app)
			want := "unavailable"
			if mode == "paused" {
				want = "paused"
			}
			waitStatusMode(t, shared, "/"+app+"/_status", want, 5*time.Second)

			held := getAsync(shared, "/"+app+"/page")
			time.Sleep(300 * time.Millisecond)
			if err := shared.WriteDynamic(app+".yml", file("second message")); err != nil {
				t.Fatal(err)
			}
			time.Sleep(12 * time.Second)
			released := time.Now()
			release()
			a := waitAnswer(t, held, 20*time.Second, "the held request")
			if a.err != nil || a.code != 200 {
				t.Fatalf("held request: %d %v after %s, want the app", a.code, a.err, a.took)
			}
			if late := time.Since(released); late > 1500*time.Millisecond {
				t.Errorf("the app could take the request %s before it got it (answered after %s in all)", late.Round(10*time.Millisecond), a.took.Round(10*time.Millisecond))
			}
		})
	}
}

// Traefik's decoder ignores a key that matches no field and words a type
// error its own way; berth refuses both in its own words, and the router
// shows the error.
func TestOptionsCheckedInTraefik(t *testing.T) {
	be := startBackend(t, "opts")
	cases := []struct{ name, options, want string }{
		{"misspelt", "holdTimout: 5s", `berth: unknown option "holdTimout": did you mean "holdTimeout"?`},
		{"misspelt nested", "health:\n  intervall: 2s", `unknown option "health.intervall": did you mean "health.interval"?`},
		{"wrong type", "status: abc", `berth: invalid status "abc": want a whole number`},
		{"group for text", "message:\n  text: hello", `berth: invalid message "a group of options"`},
	}
	var routes []route
	mws := map[string]string{}
	for i, tc := range cases {
		name := fmt.Sprintf("opts%d", i)
		routes = append(routes, route{name: name, middlewares: []string{name + "-berth"}, servers: []string{be.URL()}})
		mws[name+"-berth"] = berthMiddleware(fmt.Sprintf("app: %s\n%s", name, tc.options))
	}
	if err := shared.WriteDynamic("opts.yml", dynamicFile(routes, mws)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Remove(filepath.Join(shared.DynamicDir, "opts.yml")) })
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			name := fmt.Sprintf("opts%d@file", i)
			var errs []string
			deadline := time.Now().Add(10 * time.Second)
			for time.Now().Before(deadline) {
				var r struct {
					Status string   `json:"status"`
					Error  []string `json:"error"`
				}
				if err := shared.API("/api/http/routers/"+name, &r); err == nil && len(r.Error) > 0 {
					errs = r.Error
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			if !strings.Contains(strings.Join(errs, "\n"), tc.want) {
				t.Errorf("router errors %q, want one containing %q", errs, tc.want)
			}
		})
	}
}

// The status endpoint shows who wrote the state file and when.
func TestStatusShowsWhoAndWhen(t *testing.T) {
	const app = "whowhen"
	dir := t.TempDir()
	be := startBackend(t, app)
	at := time.Date(2026, 12, 1, 2, 40, 0, 0, time.UTC)
	writeState(t, dir, app, plugin.State{Mode: plugin.ModeMaintenance, By: "alice@laptop", At: at})
	apply(t, shared, app+".yml", dynamicFile(
		[]route{{name: app, middlewares: []string{app + "-berth"}, servers: []string{be.URL()}}},
		map[string]string{app + "-berth": berthMiddleware(fmt.Sprintf("app: %s\nstateDir: %s\nstatusPath: /%s/_status\nallowCIDRs: [\"127.0.0.1\"]\nhealth:\n  enabled: false", app, dir, app))},
	), app)
	waitStatusMode(t, shared, "/"+app+"/_status", "maintenance", 5*time.Second)
	st := statusOf(t, shared, "/"+app+"/_status")
	if st["by"] != "alice@laptop" || st["at"] != "2026-12-01T02:40:00Z" {
		t.Errorf("status by %v at %v, want alice@laptop at 2026-12-01T02:40:00Z", st["by"], st["at"])
	}
}

// State files keep being seen for as long as Traefik runs, at the INFO
// level berth renders: after a burst of configuration reloads, every switch
// between maintenance and live reaches visitors within a second. (A state
// file watcher that waited on a fresh timer each round was seen to stop for
// good after a few rounds under Traefik's Yaegi, in about half the runs.)
func TestStateFilesSeenAfterReloads(t *testing.T) {
	const app = "keepseeing"
	tr, err := traefikrun.Start(t.TempDir(), traefikrun.Options{ThrottleDuration: 100 * time.Millisecond, LogLevel: "INFO"})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Stop()
	dir := t.TempDir()
	be := startBackend(t, app)
	apply(t, tr, app+".yml", dynamicFile(
		[]route{{name: app, middlewares: []string{app + "-berth"}, servers: []string{be.URL()}}},
		map[string]string{app + "-berth": berthMiddleware(fmt.Sprintf("app: %s\nstateDir: %s\nhealth:\n  enabled: false", app, dir))},
	), app)
	for i := 0; i < 20; i++ {
		if err := tr.WriteDynamic("reloads.yml", dynamicFile([]route{{name: fmt.Sprintf("reload%d", i), servers: []string{be.URL()}}}, nil)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(150 * time.Millisecond)
	}
	for i := 0; i < 30; i++ {
		mode, want := plugin.ModeMaintenance, 503
		if i%2 == 1 {
			mode, want = plugin.ModeLive, 200
		}
		time.Sleep(time.Duration(150+(i*97)%400) * time.Millisecond)
		writeState(t, dir, app, plugin.State{Mode: mode})
		start := time.Now()
		for {
			resp, err := visitor.Get(tr.WebURL + "/" + app)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode == want {
				break
			}
			if time.Since(start) > time.Second {
				t.Fatalf("switch %d to %s not seen within 1s (still %d)", i+1, mode, resp.StatusCode)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
}

// Health probes never stop for good: six apps probed every 100 ms through
// Traefik at INFO level, after a burst of reloads, each keep being probed
// for 15 s. A probe may take up to its 5 s timeout, so only a silence of
// more than 7 s counts. (The prober used to wait on a fresh timer each
// round; under Traefik's Yaegi it stopped for good within seconds in two
// runs of three, leaving an app that goes down served as live.)
func TestProbesNeverStop(t *testing.T) {
	if testing.Short() {
		t.Skip("20 s")
	}
	tr, err := traefikrun.Start(t.TempDir(), traefikrun.Options{ThrottleDuration: 100 * time.Millisecond, LogLevel: "INFO"})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Stop()
	be := startBackend(t, "probes")
	const apps = 6
	var routes []route
	mws := map[string]string{}
	for i := 0; i < apps; i++ {
		n := fmt.Sprintf("probes%d", i)
		routes = append(routes, route{name: n, middlewares: []string{n + "-berth"}, servers: []string{be.URL()}})
		mws[n+"-berth"] = berthMiddleware(fmt.Sprintf("app: %s\nstatusPath: /%s/_status\nallowCIDRs: [\"127.0.0.1\"]\nhealth:\n  interval: 100ms", n, n))
	}
	apply(t, tr, "probes.yml", dynamicFile(routes, mws), "probes0")
	for i := 0; i < 20; i++ {
		if err := tr.WriteDynamic("reloads.yml", dynamicFile([]route{{name: fmt.Sprintf("reload%d", i), servers: []string{be.URL()}}}, nil)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(150 * time.Millisecond)
	}
	last := make([]string, apps)
	seen := make([]time.Time, apps)
	var longest time.Duration
	start := time.Now()
	for time.Since(start) < 15*time.Second {
		for i := 0; i < apps; i++ {
			st := statusOf(t, tr, fmt.Sprintf("/probes%d/_status", i))
			if p, _ := st["last_probe"].(string); p != last[i] {
				if !seen[i].IsZero() && time.Since(seen[i]) > longest {
					longest = time.Since(seen[i])
				}
				last[i], seen[i] = p, time.Now()
			}
			if time.Since(seen[i]) > 7*time.Second {
				t.Fatalf("app %d: no probe for %s: %v", i, time.Since(seen[i]).Round(time.Millisecond), st)
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("longest gap between observed probes: %s", longest.Round(time.Millisecond))
}
