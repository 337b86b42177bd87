// Package maintenance reads and writes the berth plugin's state files
// (plugin.State in <state_dir>/apps/<app>.json and <state_dir>/server.json):
// on this machine with plugin.WriteStateFile, on the server through the
// transport, atomically in both cases (temporary file, then rename), so the
// plugin never reads half a file.
package maintenance

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"regexp"
	"strings"

	"github.com/wombatworkouts/berth/hooks/transport"
	"github.com/wombatworkouts/berth/plugin"
)

// Store holds state files.
type Store interface {
	// Read returns the state in file p and whether the file exists.
	Read(ctx context.Context, p string) (plugin.State, bool, error)
	// Write replaces file p atomically.
	Write(ctx context.Context, p string, st plugin.State) error
	// Remove deletes file p (live); a missing file is fine.
	Remove(ctx context.Context, p string) error
	// RemoveIfBy deletes file p only when its state was written by someone
	// whose by field starts with prefix, in one step (one remote call, no
	// window for an operator's change between a read and the removal). It
	// returns the state it left in place, and whether p is gone.
	RemoveIfBy(ctx context.Context, p, prefix string) (plugin.State, bool, error)
	// Where names the store for messages ("on this machine", "on the
	// server through kamal").
	Where() string
}

// Paths names the state files of one app inside a state directory as the
// server sees it (config server.state_dir).
type Paths struct {
	Dir string
	App string
}

// AppFile is <dir>/apps/<app>.json.
func (p Paths) AppFile() string { return path.Join(p.Dir, "apps", p.App+".json") }

// ServerFile is <dir>/server.json.
func (p Paths) ServerFile() string { return path.Join(p.Dir, "server.json") }

// NewStore picks the local store when the transport reaches the state
// directory as a local path, the remote one otherwise.
func NewStore(t transport.Transport, stateDir string) (Store, Paths) {
	if local, ok := t.LocalPath(stateDir); ok {
		return Local{}, Paths{Dir: local}
	}
	return &Remote{T: t}, Paths{Dir: stateDir}
}

// Local is a Store on this machine.
type Local struct{}

// Where implements Store.
func (Local) Where() string { return "on this machine" }

// Read implements Store.
func (Local) Read(_ context.Context, p string) (plugin.State, bool, error) {
	data, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return plugin.State{}, false, nil
	}
	if err != nil {
		return plugin.State{}, false, fmt.Errorf("read state file %s: %w", p, err)
	}
	st, err := plugin.ParseState(data)
	if err != nil {
		return plugin.State{}, true, fmt.Errorf("%s: %w", p, err)
	}
	return st, true, nil
}

// Write implements Store.
func (Local) Write(_ context.Context, p string, st plugin.State) error {
	return plugin.WriteStateFile(p, st)
}

// Remove implements Store.
func (Local) Remove(_ context.Context, p string) error { return plugin.RemoveStateFile(p) }

// RemoveIfBy implements Store.
func (l Local) RemoveIfBy(ctx context.Context, p, prefix string) (plugin.State, bool, error) {
	st, ok, err := l.Read(ctx, p)
	if err != nil || !ok {
		return st, err == nil, err
	}
	if !strings.HasPrefix(st.By, prefix) {
		return st, false, nil
	}
	return st, true, l.Remove(ctx, p)
}

// Remote is a Store on the app's servers, written through the transport
// with a shell script: a temporary file next to the target, then mv (a
// rename on one file system is atomic).
type Remote struct{ T transport.Transport }

// Where implements Store.
func (r *Remote) Where() string { return "on the server (through " + r.T.Name() + ")" }

const missingMark = "@@berth-missing@@"

// Read implements Store.
func (r *Remote) Read(ctx context.Context, p string) (plugin.State, bool, error) {
	q := transport.Quote(p)
	frame := transport.NewFrame()
	script := frame.Wrap(fmt.Sprintf(`if [ -f %s ]; then base64 < %s; else echo %s; fi`, q, q, missingMark))
	out, err := r.T.Server(ctx, script)
	if err != nil {
		return plugin.State{}, false, fmt.Errorf("read state file %s on the server: %w", p, err)
	}
	body, ok := frame.Extract(out)
	if !ok {
		return plugin.State{}, false, fmt.Errorf("read state file %s on the server: unexpected output (no berth markers): %q", p, clip(out))
	}
	if strings.TrimSpace(body) == missingMark {
		return plugin.State{}, false, nil
	}
	data, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(body), ""))
	if err != nil {
		return plugin.State{}, true, fmt.Errorf("read state file %s on the server: %w", p, err)
	}
	st, err := plugin.ParseState(data)
	if err != nil {
		return plugin.State{}, true, fmt.Errorf("%s on the server: %w", p, err)
	}
	return st, true, nil
}

