package plugin

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// errorLines are the logged error lines (Traefik's ERROR level) that
// contain substr.
func errorLines(substr string) []string {
	var out []string
	for _, l := range testLog.lines(substr) {
		if strings.HasPrefix(l, "error: ") {
			out = append(out, l)
		}
	}
	return out
}

// linesSince counts the error lines containing substr written after mark
// (a count taken earlier with the same substr).
func linesSince(substr string, mark int) int { return len(errorLines(substr)) - mark }

// An operator's mistake at a state file's path (something that is not a
// regular file, or a file that keeps growing) must not stall anything: a
// held request still gets its answer at holdTimeout, a new configuration
// is built at once, the last good state is kept, and the problem is logged
// once. The FIFO case is the one that hung requests and Traefik's
// configuration builds when the file was opened under the controller's
// lock. (syscall is fine here: test files are compiled, never interpreted.)
func TestStatePathThatIsNotAStateFile(t *testing.T) {
	cases := []struct {
		name string
		// spoil puts the bad thing at path; it may return a stop func.
		spoil func(t *testing.T, dir, path string) func()
		want  string // in the one log line
	}{
		{"fifo", func(t *testing.T, dir, path string) func() {
			tmp := filepath.Join(dir, "fifo.tmp")
			if err := syscall.Mkfifo(tmp, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
			return nil
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
			if err := os.Symlink(path, tmp); err != nil { // path -> path once renamed
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
			return nil
		}, "too many levels of symbolic links"},
		{"file that keeps growing", func(t *testing.T, dir, path string) func() {
			tmp := filepath.Join(dir, "grow.tmp")
			if err := os.WriteFile(tmp, []byte(`{"mode":"live","message":"`+strings.Repeat("x", maxStateFileSize)), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Rename(tmp, path); err != nil {
				t.Fatal(err)
			}
			stop := make(chan struct{})
			done := make(chan struct{})
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
					default:
					}
					_, _ = f.Write(chunk)
					time.Sleep(time.Millisecond)
				}
			}()
			return func() { close(stop); <-done }
		}, "more than the"},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			app := "not-a-file-" + string(rune('a'+i))
			cfg := testConfig(app)
			cfg.StateDir = dir
			cfg.HoldTimeout = "400ms"
			path := AppStatePath(dir, app)
			writeAppState(t, dir, app, State{Mode: ModePaused, Message: "short pause"})
			b := newBerth(t, cfg, &countingApp{})
			srv := serve(t, b)
			waitMode(t, b.c, ModePaused, 3*time.Second)

			mark := len(errorLines(path))
			if stop := tc.spoil(t, dir, path); stop != nil {
				defer stop()
			}
			time.Sleep(300 * time.Millisecond) // several looks at the spoilt path

			r := waitResult(t, getAsync(context.Background(), srv.URL+"/"), 5*time.Second)
			if r.err != nil || r.code != 503 || r.took > 400*time.Millisecond+600*time.Millisecond {
				t.Errorf("held request: %d %v after %s, want the page after the 400ms hold", r.code, r.err, r.took)
			}

			// A new configuration of the same app is built at once.
			other := testConfig(app)
			other.StateDir = dir
			other.Message = "another configuration"
			start := time.Now()
			nb := newBerth(t, other, &countingApp{})
			if took := time.Since(start); took > 300*time.Millisecond {
				t.Errorf("building a new configuration took %s", took)
			}
			if m := nb.c.current().mode; m != ModePaused {
				t.Errorf("the new configuration sees mode %s, want the last good state (paused)", m)
			}
			if m := b.c.current().mode; m != ModePaused {
				t.Errorf("mode %s, want the last good state (paused)", m)
			}
			time.Sleep(200 * time.Millisecond)
			if n := linesSince(path, mark); n != 1 {
				t.Errorf("%d log lines about %s, want 1:\n%s", n, path, strings.Join(errorLines(path)[mark:], "\n"))
			}
			if got := errorLines(path); len(got) > mark && !strings.Contains(got[mark], tc.want) {
				t.Errorf("log line %q, want one saying %q", got[mark], tc.want)
			}
		})
	}
}

// A look that does not return (a hung network mount; a FIFO that slipped
// in between the stat and the open) is reported once, however many
// controllers ask, and the controllers keep serving from the last state.
func TestBlockedLookReportedOnce(t *testing.T) {
	w := &fileWatcher{path: "/nowhere/apps/blocked.json"}
	w.busySince.Store(time.Now().Add(-2 * stuckAfter).UnixNano())
	mark := len(errorLines(w.path))
	for i := 0; i < 3; i++ {
		w.checkStuck(time.Now())
	}
	if n := linesSince(w.path, mark); n != 1 {
		t.Fatalf("%d lines, want 1", n)
	}
	w.busySince.Store(time.Now().UnixNano())
	w.checkStuck(time.Now())
	if n := linesSince(w.path, mark); n != 1 {
		t.Errorf("a look under way for less than %s was reported", stuckAfter)
	}
}

// One malformed file is one log line, whatever the number of differently
// configured routers reading it; a second malformed content is logged too,
// even when its error reads like the first one's.
func TestFileProblemLoggedOncePerFile(t *testing.T) {
	dir := t.TempDir()
	app := "log-once"
	path := AppStatePath(dir, app)
	for _, msg := range []string{"one", "two", "three"} {
		cfg := testConfig(app)
		cfg.StateDir = dir
		cfg.Message = msg
		newBerth(t, cfg, &countingApp{})
	}
	registry.mu.Lock()
	n := 0
	for _, c := range registry.byKey {
		if c.s.app == app {
			n++
		}
	}
	registry.mu.Unlock()
	if n != 3 {
		t.Fatalf("%d controllers, want 3 differently configured ones", n)
	}

	write := func(content string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
		time.Sleep(400 * time.Millisecond) // several looks
	}
	steps := []struct {
		content string
		lines   int // new lines about the file
	}{
		{`{"mode":"offline"}`, 1},
		{`{"mode":"offline"}`, 0},  // the same content written again
		{`{"mode": "offline"}`, 1}, // other bytes, the same error text
		{`{"mode":"paused"}`, 0},   // good
		{`{"mode": "offline"}`, 1}, // bad again after a good state
		{`{"mode":"paused"} trash`, 1},
	}
	for i, st := range steps {
		mark := len(errorLines(path))
		write(st.content)
		if got := linesSince(path, mark); got != st.lines {
			t.Errorf("step %d (%s): %d new lines, want %d", i, st.content, got, st.lines)
		}
	}
}
