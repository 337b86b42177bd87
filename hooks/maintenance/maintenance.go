package maintenance

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/user"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/wombatworkouts/berth/hooks/transport"
	"github.com/wombatworkouts/berth/plugin"
)

// MaxMessage bounds the page message (the plugin escapes it; a novel on a
// maintenance page helps nobody).
const MaxMessage = 1000

// Request is one `berth maintenance on|off`.
type Request struct {
	Store Store
	Paths Paths
	// All targets server.json (every app on the server) instead of the app.
	All     bool
	Message string
	Until   time.Time
	By      string
	Now     time.Time
}

func (r Request) file() string {
	if r.All {
		return r.Paths.ServerFile()
	}
	return r.Paths.AppFile()
}

// CheckMessage validates a page message.
func CheckMessage(m string) error {
	if !utf8.ValidString(m) {
		return errors.New("--message is not valid UTF-8")
	}
	if n := utf8.RuneCountInString(m); n > MaxMessage {
		return fmt.Errorf("--message is %d characters; keep it under %d", n, MaxMessage)
	}
	return nil
}

// On writes a maintenance state and returns the file written.
func On(ctx context.Context, r Request) (string, plugin.State, error) {
	if err := CheckMessage(r.Message); err != nil {
		return "", plugin.State{}, err
	}
	if !r.Until.IsZero() && !r.Until.After(r.Now) {
		return "", plugin.State{}, fmt.Errorf("--until %s is not in the future", r.Until.Format(time.RFC3339))
	}
	st := plugin.State{Mode: plugin.ModeMaintenance, Message: r.Message, Until: r.Until.UTC(), By: r.By, At: r.Now.UTC()}
	f := r.file()
	if err := r.Store.Write(ctx, f, st); err != nil {
		return f, st, err
	}
	return f, st, nil
}

// DefaultPause is how long a pause lasts when the operator gives no end: a
// forgotten pause would hold every request up to the plugin's holdTimeout.
const DefaultPause = 5 * time.Minute

// Pause holds the app's (or every app's) requests, like kamal-proxy's pause:
// the plugin keeps them until the pause ends or its holdTimeout passes.
// A pause always ends by itself (r.Until, or DefaultPause from now).
func Pause(ctx context.Context, r Request) (string, plugin.State, error) {
	until := r.Until
	if until.IsZero() {
		until = r.Now.Add(DefaultPause)
	}
	if !until.After(r.Now) {
		return "", plugin.State{}, fmt.Errorf("--until %s is not in the future", until.Format(time.RFC3339))
	}
	st := plugin.State{Mode: plugin.ModePaused, Until: until.UTC(), By: r.By, At: r.Now.UTC()}
	f := r.file()
	return f, st, r.Store.Write(ctx, f, st)
}

// ErrNotPaused is returned by Resume when the file holds another mode.
var ErrNotPaused = errors.New("not paused")

// Resume ends a pause. Anything else in the file (an operator's
// maintenance, a deploy's state) stays: resume is not `maintenance off`.
func Resume(ctx context.Context, r Request) (string, error) {
	f := r.file()
	st, ok, err := r.Store.Read(ctx, f)
	if err != nil {
		return f, err
	}
	if !ok || !Active(st, r.Now) {
		return f, nil
	}
	if st.Mode != plugin.ModePaused {
		return f, fmt.Errorf("%s holds %s (by %s), %w: left as it is (`berth maintenance off` ends it)", f, st.Mode, st.By, ErrNotPaused)
	}
	return f, r.Store.Remove(ctx, f)
}

// Off removes the state file, so the app (or the server) is live again.
func Off(ctx context.Context, r Request) (string, error) {
	f := r.file()
	return f, r.Store.Remove(ctx, f)
}

// Row is one line of `berth maintenance status`.
type Row struct {
	Scope   string // "app <name>" or "server"
	File    string
	Present bool
	State   plugin.State
	Active  bool
	Err     error
}

// Effective is what the row means right now.
func (r Row) Effective(now time.Time) string {
	switch {
	case r.Err != nil && unreachable(r.Err):
		return "unknown: the server was not asked (" + firstLine(r.Err) + ")"
	case r.Err != nil:
		return "unreadable (the plugin keeps its last good state)"
	case !r.Present:
		return "live (no state file)"
	case !r.Active:
		if r.State.Mode == plugin.ModeLive {
			return "live"
		}
		return fmt.Sprintf("live (%s ended %s)", r.State.Mode, r.State.Until.Format(time.RFC3339))
	}
	s := string(r.State.Mode)
	if !r.State.Until.IsZero() {
		s += fmt.Sprintf(" until %s (%s left)", r.State.Until.Format(time.RFC3339), r.State.Until.Sub(now).Round(time.Second))
	} else {
		s += " (no end set)"
	}
	return s
}

