// Package traefikrun starts the real Traefik binary (built from the Go
// module by scripts/build-traefik.sh) with berth loaded as a local plugin
// from the repository's own files, a file provider whose directory the test
// rewrites, and the API, ping and pprof on a separate loopback port.
package traefikrun

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/wombatworkouts/berth/e2e/internal/cachedtool"
	"github.com/wombatworkouts/berth/e2e/internal/pluginsrc"
)

// Binary returns the Traefik binary from $BERTH_TRAEFIK, or builds it (once,
// cached outside the repository) with scripts/build-traefik.sh.
func Binary() (string, error) {
	return cachedtool.Path("BERTH_TRAEFIK", "build-traefik.sh")
}

// Options shape the static configuration.
type Options struct {
	// ThrottleDuration is providers.providersThrottleDuration (Traefik's
	// default is 2s; tests that reload often lower it).
	ThrottleDuration time.Duration
	// InsecureForwardedHeaders keeps X-Forwarded-For from any client on the
	// web entrypoint, so berth's own trusted-proxy handling is what a test
	// exercises.
	InsecureForwardedHeaders bool
	// Env is added to Traefik's environment.
	Env []string
	// LogLevel defaults to DEBUG; benchmarks use ERROR so logging does not
	// dominate what they measure.
	LogLevel string
	// LogFormat is log.format: "" (Traefik's plain "common" format) or
	// "json".
	LogFormat string
	// ExtraPlugins are more local plugins: alias -> directory holding a
	// plugin's .traefik.yml, go.mod and code; staged under plugins-local.
	ExtraPlugins map[string]ExtraPlugin
	// EntryPoints are more plain HTTP entry points on loopback, by name;
	// their URLs are in Traefik.EntryPointURLs.
	EntryPoints []string
}

// ExtraPlugin is a local plugin other than berth.
type ExtraPlugin struct {
	ModuleName string
	Dir        string
}

// Traefik is a running Traefik process.
type Traefik struct {
	Dir        string // working directory (holds plugins-local/)
	DynamicDir string
	WebURL     string // http://127.0.0.1:port of the web entrypoint
	WebAddr    string
	APIURL     string
	// EntryPointURLs has the URL of each of Options.EntryPoints.
	EntryPointURLs map[string]string

	cmd     *exec.Cmd
	logPath string
	done    chan struct{}
	mu      sync.Mutex
	seq     int
}

// Start launches Traefik in dir with the given options.
func Start(dir string, opt Options) (*Traefik, error) {
	return start(dir, opt, nil)
}

// start is Start, with the docker provider when docker is set.
func start(dir string, opt Options, docker *DockerProvider) (*Traefik, error) {
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
	t.EntryPointURLs = map[string]string{}
	for _, name := range opt.EntryPoints {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		t.EntryPointURLs[name] = "http://127.0.0.1:" + strconv.Itoa(port)
	}
	if err := os.MkdirAll(t.DynamicDir, 0o755); err != nil {
		return nil, err
	}
	static, err := staticConfig(t, api, opt, docker)
	if err != nil {
		return nil, err
	}
	configFile := filepath.Join(dir, "traefik.yml")
	if err := os.WriteFile(configFile, []byte(static), 0o644); err != nil {
		return nil, err
	}
	env := opt.Env
	if docker != nil {
		// The Docker client Traefik uses lets these override the
		// configured endpoint.
		env = append([]string{"DOCKER_HOST=", "DOCKER_API_VERSION=", "DOCKER_CERT_PATH=", "DOCKER_TLS_VERIFY="}, env...)
	}
	if err := t.launch(configFile, env, 30*time.Second); err != nil {
		return nil, err
	}
	return t, nil
}

