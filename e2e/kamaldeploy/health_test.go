// Package kamaldeploy deploys with the real Kamal 2 over SSH to a real
// Docker Engine on this machine, using the deploy.yml berth renders, to prove
// what that file promises about health gating and the restart policy.
package kamaldeploy_test

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wombatworkouts/berth/e2e/internal/dockerhost"
	"github.com/wombatworkouts/berth/e2e/internal/kamalhost"
	"github.com/wombatworkouts/berth/e2e/internal/pluginsrc"
)

func TestMain(m *testing.M) { kamalhost.Main(m) }

// kamalDefaultDeployTimeout is what Kamal waits without deploy_timeout.
const kamalDefaultDeployTimeout = 30

// bootInsideStartPeriod is how much earlier than the end of its start period
// the slow app answers /up: 29 s with the default 30 s start period, the
// hardest case of the promise that an app booting within its start period
// deploys. (The 26 s is a race on Docker 25+ against a 30 s
// deploy_timeout: measured here, the 5 s probes sometimes caught it at
// 27.6 s and sometimes only at 34.8 s. An app still booting at 29 s is
// always missed by the probe before it and seen about 5 s later.)
const bootInsideStartPeriod = 1 * time.Second

// TestDeployHealthTiming deploys the wombatworkouts example's rendered
// deploy.yml, changed only where it must point at this machine (the host
// addresses, registry.server, and the ssh settings kamalhost adds), with
// `kamal deploy --skip-push` of two versions of the stand-in Rails image:
//
//  1. "slow" answers /up 29 s after it starts (1 s inside the rendered start
//     period). Kamal must take it: on Docker 25+ the health check probes
//     only every 5 s inside the start period, so it turns healthy up to 5 s
//     after the app is ready.
//  2. "broken" boots but its /up answers 500 forever. Kamal must give up
//     after the rendered deploy_timeout, stop it, and leave "slow" running.
//
// and checks that Kamal ran each app container with exactly one restart
// policy, unless-stopped. It runs on Debian's Docker 20.10 (the slow version)
// and on the Docker 28 that build-dockerd.sh builds (both; users get Docker
// 27+ from `kamal server bootstrap`), one after the other: both deploy the
// same service through the same root account, whose .kamal/ holds Kamal's
// lock.
//
// BERTH_KAMALDEPLOY_YML=path runs the same test on another deploy.yml (used to
// show that the rendering before deploy_timeout failed it).
func TestDeployHealthTiming(t *testing.T) {
	deployYML, source := renderedDeploy(t)
	t.Logf("deploy.yml: %s", source)
	dockerd28, err := dockerhost.BuiltDockerd()
	if err != nil {
		t.Fatalf("the Docker 28 daemon: %v", err)
	}
	for _, engine := range []struct {
		name, dockerd string
		// broken: also deploy the broken version. Kamal's timeout does not
		// depend on the engine, so it runs once, on the engine users have,
		// which keeps the test near three minutes.
		broken bool
	}{
		{"docker-20.10", "", false},
		{"docker-28", dockerd28, true},
	} {
		t.Run(engine.name, func(t *testing.T) { deployHealthTiming(t, engine.dockerd, deployYML, engine.broken) })
	}
}

