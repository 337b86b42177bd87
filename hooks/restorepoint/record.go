package restorepoint

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// LogPath is where restore points are recorded, relative to the app's
// directory (Rails ignores tmp/ in git).
const LogPath = "tmp/berth/restore-points.jsonl"

// Record is one restore point: every database, the deploy it came before.
type Record struct {
	At              time.Time `json:"at"`
	App             string    `json:"app"`
	Destination     string    `json:"destination,omitempty"`
	Version         string    `json:"version,omitempty"`
	PreviousVersion string    `json:"previous_version,omitempty"`
	Command         string    `json:"command,omitempty"`
	By              string    `json:"by,omitempty"`
	Points          []Point   `json:"points"`
}

// Append adds r to the log under appDir (one JSON object per line).
func Append(appDir string, r Record) (string, error) {
	p := filepath.Join(appDir, LogPath)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return p, fmt.Errorf("record restore point: %w", err)
	}
	data, err := json.Marshal(r)
	if err != nil {
		return p, fmt.Errorf("record restore point: %w", err)
	}
	f, err := os.OpenFile(p, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return p, fmt.Errorf("record restore point: %w", err)
	}
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return p, fmt.Errorf("record restore point %s: %w", p, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return p, fmt.Errorf("record restore point %s: %w", p, err)
	}
	return p, f.Close()
}

// List reads the log under appDir, oldest first. Lines that do not parse
// are skipped and counted.
func List(appDir string) ([]Record, int, error) {
	p := filepath.Join(appDir, LogPath)
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil {
		return nil, 0, fmt.Errorf("read %s: %w", p, err)
	}
	defer f.Close()
	var out []Record
	bad := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
	for sc.Scan() {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			bad++
			continue
		}
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return out, bad, fmt.Errorf("read %s: %w", p, err)
	}
	return out, bad, nil
}

// Latest returns the newest record for version ("" = any).
func Latest(appDir, app, version string) (Record, bool) {
	rs, _, _ := List(appDir)
	for i := len(rs) - 1; i >= 0; i-- {
		if rs[i].App == app && (version == "" || rs[i].Version == version) {
			return rs[i], true
		}
	}
	return Record{}, false
}