// unreachable reports whether err is the transport failing (kamal missing,
// kamal or ssh failing, a deadline), not a state file that is malformed.
func unreachable(err error) bool {
	var ce *transport.CommandError
	return errors.As(err, &ce) || errors.Is(err, transport.ErrNoProgram) || errors.Is(err, transport.ErrTimeout)
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// Status reads the app's and the server's state files.
func Status(ctx context.Context, s Store, p Paths, now time.Time) []Row {
	rows := []Row{
		{Scope: "app " + p.App, File: p.AppFile()},
		{Scope: "server", File: p.ServerFile()},
	}
	for i := range rows {
		st, ok, err := s.Read(ctx, rows[i].File)
		rows[i].State, rows[i].Present, rows[i].Err = st, ok, err
		rows[i].Active = err == nil && ok && Active(st, now)
	}
	return rows
}

// Active reports whether a state applies at now (not live, not expired).
func Active(st plugin.State, now time.Time) bool {
	return st.Mode != plugin.ModeLive && st.Mode != "" && (st.Until.IsZero() || now.Before(st.Until))
}

// Who is "user@host" for the state's by field.
func Who() string {
	name := os.Getenv("USER")
	if u, err := user.Current(); err == nil && u.Username != "" {
		name = u.Username
	}
	host, _ := os.Hostname()
	if host = strings.TrimSpace(host); host == "" {
		return name
	}
	return name + "@" + host
}

// DeployBy marks states written by the deploy hooks, so post-deploy only
// clears what a deploy set and never an operator's maintenance.
const DeployBy = "berth deploy"

// Saved is an app's state before a deploy changed it.
type Saved struct {
	File    string
	State   plugin.State
	Existed bool
	// Kept is true when an operator's maintenance or pause was active and
	// the deploy left it alone.
	Kept bool
}

// BeginDeploy puts the app into mode (deploying or maintenance) until
// now+ttl, unless an operator's maintenance or pause is active: that stays
// (a deploy never takes the page down by itself). It returns what was there,
// for Restore.
func BeginDeploy(ctx context.Context, s Store, p Paths, mode plugin.Mode, message, version string, ttl time.Duration, now time.Time) (Saved, error) {
	f := p.AppFile()
	prev, ok, err := s.Read(ctx, f)
	if err != nil {
		return Saved{File: f}, fmt.Errorf("read the current state before the deploy: %w", err)
	}
	saved := Saved{File: f, State: prev, Existed: ok}
	if ok && Active(prev, now) && !strings.HasPrefix(prev.By, DeployBy) &&
		(prev.Mode == plugin.ModeMaintenance || prev.Mode == plugin.ModePaused) {
		saved.Kept = true
		return saved, nil
	}
	st := plugin.State{Mode: mode, Message: message, Until: now.Add(ttl).UTC(), By: DeployBy + " " + version, At: now.UTC()}
	if err := s.Write(ctx, f, st); err != nil {
		return saved, err
	}
	return saved, nil
}

// Restore puts back what BeginDeploy found.
func Restore(ctx context.Context, s Store, saved Saved) error {
	if saved.Kept {
		return nil
	}
	if !saved.Existed {
		return s.Remove(ctx, saved.File)
	}
	return s.Write(ctx, saved.File, saved.State)
}

// EndMigrationMaintenance turns the maintenance a deploy set for its
// migrations into deploying: post-deploy runs once Kamal switched to the new
// version, so code and schema agree again and visitors can be served (with
// drained containers still kept from them) while the smoke checks run. An
// operator's state, or none, is left alone; it reports whether it changed.
func EndMigrationMaintenance(ctx context.Context, s Store, p Paths, now time.Time) (bool, error) {
	f := p.AppFile()
	st, ok, err := s.Read(ctx, f)
	if err != nil || !ok || st.Mode != plugin.ModeMaintenance || !strings.HasPrefix(st.By, DeployBy) || !Active(st, now) {
		return false, err
	}
	st.Mode = plugin.ModeDeploying
	st.Message = ""
	st.At = now.UTC()
	return true, s.Write(ctx, f, st)
}

// EndDeploy takes the app back to live if the deploy hooks set its state
// (one step: an operator's state written meanwhile is never removed); an
// operator's state is left alone and reported.
func EndDeploy(ctx context.Context, s Store, p Paths) (plugin.State, bool, error) {
	return s.RemoveIfBy(ctx, p.AppFile(), DeployBy)
}
