package dockersetup

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wombatworkouts/berth/hooks/hookstest/testapp"
	"github.com/wombatworkouts/berth/hooks/transport"
)

// The plugin files installed on a server are exactly the manifest, the
// plugin's non-test sources as plugin/ holds them now, and a go.mod.
func TestPluginFilesAreThePluginSource(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join("..", "..", "plugin", "*.go"))
	byPath := map[string]string{}
	pf, err := PluginFiles()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range pf {
		byPath[strings.TrimPrefix(f.Path, PluginsDir+pluginSrcPath+"/")] = string(f.Data)
	}
	n := 0
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			if _, ok := byPath["plugin/"+filepath.Base(f)]; ok {
				t.Errorf("%s is installed on the server", f)
			}
			continue
		}
		n++
		want, _ := os.ReadFile(f)
		if byPath["plugin/"+filepath.Base(f)] != string(want) {
			t.Errorf("%s differs from what is installed", f)
		}
	}
	if byPath[".traefik.yml"] == "" || !strings.Contains(byPath["go.mod"], "module github.com/wombatworkouts/berth") {
		t.Errorf("manifest or go.mod missing from the installed files")
	}
	if len(pf) != n+2 {
		t.Errorf("%d plugin files, want %d (+ .traefik.yml, go.mod)", len(pf), n+2)
	}
}

// fakeDocker plays the docker CLI on a server: it keeps the network and the
// container in files under root and logs every call.
const fakeDocker = `#!/bin/sh
root="$FAKE_DOCKER_ROOT"
echo "$*" >> "$root/docker.log"
case "$1 $2" in
  "info ") ;;
  "network inspect") [ -f "$root/net-$3" ] ;;
  "network create") touch "$root/net-$3" ;;
  "container inspect")
    name=$(eval echo \${$#})
    [ -f "$root/ctr-$name" ] || exit 1
    case "$4" in
      *Labels*) cat "$root/ctr-$name" ;;
      *Running*) echo true ;;
    esac ;;
  "rm -f") rm -f "$root/ctr-$3" ;;
  "start "*) ;;
  "run -d")
    label=$(echo "$4" | sed 's/^berth.setup=//')
    echo "$label" > "$root/ctr-berth-traefik" ;;
  *) echo "fake docker: unexpected $*" >&2; exit 1 ;;
esac
`

func TestDockerSetupIdempotentAndShared(t *testing.T) {
	root := t.TempDir()
	bin := filepath.Join(root, "bin")
	os.MkdirAll(bin, 0o755)
	os.WriteFile(filepath.Join(bin, "docker"), []byte(fakeDocker), 0o755)
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	t.Setenv("FAKE_DOCKER_ROOT", root)
	server := filepath.Join(root, "server")
	state := filepath.Join(root, "state")
	tr := &transport.Local{Map: map[string]string{"/etc/traefik": filepath.Join(server, "etc/traefik"), "/opt/berth": filepath.Join(server, "opt/berth")}}

	shop := testapp.New(t, testapp.Options{StateDir: state})
	run := func(a *testapp.App) Result {
		p, err := NewPlan(a.Manifest)
		if err != nil {
			t.Fatal(err)
		}
		r, err := Run(context.Background(), tr, p)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	first := run(shop)
	joined := strings.Join(first.Changes, "\n")
	for _, want := range []string{"traefik.yml", "dynamic/shop.yml", "dynamic/_server.yml", "plugins-local/src/github.com/wombatworkouts/berth/plugin/berth.go",
		"state directory", "network kamal created", "container berth-traefik created"} {
		if !strings.Contains(joined, want) {
			t.Errorf("first run lacks %q:\n%s", want, joined)
		}
	}
	if second := run(shop); len(second.Changes) != 0 {
		t.Fatalf("second run changed %q", second.Changes)
	}
	// A second app with the same server: section only adds its dynamic file.
	other := testapp.New(t, testapp.Options{StateDir: state, Extra: ""})
	otherYML := filepath.Join(other.Dir, "config", "berth.yml")
	data, _ := os.ReadFile(otherYML)
	data = []byte(strings.Replace(strings.Replace(string(data), "app: shop", "app: blog", 1), "shop.example.org", "blog.example.org", -1))
	os.WriteFile(otherYML, data, 0o644)
	other = reload(t, other)
	r := run(other)
	if len(r.Changes) != 1 || !strings.Contains(r.Changes[0], "dynamic/blog.yml") {
		t.Fatalf("second app changed %q", r.Changes)
	}
	logData, _ := os.ReadFile(filepath.Join(root, "docker.log"))
	if n := strings.Count(string(logData), "run -d"); n != 1 {
		t.Fatalf("traefik started %d times:\n%s", n, logData)
	}
	// A new Traefik version recreates the container, with a notice.
	data = append(data, []byte("")...)
	os.WriteFile(otherYML, []byte(strings.Replace(string(data), "server:\n", "server:\n  traefik_version: v3.6.13\n", 1)), 0o644)
	other = reload(t, other)
	r = run(other)
	if len(r.Notices) != 1 || !strings.Contains(strings.Join(r.Changes, " "), "recreated") {
		t.Fatalf("%+v", r)
	}
}

func reload(t *testing.T, a *testapp.App) *testapp.App {
	t.Helper()
	m, err := loadManifest(a.Dir)
	if err != nil {
		t.Fatal(err)
	}
	a.Manifest = m
	return a
}

// A server without a working Docker gets nothing written: not the Traefik
// files, not the plugin, not the state directory.
func TestDockerSetupChecksDockerFirst(t *testing.T) {
	tests := []struct {
		name, docker, want string
	}{
		{"no docker", "", "docker is not installed"},
		{"daemon down", "#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n", "its daemon does not answer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			bin := filepath.Join(root, "bin")
			os.MkdirAll(bin, 0o755)
			for _, tool := range []string{"sh", "base64", "mkdir", "cmp", "chmod", "mv", "rm", "dirname"} {
				if p, err := exec.LookPath(tool); err == nil {
					os.Symlink(p, filepath.Join(bin, tool))
				}
			}
			if tt.docker != "" {
				os.WriteFile(filepath.Join(bin, "docker"), []byte(tt.docker), 0o755)
			}
			t.Setenv("PATH", bin)
			server := filepath.Join(root, "server")
			state := filepath.Join(root, "state")
			tr := &transport.Local{Map: map[string]string{"/etc/traefik": filepath.Join(server, "etc/traefik"), "/opt/berth": filepath.Join(server, "opt/berth")}}
			p, err := NewPlan(testapp.New(t, testapp.Options{StateDir: state}).Manifest)
			if err != nil {
				t.Fatal(err)
			}
			_, err = Run(context.Background(), tr, p)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "nothing was changed") {
				t.Fatalf("%v", err)
			}
			for _, p := range []string{server, state} {
				if _, err := os.Stat(p); !os.IsNotExist(err) {
					t.Errorf("%s was created on a server without Docker", p)
				}
			}
		})
	}
}
