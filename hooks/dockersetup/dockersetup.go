// Package dockersetup makes sure a server has what every berth app shares:
// the kamal network, berth's state directory, Traefik's static and dynamic
// config, the plugin source, and the Traefik container. It is idempotent:
// files are replaced only when their content differs, the container is
// created only when missing and recreated only when what it runs changed, so
// a second app's `kamal setup` adds its own dynamic file and reuses the rest.
package dockersetup

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"

	berth "github.com/wombatworkouts/berth"
	"github.com/wombatworkouts/berth/config"
	"github.com/wombatworkouts/berth/config/traefik"
	"github.com/wombatworkouts/berth/hooks/transport"
)

// Places on the server (config/README.md, "First server setup").
const (
	Container     = "berth-traefik"
	StaticFile    = "/etc/traefik/traefik.yml"
	ConfigDir     = "/etc/traefik"
	PluginsDir    = "/opt/berth/plugins-local"
	ACMEVolume    = "berth_letsencrypt"
	SetupLabel    = "berth.setup"
	pluginGoMod   = "module " + traefik.PluginModule + "\n\ngo 1.22\n"
	pluginSrcPath = "/src/" + traefik.PluginModule
)

// File is one file the setup installs.
type File struct {
	Path string // on the server
	Data []byte
	// Restart is true when a change needs Traefik restarted (static
	// config, plugin source); dynamic files are reloaded by Traefik.
	Restart bool
}

// Plan is everything the server should have for the manifest.
type Plan struct {
	Files    []File
	StateDir string
	Image    string
	RunArgs  []string
	// Hash identifies the container's configuration (image, run
	// arguments, static config, plugin); a different hash recreates it.
	Hash string
}

// PluginFiles are the plugin's files as Traefik loads a local plugin: the
// manifest and plugin/*.go from the module root (berth.PluginSource), tests
// left out, with a go.mod of its own (the root one requires what only the
// berth program needs).
func PluginFiles() ([]File, error) {
	var out []File
	base := PluginsDir + pluginSrcPath
	err := fs.WalkDir(berth.PluginSource, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, "_test.go") {
			return err
		}
		data, err := berth.PluginSource.ReadFile(p)
		if err != nil {
			return err
		}
		out = append(out, File{Path: base + "/" + p, Data: data, Restart: true})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("embedded plugin source: %w", err)
	}
	out = append(out, File{Path: base + "/go.mod", Data: []byte(pluginGoMod), Restart: true})
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out, nil
}

// NewPlan computes what the server needs for m.
func NewPlan(m *config.Manifest) (*Plan, error) {
	tr, err := traefik.Render(m)
	if err != nil {
		return nil, err
	}
	p := &Plan{StateDir: m.Server.StateDir, Image: "traefik:" + m.Server.TraefikVersion}
	p.Files = []File{
		{Path: StaticFile, Data: tr.Static, Restart: true},
		{Path: path.Join(traefik.DynamicDir, traefik.ServerFile), Data: tr.Server},
		{Path: path.Join(traefik.DynamicDir, traefik.DynamicFile(m.App)), Data: tr.App},
	}
	if m.Server.Plugin.Source != config.PluginCatalog {
		pf, err := PluginFiles()
		if err != nil {
			return nil, err
		}
		p.Files = append(p.Files, pf...)
	}
	p.RunArgs = []string{
		"--name", Container, "--restart", "unless-stopped", "--network", traefik.DockerNetwork,
		"-p", "80:80", "-p", "443:443",
		"-v", "/var/run/docker.sock:/var/run/docker.sock:ro",
		"-v", ConfigDir + ":" + ConfigDir + ":ro",
		"-v", ACMEVolume + ":/letsencrypt",
		"-v", m.Server.StateDir + ":" + m.Server.StateDir + ":ro",
		"-v", PluginsDir + ":/plugins-local:ro",
		"--health-cmd", "traefik healthcheck --ping", "--health-interval", "5s",
		"--log-opt", "max-size=10m", "--log-opt", "max-file=5",
	}
	h := sha256.New()
	fmt.Fprintln(h, p.Image)
	fmt.Fprintln(h, strings.Join(p.RunArgs, "\x00"))
	for _, f := range p.Files {
		if f.Restart {
			fmt.Fprintln(h, f.Path)
			h.Write(f.Data)
		}
	}
	p.Hash = hex.EncodeToString(h.Sum(nil))[:16]
	return p, nil
}

