package traefikrun

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wombatworkouts/berth/e2e/internal/pluginsrc"
)

// DockerProvider is Traefik's providers.docker section for
// StartWithDocker.
type DockerProvider struct {
	// Endpoint is the Docker host, e.g. unix:///tmp/x/docker.sock (the
	// stand-in of internal/dockerapi). Required.
	Endpoint string
	// Network is providers.docker.network; default "kamal".
	Network string
	// ExposedByDefault is providers.docker.exposedByDefault (Traefik's own
	// default is true; berth and these tests want false).
	ExposedByDefault bool
	// AllowEmptyServices is providers.docker.allowEmptyServices.
	AllowEmptyServices bool
	// DefaultRule is providers.docker.defaultRule when set.
	DefaultRule string
}

// StartWithDocker launches Traefik in dir like Start (same entry points,
// API, file provider and local berth plugin) and adds the docker provider
// (watching events) pointed at docker.Endpoint. Traefik's environment has
// DOCKER_HOST and the other DOCKER_* client variables cleared, since the
// Docker client Traefik uses lets them override the configured endpoint.
func StartWithDocker(dir string, opt Options, docker DockerProvider) (*Traefik, error) {
	if docker.Endpoint == "" {
		return nil, fmt.Errorf("traefikrun: StartWithDocker needs DockerProvider.Endpoint")
	}
	if docker.Network == "" {
		docker.Network = "kamal"
	}
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	if _, err := pluginsrc.Stage(filepath.Join(dir, "plugins-local")); err != nil {
		return nil, fmt.Errorf("stage plugin: %w", err)
	}
	web, err := FreePort()
	if err != nil {
		return nil, err
	}
	api, err := FreePort()
	if err != nil {
		return nil, err
	}
	t := &Traefik{
		Dir:        dir,
		DynamicDir: filepath.Join(dir, "dynamic"),
		WebAddr:    "127.0.0.1:" + strconv.Itoa(web),
		WebURL:     "http://127.0.0.1:" + strconv.Itoa(web),
		APIURL:     "http://127.0.0.1:" + strconv.Itoa(api),
		logPath:    filepath.Join(dir, "traefik.log"),
		done:       make(chan struct{}),
	}
	if err := os.MkdirAll(t.DynamicDir, 0o755); err != nil {
		return nil, err
	}
	static, err := dockerStaticConfig(t, api, opt, docker)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "traefik.yml"), []byte(static), 0o644); err != nil {
		return nil, err
	}
	t.cmd = exec.Command(bin, "--configFile="+filepath.Join(dir, "traefik.yml"))
	t.cmd.Dir = dir
	env := append(os.Environ(), "DOCKER_HOST=", "DOCKER_API_VERSION=", "DOCKER_CERT_PATH=", "DOCKER_TLS_VERIFY=")
	t.cmd.Env = append(env, opt.Env...)
	stdio, err := os.Create(filepath.Join(dir, "traefik.stdout"))
	if err != nil {
		return nil, err
	}
	t.cmd.Stdout, t.cmd.Stderr = stdio, stdio
	t.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := t.cmd.Start(); err != nil {
		stdio.Close()
		return nil, fmt.Errorf("start traefik: %w", err)
	}
	go func() { _ = t.cmd.Wait(); stdio.Close(); close(t.done) }()
	if err := t.waitPing(30 * time.Second); err != nil {
		t.Stop()
		return nil, fmt.Errorf("%w\n%s", err, t.LogTail(40))
	}
	return t, nil
}

// dockerStaticConfig is Start's static configuration plus providers.docker.
func dockerStaticConfig(t *Traefik, api int, opt Options, docker DockerProvider) (string, error) {
	level := opt.LogLevel
	if level == "" {
		level = "DEBUG"
	}
	throttle := opt.ThrottleDuration
	if throttle == 0 {
		throttle = 2 * time.Second
	}
	var b strings.Builder
	fmt.Fprintf(&b, "entryPoints:\n  web:\n    address: %q\n", t.WebAddr)
	if opt.InsecureForwardedHeaders {
		b.WriteString("    forwardedHeaders:\n      insecure: true\n")
	}
	fmt.Fprintf(&b, "  traefik:\n    address: \"127.0.0.1:%d\"\n", api)
	b.WriteString("api:\n  insecure: true\n  debug: true\nping: {}\n")
	fmt.Fprintf(&b, "log:\n  level: %s\n  filePath: %q\n  noColor: true\n", level, t.logPath)
	fmt.Fprintf(&b, "providers:\n  providersThrottleDuration: %s\n", throttle)
	fmt.Fprintf(&b, "  file:\n    directory: %q\n    watch: true\n", t.DynamicDir)
	b.WriteString("  docker:\n")
	fmt.Fprintf(&b, "    endpoint: %q\n", docker.Endpoint)
	fmt.Fprintf(&b, "    exposedByDefault: %t\n", docker.ExposedByDefault)
	fmt.Fprintf(&b, "    network: %q\n", docker.Network)
	b.WriteString("    watch: true\n")
	if docker.AllowEmptyServices {
		b.WriteString("    allowEmptyServices: true\n")
	}
	if docker.DefaultRule != "" {
		fmt.Fprintf(&b, "    defaultRule: %q\n", docker.DefaultRule)
	}
	fmt.Fprintf(&b, "experimental:\n  localPlugins:\n    berth:\n      moduleName: %s\n", pluginsrc.ModuleName)
	for alias, p := range opt.ExtraPlugins {
		if err := copyDir(p.Dir, filepath.Join(t.Dir, "plugins-local", "src", filepath.FromSlash(p.ModuleName))); err != nil {
			return "", fmt.Errorf("stage plugin %s: %w", alias, err)
		}
		fmt.Fprintf(&b, "    %s:\n      moduleName: %s\n", alias, p.ModuleName)
	}
	return b.String(), nil
}
