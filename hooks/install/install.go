// Package install puts the berth hooks into an app: small shell stubs in
// .kamal/hooks (committed with the app) that exec the berth binary built
// for the machine running them, and that binary in .kamal/hooks/berth-bin
// (ignored by git). A fresh clone has the stubs but no binary, and its
// deploy stops at the first hook with the command to run.
package install

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
)

// BinDir is where the binaries live, relative to the app.
const BinDir = ".kamal/hooks/berth-bin"

// Marker is in every stub berth writes.
const Marker = "berth Kamal hook stub"

// BinaryName is the binary for an OS and architecture (Go's names).
func BinaryName(goos, goarch string) string { return "berth-" + goos + "-" + goarch }

// Stub is the shell script installed as .kamal/hooks/<hook>.
func Stub(hook, repo string) string {
	return fmt.Sprintf(`#!/bin/sh
# %[1]s (written by `+"`make hooks`"+` in the berth repository; do not edit).
# Kamal runs this as .kamal/hooks/%[2]s. It runs the berth binary built for
# this machine. A fresh clone has no binary (it is not committed), and then
# the deploy stops here rather than going on without a restore point.
dir=$(dirname "$0")
os=$(uname -s | tr '[:upper:]' '[:lower:]')
case "$(uname -m)" in
  x86_64|amd64) arch=amd64 ;;
  arm64|aarch64) arch=arm64 ;;
  *) arch=$(uname -m) ;;
esac
bin="$dir/berth-bin/berth-$os-$arch"
if [ -x "$bin" ]; then
  exec "$bin" hook %[2]s
fi
echo "berth: $bin is missing: the berth hooks are not built for this machine in this clone." >&2
echo "berth: build and install them from a clone of the berth repository (%[3]s):" >&2
echo "berth:     make hooks APP=$(pwd)" >&2
echo "berth: the %[2]s hook stops the deploy until then (no restore point, no migrations without it)." >&2
exit 1
`, Marker, hook, repo)
}

// Options for Install.
type Options struct {
	AppDir string
	// Binary is the berth executable to copy (usually os.Executable()).
	Binary string
	Hooks  []string
	// Repo names the berth repository in the stub's message.
	Repo   string
	Force  bool
	GOOS   string
	GOARCH string
}

// Install writes the stubs and the binary. A hook file that exists and is
// not a berth stub is left alone unless Force is set, and then nothing at
// all is written.
func Install(o Options) ([]string, error) {
	if o.GOOS == "" {
		o.GOOS, o.GOARCH = runtime.GOOS, runtime.GOARCH
	}
	st, err := os.Stat(o.AppDir)
	if err != nil || !st.IsDir() {
		return nil, fmt.Errorf("APP=%s is not a directory", o.AppDir)
	}
	if _, err := os.Stat(filepath.Join(o.AppDir, "config", "deploy.yml")); err != nil {
		if _, err2 := os.Stat(filepath.Join(o.AppDir, "config", "berth.yml")); err2 != nil {
			return nil, fmt.Errorf("APP=%s has neither config/deploy.yml nor config/berth.yml: is it the Rails app's root?", o.AppDir)
		}
	}
	hooksDir := filepath.Join(o.AppDir, ".kamal", "hooks")
	if !o.Force {
		for _, h := range o.Hooks {
			data, err := os.ReadFile(filepath.Join(hooksDir, h))
			if err == nil && !bytes.Contains(data, []byte(Marker)) {
				return nil, fmt.Errorf("%s already exists and is not a berth stub; move your hook's work elsewhere or pass FORCE=1 to replace it", filepath.Join(hooksDir, h))
			}
		}
	}
	binDir := filepath.Join(o.AppDir, BinDir)
	if err := os.MkdirAll(binDir, 0o755); err != nil {
		return nil, err
	}
	var written []string
	if err := os.WriteFile(filepath.Join(binDir, ".gitignore"), []byte("# berth binaries are built per machine by `make hooks`; never commit them.\n*\n"), 0o644); err != nil {
		return nil, err
	}
	dst := filepath.Join(binDir, BinaryName(o.GOOS, o.GOARCH))
	if err := copyExecutable(o.Binary, dst); err != nil {
		return nil, err
	}
	written = append(written, dst)
	for _, h := range o.Hooks {
		p := filepath.Join(hooksDir, h)
		tmp := p + ".berth-tmp"
		if err := os.WriteFile(tmp, []byte(Stub(h, o.Repo)), 0o755); err != nil {
			return written, err
		}
		if err := os.Chmod(tmp, 0o755); err != nil {
			return written, err
		}
		if err := os.Rename(tmp, p); err != nil {
			return written, err
		}
		written = append(written, p)
	}
	return written, nil
}

func copyExecutable(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return fmt.Errorf("berth binary: %w", err)
	}
	defer in.Close()
	tmp := dst + ".tmp"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		os.Remove(tmp)
		return err
	}
	if err := out.Close(); err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Rename(tmp, dst)
}
