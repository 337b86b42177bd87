// Package kamalsim plays Kamal 2.12's part on one server with `proxy: false`
// (docs/kamal.md): it runs the app's hooks the way Kamal does, boots each
// new version as a "container" on the stand-in Docker Engine API (a real
// stand-in Rails process listening on the container's loopback address,
// with the labels and health check from the rendered deploy.yml), waits for
// Docker's health status, then stops the old container with the drain
// timeout. It serves the rehearsal until that runs on the real Kamal and
// Docker (e2e/internal/kamalhost and dockerhost, which e2e/kamal and
// e2e/kamaldeploy already use): the container life cycle and the hook calls
// at the point where Kamal touches the server.
package kamalsim

import (
	"bytes"
	"context"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wombatworkouts/berth/e2e/internal/dockerapi"
)

// Host is one simulated server.
type Host struct {
	Engine *dockerapi.Engine
	// AppBinary is the stand-in Rails app (e2e/cmd/standin-rails).
	AppBinary string
	// Dir holds the volumes (Dir/volumes/<name>) and container logs.
	Dir string
	// Logf receives a line per step; nil is silent.
	Logf func(format string, args ...any)

	mu     sync.Mutex
	subnet string // 127.A.B., random per host so that hosts in parallel tests never share an address
	nextIP int
	procs  map[string]*process // by container ID
}

type process struct {
	cmd  *exec.Cmd
	done chan struct{}
	code int
}

// App is one Kamal app on the host.
type App struct {
	Config *DeployConfig
	// Dir is the app's repository (hooks run from here, as Kamal does).
	Dir string
	// HooksDir defaults to Dir/.kamal/hooks.
	HooksDir string
	// HookEnv is added to every hook's environment (e.g. the secrets Kamal
	// would export from .kamal/secrets).
	HookEnv []string
	// Migrations returns the migrations directory baked into the image of
	// a version.
	Migrations func(version string) string
	// AppArgs are extra flags for the stand-in app (boot delay, drain...).
	AppArgs []string
}

// Event is one step of a deploy's timeline.
type Event struct {
	At   time.Time
	What string
}

// Timeline is what happened during one Kamal command.
type Timeline struct {
	Command string
	Events  []Event
	Err     error
}

func (t *Timeline) add(what string) { t.Events = append(t.Events, Event{At: time.Now(), What: what}) }

// NewHost prepares a host around an engine.
func NewHost(engine *dockerapi.Engine, appBinary, dir string) *Host {
	subnet := fmt.Sprintf("127.%d.%d.", 1+rand.Intn(250), 1+rand.Intn(250))
	return &Host{Engine: engine, AppBinary: appBinary, Dir: dir, subnet: subnet, nextIP: 10, procs: map[string]*process{}}
}

func (h *Host) logf(format string, args ...any) {
	if h.Logf != nil {
		h.Logf(format, args...)
	}
}

// VolumeDir is where a named volume lives on this host.
func (h *Host) VolumeDir(volume string) string { return filepath.Join(h.Dir, "volumes", volume) }

// StorageDir is the app's /rails/storage volume.
func (h *Host) StorageDir(app *App) (string, error) {
	for _, v := range app.Config.Volumes {
		parts := strings.SplitN(v, ":", 2)
		if len(parts) == 2 && parts[1] == "/rails/storage" {
			return h.VolumeDir(parts[0]), nil
		}
	}
	return "", fmt.Errorf("deploy.yml mounts no volume at /rails/storage")
}

// Running returns the app's running web containers, oldest first.
func (h *Host) Running(app *App) []dockerapi.Container {
	var out []dockerapi.Container
	for _, c := range h.Engine.List() {
		if c.Running && c.Labels["service"] == app.Config.Service && c.Labels["role"] == "web" {
			out = append(out, c)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Created.Before(out[j].Created) })
	return out
}

// Deploy is `kamal deploy` of version (already built and pulled): lock,
// pre-deploy, boot the new container and wait for healthy, stop the old
// one, post-deploy. A failing pre-deploy hook stops it before anything
// changes on the host.
func (h *Host) Deploy(ctx context.Context, app *App, version string) *Timeline {
	return h.deploy(ctx, app, version, "deploy")
}

