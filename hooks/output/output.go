// Package output prints what berth does: one line per step with its
// duration, colours only on a terminal, and every secret value replaced by
// [REDACTED] before it reaches the screen, including the output of the
// commands berth runs.
package output

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// Printer writes step lines. It is safe for concurrent use.
type Printer struct {
	mu     sync.Mutex
	w      io.Writer
	color  bool
	now    func() time.Time
	prefix string
}

// New returns a Printer on w. Colours are used only when w is a terminal and
// NO_COLOR is not set.
func New(w io.Writer) *Printer {
	return &Printer{w: w, color: IsTerminal(w) && os.Getenv("NO_COLOR") == "", now: time.Now, prefix: "berth"}
}

// SetClock replaces time.Now (tests).
func (p *Printer) SetClock(now func() time.Time) { p.now = now }

// Writer is where the printer writes (for tables and command output).
func (p *Printer) Writer() io.Writer { return p.w }

// IsTerminal reports whether w is a character device (a TTY). Kamal runs
// hooks with pipes, so hook output never has colours.
func IsTerminal(w io.Writer) bool {
	if r, ok := w.(*Redactor); ok {
		w = r.w
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

const (
	green  = "\x1b[32m"
	red    = "\x1b[31m"
	yellow = "\x1b[33m"
	dim    = "\x1b[2m"
	reset  = "\x1b[0m"
)

func (p *Printer) paint(c, s string) string {
	if !p.color {
		return s
	}
	return c + s + reset
}

func (p *Printer) line(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.w, s)
	if f, ok := p.w.(interface{ Flush() error }); ok {
		_ = f.Flush()
	}
}

// Infof prints a plain line.
func (p *Printer) Infof(format string, args ...any) {
	p.line(p.prefix + ": " + fmt.Sprintf(format, args...))
}

// Noticef prints a line that deserves attention but is not a failure.
func (p *Printer) Noticef(format string, args ...any) {
	p.line(p.prefix + ": " + p.paint(yellow, "notice: ") + fmt.Sprintf(format, args...))
}

// ExpectedError marks a failure the caller expected and reports itself (a
// first `kamal setup` has no Litestream accessory yet): Step prints no FAIL
// line for it.
type ExpectedError struct{ Err error }

func (e *ExpectedError) Error() string { return e.Err.Error() }
func (e *ExpectedError) Unwrap() error { return e.Err }

// Step runs fn and prints one line: "ok   name  (1.2s)  detail" or
// "FAIL name (0.3s): error". fn returns a short detail for the line. A step
// running longer than ten seconds prints a progress line every ten seconds,
// so a long restore check never looks hung.
func (p *Printer) Step(name string, fn func() (string, error)) error {
	start := p.now()
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(10 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				p.line(fmt.Sprintf("%s: %s %s %s", p.prefix, p.paint(dim, "...."), name, p.paint(dim, "still running ("+round(p.now().Sub(start))+")")))
			}
		}
	}()
	detail, err := fn()
	close(done)
	d := round(p.now().Sub(start))
	var expected *ExpectedError
	if errors.As(err, &expected) {
		// The caller reports it (as a skipped step, with why).
		return err
	}
	if err != nil {
		p.line(fmt.Sprintf("%s: %s %s (%s): %v", p.prefix, p.paint(red, "FAIL"), name, d, err))
		return err
	}
	s := fmt.Sprintf("%s: %s   %s (%s)", p.prefix, p.paint(green, "ok"), name, d)
	if detail != "" {
		s += ": " + detail
	}
	p.line(s)
	return nil
}

// Skip prints a step that did not run and why.
func (p *Printer) Skip(name, why string) {
	p.line(fmt.Sprintf("%s: %s %s: %s", p.prefix, p.paint(yellow, "skip"), name, why))
}

func round(d time.Duration) string {
	switch {
	case d < time.Millisecond:
		return "0ms"
	case d < time.Second:
		return d.Round(time.Millisecond).String()
	default:
		return d.Round(100 * time.Millisecond).String()
	}
}

// Table writes rows with aligned columns (the first row is the header).
func (p *Printer) Table(rows [][]string) {
	if len(rows) == 0 {
		return
	}
	widths := make([]int, len(rows[0]))
	for _, r := range rows {
		for i, c := range r {
			if i < len(widths) && len(c) > widths[i] {
				widths[i] = len(c)
			}
		}
	}
	var b strings.Builder
	for ri, r := range rows {
		for i, c := range r {
			if i == len(r)-1 {
				b.WriteString(c)
				break
			}
			b.WriteString(c + strings.Repeat(" ", widths[i]-len(c)+2))
		}
		b.WriteString("\n")
		if ri == 0 {
			for i, w := range widths {
				b.WriteString(strings.Repeat("-", w))
				if i < len(widths)-1 {
					b.WriteString("  ")
				}
			}
			b.WriteString("\n")
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	io.WriteString(p.w, b.String())
	if f, ok := p.w.(interface{ Flush() error }); ok {
		_ = f.Flush()
	}
}
