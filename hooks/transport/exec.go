package transport

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"sync"
	"time"
)

// lockedBuffer collects output from stdout and stderr together.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
	max int
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.max > 0 && b.buf.Len()+len(p) > b.max {
		// Keep the tail: the end of a long output says what failed.
		keep := b.buf.Bytes()
		if over := b.buf.Len() + len(p) - b.max; over < len(keep) {
			keep = append([]byte(nil), keep[over:]...)
		} else {
			keep = nil
		}
		b.buf.Reset()
		b.buf.Write(keep)
	}
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// run executes argv with the context's deadline. The command runs in its own
// process group so that a deadline kills it and whatever it started
// (kamal's ssh, a shell's children). It returns the combined output.
func run(ctx context.Context, dir string, env []string, argv []string, display string) (string, error) {
	return runInput(ctx, dir, env, argv, display, nil)
}

// runInput is run with stdin: the bytes given, or nothing at all.
func runInput(ctx context.Context, dir string, env []string, argv []string, display string, stdin []byte) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", fmt.Errorf("`%s` not started: %w", display, ctxErr(err))
	}
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Dir = dir
	if env != nil {
		cmd.Env = env
	}
	setProcessGroup(cmd)
	cmd.Cancel = func() error { return killProcessGroup(cmd) }
	cmd.WaitDelay = 2 * time.Second
	out := &lockedBuffer{max: 4 << 20}
	var w io.Writer = out
	if s := streamFrom(ctx); s != nil {
		w = io.MultiWriter(out, s)
	}
	cmd.Stdout = w
	cmd.Stderr = w
	// Hooks get an open stdin that nothing writes: never pass it on.
	cmd.Stdin = nil
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	err := cmd.Run()
	if err == nil {
		return out.String(), nil
	}
	if ctx.Err() != nil {
		return out.String(), &CommandError{Command: display, Output: out.String(), Err: ctxErr(ctx.Err())}
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		return out.String(), &CommandError{Command: display, ExitCode: ee.ExitCode(), Output: out.String(), Err: err}
	}
	return out.String(), &CommandError{Command: display, Output: out.String(), Err: err}
}

func ctxErr(err error) error {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w (the step's time limit)", ErrTimeout)
	}
	return err
}
