package plugin

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestParseState(t *testing.T) {
	until := time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC)
	at := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	valid := []struct {
		name string
		in   string
		want State
	}{
		{"minimal", `{"mode":"maintenance"}`, State{Version: 1, Mode: ModeMaintenance}},
		{"full", `{"version":1,"mode":"paused","message":"Upgrading the database","until":"2026-12-01T03:00:00Z","by":"alice@laptop","at":"2026-12-01T02:00:00Z"}`,
			State{Version: 1, Mode: ModePaused, Message: "Upgrading the database", Until: until, By: "alice@laptop", At: at}},
		{"live", `{"version":1,"mode":"live"}`, State{Version: 1, Mode: ModeLive}},
		{"deploying with offset", `{"mode":"deploying","until":"2026-12-01T04:00:00+01:00"}`, State{Version: 1, Mode: ModeDeploying, Until: until}},
		{"whitespace around", " \n\t{\"mode\":\"live\"}\n\n", State{Version: 1, Mode: ModeLive}},
	}
	for _, tc := range valid {
		t.Run(tc.name, func(t *testing.T) {
			st, err := ParseState([]byte(tc.in))
			if err != nil {
				t.Fatalf("ParseState: %v", err)
			}
			if !sameState(st, tc.want) {
				t.Errorf("got %+v, want %+v", st, tc.want)
			}
		})
	}

	big := `{"mode":"maintenance","message":"` + strings.Repeat("x", maxStateFileSize) + `"}`
	invalid := []struct {
		name, in, want string
	}{
		{"empty", ``, "not valid JSON"},
		{"not json", `maintenance`, "not valid JSON"},
		{"null", `null`, `mode ""`},
		{"array", `[{"mode":"live"}]`, "not valid JSON"},
		{"no mode", `{"version":1}`, `mode "" is not one of live, deploying, paused, maintenance`},
		{"unknown mode", `{"mode":"offline"}`, `mode "offline" is not one of live, deploying, paused, maintenance`},
		{"unavailable is derived, never written", `{"mode":"unavailable"}`, `mode "unavailable"`},
		{"mode case", `{"mode":"Maintenance"}`, `mode "Maintenance"`},
		{"unknown key", `{"mode":"live","reason":"x"}`, `unknown field "reason"`},
		{"wrong version", `{"version":2,"mode":"live"}`, "version 2 is not supported (want 1)"},
		{"negative version", `{"version":-1,"mode":"live"}`, "version -1"},
		{"version as string", `{"version":"1","mode":"live"}`, "not valid JSON"},
		{"bad until", `{"mode":"maintenance","until":"tomorrow"}`, "not valid JSON"},
		{"truncated", `{"mode":"maintenance"`, "not valid JSON"},
		{"trailing garbage", `{"mode":"live"} x`, "data after its JSON object"},
		{"two objects", `{"mode":"live"}{"mode":"maintenance"}`, "data after its JSON object"},
		{"trailing brace", `{"mode":"live"}}`, "data after its JSON object"},
		{"trailing bracket", `{"mode":"live"}]`, "data after its JSON object"},
		{"oversized", big, "more than the 65536 allowed"},
	}
	for _, tc := range invalid {
		t.Run(tc.name, func(t *testing.T) {
			st, err := ParseState([]byte(tc.in))
			if err == nil {
				t.Fatalf("accepted %q as %+v", tc.in, st)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
			if st != (State{}) {
				t.Errorf("a rejected file returned a state: %+v", st)
			}
		})
	}
}

func TestParseStateSizeLimit(t *testing.T) {
	pad := func(n int) []byte {
		doc := `{"mode":"maintenance","message":""}`
		return []byte(`{"mode":"maintenance","message":"` + strings.Repeat("m", n-len(doc)) + `"}`)
	}
	if _, err := ParseState(pad(maxStateFileSize)); err != nil {
		t.Errorf("a file of exactly %d bytes is rejected: %v", maxStateFileSize, err)
	}
	if _, err := ParseState(pad(maxStateFileSize + 1)); err == nil {
		t.Errorf("a file of %d bytes is accepted", maxStateFileSize+1)
	}
}

func TestStateActiveAt(t *testing.T) {
	now := time.Date(2026, 12, 1, 2, 30, 0, 0, time.UTC)
	cases := []struct {
		st   State
		want bool
	}{
		{State{Mode: ModeLive}, false},
		{State{Mode: ModeLive, Until: now.Add(time.Hour)}, false},
		{State{Mode: ModeMaintenance}, true},
		{State{Mode: ModeMaintenance, Until: now.Add(time.Second)}, true},
		{State{Mode: ModeMaintenance, Until: now}, false},
		{State{Mode: ModeMaintenance, Until: now.Add(-time.Second)}, false},
		{State{Mode: ModeDeploying, Until: now.Add(-time.Hour)}, false},
		{State{Mode: ModePaused, Until: now.Add(time.Minute)}, true},
	}
	for _, tc := range cases {
		if got := tc.st.activeAt(now); got != tc.want {
			t.Errorf("%+v.activeAt = %v, want %v", tc.st, got, tc.want)
		}
	}
}

