package kamalhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
)

// AppOptions describe an app directory for NewApp.
type AppOptions struct {
	// Service is deploy.yml's service. It must be unique among the tests
	// that share a machine: Kamal keeps .kamal/apps/<service>, the lock
	// .kamal/lock-<service> and .kamal/<service>-audit.log in root's home,
	// and the app removes them when the test ends.
	Service string
	// DeployYML is merged over the defaults (see NewApp). It must not set
	// ssh: the harness does.
	DeployYML string
	// Secrets are .kamal/secrets (test values only). KAMAL_REGISTRY_PASSWORD
	// is added when the default registry is used and it is missing.
	Secrets map[string]string
}

// App is a Kamal app directory whose deploy.yml points at a Server.
type App struct {
	// Dir is the app directory (kamal runs here); Home is kamal's HOME.
	Dir, Home string
	Service   string
	// Repository is the image repository with its registry
	// ("127.0.0.1:5000/kamalhost/<service>").
	Repository string
	Server     *Server
	// Revision is the app's one git commit: the version Kamal uses when a
	// command is not given --version.
	Revision string
	// Timeout bounds each kamal run (default 2 minutes).
	Timeout time.Duration
}

var serviceName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// DefaultRegistry is the registry server the default deploy.yml names: a
// loopback address, never reached by the recording docker.
const DefaultRegistry = "127.0.0.1:5000"

// NewApp writes an app directory for srv and registers its image repository
// with the recording docker (labels service=<Service>).
//
// deploy.yml is opts.DeployYML over these defaults: service; image
// kamalhost/<service>; servers.web on 127.0.0.1 with proxy: false and a
// docker health check (so the recording docker reports "healthy" at once);
// registry DefaultRegistry with user kamalhost and password
// [KAMAL_REGISTRY_PASSWORD]; builder.arch amd64. ssh is always the
// harness's: root, srv.Port, srv.ClientKey only, srv.SSHConfig.
func NewApp(t testing.TB, srv *Server, opts AppOptions) *App {
	t.Helper()
	if !serviceName.MatchString(opts.Service) {
		t.Fatalf("kamalhost: AppOptions.Service %q: give a unique lower-case name (letters, digits, - and _)", opts.Service)
	}
	deploy, secrets, err := deployConfig(opts, srv)
	if err != nil {
		t.Fatalf("kamalhost: %v", err)
	}
	a := &App{Dir: t.TempDir(), Home: t.TempDir(), Service: opts.Service, Server: srv, Timeout: 2 * time.Minute}
	reg, _ := deploy["registry"].(map[string]any)
	server, _ := reg["server"].(string)
	a.Repository = strings.TrimPrefix(server+"/"+fmt.Sprint(deploy["image"]), "/")

	b, err := yaml.Marshal(deploy)
	if err != nil {
		t.Fatalf("kamalhost: encode deploy.yml: %v", err)
	}
	secretsText, err := secretsFile(secrets)
	if err != nil {
		t.Fatalf("kamalhost: %v", err)
	}
	for path, content := range map[string][]byte{
		"config/deploy.yml": b,
		".kamal/secrets":    secretsText,
	} {
		a.writeFile(t, path, content, 0o600)
	}
	if err := os.MkdirAll(filepath.Join(a.Home, ".ssh"), 0o700); err != nil {
		t.Fatalf("kamalhost: %v", err)
	}
	a.initGit(t)
	t.Cleanup(func() { a.removeRemoteState(t) })
	srv.RegisterImage(t, a.Repository, map[string]string{"service": opts.Service})
	return a
}