// Write implements Store.
func (r *Remote) Write(ctx context.Context, p string, st plugin.State) error {
	if st.Version == 0 {
		st.Version = plugin.StateFileVersion
	}
	data, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("encode state for %s: %w", p, err)
	}
	if _, err := plugin.ParseState(data); err != nil {
		return fmt.Errorf("refusing to write %s: %w", p, err)
	}
	data = append(data, '\n')
	dir := path.Dir(p)
	script := fmt.Sprintf(`set -e
dir=%s
mkdir -p "$dir"
tmp=$(mktemp "$dir/.berth-state-XXXXXX")
trap 'rm -f "$tmp"' EXIT
echo %s | base64 -d > "$tmp"
chmod 0644 "$tmp"
mv -f "$tmp" %s
trap - EXIT
echo %s`, transport.Quote(dir), base64.StdEncoding.EncodeToString(data), transport.Quote(p), writtenMark)
	out, err := r.T.Server(ctx, script)
	if err != nil {
		return fmt.Errorf("write state file %s on the server: %w", p, err)
	}
	if !strings.Contains(out, writtenMark) {
		return fmt.Errorf("write state file %s on the server: the script did not confirm the write: %q", p, clip(out))
	}
	return nil
}

const writtenMark = "@@berth-written@@"

// byPrefix is a state file's by field, as encoding/json writes it (with or
// without the space MarshalIndent puts after the colon), for grep.
var byPrefix = regexp.MustCompile(`^[A-Za-z0-9 _.@-]+$`)

// RemoveIfBy implements Store with one script: the file goes only while its
// by field still starts with prefix.
func (r *Remote) RemoveIfBy(ctx context.Context, p, prefix string) (plugin.State, bool, error) {
	if !byPrefix.MatchString(prefix) {
		return plugin.State{}, false, fmt.Errorf("remove state file %s: %q cannot be matched safely", p, prefix)
	}
	frame := transport.NewFrame()
	q := transport.Quote(p)
	script := frame.Wrap(fmt.Sprintf(`if [ ! -f %[1]s ]; then echo gone; elif grep -q '"by": *"%[2]s' %[1]s; then rm -f %[1]s && echo gone; else echo kept; base64 < %[1]s; fi`, q, prefix))
	out, err := r.T.Server(ctx, script)
	if err != nil {
		return plugin.State{}, false, fmt.Errorf("remove state file %s on the server: %w", p, err)
	}
	body, ok := frame.Extract(out)
	if !ok {
		return plugin.State{}, false, fmt.Errorf("remove state file %s on the server: unexpected output: %q", p, clip(out))
	}
	verdict, rest, _ := strings.Cut(strings.TrimSpace(body), "\n")
	switch strings.TrimSpace(verdict) {
	case "gone":
		return plugin.State{}, true, nil
	case "kept":
		data, err := base64.StdEncoding.DecodeString(strings.Join(strings.Fields(rest), ""))
		if err != nil {
			return plugin.State{}, false, fmt.Errorf("read state file %s on the server: %w", p, err)
		}
		st, err := plugin.ParseState(data)
		if err != nil {
			return plugin.State{}, false, fmt.Errorf("%s on the server: %w", p, err)
		}
		return st, false, nil
	}
	return plugin.State{}, false, fmt.Errorf("remove state file %s on the server: unexpected answer %q", p, clip(body))
}

// Remove implements Store.
func (r *Remote) Remove(ctx context.Context, p string) error {
	out, err := r.T.Server(ctx, fmt.Sprintf("rm -f %s && echo %s", transport.Quote(p), writtenMark))
	if err != nil {
		return fmt.Errorf("remove state file %s on the server: %w", p, err)
	}
	if !strings.Contains(out, writtenMark) {
		return fmt.Errorf("remove state file %s on the server: the script did not confirm: %q", p, clip(out))
	}
	return nil
}

func clip(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}
