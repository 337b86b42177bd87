package dockerhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wombatworkouts/berth/e2e/internal/cachedtool"
)

// EngineOptions choose the engine StartEngine gives.
type EngineOptions struct {
	// Dockerd is the dockerd binary to start. Empty: reuse the engine at
	// DOCKER_HOST when it answers, else start the dockerd on PATH.
	Dockerd string
}

// Engine is a Docker Engine that answers at Host.
type Engine struct {
	// Host is the DOCKER_HOST value (unix:///...).
	Host string
	// Version is the engine's version (20.10.24+dfsg1, 28.5.2, ...) and
	// Major its first number.
	Version string
	Major   int
	// Started is true when StartEngine started this engine (it stops it).
	Started bool
	// Dir holds the socket, pid file, log, exec root and data root of an
	// engine StartEngine started.
	Dir string

	proc   *exec.Cmd
	exited chan error
}

const (
	startTimeout = 60 * time.Second
	stopTimeout  = 30 * time.Second
	// dockerTimeout bounds one docker command (a push or an import of the
	// 130 MB base image is the longest).
	dockerTimeout = 3 * time.Minute
)

// StartEngine returns a working engine (see EngineOptions) and, when it
// started one, stops it and removes its directories when the test ends.
func StartEngine(t testing.TB, opts EngineOptions) *Engine {
	t.Helper()
	if _, err := exec.LookPath("docker"); err != nil {
		t.Fatal("dockerhost: the docker command is missing; install Debian's docker.io (apt-get install -y docker.io)")
	}
	if opts.Dockerd == "" {
		if host := os.Getenv("DOCKER_HOST"); host != "" {
			e := &Engine{Host: host}
			if err := e.identify(); err == nil {
				t.Logf("dockerhost: reusing Docker %s at DOCKER_HOST=%s", e.Version, host)
				return e
			}
		}
		path, err := exec.LookPath("dockerd")
		if err != nil {
			t.Fatal("dockerhost: no engine answers at DOCKER_HOST and dockerd is missing; install Debian's docker.io (apt-get install -y docker.io)")
		}
		opts.Dockerd = path
	}
	if os.Geteuid() != 0 {
		t.Fatalf("dockerhost: starting %s needs root (it mounts file systems and creates network interfaces); run the test as root or point DOCKER_HOST at a running engine", opts.Dockerd)
	}
	e, err := startEngine(opts.Dockerd)
	if e != nil {
		t.Cleanup(func() {
			if err := e.stop(); err != nil {
				t.Errorf("dockerhost: %v", err)
			}
		})
	}
	if err != nil {
		t.Fatalf("dockerhost: %v", err)
	}
	t.Logf("dockerhost: started Docker %s at %s", e.Version, e.Host)
	return e
}

// startEngine runs dockerd on private directories. It returns the engine
// also with an error, so the caller can stop what did start.
func startEngine(dockerd string) (*Engine, error) {
	// A short path: unix socket paths are limited to 108 bytes.
	dir, err := os.MkdirTemp("", "berth-docker-")
	if err != nil {
		return nil, err
	}
	e := &Engine{Host: "unix://" + filepath.Join(dir, "docker.sock"), Started: true, Dir: dir}
	logf, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		return e, err
	}
	defer logf.Close()
	// A /22 for this engine's networks (Kamal's `kamal` network is one /24
	// of it), picked at random so engines that run at the same time do not
	// route the same addresses.
	pool := fmt.Sprintf("base=10.231.%d.0/22,size=24", 4*rand.IntN(64))
	cmd := exec.Command(dockerd,
		"--data-root", filepath.Join(dir, "data"),
		"--exec-root", filepath.Join(dir, "exec"),
		"--host", e.Host,
		"--pidfile", filepath.Join(dir, "dockerd.pid"),
		"--bridge=none",
		"--iptables=false",
		"--default-address-pool", pool,
	)
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group: a signal meant for the test run does not
	// reach it before the cleanup does.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return e, fmt.Errorf("starting %s: %w", dockerd, err)
	}
	e.proc = cmd
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	e.exited = exited

	deadline := time.Now().Add(startTimeout)
	for {
		err := e.identify()
		if err == nil {
			return e, nil
		}
		select {
		case werr := <-exited:
			e.proc = nil
			return e, fmt.Errorf("%s exited before it answered (%v); its log:\n%s", dockerd, werr, e.logTail())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return e, fmt.Errorf("%s did not answer at %s within %s (%v); its log:\n%s", dockerd, e.Host, startTimeout, err, e.logTail())
		}
	}
}