func TestStatePaths(t *testing.T) {
	if got := ServerStatePath("/var/lib/berth"); got != "/var/lib/berth/server.json" {
		t.Errorf("ServerStatePath = %q", got)
	}
	if got := AppStatePath("/var/lib/berth", "web"); got != "/var/lib/berth/apps/web.json" {
		t.Errorf("AppStatePath = %q", got)
	}
}

func TestWriteStateFile(t *testing.T) {
	dir := t.TempDir()
	path := AppStatePath(dir, "web") // apps/ does not exist yet
	st := State{
		Mode: ModeMaintenance, Message: "Upgrading <the> database",
		Until: time.Date(2026, 12, 1, 3, 0, 0, 0, time.UTC), By: "alice@laptop",
		At: time.Date(2026, 12, 1, 2, 0, 0, 123456789, time.UTC),
	}
	if err := WriteStateFile(path, st); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if perm := info.Mode().Perm(); perm != 0o644 {
		t.Errorf("mode = %o, want 0644 (Traefik may run as another user)", perm)
	}
	data, _ := os.ReadFile(path)
	if !strings.HasSuffix(string(data), "}\n") {
		t.Errorf("file does not end with a newline: %q", data)
	}
	got, err := ParseState(data)
	if err != nil {
		t.Fatal(err)
	}
	st.Version = 1
	if !sameState(got, st) {
		t.Errorf("round trip: got %+v, want %+v", got, st)
	}
	var generic map[string]interface{}
	if err := json.Unmarshal(data, &generic); err != nil || generic["version"] != float64(1) || generic["mode"] != "maintenance" {
		t.Errorf("schema: %v %v", generic, err)
	}

	// Overwrite, and refuse an invalid state without touching the old file.
	if err := WriteStateFile(path, State{Mode: ModeLive}); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	if err := WriteStateFile(path, State{Mode: ModeUnavailable}); err == nil {
		t.Errorf("wrote the derived mode 'unavailable'")
	}
	if err := WriteStateFile(path, State{Version: 7, Mode: ModeLive}); err == nil {
		t.Errorf("wrote version 7")
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Errorf("a refused write changed the file")
	}
	assertNoTempFiles(t, filepath.Dir(path))

	// A path whose directory cannot be created fails cleanly.
	blocker := filepath.Join(dir, "file")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteStateFile(filepath.Join(blocker, "x.json"), State{Mode: ModeLive}); err == nil {
		t.Errorf("writing below a regular file succeeded")
	}
	// Renaming over a directory fails; the temporary file must not stay.
	if err := os.MkdirAll(filepath.Join(dir, "apps", "dir.json"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteStateFile(filepath.Join(dir, "apps", "dir.json"), State{Mode: ModeLive}); err == nil {
		t.Errorf("renaming over a directory succeeded")
	}
	assertNoTempFiles(t, filepath.Join(dir, "apps"))
}

func assertNoTempFiles(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".berth-state-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}

// A reader polling while a writer rewrites the file never sees half a file.
func TestWriteStateFileIsAtomic(t *testing.T) {
	dir := t.TempDir()
	path := ServerStatePath(dir)
	long := strings.Repeat("a long message ", 2000) // ~30 KB, many write calls
	if err := WriteStateFile(path, State{Mode: ModeLive}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	var readErr error
	reads := 0
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-done:
				return
			default:
			}
			data, err := os.ReadFile(path)
			if err != nil {
				readErr = err
				return
			}
			if _, err := ParseState(data); err != nil {
				readErr = err
				return
			}
			reads++
		}
	}()
	for i := 0; i < 40; i++ {
		st := State{Mode: ModeMaintenance, Message: long}
		if i%2 == 1 {
			st = State{Mode: ModeLive}
		}
		if err := WriteStateFile(path, st); err != nil {
			t.Fatal(err)
		}
	}
	close(done)
	wg.Wait()
	if readErr != nil {
		t.Fatalf("a reader saw a broken file after %d good reads: %v", reads, readErr)
	}
	assertNoTempFiles(t, dir)
}

func TestRemoveStateFile(t *testing.T) {
	dir := t.TempDir()
	path := ServerStatePath(dir)
	if err := RemoveStateFile(path); err != nil {
		t.Errorf("removing a missing file: %v", err)
	}
	if err := WriteStateFile(path, State{Mode: ModePaused}); err != nil {
		t.Fatal(err)
	}
	if err := RemoveStateFile(path); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("file still there: %v", err)
	}
	// A non-empty directory cannot be removed: a real error.
	if err := os.MkdirAll(filepath.Join(dir, "full", "x"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := RemoveStateFile(filepath.Join(dir, "full")); err == nil {
		t.Errorf("no error removing a non-empty directory")
	}
}

func TestStateFileRefresh(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "server.json")
	f := &stateFile{path: path}
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	type result struct {
		changed bool
		errPart string // "" for no error
		mode    Mode   // the good state's mode afterwards
	}
	steps := []struct {
		name   string
		action func()
		want   result
	}{
		{"missing means live", func() {}, result{false, "", ""}},
		{"still missing", func() {}, result{false, "", ""}},
		{"maintenance written", func() { write(`{"mode":"maintenance","message":"a"}`) }, result{true, "", ModeMaintenance}},
		{"unchanged bytes", func() {}, result{false, "", ModeMaintenance}},
		{"same state, other bytes", func() { write(`{ "mode": "maintenance", "message": "a" }`) }, result{false, "", ModeMaintenance}},
		{"malformed keeps last good", func() { write(`{"mode":"maintenance",`) }, result{false, "keeping the last good state", ModeMaintenance}},
		{"same malformed content: reported once", func() {}, result{false, "", ModeMaintenance}},
		{"same malformed content rewritten", func() { write(`{"mode":"maintenance",`) }, result{false, "", ModeMaintenance}},
		{"another problem is reported", func() { write(`{"mode":"offline"}`) }, result{false, `mode "offline"`, ModeMaintenance}},
		{"fixed", func() { write(`{"mode":"paused"}`) }, result{true, "", ModePaused}},
		{"broken again is reported again", func() { write(`{"mode":"offline"}`) }, result{false, `mode "offline"`, ModePaused}},
		{"removed means live", func() { _ = os.Remove(path) }, result{true, "", ""}},
		{"malformed with no good state yet", func() { write(`garbage`) }, result{false, "not valid JSON", ""}},
		{"good again", func() { write(`{"mode":"deploying"}`) }, result{true, "", ModeDeploying}},
		{"oversized", func() { write(`{"mode":"live","message":"` + strings.Repeat("x", maxStateFileSize) + `"}`) }, result{false, "more than the", ModeDeploying}},
		{"unreadable (a directory)", func() { _ = os.Remove(path); _ = os.Mkdir(path, 0o755) }, result{false, "keeping the last good state", ModeDeploying}},
		{"unreadable again: reported once", func() {}, result{false, "", ModeDeploying}},
		{"directory gone", func() { _ = os.Remove(path) }, result{true, "", ""}},
	}
	for _, st := range steps {
		st.action()
		changed, err := f.refresh(time.Now())
		errText := ""
		if err != nil {
			errText = err.Error()
		}
		if changed != st.want.changed {
			t.Errorf("%s: changed = %v, want %v", st.name, changed, st.want.changed)
		}
		if (st.want.errPart == "") != (err == nil) || !strings.Contains(errText, st.want.errPart) {
			t.Errorf("%s: err = %v, want one containing %q", st.name, err, st.want.errPart)
		}
		if err != nil && !strings.Contains(errText, path) {
			t.Errorf("%s: error %q does not name the file", st.name, errText)
		}
		if f.good.Mode != st.want.mode {
			t.Errorf("%s: good mode = %q, want %q", st.name, f.good.Mode, st.want.mode)
		}
	}
}

func FuzzParseState(f *testing.F) {
	seeds := []string{
		`{"mode":"maintenance"}`,
		`{"version":1,"mode":"paused","message":"m","until":"2026-12-01T03:00:00Z","by":"a","at":"2026-12-01T02:00:00+01:00"}`,
		`{"mode":"live"}}`,
		`{"mode":"deploying","until":"2026-12-01T03:00:00.123456789Z"}`,
		`{"mode":"offline"}`,
		`{"version":2,"mode":"live"}`,
		`null`,
		`[]`,
		`{"mode":"live","x":1}`,
		"{\"mode\":\"maintenance\",\"message\":\"\xff\xfe\"}",
		`{"MODE":"live"}`,
		``,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		st, err := ParseState(data)
		if err != nil {
			if st != (State{}) {
				t.Fatalf("error %v with a non-zero state %+v", err, st)
			}
			return
		}
		if len(data) > maxStateFileSize {
			t.Fatalf("accepted %d bytes", len(data))
		}
		if !json.Valid(data) {
			t.Fatalf("accepted input that is not one JSON value: %q", data)
		}
		if st.Version != StateFileVersion {
			t.Fatalf("version %d", st.Version)
		}
		switch st.Mode {
		case ModeLive, ModeDeploying, ModePaused, ModeMaintenance:
		default:
			t.Fatalf("accepted mode %q", st.Mode)
		}
		// What was accepted can be written back and reads the same.
		out, err := json.Marshal(st)
		if err != nil {
			t.Fatalf("cannot re-encode %+v: %v", st, err)
		}
		again, err := ParseState(out)
		if err != nil {
			t.Fatalf("re-encoded state %s rejected: %v", out, err)
		}
		if !sameState(st, again) {
			t.Fatalf("round trip changed %+v into %+v", st, again)
		}
	})
}
