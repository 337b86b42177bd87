package plugin

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Mode is what the middleware does with a request that is not bypassed.
type Mode string

// The modes, in rising order of precedence: when several sources (static
// config, windows, the server-wide and the app's state file) disagree, the
// highest wins. Unavailable is never written: it is derived from health.
const (
	ModeLive        Mode = "live"
	ModeDeploying   Mode = "deploying"
	ModePaused      Mode = "paused"
	ModeMaintenance Mode = "maintenance"
	ModeUnavailable Mode = "unavailable"
)

func (m Mode) rank() int {
	switch m {
	case ModeDeploying:
		return 1
	case ModePaused:
		return 2
	case ModeMaintenance:
		return 3
	}
	return 0
}

// StateFileVersion is the schema version written by berth and accepted here.
const StateFileVersion = 1

// maxStateFileSize bounds what the poller reads; a larger file is malformed.
const maxStateFileSize = 64 << 10

// State is the JSON document in <stateDir>/server.json (every app on the
// server) and <stateDir>/apps/<app>.json (one app). A missing file means
// live. The state ends by itself at Until, so a deploy that dies never
// leaves an app in deploying or maintenance mode.
//
//	{"version": 1, "mode": "maintenance", "message": "Upgrading the database",
//	 "until": "2026-12-01T03:00:00Z", "by": "alice@laptop", "at": "2026-12-01T02:00:00Z"}
type State struct {
	Version int       `json:"version"`
	Mode    Mode      `json:"mode"`
	Message string    `json:"message,omitempty"`
	Until   time.Time `json:"until,omitempty"`
	By      string    `json:"by,omitempty"`
	At      time.Time `json:"at,omitempty"`
}

// MarshalJSON leaves out unset times (encoding/json's omitempty does not
// apply to time.Time), so a written file shows only what was said.
func (st State) MarshalJSON() ([]byte, error) {
	type wire struct {
		Version int        `json:"version"`
		Mode    Mode       `json:"mode"`
		Message string     `json:"message,omitempty"`
		Until   *time.Time `json:"until,omitempty"`
		By      string     `json:"by,omitempty"`
		At      *time.Time `json:"at,omitempty"`
	}
	w := wire{Version: st.Version, Mode: st.Mode, Message: st.Message, By: st.By}
	if !st.Until.IsZero() {
		u := st.Until
		w.Until = &u
	}
	if !st.At.IsZero() {
		a := st.At
		w.At = &a
	}
	return json.Marshal(w)
}

// ParseState decodes and validates a state file's content.
func ParseState(data []byte) (State, error) {
	var st State
	if len(data) > maxStateFileSize {
		return st, fmt.Errorf("state file is %d bytes, more than the %d allowed", len(data), maxStateFileSize)
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&st); err != nil {
		return State{}, fmt.Errorf("state file is not valid JSON for berth's schema: %v", err)
	}
	// More() is false before a stray '}' or ']', so ask for the next token:
	// only the end of the input is acceptable.
	if _, err := dec.Token(); err != io.EOF {
		return State{}, fmt.Errorf("state file has data after its JSON object")
	}
	if st.Version == 0 {
		st.Version = StateFileVersion
	}
	if st.Version != StateFileVersion {
		return State{}, fmt.Errorf("state file version %d is not supported (want %d)", st.Version, StateFileVersion)
	}
	switch st.Mode {
	case ModeLive, ModeDeploying, ModePaused, ModeMaintenance:
	default:
		return State{}, fmt.Errorf("state file mode %q is not one of live, deploying, paused, maintenance", st.Mode)
	}
	return st, nil
}

// activeAt reports whether the state still applies at now.
func (st State) activeAt(now time.Time) bool {
	return st.Mode != ModeLive && (st.Until.IsZero() || now.Before(st.Until))
}

// ServerStatePath and AppStatePath name the state files inside a state
// directory; berth writes them and the middleware reads them.
func ServerStatePath(dir string) string { return filepath.Join(dir, "server.json") }

// AppStatePath is the state file of one app.
func AppStatePath(dir, app string) string { return filepath.Join(dir, "apps", app+".json") }

