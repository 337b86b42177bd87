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
		{[]string{"help"}, 0, "config"},
		{[]string{"nope"}, 2, `unknown command "nope"`},
		{[]string{"maintenance", "on"}, 1, "config/berth.yml: no such file"},
		{[]string{"maintenance"}, 2, "usage: berth maintenance"},
		{[]string{"hook", "pre-build"}, 2, "usage: berth hook"},
		{[]string{"restore-point", "--bogus"}, 2, "flag provided but not defined"},
		{[]string{"config"}, 2, "usage: berth config"},
		{[]string{"config", "help"}, 0, "render"},
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