func deployHealthTiming(t *testing.T, dockerd string, deployYML []byte, deployBroken bool) {
	var deploy map[string]any
	if err := yaml.Unmarshal(deployYML, &deploy); err != nil {
		t.Fatalf("deploy.yml: %v", err)
	}
	service := deploy["service"].(string)
	web := dig(t, deploy, "servers", "web")
	options := dig(t, web, "options")
	startPeriod, err := time.ParseDuration(fmt.Sprint(options["health-start-period"]))
	if err != nil {
		t.Fatalf("deploy.yml servers.web.options.health-start-period: %v", err)
	}
	deployTimeout := kamalDefaultDeployTimeout
	if v, ok := deploy["deploy_timeout"]; ok {
		deployTimeout = v.(int)
	}
	boot := startPeriod - bootInsideStartPeriod

	// Start the engine before anything else uses DOCKER_HOST: Debian's
	// dockerd unless another is given. dockerhost would reuse a running
	// engine at DOCKER_HOST, so name the binary either way.
	if dockerd == "" {
		dockerd = "/usr/sbin/dockerd"
	}
	eng := dockerhost.StartEngine(t, dockerhost.EngineOptions{Dockerd: dockerd})
	reg := dockerhost.StartRegistry(t)
	img := dockerhost.RailsImage{
		Repository: reg.Addr + "/" + deploy["image"].(string),
		Service:    service,
		Tags: map[string]map[string]string{
			"slow":   {"STANDIN_BOOT_DELAY": boot.String()},
			"broken": {"STANDIN_UNHEALTHY_FILE": "/etc/hostname"}, // always there: /up answers 500
		},
	}
	dockerhost.BuildRailsImage(t, eng, dockerhost.ImportBase(t, eng), img)
	for _, tag := range []string{"slow", "broken"} {
		eng.MustDocker(t, "push", img.Ref(tag))
	}

	// Point the rendered file at this machine and nothing else.
	deploy["registry"].(map[string]any)["server"] = reg.Addr
	web["hosts"] = []any{kamalhost.Host}
	if acc, ok := deploy["accessories"].(map[string]any); ok {
		for _, a := range acc {
			if a, ok := a.(map[string]any); ok && a["host"] != nil {
				a["host"] = kamalhost.Host
			}
		}
	}
	yml, err := yaml.Marshal(deploy)
	if err != nil {
		t.Fatal(err)
	}
	srv := kamalhost.StartServer(t, kamalhost.ServerOptions{RealDocker: true, Env: map[string]string{"DOCKER_HOST": eng.Host}})
	app := kamalhost.NewApp(t, srv, kamalhost.AppOptions{
		Service:   service,
		DeployYML: string(yml),
		Secrets: map[string]string{ // test values, never real ones
			"KAMAL_REGISTRY_PASSWORD":      "kamaldeploy-registry",
			"RAILS_MASTER_KEY":             "kamaldeploy-master-key",
			"LITESTREAM_ACCESS_KEY_ID":     "kamaldeploy-key-id",
			"LITESTREAM_SECRET_ACCESS_KEY": "kamaldeploy-secret",
		},
	})
	app.Timeout = time.Duration(deployTimeout)*time.Second + 2*time.Minute
	t.Logf("Docker %s; start period %s, deploy_timeout %ds; the slow version answers /up after %s",
		eng.Version, startPeriod, deployTimeout, boot)

	// 1. The slow version deploys.
	r := app.Kamal(t, "deploy", "--skip-push", "--version", "slow")
	slow := containerState(t, eng, service+"-web-slow")
	t.Logf("deploy slow: exit %d after %s; healthy %s after the container started (Docker's last probes from the start: %s)",
		r.Exit, r.Elapsed.Round(100*time.Millisecond), slow.firstPass(), slow.healthLog())
	if r.Exit != 0 {
		t.Fatalf("deploying an app that boots in %s (inside its %s start period) failed; Docker %s's health log: %s\n%s",
			boot, startPeriod, eng.Version, slow.healthLog(), lastLines(r.Output, 25))
	}
	checkRestartPolicy(t, r.Output, slow)
	if !slow.State.Running || slow.State.Health.Status != "healthy" {
		t.Fatalf("after the deploy the slow version is %s/%s, want running/healthy", slow.State.Status, slow.State.Health.Status)
	}

	if !deployBroken {
		return
	}
	// 2. The broken version fails within deploy_timeout; slow keeps running.
	r = app.Kamal(t, "deploy", "--skip-push", "--version", "broken")
	broken := containerState(t, eng, service+"-web-broken")
	waited := broken.State.FinishedAt.Sub(broken.State.StartedAt)
	t.Logf("deploy broken: exit %d after %s; Kamal stopped the container %s after it started (deploy_timeout %ds)",
		r.Exit, r.Elapsed.Round(100*time.Millisecond), waited.Round(100*time.Millisecond), deployTimeout)
	if r.Exit == 0 {
		t.Fatalf("deploying a version whose /up answers 500 succeeded:\n%s", lastLines(r.Output, 25))
	}
	if want := fmt.Sprintf("container not ready after %d seconds", deployTimeout); !strings.Contains(r.Output, want) {
		t.Errorf("kamal's output lacks %q (its health timeout):\n%s", want, lastLines(r.Output, 25))
	}
	checkRestartPolicy(t, r.Output, broken)
	// Kamal polls until deploy_timeout, then stops the container; the stop
	// (the app exits at once on SIGTERM) and the SSH round trips around it
	// take a few seconds on this machine.
	limit := time.Duration(deployTimeout)*time.Second + 10*time.Second
	if broken.State.Running || waited < time.Duration(deployTimeout)*time.Second || waited > limit {
		t.Errorf("the broken container ran %s (running: %v); want it stopped between %ds and %s after it started",
			waited, broken.State.Running, deployTimeout, limit)
	}
	after := containerState(t, eng, service+"-web-slow")
	if !after.State.Running || after.State.Health.Status != "healthy" || !after.State.StartedAt.Equal(slow.State.StartedAt) {
		t.Errorf("the previous version did not keep running: %s/%s, started %s (was %s)",
			after.State.Status, after.State.Health.Status, after.State.StartedAt, slow.State.StartedAt)
	}
}

