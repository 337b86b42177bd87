package install

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func app(t *testing.T) string {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "config"), 0o755)
	os.WriteFile(filepath.Join(dir, "config", "deploy.yml"), []byte("service: shop\n"), 0o644)
	return dir
}

// A fresh clone has the stubs but not the binary: the hook must fail loudly
// with the command to run, and a built clone must exec the binary.
func TestStubWithoutAndWithBinary(t *testing.T) {
	dir := app(t)
	fake := filepath.Join(t.TempDir(), "berth")
	os.WriteFile(fake, []byte("#!/bin/sh\necho \"berth called with: $*\"\n"), 0o755)
	if _, err := Install(Options{AppDir: dir, Binary: fake, Hooks: []string{"pre-deploy"}, Repo: "https://example.org/berth"}); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, BinDir, BinaryName(runtime.GOOS, runtime.GOARCH))
	// Kamal runs hooks as /usr/bin/env .kamal/hooks/<name> from the app.
	runStub := func() (string, error) {
		cmd := exec.Command("/usr/bin/env", ".kamal/hooks/pre-deploy")
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	out, err := runStub()
	if err != nil || !strings.Contains(out, "berth called with: hook pre-deploy") {
		t.Fatalf("with binary: %v %s", err, out)
	}
	// What git would not carry to a fresh clone:
	os.Remove(bin)
	out, err = runStub()
	if err == nil {
		t.Fatal("the stub succeeded without a binary")
	}
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 {
		t.Fatalf("%v", err)
	}
	for _, want := range []string{"is missing", "make hooks APP=" + dir, "stops the deploy"} {
		if !strings.Contains(out, want) {
			t.Errorf("message lacks %q:\n%s", want, out)
		}
	}
	gi, _ := os.ReadFile(filepath.Join(dir, BinDir, ".gitignore"))
	if !strings.Contains(string(gi), "*") {
		t.Fatal("binaries not ignored")
	}
}

func TestInstallRefusesForeignHook(t *testing.T) {
	dir := app(t)
	os.MkdirAll(filepath.Join(dir, ".kamal", "hooks"), 0o755)
	os.WriteFile(filepath.Join(dir, ".kamal", "hooks", "post-deploy"), []byte("#!/bin/sh\necho mine\n"), 0o755)
	fake := filepath.Join(t.TempDir(), "berth")
	os.WriteFile(fake, []byte("#!/bin/sh\n"), 0o755)
	_, err := Install(Options{AppDir: dir, Binary: fake, Hooks: []string{"pre-deploy", "post-deploy"}})
	if err == nil || !strings.Contains(err.Error(), "not a berth stub") {
		t.Fatalf("%v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, ".kamal", "hooks", "pre-deploy")); !os.IsNotExist(err) {
		t.Fatal("wrote some hooks before refusing")
	}
	if _, err := Install(Options{AppDir: dir, Binary: fake, Hooks: []string{"pre-deploy", "post-deploy"}, Force: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := Install(Options{AppDir: t.TempDir(), Binary: fake}); err == nil {
		t.Fatal("installed into a directory that is no app")
	}
}
