package fakekamal

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Program puts an executable called name first on PATH that prints stdout
// and exits with exit. Rules with Exec run their scripts with sh here, so a
// command the script calls inside "the accessory" (litestream) is this one.
func Program(t testing.TB, name, stdout string, exit int) {
	t.Helper()
	bin := t.TempDir()
	if err := WriteProgram(bin, name, stdout, exit); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
}

// WriteProgram writes the program Program installs into dir.
func WriteProgram(dir, name, stdout string, exit int) error {
	out := filepath.Join(dir, name+".out")
	if err := os.WriteFile(out, []byte(stdout), 0o644); err != nil {
		return err
	}
	script := fmt.Sprintf("#!/bin/sh\ncat '%s'\nexit %d\n", out, exit)
	return os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755)
}
