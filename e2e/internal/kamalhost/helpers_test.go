package kamalhost

import (
	"fmt"
	"strings"
	"testing"

	"github.com/wombatworkouts/berth/e2e/internal/kamalhost/recdocker"
)

// These tests run the real Kamal (see Kamal()) over SSH against a
// StartServer sshd whose docker is the recording stand-in (recdocker): the
// stand-in is the docker Engine only, Kamal's side is the real program.

// callIndex is the index of the first call at or after from whose argv
// holds words in order, or -1.
func callIndex(calls []recdocker.Call, from int, words ...string) int {
	for i := from; i < len(calls); i++ {
		if calls[i].Has(words...) {
			return i
		}
	}
	return -1
}

// callsWith are the calls whose argv holds words in order.
func callsWith(calls []recdocker.Call, words ...string) []recdocker.Call {
	var out []recdocker.Call
	for _, c := range calls {
		if c.Has(words...) {
			out = append(out, c)
		}
	}
	return out
}

// requireOrder fails unless each step (words of one call) is found after
// the previous step's call; it returns the calls' indexes.
func requireOrder(t *testing.T, calls []recdocker.Call, steps ...[]string) []int {
	t.Helper()
	idx := make([]int, len(steps))
	from := 0
	for i, step := range steps {
		idx[i] = callIndex(calls, from, step...)
		if idx[i] < 0 {
			t.Fatalf("no `docker %s` after call %d; the calls were:\n%s", strings.Join(step, " "), from, callLines(calls))
		}
		from = idx[i] + 1
	}
	return idx
}

func callLines(calls []recdocker.Call) string {
	var b strings.Builder
	for i, c := range calls {
		fmt.Fprintf(&b, "  %3d %s\n", i, c.Line())
	}
	return b.String()
}

// running is the names of the containers the stand-in runs.
func running(t *testing.T, srv *Server) []string {
	t.Helper()
	var names []string
	for _, c := range srv.State(t).Containers {
		if c.Running() {
			names = append(names, c.Name)
		}
	}
	return names
}

func requireOutput(t *testing.T, r Result, want string) {
	t.Helper()
	if !strings.Contains(r.Output, want) {
		t.Fatalf("kamal %s: output lacks %q:\n%s", strings.Join(r.Args, " "), want, r.Output)
	}
}