// checkRestartPolicy: every `docker run` Kamal printed for an app container
// names one restart policy, and Docker holds unless-stopped.
func checkRestartPolicy(t *testing.T, output string, c container) {
	t.Helper()
	runs := 0
	for _, line := range strings.Split(output, "\n") {
		if !strings.Contains(line, "docker run --detach") || !strings.Contains(line, c.Name) {
			continue
		}
		runs++
		if n := len(restartFlag.FindAllString(line, -1)); n != 1 {
			t.Errorf("%s: docker run carries %d restart policies, want 1: %s", c.Name, n, line)
		}
	}
	if runs == 0 {
		t.Errorf("%s: Kamal's output shows no docker run for it", c.Name)
	}
	if c.HostConfig.RestartPolicy.Name != "unless-stopped" {
		t.Errorf("%s: restart policy %q, want unless-stopped", c.Name, c.HostConfig.RestartPolicy.Name)
	}
}

var restartFlag = regexp.MustCompile(`(^|\s)--restart(=|\s)`)

// container is the part of `docker inspect` the test reads.
type container struct {
	Name  string
	State struct {
		Status     string
		Running    bool
		StartedAt  time.Time
		FinishedAt time.Time
		Health     struct {
			Status string
			Log    []struct {
				Start    time.Time
				End      time.Time
				ExitCode int
			}
		}
	}
	HostConfig struct {
		RestartPolicy struct{ Name string }
	}
}

func containerState(t *testing.T, eng *dockerhost.Engine, name string) container {
	t.Helper()
	var cs []container
	if err := json.Unmarshal([]byte(eng.MustDocker(t, "inspect", name)), &cs); err != nil || len(cs) != 1 {
		t.Fatalf("docker inspect %s: %v", name, err)
	}
	cs[0].Name = strings.TrimPrefix(cs[0].Name, "/")
	return cs[0]
}

// firstPass is when the first passing probe ended, from the container's
// start (Docker keeps the last 5 probes).
func (c container) firstPass() string {
	for _, p := range c.State.Health.Log {
		if p.ExitCode == 0 {
			return p.End.Sub(c.State.StartedAt).Round(100 * time.Millisecond).String()
		}
	}
	return "never"
}

// healthLog lists the probes Docker kept, from the container's start.
func (c container) healthLog() string {
	var parts []string
	for _, p := range c.State.Health.Log {
		parts = append(parts, fmt.Sprintf("%s exit %d", p.Start.Sub(c.State.StartedAt).Round(100*time.Millisecond), p.ExitCode))
	}
	return c.State.Health.Status + " [" + strings.Join(parts, ", ") + "]"
}

// renderedDeploy is the example's rendered deploy.yml, or the file named by
// BERTH_KAMALDEPLOY_YML.
func renderedDeploy(t *testing.T) ([]byte, string) {
	path := os.Getenv("BERTH_KAMALDEPLOY_YML")
	if path == "" {
		root, err := pluginsrc.RepoRoot()
		if err != nil {
			t.Fatal(err)
		}
		path = filepath.Join(root, "config", "examples", "wombatworkouts", "rendered", "deploy.yml")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data, path
}

func dig(t *testing.T, m map[string]any, keys ...string) map[string]any {
	t.Helper()
	for _, k := range keys {
		next, ok := m[k].(map[string]any)
		if !ok {
			t.Fatalf("deploy.yml has no mapping at %s", strings.Join(keys, "."))
		}
		m = next
	}
	return m
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
