package kamalhost

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// HookNames are Kamal 2's nine hooks.
var HookNames = []string{"pre-connect", "pre-build", "pre-deploy", "post-deploy", "pre-app-boot",
	"post-app-boot", "docker-setup", "pre-proxy-reboot", "post-proxy-reboot"}

// HookCall is one run of a recording hook.
type HookCall struct {
	Name string
	// Env holds the hook's KAMAL_* variables.
	Env map[string]string
	// Secrets tells, for each variable RecordHooks was asked about, whether
	// it was set (its value is never written down).
	Secrets map[string]bool
}

// hookLog is where recording hooks append, in the app directory.
func (a *App) hookLog() string { return filepath.Join(a.Dir, "hooks.log") }

// RecordHooks installs, as each named hook (all nine when none is named),
// a script that appends its name, its KAMAL_* environment and whether each
// of secretVars is set to a log that HookCalls reads.
func (a *App) RecordHooks(t testing.TB, secretVars []string, names ...string) {
	t.Helper()
	if len(names) == 0 {
		names = HookNames
	}
	var checks strings.Builder
	for _, v := range secretVars {
		if !envName.MatchString(v) {
			t.Fatalf("kamalhost: RecordHooks: %q is not a variable name", v)
		}
		fmt.Fprintf(&checks, "  if [ -n \"${%s+set}\" ]; then echo '?%s=1'; else echo '?%s=0'; fi\n", v, v, v)
	}
	script := fmt.Sprintf(`#!/bin/sh
# kamalhost recording hook: name, KAMAL_* variables, and only whether the
# named secrets are set.
{
  echo "--- $(basename "$0")"
  env | grep '^KAMAL_' | sort
%s} >> '%s'
`, checks.String(), a.hookLog())
	for _, n := range names {
		a.WriteHook(t, n, script)
	}
}

// HookCalls returns the recording hooks' runs in order.
func (a *App) HookCalls(t testing.TB) []HookCall {
	t.Helper()
	f, err := os.Open(a.hookLog())
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatalf("kamalhost: %v", err)
	}
	defer f.Close()
	var calls []HookCall
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if name, ok := strings.CutPrefix(line, "--- "); ok {
			calls = append(calls, HookCall{Name: name, Env: map[string]string{}, Secrets: map[string]bool{}})
			continue
		}
		if len(calls) == 0 {
			t.Fatalf("kamalhost: %s starts with %q, not a hook name", a.hookLog(), line)
		}
		cur := &calls[len(calls)-1]
		if rest, ok := strings.CutPrefix(line, "?"); ok {
			k, v, _ := strings.Cut(rest, "=")
			cur.Secrets[k] = v == "1"
			continue
		}
		k, v, _ := strings.Cut(line, "=")
		cur.Env[k] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatalf("kamalhost: %v", err)
	}
	return calls
}

// ResetHookCalls empties the hook log, so the next command's hooks stand
// alone.
func (a *App) ResetHookCalls(t testing.TB) {
	t.Helper()
	if err := os.Remove(a.hookLog()); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("kamalhost: %v", err)
	}
}

// HookNamesOf lists the names of calls, in order.
func HookNamesOf(calls []HookCall) []string {
	names := make([]string, len(calls))
	for i, c := range calls {
		names[i] = c.Name
	}
	return names
}
