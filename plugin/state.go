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

// stateFile is what the poller remembers of one file: the last bytes read
// and the last good state, so a malformed rewrite keeps the previous state
// and is logged once.
type stateFile struct {
	path    string
	raw     []byte
	present bool
	good    State
	bad     string
}

// refresh re-reads the file and reports whether its effective content
// changed. Errors are returned once per distinct bad content.
func (f *stateFile) refresh() (changed bool, problem error) {
	data, err := readSmallFile(f.path)
	if os.IsNotExist(err) {
		if !f.present {
			return false, nil
		}
		// One assignment per field: Yaegi panics on a tuple assignment with nil.
		f.present = false
		f.raw = nil
		f.good = State{}
		f.bad = ""
		return true, nil
	}
	if err != nil {
		msg := err.Error()
		if msg != f.bad {
			f.bad = msg
			return false, fmt.Errorf("read %s: %v (keeping the last good state)", f.path, err)
		}
		return false, nil
	}
	if f.present && string(data) == string(f.raw) {
		return false, nil
	}
	f.raw = data
	f.present = true
	st, err := ParseState(data)
	if err != nil {
		msg := err.Error()
		if msg != f.bad {
			f.bad = msg
			return false, fmt.Errorf("%s: %v (keeping the last good state)", f.path, err)
		}
		return false, nil
	}
	f.bad = ""
	if sameState(st, f.good) {
		return false, nil
	}
	f.good = st
	return true, nil
}

func sameState(a, b State) bool {
	return a.Version == b.Version && a.Mode == b.Mode && a.Message == b.Message &&
		a.Until.Equal(b.Until) && a.By == b.By && a.At.Equal(b.At)
}

// readSmallFile reads at most one byte more than a state file may hold, so an
// oversized file is rejected by ParseState without reading all of it.
func readSmallFile(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer fh.Close()
	return io.ReadAll(io.LimitReader(fh, maxStateFileSize+1))
}
