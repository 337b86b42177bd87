// Package transport runs berth's remote steps. Two implementations sit
// behind one interface: Kamal, which shells out to the `kamal` command (it
// knows the user's SSH settings, secrets, volumes and the deploy lock), and
// Local, which runs the same steps on this machine (the rehearsal, or berth
// running on the server itself).
package transport

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// Transport is where the app's containers and server live.
type Transport interface {
	// Name is "kamal" or "local", for messages.
	Name() string
	// Accessory runs argv inside the running accessory container
	// (`kamal accessory exec NAME --reuse`).
	Accessory(ctx context.Context, accessory string, argv []string) (string, error)
	// AccessoryEach runs each argv inside the running accessory, one after
	// the other, in a single remote call where the transport can (kamal:
	// one kamal process, one SSH connection), and returns each command's
	// output and error. The error is for the call as a whole (the
	// accessory is not running, the deadline passed).
	AccessoryEach(ctx context.Context, accessory string, argvs [][]string) ([]Output, error)
	// App runs a shell command once, in a new container of the app's image
	// at version on the primary host (`kamal app exec -p --version=V`).
	App(ctx context.Context, version, command string) (string, error)
	// Server runs a POSIX shell script on the app's hosts
	// (`kamal server exec`).
	Server(ctx context.Context, script string) (string, error)
	// Upload writes content to a file on the primary host, mode 0600,
	// through stdin: never on a command line. A relative path is relative
	// to the SSH user's home directory, like Kamal's own files.
	Upload(ctx context.Context, path string, content []byte) error
	// RunningVersion is the version of the app running now, "" if unknown.
	RunningVersion(ctx context.Context) (string, error)
	// LocalPath maps a path as the containers or server see it
	// (/rails/storage/production.sqlite3) to a path on this machine, or
	// reports false when it is not reachable from here.
	LocalPath(p string) (string, bool)
}

// Output is one command's output and error (a *CommandError with its exit
// status when it failed).
type Output struct {
	Text string
	Err  error
}

// ErrNotRunning is wrapped when the accessory or app container is not
// running (first `kamal setup`, a stopped accessory).
var ErrNotRunning = errors.New("container not running")

// ErrNoProgram is wrapped when the command itself (kamal, sh) is missing.
var ErrNoProgram = errors.New("program not found")

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

// Frame marks the part of a command's output berth reads, so Kamal's own
// lines around it ("App Host: ...", "Launching command ...") do not matter.
// Kamal echoes the command it runs (at its default verbosity) and decorates
// every output line at -v, so a marker counts only on a line of its own, and
// each command gets a fresh nonce: neither the echo nor anything printed
// before can be taken for the answer.
type Frame struct{ begin, end string }

// NewFrame returns markers no other command uses.
func NewFrame() Frame {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on the systems berth runs on; a
		// clock-based nonce still keeps the markers off the echo line.
		binary.BigEndian.PutUint64(b[:], uint64(time.Now().UnixNano()))
	}
	n := hex.EncodeToString(b[:])
	return Frame{begin: "@@berth-begin-" + n + "@@", end: "@@berth-end-" + n + "@@"}
}

// Wrap returns a shell script that prints the markers on lines of their
// own around script's output and exits with script's status.
func (f Frame) Wrap(script string) string {
	return "echo; echo " + f.begin + "; " + script + "; rc=$?; echo; echo " + f.end + "; exit $rc"
}

// Section returns a script that prints script's output and exit status
// between the markers and goes on (several sections share one call).
func (f Frame) Section(script string) string {
	return "echo; echo " + f.begin + "; " + script + "; rc=$?; echo; echo \"" + rcPrefix + "$rc\"; echo; echo " + f.end
}

const rcPrefix = "@@berth-rc="

// Result reads a section's output and exit status.
func (f Frame) Result(out string) (text string, rc int, ok bool) {
	body, ok := f.Extract(out)
	if !ok {
		return "", 0, false
	}
	body = strings.TrimSuffix(body, "\n")
	i := strings.LastIndex(body, rcPrefix)
	if i < 0 || (i > 0 && body[i-1] != '\n') {
		return "", 0, false
	}
	if _, err := fmt.Sscanf(body[i+len(rcPrefix):], "%d", &rc); err != nil {
		return "", 0, false
	}
	// The echo before the status ended the command's last line.
	return strings.TrimSuffix(body[:i], "\n"), rc, true
}

// Extract returns what the wrapped script printed: the lines between a line
// that is exactly the begin marker and one that is exactly the end marker.
func (f Frame) Extract(out string) (string, bool) {
	var body strings.Builder
	inside := false
	for _, line := range strings.SplitAfter(out, "\n") {
		bare := strings.TrimRight(line, "\r\n")
		switch {
		case !inside && bare == f.begin:
			inside = true
		case inside && bare == f.end:
			// Wrap's `echo` before the end marker ended the last line.
			b := body.String()
			if t, ok := strings.CutSuffix(b, "\r\n"); ok {
				return t, true
			}
			return strings.TrimSuffix(b, "\n"), true
		case inside:
			body.WriteString(line)
		}
	}
	return "", false
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