// deployConfig merges opts.DeployYML over the defaults.
func deployConfig(opts AppOptions, srv *Server) (map[string]any, map[string]string, error) {
	deploy := map[string]any{}
	if err := yaml.Unmarshal([]byte(opts.DeployYML), &deploy); err != nil {
		return nil, nil, fmt.Errorf("AppOptions.DeployYML: %w", err)
	}
	if deploy == nil {
		deploy = map[string]any{}
	}
	if _, ok := deploy["ssh"]; ok {
		return nil, nil, errors.New("AppOptions.DeployYML sets ssh: leave it out, the harness points ssh at its server")
	}
	if s, ok := deploy["service"]; ok && s != opts.Service {
		return nil, nil, fmt.Errorf("AppOptions.DeployYML has service %v but AppOptions.Service is %q: leave service out", s, opts.Service)
	}
	deploy["service"] = opts.Service
	setDefault(deploy, "image", "kamalhost/"+opts.Service)
	setDefault(deploy, "servers", map[string]any{
		"web": map[string]any{
			"hosts":   []any{Host},
			"proxy":   false,
			"options": map[string]any{"health-cmd": "curl -fs http://localhost/up", "health-interval": "1s"},
		},
	})
	secrets := map[string]string{}
	for k, v := range opts.Secrets {
		secrets[k] = v
	}
	if _, ok := deploy["registry"]; !ok {
		deploy["registry"] = map[string]any{
			"server": DefaultRegistry, "username": "kamalhost", "password": []any{"KAMAL_REGISTRY_PASSWORD"},
		}
		if _, ok := secrets["KAMAL_REGISTRY_PASSWORD"]; !ok {
			secrets["KAMAL_REGISTRY_PASSWORD"] = "kamalhost-test-registry-password"
		}
	}
	setDefault(deploy, "builder", map[string]any{"arch": "amd64"})
	deploy["ssh"] = map[string]any{
		"user": "root", "port": srv.Port, "keys": []any{srv.ClientKey}, "keys_only": true, "config": srv.SSHConfig,
	}
	return deploy, secrets, nil
}

func setDefault(m map[string]any, key string, v any) {
	if _, ok := m[key]; !ok {
		m[key] = v
	}
}

var secretValue = regexp.MustCompile(`^[A-Za-z0-9_./:@+=,-]*$`)

// secretsFile writes dotenv lines; a value with other characters is single
// quoted (dotenv takes it literally).
func secretsFile(secrets map[string]string) ([]byte, error) {
	keys := make([]string, 0, len(secrets))
	for k := range secrets {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b bytes.Buffer
	for _, k := range keys {
		v := secrets[k]
		switch {
		case !envName.MatchString(k):
			return nil, fmt.Errorf("AppOptions.Secrets: %q is not a variable name", k)
		case secretValue.MatchString(v):
			fmt.Fprintf(&b, "%s=%s\n", k, v)
		case !strings.ContainsAny(v, "'\n"):
			fmt.Fprintf(&b, "%s='%s'\n", k, v)
		default:
			return nil, fmt.Errorf("AppOptions.Secrets[%s]: a test value without quotes or newlines, please", k)
		}
	}
	return b.Bytes(), nil
}

func (a *App) writeFile(t testing.TB, rel string, content []byte, mode os.FileMode) {
	t.Helper()
	path := filepath.Join(a.Dir, rel)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatalf("kamalhost: %v", err)
	}
	if err := os.WriteFile(path, content, mode); err != nil {
		t.Fatalf("kamalhost: %v", err)
	}
}

// WriteHook writes an executable .kamal/hooks/<name>.
func (a *App) WriteHook(t testing.TB, name, script string) {
	t.Helper()
	a.writeFile(t, filepath.Join(".kamal", "hooks", name), []byte(script), 0o755)
}

// initGit makes the app directory a git repository with one commit, as an
// app's is: Kamal takes the version and the performer from git. Everything
// is ignored, so files a test adds later (hooks) never make Kamal's version
// "<sha>_uncommitted_<random>".
func (a *App) initGit(t testing.TB) {
	t.Helper()
	a.writeFile(t, ".gitignore", []byte("# kamalhost: the tests' files stay out of git status\n*\n"), 0o644)
	for _, args := range [][]string{
		{"init", "-q", "-b", "main"},
		{"config", "user.name", "kamalhost"},
		{"config", "user.email", "kamalhost@example.invalid"},
		{"commit", "-q", "--allow-empty", "-m", "kamalhost test app"},
	} {
		a.git(t, args...)
	}
	a.Revision = strings.TrimSpace(a.git(t, "rev-parse", "HEAD"))
}

