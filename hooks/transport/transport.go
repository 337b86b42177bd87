// Package transport runs berth's remote steps. Two implementations sit
// behind one interface: Kamal, which shells out to the `kamal` command (it
// knows the user's SSH settings, secrets, volumes and the deploy lock), and
// Local, which runs the same steps on this machine (the rehearsal, or berth
// running on the server itself).
package transport

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Transport is where the app's containers and server live.
type Transport interface {
	// Name is "kamal" or "local", for messages.
	Name() string
	// Accessory runs argv inside the running accessory container
	// (`kamal accessory exec NAME --reuse`).
	Accessory(ctx context.Context, accessory string, argv []string) (string, error)
	// App runs a shell command once, in a new container of the app's image
	// at version on the primary host (`kamal app exec -p --version=V`).
	App(ctx context.Context, version, command string) (string, error)
	// Server runs a POSIX shell script on the app's hosts
	// (`kamal server exec`).
	Server(ctx context.Context, script string) (string, error)
	// RunningVersion is the version of the app running now, "" if unknown.
	RunningVersion(ctx context.Context) (string, error)
	// LocalPath maps a path as the containers or server see it
	// (/rails/storage/production.sqlite3) to a path on this machine, or
	// reports false when it is not reachable from here.
	LocalPath(p string) (string, bool)
	// Describe is how a command given to Accessory, App or Server would be
	// typed by hand with this transport (for the "what to do" messages).
	Describe(kind, name string, argv []string) string
}

// Kinds for Describe.
const (
	KindAccessory = "accessory"
	KindApp       = "app"
	KindServer    = "server"
)

// ErrNotRunning is wrapped when the accessory or app container is not
// running (first `kamal setup`, a stopped accessory).
var ErrNotRunning = errors.New("container not running")

// ErrTimeout is wrapped when a step ran out of its deadline.
var ErrTimeout = errors.New("deadline exceeded")

// CommandError is a command that ran and failed.
type CommandError struct {
	Command  string
	ExitCode int
	Output   string
	Err      error
}

func (e *CommandError) Error() string {
	tail := lastLines(e.Output, 8)
	msg := fmt.Sprintf("`%s` failed", e.Command)
	if e.ExitCode > 0 {
		msg += fmt.Sprintf(" (exit status %d)", e.ExitCode)
	} else if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	if tail != "" {
		msg += ":\n" + indent(tail, "    ")
	}
	return msg
}

func (e *CommandError) Unwrap() error { return e.Err }

func lastLines(s string, n int) string {
	s = strings.TrimRight(s, "\n ")
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func indent(s, pre string) string {
	return pre + strings.ReplaceAll(s, "\n", "\n"+pre)
}

// Quote quotes s for a POSIX shell.
func Quote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:@,+%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'"'"'`) + "'"
}

// Join quotes every word of argv for a POSIX shell.
func Join(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = Quote(a)
	}
	return strings.Join(q, " ")
}

// Markers frame the part of a command's output berth reads, so Kamal's
// own lines ("App Host: ...", "Launching command ...") around it do not
// matter.
const (
	BeginMarker = "@@berth-begin@@"
	EndMarker   = "@@berth-end@@"
)

// Framed wraps a shell script so its output is framed by the markers.
func Framed(script string) string {
	return "echo " + BeginMarker + "; " + script + "; rc=$?; echo " + EndMarker + "; exit $rc"
}

// Unframe returns the text between the first pair of markers, or false.
func Unframe(out string) (string, bool) {
	_, rest, ok := strings.Cut(out, BeginMarker)
	if !ok {
		return "", false
	}
	rest = strings.TrimPrefix(strings.TrimPrefix(rest, "\r"), "\n")
	body, _, ok := strings.Cut(rest, EndMarker)
	if !ok {
		return "", false
	}
	return body, true
}

// Stream is an optional place to copy a command's output as it runs
// (migrations), besides returning it.
type streamKey struct{}

// WithStream returns a context whose commands also copy their output to w.
func WithStream(ctx context.Context, w io.Writer) context.Context {
	return context.WithValue(ctx, streamKey{}, w)
}

func streamFrom(ctx context.Context) io.Writer {
	w, _ := ctx.Value(streamKey{}).(io.Writer)
	return w
}