// Setup is the deploy part of `kamal setup` (KAMAL_COMMAND=setup): the
// first deploy, before the accessories exist. Its docker-setup hook is not
// run: the caller provides the server's Traefik itself.
func (h *Host) Setup(ctx context.Context, app *App, version string) *Timeline {
	return h.deploy(ctx, app, version, "setup")
}

func (h *Host) deploy(ctx context.Context, app *App, version, command string) *Timeline {
	t := &Timeline{Command: command + " " + version}
	start := time.Now()
	env := h.hookEnv(app, command, version)
	t.add("pre-deploy hook")
	if err := h.runHook(ctx, app, "pre-deploy", env); err != nil {
		t.Err = fmt.Errorf("pre-deploy hook failed, nothing was booted: %w", err)
		t.add("aborted")
		return t
	}
	if err := h.bootGroup(ctx, app, version, env, t); err != nil {
		t.Err = err
		return t
	}
	t.add("post-deploy hook")
	env = append(env, fmt.Sprintf("KAMAL_RUNTIME=%d", int(time.Since(start).Seconds())))
	if err := h.runHook(ctx, app, "post-deploy", env); err != nil {
		t.Err = fmt.Errorf("post-deploy hook failed (the deploy itself happened): %w", err)
	}
	t.add("done")
	return t
}

// Boot is `kamal app boot`: the same version booted again in a new
// container, the old one stopped; no pre-deploy or post-deploy hook.
func (h *Host) Boot(ctx context.Context, app *App) *Timeline {
	t := &Timeline{Command: "app boot"}
	running := h.Running(app)
	if len(running) == 0 {
		t.Err = fmt.Errorf("no running container of %s to boot again", app.Config.Service)
		return t
	}
	version := running[len(running)-1].Labels["berth.test/version"]
	env := append(h.hookEnv(app, "app", version), "KAMAL_SUBCOMMAND=boot")
	if err := h.bootGroup(ctx, app, version, env, t); err != nil {
		t.Err = err
	}
	t.add("done")
	return t
}

// bootGroup boots one new container of version and, once it is healthy,
// stops the containers it replaces (docs/kamal.md#kamal-2-without-kamal-proxy: wait for healthy within
// deploy_timeout, then `docker stop -t drain_timeout`), between the
// pre-app-boot and post-app-boot hooks.
func (h *Host) bootGroup(ctx context.Context, app *App, version string, env []string, t *Timeline) error {
	if err := h.runHook(ctx, app, "pre-app-boot", env); err != nil {
		t.add("pre-app-boot hook failed")
		return fmt.Errorf("pre-app-boot hook failed, nothing was booted: %w", err)
	}
	if err := h.bootContainers(ctx, app, version, t); err != nil {
		return err
	}
	if err := h.runHook(ctx, app, "post-app-boot", env); err != nil {
		return fmt.Errorf("post-app-boot hook failed (the boot happened): %w", err)
	}
	return nil
}

func (h *Host) bootContainers(ctx context.Context, app *App, version string, t *Timeline) error {
	old := h.Running(app)
	id, name, err := h.runContainer(app, version, "")
	if err != nil {
		return fmt.Errorf("boot %s: %w", version, err)
	}
	t.add("container " + name + " started")
	if err := h.waitHealthy(ctx, app, id); err != nil {
		t.add("container " + name + " never became healthy")
		_ = h.stopContainer(app, id, t)
		return fmt.Errorf("new container %s: %w; the old one keeps serving", name, err)
	}
	t.add("container " + name + " healthy")
	for _, c := range old {
		if err := h.stopContainer(app, c.ID, t); err != nil {
			return err
		}
	}
	return nil
}

