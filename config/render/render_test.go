package render_test

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/wombatworkouts/berth/config"
	"github.com/wombatworkouts/berth/config/internal/golden"
	"github.com/wombatworkouts/berth/config/render"
	"github.com/wombatworkouts/berth/config/traefik"
)

// TestExamplesGolden renders every example manifest and compares the output
// with config/examples/<app>/rendered/. `go test ./config/... -update`
// rewrites them.
func TestExamplesGolden(t *testing.T) {
	var all []*config.Manifest
	for _, dir := range golden.Examples(t) {
		dir := dir
		t.Run(filepath.Base(dir), func(t *testing.T) {
			m, err := config.Load(filepath.Join(dir, "berth.yml"))
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, m)
			files, err := render.Files(m)
			if err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(dir, "rendered")
			want := map[string]bool{}
			for _, f := range files {
				want[filepath.FromSlash(f.Path)] = true
				golden.Check(t, filepath.Join(out, filepath.FromSlash(f.Path)), f.Data)
			}
			// A file berth no longer writes must not linger in rendered/.
			_ = filepath.WalkDir(out, func(p string, d os.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				rel, _ := filepath.Rel(out, p)
				if !want[rel] {
					if *golden.Update {
						return os.Remove(p)
					}
					t.Errorf("%s is not rendered any more; delete it (or run with -update)", p)
				}
				return nil
			})
		})
	}
	// The examples share one server, so together they must pass the
	// multi-app check.
	if err := config.CheckServer(all); err != nil {
		t.Errorf("examples conflict on one server: %v", err)
	}
}

func TestFilesOrderAndNames(t *testing.T) {
	m, err := config.Load(filepath.Join(golden.Examples(t)[0], "berth.yml"))
	if err != nil {
		t.Fatal(err)
	}
	files, err := render.Files(m)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range files {
		got = append(got, f.Path)
		if !render.IsGenerated(f.Data) {
			t.Errorf("%s lacks the berth marker, so a later render would refuse to overwrite it", f.Path)
		}
	}
	want := "traefik/static.yml traefik/dynamic/_server.yml traefik/dynamic/" + m.App + ".yml deploy.yml litestream.yml"
	if strings.Join(got, " ") != want {
		t.Errorf("files = %v, want %s", got, want)
	}
}

func TestWriteRefusesHandWrittenFiles(t *testing.T) {
	dir := t.TempDir()
	files := []render.File{{Path: "deploy.yml", Data: []byte("# written by berth\nservice: x\n")}}
	if err := os.WriteFile(filepath.Join(dir, "deploy.yml"), []byte("service: mine\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := render.Write(dir, files, false); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("Write over a hand-written file: err = %v, want a refusal mentioning --force", err)
	}
	if data, _ := os.ReadFile(filepath.Join(dir, "deploy.yml")); string(data) != "service: mine\n" {
		t.Fatalf("hand-written file was changed: %q", data)
	}
	written, err := render.Write(dir, files, true)
	if err != nil || len(written) != 1 {
		t.Fatalf("Write with force: %v %v", written, err)
	}
	// Once berth wrote it, rendering again needs no force.
	if _, err := render.Write(dir, files, false); err != nil {
		t.Fatalf("re-render over berth's own file: %v", err)
	}
	// Subdirectories are created.
	if _, err := render.Write(dir, []render.File{{Path: "traefik/dynamic/a.yml", Data: []byte("x")}}, false); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "traefik", "dynamic", "a.yml")); err != nil {
		t.Fatal(err)
	}
}

// config refuses other containers on Traefik's ports (TraefikHostPorts); the
// list must name every entry point the static configuration listens on.
func TestTraefikPortsAreReserved(t *testing.T) {
	st := traefik.NewStatic(config.Server{ACME: config.ACME{Email: "ops@wombatworkouts.com"}, Plugin: config.Plugin{Source: config.PluginLocal}})
	if len(st.EntryPoints) == 0 {
		t.Fatal("the static configuration has no entry points")
	}
	for name, ep := range st.EntryPoints {
		_, portText, ok := strings.Cut(string(ep.Address), ":")
		port, err := strconv.Atoi(portText)
		if !ok || err != nil {
			t.Errorf("entry point %s: cannot read a port from %q", name, ep.Address)
			continue
		}
		if got, reserved := config.TraefikHostPorts[port]; !reserved || got != name {
			t.Errorf("entry point %s listens on %d, but config.TraefikHostPorts[%d] = %q: the kamal: section could publish it", name, port, port, got)
		}
	}
	if len(config.TraefikHostPorts) != len(st.EntryPoints) {
		t.Errorf("config.TraefikHostPorts %v has ports Traefik does not listen on (entry points %d)", config.TraefikHostPorts, len(st.EntryPoints))
	}
}
