package kamalhost

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// fakeKamal writes a script that answers `version` with out (a stand-in
// for a Kamal install, to check how the harness picks one).
func fakeKamal(t *testing.T, out string, code int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "kamal")
	script := "#!/bin/sh\necho '" + out + "'\nexit " + strconv.Itoa(code) + "\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLocateKamal(t *testing.T) {
	good := fakeKamal(t, "2.12.0", 0)
	tests := []struct {
		name     string
		env      string
		path     string // directory put first on PATH
		wantArgv []string
		wantErr  string
	}{
		{name: "KAMAL wins", env: good + " --extra", wantArgv: []string{good, "--extra"}},
		{name: "KAMAL that fails is an error, not a fallback", env: fakeKamal(t, "boom", 1),
			wantErr: "does not run Kamal"},
		{name: "KAMAL that is Kamal 1", env: fakeKamal(t, "1.9.2", 0), wantErr: "not a Kamal 2 version"},
		{name: "kamal on PATH", path: filepath.Dir(good), wantArgv: []string{good}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(KamalEnv, tc.env)
			if tc.path != "" {
				t.Setenv("PATH", tc.path+":"+os.Getenv("PATH"))
			}
			argv, version, err := locateKamal()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(argv, " ") != strings.Join(tc.wantArgv, " ") || version != "2.12.0" {
				t.Fatalf("argv %q version %q", argv, version)
			}
		})
	}
}

// The real one: on this machine (after `make setup`) a Kamal 2.12 runs.
func TestKamalRuns(t *testing.T) {
	argv, err := Kamal()
	if err != nil {
		t.Fatal(err)
	}
	version, _ := KamalVersion()
	if !strings.HasPrefix(version, "2.12.") {
		t.Errorf("Kamal %s (%q): the harness's expectations are Kamal 2.12's", version, argv)
	}
}

// With no Kamal anywhere the error says what was tried and what to install.
func TestLocateKamalNone(t *testing.T) {
	t.Setenv(KamalEnv, "")
	t.Setenv("PATH", t.TempDir())
	t.Chdir(t.TempDir()) // no repository above: no ../shared/kamal
	_, _, err := locateKamal()
	if err == nil {
		t.Fatal("found a Kamal with none installed")
	}
	for _, want := range []string{"kamal on PATH: not found", "../shared/kamal/kamal", "make setup", "gem install kamal"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
}