// runContainer is `docker run` of the app's web role.
func (h *Host) runContainer(app *App, version, reuseID string) (string, string, error) {
	cfg := app.Config
	storage, err := h.StorageDir(app)
	if err != nil {
		return "", "", err
	}
	if err := os.MkdirAll(storage, 0o755); err != nil {
		return "", "", err
	}
	h.mu.Lock()
	ip := fmt.Sprintf("%s%d", h.subnet, h.nextIP)
	h.nextIP++
	h.mu.Unlock()

	name := fmt.Sprintf("%s-web-%s", cfg.Service, version)
	if existing, err := h.Engine.Inspect(name); err == nil {
		if existing.Running {
			// `kamal app boot` of the running version: Kamal renames the
			// running container out of the way, boots the new one under
			// the version's name, then stops the renamed one.
			if err := h.Engine.Rename(existing.ID, fmt.Sprintf("%s_replaced_%08x", name, rand.Uint32())); err != nil {
				return "", "", err
			}
		} else {
			_ = h.Engine.Remove(existing.ID)
		}
	}
	labels := map[string]string{"service": cfg.Service, "role": "web", "destination": "", "berth.test/version": version}
	for k, v := range cfg.Labels {
		labels[k] = v
	}
	hc := &dockerapi.Healthcheck{
		Test:        []string{"CMD-SHELL", cfg.Health.Cmd},
		Interval:    cfg.Health.Interval,
		Timeout:     cfg.Health.Timeout,
		Retries:     cfg.Health.Retries,
		StartPeriod: cfg.Health.StartPeriod,
		// Stands in for curl inside the container.
		Probe: dockerapi.HTTPProbe("http://" + ip + ":80" + cfg.Health.HealthPath()),
	}
	if cfg.Health.Cmd == "" {
		hc = nil
	}
	spec := dockerapi.ContainerSpec{
		Name: name, Image: "ghcr.io/" + cfg.Service + ":" + version, Labels: labels,
		IPAddress: ip, ExposedPort: 80, Cmd: []string{"./bin/thrust", "./bin/rails", "server"}, Healthcheck: hc,
	}
	id, err := h.Engine.Create(spec)
	if err != nil {
		return "", "", err
	}
	if err := h.startProcess(app, id, name, ip, version, storage); err != nil {
		return "", "", err
	}
	if err := h.Engine.Start(id); err != nil {
		return "", "", err
	}
	h.logf("kamal: started %s on %s", name, ip)
	return id, name, nil
}

func (h *Host) startProcess(app *App, id, name, ip, version, storage string) error {
	args := []string{
		"-listen", ip + ":80",
		"-db", filepath.Join(storage, "production.sqlite3"),
		"-migrations", app.Migrations(version),
		"-prepare",
		"-app-version", version,
		"-container-name", name,
	}
	args = append(args, app.AppArgs...)
	cmd := exec.Command(h.AppBinary, args...)
	logFile, err := os.OpenFile(filepath.Join(h.Dir, name+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	for k, v := range app.Config.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, "PATH="+os.Getenv("PATH"))
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start %s: %w", name, err)
	}
	p := &process{cmd: cmd, done: make(chan struct{})}
	h.mu.Lock()
	h.procs[id] = p
	h.mu.Unlock()
	go func() {
		err := cmd.Wait()
		logFile.Close()
		p.code = 0
		if ee, ok := err.(*exec.ExitError); ok {
			p.code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				p.code = 128 + int(ws.Signal())
			}
		}
		close(p.done)
		// The container's main process ended: dockerd emits die.
		if c, err := h.Engine.Inspect(id); err == nil && c.Running {
			_ = h.Engine.Exited(id, p.code)
		}
		h.logf("kamal: %s exited with %d", name, p.code)
	}()
	return nil
}

