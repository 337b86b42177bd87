package kamalsim

import (
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wombatworkouts/berth/e2e/internal/dockerapi"
	"github.com/wombatworkouts/berth/e2e/internal/load"
	"github.com/wombatworkouts/berth/e2e/internal/pluginsrc"
	"github.com/wombatworkouts/berth/e2e/internal/traefikrun"
)

// deployYML is a minimal Kamal 2 config in the shape berth renders: proxy
// false, Traefik labels, a docker health check.
const testDeployYML = `service: demo
image: example/demo
servers:
  web:
    hosts: [127.0.0.1]
    proxy: false
    labels:
      traefik.enable: "true"
      traefik.docker.network: kamal
      traefik.http.routers.demo.rule: PathPrefix(` + "`/`" + `)
      traefik.http.routers.demo.entrypoints: web
      traefik.http.routers.demo.service: demo
      traefik.http.services.demo.loadbalancer.passhostheader: "true"
    options:
      health-cmd: curl -fsS http://localhost/up
      health-interval: 1s
      health-retries: 3
      restart: unless-stopped
volumes:
  - demo_storage:/rails/storage
drain_timeout: 10
`

func TestDeploySequenceThroughTraefik(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the stand-in containers listen on port 80 of 127.0.0.x addresses, which needs root")
	}
	dir := t.TempDir()
	root, err := pluginsrc.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "standin-rails")
	build := exec.Command("go", "build", "-o", bin, "./cmd/standin-rails")
	build.Dir = filepath.Join(root, "e2e")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build stand-in app: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(dir, "deploy.yml"), []byte(testDeployYML), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadDeployConfig(filepath.Join(dir, "deploy.yml"))
	if err != nil {
		t.Fatal(err)
	}
	engine, err := dockerapi.New(filepath.Join(dir, "docker.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer engine.Close()
	tr, err := traefikrun.StartWithDocker(filepath.Join(dir, "traefik"), traefikrun.Options{LogLevel: "INFO"},
		traefikrun.DockerProvider{Endpoint: engine.Endpoint(), Network: "kamal"})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Stop()

	host := NewHost(engine, bin, filepath.Join(dir, "host"))
	host.Logf = t.Logf
	defer host.StopAll()
	app := &App{
		Config:     cfg,
		Dir:        dir,
		Migrations: func(v string) string { return filepath.Join(root, "e2e", "testdata", "railsapp", "migrations-"+v) },
		AppArgs:    []string{"-boot-delay", "500ms", "-drain", "2s"},
	}
	ctx := context.Background()
	if tl := host.Deploy(ctx, app, "v1"); tl.Err != nil {
		t.Fatalf("first deploy: %v", tl.Err)
	}
	if v := servedVersion(t, tr.WebURL); v != "v1" {
		t.Fatalf("after the first deploy Traefik serves %q, want v1", v)
	}

	run := load.Start(load.Client(4, 20*time.Second), tr.WebURL+"/", 4, 60*time.Second)
	tl := host.Deploy(ctx, app, "v2")
	time.Sleep(time.Second)
	res := run.Stop()
	if tl.Err != nil {
		t.Fatalf("second deploy: %v", tl.Err)
	}
	for _, e := range tl.Events {
		t.Logf("%s %s", e.At.Format("15:04:05.000"), e.What)
	}
	// Without berth in front, the old container's 502s while it drains reach
	// clients: this is what berth exists for (docs/measurements.md#baselines-before-berth).
	t.Logf("without berth: %s", res)
	if v := servedVersion(t, tr.WebURL); v != "v2" {
		t.Errorf("after the second deploy Traefik serves %q, want v2", v)
	}
	order := []string{"pre-deploy hook", "container demo-web-v2 started", "container demo-web-v2 healthy", "SIGTERM demo-web-v1", "demo-web-v1 exited (0)", "post-deploy hook", "done"}
	var got []string
	for _, e := range tl.Events {
		got = append(got, e.What)
	}
	if strings.Join(got, "|") != strings.Join(order, "|") {
		t.Errorf("timeline %q, want %q", got, order)
	}
	if len(host.Running(app)) != 1 {
		t.Errorf("%d containers running, want 1", len(host.Running(app)))
	}
}

func servedVersion(t *testing.T, base string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(base + "/")
		if err == nil {
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return resp.Header.Get("X-App-Version")
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	return "no answer"
}