// staticConfig is the test harness's static configuration: the web
// entrypoint, the API, ping and pprof on their own port, the file provider
// (and the docker provider when asked), berth and any extra local plugins.
func staticConfig(t *Traefik, api int, opt Options, docker *DockerProvider) (string, error) {
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
	for _, name := range opt.EntryPoints {
		fmt.Fprintf(&b, "  %s:\n    address: %q\n", name, strings.TrimPrefix(t.EntryPointURLs[name], "http://"))
	}
	fmt.Fprintf(&b, "  traefik:\n    address: \"127.0.0.1:%d\"\n", api)
	b.WriteString("api:\n  insecure: true\n  debug: true\nping: {}\n")
	fmt.Fprintf(&b, "log:\n  level: %s\n  filePath: %q\n  noColor: true\n", level, t.logPath)
	if opt.LogFormat != "" {
		fmt.Fprintf(&b, "  format: %s\n", opt.LogFormat)
	}
	fmt.Fprintf(&b, "providers:\n  providersThrottleDuration: %s\n", throttle)
	fmt.Fprintf(&b, "  file:\n    directory: %q\n    watch: true\n", t.DynamicDir)
	if docker != nil {
		b.WriteString(docker.yaml())
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

// Pid is the Traefik process's id (the benchmark pins it to a CPU).
func (t *Traefik) Pid() int { return t.cmd.Process.Pid }

// launch stages berth under dir/plugins-local (Traefik's working directory),
// starts Traefik with configFile and waits for its ping.
func (t *Traefik) launch(configFile string, env []string, limit time.Duration) error {
	bin, err := Binary()
	if err != nil {
		return err
	}
	if _, err := pluginsrc.Stage(filepath.Join(t.Dir, "plugins-local")); err != nil {
		return fmt.Errorf("stage plugin: %w", err)
	}
	t.cmd = exec.Command(bin, "--configFile="+configFile)
	t.cmd.Dir = t.Dir
	t.cmd.Env = append(os.Environ(), env...)
	stdio, err := os.Create(filepath.Join(t.Dir, "traefik.stdout"))
	if err != nil {
		return err
	}
	t.cmd.Stdout, t.cmd.Stderr = stdio, stdio
	t.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := t.cmd.Start(); err != nil {
		stdio.Close()
		return fmt.Errorf("start traefik: %w", err)
	}
	go func() { _ = t.cmd.Wait(); stdio.Close(); close(t.done) }()
	if err := t.waitPing(limit); err != nil {
		t.Stop()
		return fmt.Errorf("%w\n%s", err, t.LogTail(40))
	}
	return nil
}

func (t *Traefik) waitPing(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-t.done:
			return fmt.Errorf("traefik exited during start")
		default:
		}
		resp, err := http.Get(t.APIURL + "/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("traefik did not answer /ping within %s", limit)
}

// WriteDynamic atomically replaces one file of the file provider's directory.
func (t *Traefik) WriteDynamic(name, content string) error {
	t.mu.Lock()
	t.seq++
	tmp := filepath.Join(t.Dir, fmt.Sprintf(".dyn-%d.tmp", t.seq))
	t.mu.Unlock()
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(t.DynamicDir, name))
}

// WaitRouter waits until the API lists the router (name@file) with status
// enabled, or reports its error list.
func (t *Traefik) WaitRouter(name string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var last string
	for time.Now().Before(deadline) {
		var r struct {
			Status string   `json:"status"`
			Error  []string `json:"error"`
		}
		if err := t.API("/api/http/routers/"+name, &r); err == nil {
			if r.Status == "enabled" {
				return nil
			}
			last = fmt.Sprintf("status %s, errors %v", r.Status, r.Error)
		} else {
			last = err.Error()
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("router %s not enabled within %s: %s", name, limit, last)
}

// API GETs a JSON document from Traefik's API into v.
func (t *Traefik) API(path string, v any) error {
	resp, err := http.Get(t.APIURL + path)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, bytes.TrimSpace(body))
	}
	return json.Unmarshal(body, v)
}

// Goroutines reads the goroutine count from Traefik's pprof endpoint.
func (t *Traefik) Goroutines() (int, error) {
	resp, err := http.Get(t.APIURL + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	line, err := readLine(resp.Body)
	if err != nil {
		return 0, err
	}
	// "goroutine profile: total 123"
	i := strings.LastIndex(line, " ")
	return strconv.Atoi(strings.TrimSpace(line[i+1:]))
}

func readLine(r io.Reader) (string, error) {
	var b [256]byte
	n, err := io.ReadAtLeast(r, b[:], 1)
	if err != nil {
		return "", err
	}
	s := string(b[:n])
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s, nil
}

// Log returns Traefik's whole log.
func (t *Traefik) Log() string {
	b, _ := os.ReadFile(t.logPath)
	out, _ := os.ReadFile(filepath.Join(t.Dir, "traefik.stdout"))
	return string(b) + string(out)
}

// LogTail returns the last n lines of the log.
func (t *Traefik) LogTail(n int) string {
	lines := strings.Split(strings.TrimRight(t.Log(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// Stop terminates Traefik and waits for it.
func (t *Traefik) Stop() {
	if t.cmd == nil || t.cmd.Process == nil {
		return
	}
	_ = t.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-t.done:
	case <-time.After(10 * time.Second):
		_ = t.cmd.Process.Kill()
		<-t.done
	}
}

func copyDir(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := copyDir(filepath.Join(src, e.Name()), filepath.Join(dst, e.Name())); err != nil {
				return err
			}
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// FreePort asks the kernel for a free loopback port.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
