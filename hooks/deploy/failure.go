// Package deploy is what the berth hooks do around a Kamal deploy:
// pre-deploy (restore point, maintenance or deploying state, migrations),
// post-deploy (smoke checks, back to live) and docker-setup.
package deploy

import (
	"fmt"
	"io"
	"strings"
)

// Failure is a stopped hook: what failed, what was not changed, and what
// to do. Error() is one line; Report writes the whole thing.
type Failure struct {
	Step      string
	Err       error
	Unchanged []string
	Todo      []string
}

func (f *Failure) Error() string { return f.Step + ": " + f.Err.Error() }

func (f *Failure) Unwrap() error { return f.Err }

// Report writes the failure for a person.
func (f *Failure) Report(w io.Writer) {
	var b strings.Builder
	fmt.Fprintf(&b, "\nberth: %s FAILED\n  %s\n", f.Step, strings.ReplaceAll(f.Err.Error(), "\n", "\n  "))
	if len(f.Unchanged) > 0 {
		b.WriteString("\nNot changed:\n")
		for _, u := range f.Unchanged {
			fmt.Fprintf(&b, "  - %s\n", u)
		}
	}
	if len(f.Todo) > 0 {
		b.WriteString("\nWhat to do:\n")
		for _, t := range f.Todo {
			fmt.Fprintf(&b, "  - %s\n", t)
		}
	}
	io.WriteString(w, b.String())
}
