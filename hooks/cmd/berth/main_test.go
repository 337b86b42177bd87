package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestDispatch(t *testing.T) {
	for _, tc := range []struct {
		args       []string
		code       int
		wantStderr string
	}{
		{nil, 2, "usage: berth"},
		{[]string{"nope"}, 2, `unknown command "nope"`},
		{[]string{"maintenance", "on"}, 1, "config/berth.yml: no such file"},
		{[]string{"maintenance"}, 2, "usage: berth maintenance"},
		{[]string{"hook", "pre-build"}, 2, "usage: berth hook"},
		{[]string{"restore-point", "--bogus"}, 2, "flag provided but not defined"},
		{[]string{"config"}, 2, "usage: berth config"},
	} {
		var out, errb bytes.Buffer
		code := run(tc.args, &out, &errb)
		if code != tc.code || !strings.Contains(errb.String(), tc.wantStderr) {
			t.Errorf("berth %v: code %d, stderr %q; want %d and %q", tc.args, code, errb.String(), tc.code, tc.wantStderr)
		}
	}
}

func TestVersion(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run([]string{"--version"}, &out, &errb); code != 0 || !strings.HasPrefix(out.String(), "berth ") || errb.Len() != 0 {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out.String(), errb.String())
	}
}

// Help that was asked for is on stdout with exit 0, for every command and
// config's subcommands; a usage error is on stderr with exit 2.
func TestHelpConventions(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		toStdout bool
		want     string
	}{
		{[]string{"--help"}, 0, true, "usage: berth <command>"},
		{[]string{"help"}, 0, true, "usage: berth <command>"},
		{[]string{"maintenance", "--help"}, 0, true, "usage: berth maintenance on|off|pause|resume|status"},
		{[]string{"maintenance", "on", "-h"}, 0, true, "--for D"},
		{[]string{"bypass-token", "--help"}, 0, true, "usage: berth bypass-token"},
		{[]string{"restore-point", "list", "--help"}, 0, true, "berth restore-point list"},
		{[]string{"smoke", "--help"}, 0, true, "usage: berth smoke"},
		{[]string{"hook", "--help"}, 0, true, "usage: berth hook"},
		{[]string{"install-hooks", "--help"}, 0, true, "usage: berth install-hooks"},
		{[]string{"config", "init", "--help"}, 0, true, "init"},
		{[]string{"config", "render", "--help"}, 0, true, "render"},
		{[]string{"config", "help"}, 0, true, "render"},
		{nil, 2, false, "usage: berth <command>"},
		{[]string{"nope"}, 2, false, `unknown command "nope"`},
		{[]string{"maintenance", "sideways"}, 2, false, `unknown "sideways"`},
	}
	for _, tt := range tests {
		var out, errb bytes.Buffer
		code := run(tt.args, &out, &errb)
		where, other := out.String(), errb.String()
		if !tt.toStdout {
			where, other = other, where
		}
		if code != tt.code || !strings.Contains(where, tt.want) || other != "" {
			t.Errorf("berth %q: exit %d, stdout %q, stderr %q; want exit %d and %q on %s only",
				tt.args, code, out.String(), errb.String(), tt.code, tt.want, map[bool]string{true: "stdout", false: "stderr"}[tt.toStdout])
		}
	}
}