func (a *App) git(t testing.TB, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", args...)
	cmd.Dir = a.Dir
	cmd.Env = append(os.Environ(), "HOME="+a.Home, "GIT_CONFIG_NOSYSTEM=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kamalhost: git %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// removeRemoteState deletes what Kamal left for this service in root's home.
func (a *App) removeRemoteState(t testing.TB) {
	kamalDir := filepath.Join(a.Server.RemoteHome, ".kamal")
	for _, p := range []string{
		filepath.Join(kamalDir, "apps", a.Service),
		filepath.Join(kamalDir, "lock-"+a.Service),
		filepath.Join(kamalDir, a.Service+"-audit.log"),
	} {
		if err := os.RemoveAll(p); err != nil {
			t.Errorf("kamalhost: clean up %s: %v", p, err)
		}
	}
	// Destinations add -<dest> to the lock and the audit log.
	for _, pattern := range []string{"lock-" + a.Service + "-*", a.Service + "-*-audit.log"} {
		matches, _ := filepath.Glob(filepath.Join(kamalDir, pattern))
		for _, m := range matches {
			os.RemoveAll(m)
		}
	}
}

// Result is one kamal run.
type Result struct {
	Args []string
	// Output is stdout and stderr as they interleaved.
	Output  string
	Exit    int
	Elapsed time.Duration
}

func (r Result) String() string {
	return fmt.Sprintf("kamal %s: exit %d after %s\n%s", strings.Join(r.Args, " "), r.Exit, r.Elapsed.Round(time.Millisecond), r.Output)
}

// RunOptions change one kamal run.
type RunOptions struct {
	Stdin string
	// Env adds variables (e.g. a secret the test exports).
	Env map[string]string
}

// Kamal runs kamal with args in the app directory and returns what it did;
// a non-zero exit is a Result, not a test failure (see MustKamal).
func (a *App) Kamal(t testing.TB, args ...string) Result {
	t.Helper()
	return a.KamalWith(t, RunOptions{}, args...)
}

// MustKamal is Kamal that fails the test, with kamal's output, unless kamal
// exits 0.
func (a *App) MustKamal(t testing.TB, args ...string) Result {
	t.Helper()
	r := a.Kamal(t, args...)
	if r.Exit != 0 {
		t.Fatalf("%s", r)
	}
	return r
}

// KamalWith is Kamal with stdin and extra environment.
//
// kamal runs with HOME set to a.Home (never the tester's ~/.ssh), without
// SSH_AUTH_SOCK (only the harness's key is offered), without any KAMAL_*
// variable of the test's own environment, and with RUBYOPT loading the
// semaphore shim (rubyshim/), and with a `kamal` first on PATH that runs
// the same Kamal, for hooks that call kamal. It is killed, with everything it started,
// after a.Timeout.
func (a *App) KamalWith(t testing.TB, opts RunOptions, args ...string) Result {
	t.Helper()
	argv, err := Kamal()
	if err != nil {
		t.Fatalf("kamalhost: %v", err)
	}
	shim, err := rubyShimOpt()
	if err != nil {
		t.Fatalf("kamalhost: %v", err)
	}
	kamalBin, err := kamalBinDir()
	if err != nil {
		t.Fatalf("kamalhost: %v", err)
	}
	env := []string{"HOME=" + a.Home}
	rubyopt, path := shim, kamalBin
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		switch {
		case k == "HOME", k == "SSH_AUTH_SOCK", strings.HasPrefix(k, "KAMAL_"):
		case k == "RUBYOPT":
			rubyopt = strings.TrimSpace(v + " " + shim)
		case k == "PATH":
			path = kamalBin + ":" + v
		default:
			env = append(env, kv)
		}
	}
	env = append(env, "RUBYOPT="+rubyopt, "PATH="+path)
	for k, v := range opts.Env {
		env = append(env, k+"="+v)
	}

	ctx, cancel := context.WithTimeout(context.Background(), a.Timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], append(append([]string(nil), argv[1:]...), args...)...)
	cmd.Dir, cmd.Env = a.Dir, env
	cmd.Stdin = strings.NewReader(opts.Stdin)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	// Its own process group, so a timeout also ends the hooks and ssh
	// clients kamal started.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	start := time.Now()
	err = cmd.Run()
	r := Result{Args: args, Output: out.String(), Elapsed: time.Since(start)}
	var exit *exec.ExitError
	switch {
	case err == nil:
	case ctx.Err() != nil:
		t.Fatalf("kamalhost: kamal %s did not finish within %s:\n%s", strings.Join(args, " "), a.Timeout, r.Output)
	case errors.As(err, &exit):
		r.Exit = exit.ExitCode()
	default:
		t.Fatalf("kamalhost: run kamal %s: %v", strings.Join(args, " "), err)
	}
	return r
}