// Script is the shell script that brings a server to the plan. mapPath
// turns server paths into the paths the script uses (identity on a real
// server, a scratch root in tests).
func (p *Plan) Script(mapPath func(string) string) string {
	var b bytes.Buffer
	// Docker first: a server without a working Docker gets nothing written.
	b.WriteString(`set -eu
if ! command -v docker >/dev/null 2>&1; then
  echo "berth-missing: docker is not installed on this server (kamal server bootstrap installs it); nothing was changed"; exit 3
fi
if ! docker info >/dev/null 2>&1; then
  echo "berth-missing: docker is installed but its daemon does not answer (is dockerd running? may this user reach /var/run/docker.sock?); nothing was changed"; exit 3
fi
restart=""
changes=0
put() { # path mode restart base64
  mkdir -p "$(dirname "$1")"
  tmp="$1.berth-tmp.$$"
  echo "$4" | base64 -d > "$tmp"
  if [ -f "$1" ] && cmp -s "$tmp" "$1"; then rm -f "$tmp"; return 0; fi
  chmod "$2" "$tmp"; mv -f "$tmp" "$1"
  echo "berth-changed: file $1"
  changes=$((changes+1))
  if [ "$3" = 1 ]; then restart=1; fi
}
`)
	for _, f := range p.Files {
		r := "0"
		if f.Restart {
			r = "1"
		}
		fmt.Fprintf(&b, "put %s 0644 %s %s\n", transport.Quote(mapPath(f.Path)), r, base64.StdEncoding.EncodeToString(f.Data))
	}
	state := mapPath(p.StateDir)
	fmt.Fprintf(&b, `if [ ! -d %[1]s/apps ]; then mkdir -p %[1]s/apps; chmod 0755 %[1]s %[1]s/apps; echo "berth-changed: state directory %[2]s"; changes=$((changes+1)); fi
if ! docker network inspect %[3]s >/dev/null 2>&1; then docker network create %[3]s >/dev/null; echo "berth-changed: network %[3]s created"; changes=$((changes+1)); fi
want=%[4]s
create() {
  docker run -d --label %[5]s=$want %[6]s %[7]s >/dev/null
}
if docker container inspect %[8]s >/dev/null 2>&1; then
  have=$(docker container inspect -f '{{index .Config.Labels "%[5]s"}}' %[8]s)
  running=$(docker container inspect -f '{{.State.Running}}' %[8]s)
  if [ "$have" != "$want" ] || [ -n "$restart" ]; then
    echo "berth-notice: %[8]s runs an older configuration: recreating it (routing pauses for a few seconds for every app on this server)"
    docker rm -f %[8]s >/dev/null
    create
    echo "berth-changed: container %[8]s recreated"; changes=$((changes+1))
  elif [ "$running" != "true" ]; then
    docker start %[8]s >/dev/null
    echo "berth-changed: container %[8]s started"; changes=$((changes+1))
  fi
else
  create
  echo "berth-changed: container %[8]s created"; changes=$((changes+1))
fi
echo "berth-done: $changes"
`, transport.Quote(state), p.StateDir, traefik.DockerNetwork, p.Hash, SetupLabel, transport.Join(p.RunArgs), transport.Quote(p.Image), Container)
	return b.String()
}

// Result is what a run changed.
type Result struct {
	Changes []string
	Notices []string
}

// Run applies the plan through the transport.
func Run(ctx context.Context, t transport.Transport, p *Plan) (Result, error) {
	mapPath := func(s string) string {
		if l, ok := t.LocalPath(s); ok {
			return l
		}
		return s
	}
	out, err := t.Server(ctx, p.Script(mapPath))
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "berth-missing: "); ok {
			return Result{}, fmt.Errorf("docker-setup on the server: %s", v)
		}
	}
	if err != nil {
		return Result{}, fmt.Errorf("docker-setup on the server: %w", err)
	}
	var r Result
	done := false
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "berth-changed: "); ok {
			r.Changes = append(r.Changes, v)
		}
		if v, ok := strings.CutPrefix(line, "berth-notice: "); ok {
			r.Notices = append(r.Notices, v)
		}
		if strings.HasPrefix(line, "berth-done:") {
			done = true
		}
	}
	if !done {
		return r, fmt.Errorf("docker-setup on the server did not finish: %q", out)
	}
	return r, nil
}