// identify asks the engine for its version.
func (e *Engine) identify() error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := e.Docker(ctx, nil, "version", "--format", "{{.Server.Version}}")
	if err != nil {
		return err
	}
	e.Version = strings.TrimSpace(out)
	major, _, _ := strings.Cut(e.Version, ".")
	e.Major, err = strconv.Atoi(major)
	if err != nil {
		return fmt.Errorf("engine version %q: %w", e.Version, err)
	}
	return nil
}

// Env is the environment for a docker client of this engine.
func (e *Engine) Env() []string {
	env := []string{"DOCKER_HOST=" + e.Host}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "DOCKER_HOST=") && !strings.HasPrefix(kv, "DOCKER_CONTEXT=") {
			env = append(env, kv)
		}
	}
	return env
}

// Docker runs the docker command against this engine and returns its
// stdout; the error carries the command and its stderr.
func (e *Engine) Docker(ctx context.Context, stdin io.Reader, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "docker", args...)
	cmd.Env = e.Env()
	cmd.Stdin = stdin
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// MustDocker runs docker and fails the test when it fails.
func (e *Engine) MustDocker(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
	defer cancel()
	out, err := e.Docker(ctx, nil, args...)
	if err != nil {
		t.Fatalf("dockerhost: %v", err)
	}
	return out
}

func (e *Engine) logTail() string {
	data, err := os.ReadFile(filepath.Join(e.Dir, "dockerd.log"))
	if err != nil {
		return err.Error()
	}
	if len(data) > 4000 {
		data = data[len(data)-4000:]
	}
	return string(data)
}

// stop removes every container (so nothing holds a mount), stops dockerd
// (SIGTERM, then SIGKILL after stopTimeout) and removes its directories.
func (e *Engine) stop() error {
	if !e.Started {
		return nil
	}
	var errs []error
	if e.proc != nil {
		ctx, cancel := context.WithTimeout(context.Background(), stopTimeout)
		ids, err := e.Docker(ctx, nil, "ps", "-aq")
		if err == nil && strings.TrimSpace(ids) != "" {
			_, err = e.Docker(ctx, nil, append([]string{"rm", "-f", "-v"}, strings.Fields(ids)...)...)
		}
		cancel()
		if err != nil {
			errs = append(errs, fmt.Errorf("removing containers before stopping dockerd: %w", err))
		}
		_ = e.proc.Process.Signal(syscall.SIGTERM)
		select {
		case <-e.exited:
		case <-time.After(stopTimeout):
			_ = syscall.Kill(-e.proc.Process.Pid, syscall.SIGKILL)
			<-e.exited
			errs = append(errs, fmt.Errorf("dockerd did not stop within %s of SIGTERM; killed it", stopTimeout))
		}
		// dockerd's own containerd exits with it; one that was left
		// behind would still hold the exec root.
		e.proc = nil
	}
	if err := os.RemoveAll(e.Dir); err != nil {
		errs = append(errs, fmt.Errorf("removing %s: %w", e.Dir, err))
	}
	return errors.Join(errs...)
}

// BuiltDockerd returns the current Docker daemon that
// e2e/scripts/build-dockerd.sh builds from its Go module (Docker 28, like
// the engine `kamal server bootstrap` installs), from $BERTH_DOCKERD when set,
// else building it once (about 5 minutes) into the cache.
func BuiltDockerd() (string, error) {
	return cachedtool.Path("BERTH_DOCKERD", "build-dockerd.sh")
}
