package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/wombatworkouts/berth/e2e/internal/cachedtool"
	"github.com/wombatworkouts/berth/e2e/internal/traefikrun"
)

// kamalProxy is kamal-proxy v0.9.2, the proxy a Kamal 2 user has when
// they do not choose Traefik: `kamal-proxy run` on loopback ports of its
// own, its state and control socket in a directory of the bench's
// (kamal-proxy keeps them under $HOME/.config and $XDG_RUNTIME_DIR), and
// services deployed with the options Kamal 2.12 passes.
//
// Its request log (one JSON line per request, which Kamal cannot turn off)
// goes to /dev/null: the cheapest place kamal-proxy can write it.
type kamalProxy struct {
	bin string
	URL string // http://127.0.0.1:port
	env []string
	cmd *exec.Cmd
	log string // its stderr
	// done is closed when the process has exited.
	done chan struct{}
}

// kamalProxyBinary is BERTH_KAMAL_PROXY, else what
// e2e/scripts/build-kamal-proxy.sh builds (cached).
func kamalProxyBinary() (string, error) {
	return cachedtool.Path("BERTH_KAMAL_PROXY", "build-kamal-proxy.sh")
}

// startKamalProxy starts `kamal-proxy run` with env added to this
// process's environment.
func startKamalProxy(bin, dir string, env ...string) (*kamalProxy, error) {
	httpPort, err := traefikrun.FreePort()
	if err != nil {
		return nil, err
	}
	httpsPort, err := traefikrun.FreePort()
	if err != nil {
		return nil, err
	}
	home, run := filepath.Join(dir, "home"), filepath.Join(dir, "run")
	for _, d := range []string{home, run} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	k := &kamalProxy{
		bin:  bin,
		URL:  "http://127.0.0.1:" + strconv.Itoa(httpPort),
		env:  append(append(os.Environ(), "HOME="+home, "XDG_RUNTIME_DIR="+run), env...),
		log:  filepath.Join(dir, "kamal-proxy.stderr"),
		done: make(chan struct{}),
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	stderr, err := os.Create(k.log)
	if err != nil {
		devnull.Close()
		return nil, err
	}
	// kamal-proxy has no bind option: it listens on every interface, on
	// ports picked free on loopback; the bench sends to 127.0.0.1 only.
	k.cmd = exec.Command(bin, "run", "--http-port", strconv.Itoa(httpPort), "--https-port", strconv.Itoa(httpsPort))
	k.cmd.Env = k.env
	k.cmd.Stdout, k.cmd.Stderr = devnull, stderr
	k.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := k.cmd.Start(); err != nil {
		devnull.Close()
		stderr.Close()
		return nil, fmt.Errorf("start kamal-proxy: %w", err)
	}
	go func() { _ = k.cmd.Wait(); devnull.Close(); stderr.Close(); close(k.done) }()
	if err := k.waitReady(filepath.Join(run, "kamal-proxy.sock"), 15*time.Second); err != nil {
		k.Close()
		b, _ := os.ReadFile(k.log)
		return nil, fmt.Errorf("%w\n%s", err, b)
	}
	return k, nil
}

// waitReady waits for the control socket and the HTTP port (which answers
// 404 while no service matches).
func (k *kamalProxy) waitReady(socket string, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		select {
		case <-k.done:
			return fmt.Errorf("kamal-proxy exited during start")
		default:
		}
		if _, err := os.Stat(socket); err == nil {
			if resp, err := http.Get(k.URL + "/"); err == nil {
				resp.Body.Close()
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("kamal-proxy did not answer within %s", limit)
}

func (k *kamalProxy) Pid() int { return k.cmd.Process.Pid }

// command runs a kamal-proxy client command against the running proxy.
func (k *kamalProxy) command(args ...string) error {
	cmd := exec.Command(k.bin, args...)
	cmd.Env = k.env
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("kamal-proxy %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return nil
}

// deploy routes host to target with what Kamal 2.12 passes for a role with
// `proxy: {host: ...}` and nothing else (Kamal::Configuration::Proxy's
// deploy_options and their defaults): request and response buffering on,
// its three logged request headers, 30 s deploy and drain timeouts.
// kamal-proxy waits for the target's /up to answer 2xx.
func (k *kamalProxy) deploy(service, host, target string) error {
	return k.command("deploy", service, "--target="+target, "--host="+host,
		"--deploy-timeout=30s", "--drain-timeout=30s", "--buffer-requests", "--buffer-responses",
		"--log-request-header=Cache-Control,Last-Modified,User-Agent")
}

// maintenance is what `kamal app maintenance` runs: kamal-proxy stop,
// after which the service answers its 503 page.
func (k *kamalProxy) maintenance(service, message string) error {
	return k.command("stop", service, "--message="+message)
}

func (k *kamalProxy) Close() {
	if k.cmd == nil || k.cmd.Process == nil {
		return
	}
	_ = k.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-k.done:
	case <-time.After(10 * time.Second):
		_ = k.cmd.Process.Kill()
		<-k.done
	}
}