// waitHealthy waits for Docker's health status "healthy" within the deploy
// timeout; a container without a health check must stay running through
// the readiness delay.
func (h *Host) waitHealthy(ctx context.Context, app *App, id string) error {
	deadline := time.Now().Add(app.Config.DeployTimeout)
	if app.Config.Health.Cmd == "" {
		select {
		case <-time.After(app.Config.ReadinessDelay):
		case <-ctx.Done():
			return ctx.Err()
		}
		if c, err := h.Engine.Inspect(id); err != nil || !c.Running {
			return fmt.Errorf("not running after the readiness delay")
		}
		return nil
	}
	for time.Now().Before(deadline) {
		c, err := h.Engine.Inspect(id)
		if err != nil {
			return err
		}
		if !c.Running {
			return fmt.Errorf("exited with %d while booting", c.ExitCode)
		}
		if c.Health == "healthy" {
			return nil
		}
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return fmt.Errorf("not healthy within deploy_timeout %s", app.Config.DeployTimeout)
}

// stopContainer is `docker stop -t drain_timeout`: SIGTERM, wait, SIGKILL.
// Traefik learns of it only when the process exits (the die event).
func (h *Host) stopContainer(app *App, id string, t *Timeline) error {
	h.mu.Lock()
	p := h.procs[id]
	h.mu.Unlock()
	c, err := h.Engine.Inspect(id)
	if err != nil {
		return err
	}
	if !c.Running || p == nil {
		return nil
	}
	_ = h.Engine.Stop(id)
	t.add("SIGTERM " + c.Name)
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(app.Config.DrainTimeout):
		_ = h.Engine.Kill(id, 9)
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	t.add(fmt.Sprintf("%s exited (%d)", c.Name, p.code))
	return nil
}

// Crash kills the app's newest container with SIGKILL, as an out-of-memory
// kill would, and lets Docker's restart policy (unless-stopped) start it
// again after delay.
func (h *Host) Crash(ctx context.Context, app *App, delay time.Duration) *Timeline {
	t := &Timeline{Command: "crash"}
	running := h.Running(app)
	if len(running) == 0 {
		t.Err = fmt.Errorf("nothing to crash")
		return t
	}
	c := running[len(running)-1]
	h.mu.Lock()
	p := h.procs[c.ID]
	h.mu.Unlock()
	t.add("SIGKILL " + c.Name)
	_ = p.cmd.Process.Kill()
	<-p.done
	t.add(c.Name + " died")
	if app.Config.Options["restart"] == "no" {
		return t
	}
	select {
	case <-time.After(delay):
	case <-ctx.Done():
		t.Err = ctx.Err()
		return t
	}
	storage, _ := h.StorageDir(app)
	if err := h.startProcess(app, c.ID, c.Name, c.IPAddress, c.Labels["berth.test/version"], storage); err != nil {
		t.Err = err
		return t
	}
	if err := h.Engine.Start(c.ID); err != nil {
		t.Err = err
		return t
	}
	t.add("restart policy started " + c.Name + " again")
	if err := h.waitHealthy(ctx, app, c.ID); err != nil {
		t.Err = err
		return t
	}
	t.add(c.Name + " healthy")
	return t
}

// StopAll stops every process this host started (the end of a rehearsal).
func (h *Host) StopAll() {
	h.mu.Lock()
	procs := make([]*process, 0, len(h.procs))
	for _, p := range h.procs {
		procs = append(procs, p)
	}
	h.mu.Unlock()
	for _, p := range procs {
		select {
		case <-p.done:
			continue
		default:
		}
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// hookEnv is the environment Kamal gives a hook (docs/kamal.md#hooks).
func (h *Host) hookEnv(app *App, command, version string) []string {
	env := append(os.Environ(),
		"KAMAL_RECORDED_AT="+time.Now().UTC().Format(time.RFC3339),
		"KAMAL_PERFORMER=rehearsal",
		"KAMAL_SERVICE="+app.Config.Service,
		"KAMAL_VERSION="+version,
		"KAMAL_SERVICE_VERSION="+app.Config.Service+"@"+version,
		"KAMAL_HOSTS=127.0.0.1",
		"KAMAL_LOCK=true",
		"KAMAL_COMMAND="+command,
	)
	return append(env, app.HookEnv...)
}

// runHook runs .kamal/hooks/<name> from the app's directory with no
// arguments and an empty stdin, as Kamal does; a missing hook is skipped.
func (h *Host) runHook(ctx context.Context, app *App, name string, env []string) error {
	dir := app.HooksDir
	if dir == "" {
		dir = filepath.Join(app.Dir, ".kamal", "hooks")
	}
	path := filepath.Join(dir, name)
	if _, err := os.Stat(path); os.IsNotExist(err) {
		return nil
	}
	cmd := exec.CommandContext(ctx, "/usr/bin/env", path)
	cmd.Dir = app.Dir
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	for _, line := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		if line != "" {
			h.logf("  %s | %s", name, line)
		}
	}
	if err != nil {
		return fmt.Errorf("hook %s: %v", name, err)
	}
	return nil
}
