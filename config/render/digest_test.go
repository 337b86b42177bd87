package render

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDigest(t *testing.T) {
	body := []byte("# written by berth\nservice: x\n")
	signed := sign(body)
	if !strings.HasPrefix(string(signed), string(body)) || !strings.HasSuffix(string(signed), digestNote) {
		t.Fatalf("signed = %q", signed)
	}
	for _, tc := range []struct {
		name string
		data string
		want bool
	}{
		{"as written", string(signed), true},
		{"a value edited", strings.Replace(string(signed), "service: x", "service: y", 1), false},
		{"a line added", strings.Replace(string(signed), "service: x\n", "service: x\nssh: {user: a}\n", 1), false},
		{"a line added after the digest", string(signed) + "ssh: {user: a}\n", false},
		{"no digest (an older berth)", string(body), false},
		{"digest of something else", string(sign([]byte("service: y\n"))), true},
		{"a digest inside a line", "service: x # " + string(signed[len(body):]), false},
	} {
		if got := Untouched([]byte(tc.data)); got != tc.want {
			t.Errorf("%s: Untouched = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestReadDeploy(t *testing.T) {
	dir := t.TempDir()
	write := func(content string) {
		if err := os.WriteFile(filepath.Join(dir, DeployPath), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	check := func(what string, want DeployState) {
		t.Helper()
		got, _, err := ReadDeploy(dir)
		if err != nil || got != want {
			t.Errorf("%s: state %v, err %v; want %v", what, got, err, want)
		}
	}
	check("no file", NoDeploy)
	signed := sign([]byte("# written by berth\nservice: x\n"))
	write(string(signed))
	check("berth's own", Unedited)
	write(string(signed) + "ssh: {user: a}\n")
	check("edited", Edited)
	write("# written by berth\nservice: x\n")
	check("berth's, from before digests", Edited)
	write("service: mine\n")
	check("hand-written", HandWritten)
}
