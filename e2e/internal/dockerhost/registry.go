package dockerhost

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Registry is Debian's docker-registry (Distribution 2.8) serving on
// 127.0.0.1, standing in for ghcr.io. Docker talks plain HTTP to a registry
// on a loopback address without being told to. It has no authentication:
// `docker login` to it succeeds with any password, as Kamal's login needs.
type Registry struct {
	// Addr is 127.0.0.1:PORT, the registry.server for deploy.yml.
	Addr string
}

// StartRegistry starts a registry with its storage in a temporary directory
// and stops it when the test ends.
func StartRegistry(t testing.TB) *Registry {
	t.Helper()
	bin, err := exec.LookPath("docker-registry")
	if err != nil {
		t.Fatal("dockerhost: docker-registry is missing; install it with: apt-get install -y docker-registry")
	}
	dir := t.TempDir()
	port, err := freePort()
	if err != nil {
		t.Fatalf("dockerhost: %v", err)
	}
	r := &Registry{Addr: fmt.Sprintf("127.0.0.1:%d", port)}
	config := fmt.Sprintf(`version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: %s
http:
  addr: %s
`, filepath.Join(dir, "data"), r.Addr)
	configPath := filepath.Join(dir, "config.yml")
	if err := os.WriteFile(configPath, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "registry.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", configPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		t.Fatalf("dockerhost: starting %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logf.Close() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})

	deadline := time.Now().Add(20 * time.Second)
	for {
		err := r.ping()
		if err == nil {
			return r
		}
		select {
		case werr := <-exited:
			log, _ := os.ReadFile(filepath.Join(dir, "registry.log"))
			t.Fatalf("dockerhost: docker-registry exited at once (%v): %s", werr, log)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("dockerhost: docker-registry did not answer on %s within 20s: %v", r.Addr, err)
		}
	}
}

// ping checks the registry's API root answers 200.
func (r *Registry) ping() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.Addr+"/v2/", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET /v2/: %s", resp.Status)
	}
	return nil
}

// freePort asks the kernel for a free loopback port. Another process could
// take it before the registry binds it; the registry then exits at once and
// StartRegistry says so.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}
