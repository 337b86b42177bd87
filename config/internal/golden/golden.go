// Package golden compares test output with files committed to the
// repository and rewrites them when tests run with -update:
//
//	go test ./config/... -update
//
// Every test package under config/ imports this package, so the -update flag
// is defined in each test binary that `go test ./config/... -update` starts.
package golden

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// Update is set by -update.
var Update = flag.Bool("update", false, "rewrite golden files under config/ with the current output")

// Check compares got with the file at path, or rewrites the file when
// -update is set.
func Check(t testing.TB, path string, got []byte) {
	t.Helper()
	if *Update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("reading golden file (run `go test ./config/... -update` to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is out of date; run `go test ./config/... -update` and review the diff.\n%s", path, firstDiff(want, got))
	}
}

// firstDiff shows the first differing line, enough to see what changed.
func firstDiff(want, got []byte) string {
	wl := bytes.Split(want, []byte("\n"))
	gl := bytes.Split(got, []byte("\n"))
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g []byte
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if !bytes.Equal(w, g) {
			return "line " + strconv.Itoa(i+1) + ":\n  golden: " + string(w) + "\n  now:    " + string(g)
		}
	}
	return "(files differ only in length)"
}

// ModuleRoot walks up from the test's working directory to the directory
// holding the root go.mod.
func ModuleRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && bytes.Contains(data, []byte("module github.com/wombatworkouts/berth\n")) {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("cannot find the berth module root from the test directory")
		}
		dir = parent
	}
}

// Examples lists the example app directories under config/examples.
func Examples(t testing.TB) []string {
	t.Helper()
	root := filepath.Join(ModuleRoot(t), "config", "examples")
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() {
			dirs = append(dirs, filepath.Join(root, e.Name()))
		}
	}
	if len(dirs) < 2 {
		t.Fatalf("expected at least two example apps in %s", root)
	}
	return dirs
}

// railsDeploy is the shape of the config/deploy.yml that `rails new` (Rails
// 8.1, Kamal 2) writes, without its comments. Tests use the full generated
// file from ../shared/fixtures when it is there, and this otherwise.
const railsDeploy = `service: wombat_workouts
image: wombat_workouts
servers:
  web:
    - 192.168.0.1
registry:
  server: localhost:5555
env:
  secret:
    - RAILS_MASTER_KEY
  clear:
    SOLID_QUEUE_IN_PUMA: true
aliases:
  console: app exec --interactive --reuse "bin/rails console"
  shell: app exec --interactive --reuse "bash"
  logs: app logs -f
  dbc: app exec --interactive --reuse "bin/rails dbconsole --include-password"
volumes:
  - "wombat_workouts_storage:/rails/storage"
asset_path: /rails/public/assets
builder:
  arch: amd64
`

// RailsDeploys returns what `rails new wombat_workouts` writes to
// config/deploy.yml: the generated file from ../shared/fixtures when it is
// there, and always the condensed copy above, so tests cover both.
func RailsDeploys(t testing.TB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{"condensed": []byte(railsDeploy)}
	data, err := os.ReadFile(filepath.Join(ModuleRoot(t), "..", "shared", "fixtures", "rails-8.1-deploy.yml"))
	if err == nil {
		out["generated"] = data
	}
	return out
}
