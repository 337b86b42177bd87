package kamalhost

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/wombatworkouts/berth/e2e/internal/kamalhost/recdocker"
)

// Host is the address Kamal reaches the server at.
const Host = "127.0.0.1"

// sshdPath must be absolute: sshd refuses to re-exec itself otherwise.
const sshdPath = "/usr/sbin/sshd"

// ServerOptions configure StartServer.
type ServerOptions struct {
	// Env is given to every remote command (sshd's SetEnv), e.g. DOCKER_HOST
	// for a real engine. Names are shell-style; values must not hold quotes
	// or newlines.
	Env map[string]string
	// RealDocker leaves the recording docker out of the PATH, so remote
	// commands find the system's docker (give DOCKER_HOST in Env).
	RealDocker bool
}

// Server is an sshd on 127.0.0.1 that lets root in with a generated key.
// Remote commands run as root in root's home, with BinDir first on PATH.
type Server struct {
	Port int
	// Dir holds the keys, sshd's config, pid file and log.
	Dir string
	// ClientKey is root's private key (ed25519) for Kamal's ssh.keys.
	ClientKey string
	// KnownHosts holds the server's host key for [127.0.0.1]:Port.
	KnownHosts string
	// SSHConfig is an ssh_config for this server that Kamal passes to net-ssh
	// and to the system ssh of its interactive (-i) commands: host key
	// checked against KnownHosts, never the user's own files.
	SSHConfig string
	// BinDir is first on the remote PATH; the recording docker is there.
	BinDir string
	// DockerDir is the recording docker's directory (config, state, log).
	DockerDir string
	// RemoteHome is the remote commands' working directory (root's home),
	// where Kamal keeps .kamal/.
	RemoteHome string

	cmd    *exec.Cmd
	mu     sync.Mutex
	config recdocker.Config
	taken  int // calls NewCalls has returned
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// StartServer starts sshd on a free loopback port and stops it when the test
// ends. It fails the test when sshd cannot start or a remote command does
// not find the recording docker first on its PATH.
func StartServer(t testing.TB, opts ServerOptions) *Server {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatalf("kamalhost: StartServer needs root: its sshd logs in as root, as Kamal does on a fresh server")
	}
	root, err := user.Lookup("root")
	if err != nil {
		t.Fatalf("kamalhost: look up root's home: %v", err)
	}
	s := &Server{Dir: t.TempDir(), RemoteHome: root.HomeDir}
	s.BinDir = filepath.Join(s.Dir, "bin")
	s.DockerDir = filepath.Join(s.Dir, "recdocker")
	for _, d := range []string{s.BinDir, s.DockerDir, "/run/sshd"} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("kamalhost: %v", err)
		}
	}
	if !opts.RealDocker {
		bin, err := recdockerBinary()
		if err != nil {
			t.Fatalf("kamalhost: %v", err)
		}
		if err := os.Symlink(bin, filepath.Join(s.BinDir, "docker")); err != nil {
			t.Fatalf("kamalhost: %v", err)
		}
	}
	if err := recdocker.WriteConfig(s.DockerDir, s.config); err != nil {
		t.Fatalf("kamalhost: %v", err)
	}
	hostKey := filepath.Join(s.Dir, "ssh_host_ed25519_key")
	s.ClientKey = filepath.Join(s.Dir, "id_ed25519")
	for _, k := range []string{hostKey, s.ClientKey} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "kamalhost", "-f", k).CombinedOutput(); err != nil {
			t.Fatalf("kamalhost: ssh-keygen %s: %v: %s", k, err, out)
		}
	}
	clientPub, err := os.ReadFile(s.ClientKey + ".pub")
	if err != nil {
		t.Fatalf("kamalhost: %v", err)
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "authorized_keys"), clientPub, 0o600); err != nil {
		t.Fatalf("kamalhost: %v", err)
	}
	env := map[string]string{
		"PATH": s.BinDir + ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
		// bash sources ~/.bashrc for commands that sshd starts only when it
		// is the top-level shell; SHLVL=1 makes it the second, so root's
		// own rc files cannot reorder PATH (or slow every command down).
		"SHLVL":          "1",
		recdocker.DirEnv: s.DockerDir,
	}
	for k, v := range opts.Env {
		if !envName.MatchString(k) || strings.ContainsAny(v, "\"'\n\\") {
			t.Fatalf("kamalhost: ServerOptions.Env %q: a name of letters, digits and _ and a value without quotes, backslashes or newlines", k)
		}
		env[k] = v
	}

	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		if lastErr = s.start(t, hostKey, env); lastErr == nil {
			break
		}
	}
	if lastErr != nil {
		t.Fatalf("kamalhost: %v", lastErr)
	}

	hostPub, err := os.ReadFile(hostKey + ".pub")
	if err != nil {
		t.Fatalf("kamalhost: %v", err)
	}
	fields := strings.Fields(string(hostPub))
	s.KnownHosts = filepath.Join(s.Dir, "known_hosts")
	known := fmt.Sprintf("[%s]:%d %s %s\n", Host, s.Port, fields[0], fields[1])
	if err := os.WriteFile(s.KnownHosts, []byte(known), 0o600); err != nil {
		t.Fatalf("kamalhost: %v", err)
	}
	s.SSHConfig = filepath.Join(s.Dir, "ssh_config")
	sshConfig := fmt.Sprintf(`Host %s
  Port %d
  User root
  IdentityFile %s
  IdentitiesOnly yes
  UserKnownHostsFile %s
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
  BatchMode yes
  LogLevel ERROR
`, Host, s.Port, s.ClientKey, s.KnownHosts)
	if err := os.WriteFile(s.SSHConfig, []byte(sshConfig), 0o600); err != nil {
		t.Fatalf("kamalhost: %v", err)
	}

	if !opts.RealDocker {
		out, err := s.SSH("command -v docker")
		want := filepath.Join(s.BinDir, "docker")
		if err != nil || strings.TrimSpace(out) != want {
			t.Fatalf("kamalhost: a remote command should find the recording docker at %s, found %q (err %v): "+
				"check that root's shell rc files do not change PATH for non-interactive commands", want, strings.TrimSpace(out), err)
		}
	}
	return s
}