// WriteStateFile writes st to path atomically (a temporary file in the same
// directory, synced, then renamed over the old one), so the middleware never
// reads half a file.
func WriteStateFile(path string, st State) error {
	if st.Version == 0 {
		st.Version = StateFileVersion
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state for %s: %w", path, err)
	}
	if _, err := ParseState(data); err != nil {
		return fmt.Errorf("refusing to write %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create state directory: %w", err)
	}
	tmp, err := os.CreateTemp(dir, ".berth-state-*")
	if err != nil {
		return fmt.Errorf("write state %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(append(data, '\n')); err != nil {
		tmp.Close()
		return fmt.Errorf("write state %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("write state %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("write state %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write state %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write state %s: %w", path, err)
	}
	return nil
}

// RemoveStateFile deletes a state file; a missing one is not an error.
func RemoveStateFile(path string) error {
	if err := os.Remove(path); err != nil && !os.IsNotExist(err) {
		return fmt.Errorf("remove state %s: %w", path, err)
	}
	return nil
}

// stateFile is what a watcher remembers of one file: the last bytes read,
// the last good state (a malformed or unreadable file keeps it), what was
// last reported, and the identity of the file last read, so that an
// unchanged file costs one stat.
type stateFile struct {
	path    string
	raw     []byte
	present bool
	good    State
	// bad is the problem last reported ("" when the file is fine or
	// missing): the bytes of a malformed file, or the text of a read
	// problem. A problem is reported when it differs from bad, so each
	// distinct bad content is logged once, and again after the file was
	// good or missing in between.
	bad string
	// info is the file read last; lastRead when. A file whose identity,
	// size and modification time are unchanged is not read again until
	// fullReadEvery has passed (a rewrite in place within the clock's
	// granularity is still seen then).
	info     os.FileInfo
	lastRead time.Time
}

// fullReadEvery bounds how long an unchanged-looking file goes unread.
const fullReadEvery = time.Second

// refresh looks at the file again and reports whether its effective content
// changed, and a problem to log if there is a new one.
func (f *stateFile) refresh(now time.Time) (changed bool, problem error) {
	fi, err := os.Stat(f.path)
	if err == nil && !fi.Mode().IsRegular() {
		err = notRegularError(fi)
	}
	if os.IsNotExist(err) {
		f.info = nil
		if !f.present && f.bad == "" {
			return false, nil
		}
		wasPresent := f.present
		// One assignment per field: Yaegi panics on a tuple assignment with nil.
		f.present = false
		f.raw = nil
		f.good = State{}
		f.bad = ""
		return wasPresent, nil
	}
	if err != nil {
		return false, f.report("read "+f.path+": "+err.Error(), "%s (keeping the last good state)")
	}
	if f.info != nil && os.SameFile(f.info, fi) && f.info.Size() == fi.Size() &&
		f.info.ModTime().Equal(fi.ModTime()) && now.Sub(f.lastRead) < fullReadEvery {
		return false, nil
	}
	data, err := readStateFile(f.path)
	if err != nil {
		if os.IsNotExist(err) {
			return false, nil // removed since the stat: the next look sees it
		}
		return false, f.report("read "+f.path+": "+err.Error(), "%s (keeping the last good state)")
	}
	f.info = fi
	f.lastRead = now
	if f.present && string(data) == string(f.raw) && f.bad == "" {
		return false, nil
	}
	st, err := ParseState(data)
	if err != nil {
		if f.bad == "content:"+string(data) {
			return false, nil
		}
		f.bad = "content:" + string(data)
		return false, fmt.Errorf("%s: %v (keeping the last good state)", f.path, err)
	}
	f.raw = data
	f.present = true
	f.bad = ""
	if sameState(st, f.good) {
		return false, nil
	}
	f.good = st
	return true, nil
}

// report returns the problem described by key, formatted with format, the
// first time it is seen in a row, and nil after that.
func (f *stateFile) report(key, format string) error {
	f.info = nil
	if key == f.bad {
		return nil
	}
	f.bad = key
	return fmt.Errorf(format, key)
}

// notRegularError says what a state file path holds when it is not a
// regular file. Opening a FIFO blocks until someone writes to it, and a
// device or socket is never a state file, so these are refused before any
// open.
func notRegularError(fi os.FileInfo) error {
	m := fi.Mode()
	what := "not a regular file"
	switch {
	case m.IsDir():
		what = "a directory, not a regular file"
	case m&os.ModeNamedPipe != 0:
		what = "a named pipe (FIFO), not a regular file"
	case m&os.ModeSocket != 0:
		what = "a socket, not a regular file"
	case m&os.ModeDevice != 0:
		what = "a device, not a regular file"
	}
	return fmt.Errorf("it is %s; write state files with berth maintenance or a rename(2) of a regular file", what)
}

func sameState(a, b State) bool {
	return a.Version == b.Version && a.Mode == b.Mode && a.Message == b.Message &&
		a.Until.Equal(b.Until) && a.By == b.By && a.At.Equal(b.At)
}

// readStateFile reads at most one byte more than a state file may hold, so
// an oversized (or growing) file is rejected by ParseState without reading
// all of it. The file is checked again once open: whatever was renamed over
// the path between the stat and the open is refused unless it is a regular
// file.
func readStateFile(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	fi, err := fh.Stat()
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, notRegularError(fi)
	}
	return io.ReadAll(io.LimitReader(fh, maxStateFileSize+1))
}