// start runs sshd on a port that was free a moment ago; it returns an error
// when sshd did not come up (e.g. the port was taken in between).
func (s *Server) start(t testing.TB, hostKey string, env map[string]string) error {
	l, err := net.Listen("tcp", Host+":0")
	if err != nil {
		return err
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()

	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var setenv strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&setenv, " \"%s=%s\"", k, env[k])
	}
	conf := fmt.Sprintf(`ListenAddress %s:%d
HostKey %s
AuthorizedKeysFile %s
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
StrictModes no
PidFile %s
PrintMotd no
PrintLastLog no
PermitUserEnvironment no
MaxSessions 30
MaxStartups 30:30:60
Subsystem sftp internal-sftp
SetEnv%s
`, Host, port, hostKey, filepath.Join(s.Dir, "authorized_keys"), filepath.Join(s.Dir, "sshd.pid"), setenv.String())
	confPath := filepath.Join(s.Dir, "sshd_config")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		return err
	}
	logPath := filepath.Join(s.Dir, "sshd.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	cmd := exec.Command(sshdPath, "-D", "-e", "-f", confPath)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return fmt.Errorf("start %s: %w", sshdPath, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logFile.Close() }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(Host, strconv.Itoa(port)), 200*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case werr := <-exited:
			log, _ := os.ReadFile(logPath)
			return fmt.Errorf("sshd exited (%v) before listening on %s:%d: %s", werr, Host, port, lastLines(string(log), 10))
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-exited
			return fmt.Errorf("sshd did not listen on %s:%d within 15s", Host, port)
		}
	}
	s.Port, s.cmd = port, cmd
	t.Cleanup(func() {
		// sshd -D leaves open sessions to their own processes; stopping the
		// listener is enough once kamal has exited.
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	})
	return nil
}

// SSH runs command on the server with the system ssh client and returns its
// combined output.
func (s *Server) SSH(command string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "ssh", "-F", s.SSHConfig, Host, command)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &out, &out, nil
	err := cmd.Run()
	return out.String(), err
}

// Docker returns the recording docker's config as the test last set it.
func (s *Server) Docker() recdocker.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.config
}

// SetDocker replaces the recording docker's config; it applies to the next
// docker call.
func (s *Server) SetDocker(t testing.TB, c recdocker.Config) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := recdocker.WriteConfig(s.DockerDir, c); err != nil {
		t.Fatalf("kamalhost: %v", err)
	}
	s.config = c
}

// AddRule appends rules to the recording docker's config.
func (s *Server) AddRule(t testing.TB, rules ...recdocker.Rule) {
	t.Helper()
	c := s.Docker()
	c.Rules = append(append([]recdocker.Rule(nil), c.Rules...), rules...)
	s.SetDocker(t, c)
}

// RegisterImage makes images of repository carry labels when pulled.
func (s *Server) RegisterImage(t testing.TB, repository string, labels map[string]string) {
	t.Helper()
	c := s.Docker()
	images := map[string]map[string]string{}
	for k, v := range c.Images {
		images[k] = v
	}
	images[repository] = labels
	c.Images = images
	s.SetDocker(t, c)
}

// Calls returns every docker call so far, in the order they finished.
func (s *Server) Calls(t testing.TB) []recdocker.Call {
	t.Helper()
	calls, err := recdocker.ReadCalls(s.DockerDir)
	if err != nil {
		t.Fatalf("kamalhost: %v", err)
	}
	return calls
}

// NewCalls returns the docker calls recorded since the previous NewCalls,
// so a test can look at one kamal command's calls alone.
func (s *Server) NewCalls(t testing.TB) []recdocker.Call {
	t.Helper()
	calls := s.Calls(t)
	s.mu.Lock()
	defer s.mu.Unlock()
	from := s.taken
	if from > len(calls) {
		from = len(calls)
	}
	s.taken = len(calls)
	return calls[from:]
}

// State returns what the recording docker runs now.
func (s *Server) State(t testing.TB) *recdocker.State {
	t.Helper()
	st, err := recdocker.ReadState(s.DockerDir)
	if err != nil {
		t.Fatalf("kamalhost: %v", err)
	}
	return st
}

// UpdateState changes the recording docker's state (e.g. to seed a running
// accessory) under its lock.
func (s *Server) UpdateState(t testing.TB, change func(*recdocker.State) error) {
	t.Helper()
	if err := recdocker.UpdateState(s.DockerDir, change); err != nil {
		t.Fatalf("kamalhost: %v", err)
	}
}
