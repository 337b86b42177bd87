// Package pebble runs Let's Encrypt's own test CA, Pebble, and its DNS
// test server, pebble-challtestsrv, as real processes on loopback, so that
// the real Traefik orders real certificates through the ACME protocol from
// the configuration berth renders.
//
// Both binaries are built from github.com/letsencrypt/pebble/v2 by
// e2e/scripts/build-pebble.sh and cached outside the repository.
//
// How the pieces meet: Traefik's resolver gets caServer = CA.Directory and
// trusts Pebble's own HTTPS certificate through LEGO_CA_CERTIFICATES =
// CA.TrustFile. Pebble resolves the names it validates with the DNS server
// (Options.DNS), which answers 127.0.0.1 for the names a test adds and
// nothing for any other, and connects to Options.HTTPPort (HTTP-01) or
// Options.TLSPort (TLS-ALPN-01) there: the test Traefik's entry points, so
// nothing has to bind 80 or 443. Certificates Pebble issues chain to a root
// it generates at start (CA.Roots).
package pebble

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
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
	"github.com/wombatworkouts/berth/e2e/internal/traefikrun"
)

// Binaries returns the directory holding pebble and pebble-challtestsrv:
// $BERTH_PEBBLE_DIR, or the cache that e2e/scripts/build-pebble.sh fills
// (building them the first time, about a minute).
func Binaries() (string, error) {
	if d := os.Getenv("BERTH_PEBBLE_DIR"); d != "" {
		for _, name := range []string{"pebble", "pebble-challtestsrv"} {
			if _, err := os.Stat(filepath.Join(d, name)); err != nil {
				return "", fmt.Errorf("BERTH_PEBBLE_DIR=%s: %w", d, err)
			}
		}
		return d, nil
	}
	return cachedtool.Build("build-pebble.sh")
}

// Options describe one Pebble.
type Options struct {
	// Name tells several CAs apart in errors and file names ("staging").
	Name string
	// HTTPPort and TLSPort are where Pebble's validation connects for
	// HTTP-01 and TLS-ALPN-01 on the address a name resolves to.
	HTTPPort, TLSPort int
	// DNS is the DNS server Pebble resolves names with (DNS.Addr).
	DNS string
}

// CA is a running Pebble.
type CA struct {
	Name string
	// Directory is the ACME directory URL (Traefik's caServer).
	Directory string
	// TrustFile holds the certificate that signed Pebble's own HTTPS
	// certificate, for LEGO_CA_CERTIFICATES.
	TrustFile string

	mgmt   string // https://127.0.0.1:port of the management interface
	client *http.Client
	proc   *process
}

// pebbleConfig is Pebble's JSON configuration file.
type pebbleConfig struct {
	Pebble struct {
		ListenAddress           string `json:"listenAddress"`
		ManagementListenAddress string `json:"managementListenAddress"`
		Certificate             string `json:"certificate"`
		PrivateKey              string `json:"privateKey"`
		HTTPPort                int    `json:"httpPort"`
		TLSPort                 int    `json:"tlsPort"`
		OCSPResponderURL        string `json:"ocspResponderURL"`
		KeyAlgorithm            string `json:"keyAlgorithm"`
	} `json:"pebble"`
}

// Start runs a Pebble in dir (its configuration, certificates and log go
// there). It returns once the ACME directory answers.
func Start(dir string, o Options) (*CA, error) {
	if o.Name == "" {
		o.Name = "pebble"
	}
	if o.HTTPPort == 0 || o.TLSPort == 0 || o.DNS == "" {
		return nil, fmt.Errorf("pebble %s: Options need HTTPPort, TLSPort and DNS", o.Name)
	}
	bins, err := Binaries()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	lc, err := newListenerCerts(dir, o.Name)
	if err != nil {
		return nil, fmt.Errorf("pebble %s: %w", o.Name, err)
	}
	acmePort, err := traefikrun.FreePort()
	if err != nil {
		return nil, err
	}
	mgmtPort, err := traefikrun.FreePort()
	if err != nil {
		return nil, err
	}
	var cfg pebbleConfig
	cfg.Pebble.ListenAddress = "127.0.0.1:" + strconv.Itoa(acmePort)
	cfg.Pebble.ManagementListenAddress = "127.0.0.1:" + strconv.Itoa(mgmtPort)
	cfg.Pebble.Certificate, cfg.Pebble.PrivateKey = lc.certFile, lc.keyFile
	cfg.Pebble.HTTPPort, cfg.Pebble.TLSPort = o.HTTPPort, o.TLSPort
	// ECDSA keys: issuing is quicker than with Pebble's default RSA.
	cfg.Pebble.KeyAlgorithm = "ecdsa"
	raw, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return nil, err
	}
	cfgFile := filepath.Join(dir, "pebble-config.json")
	if err := os.WriteFile(cfgFile, raw, 0o644); err != nil {
		return nil, err
	}
	env := []string{
		// Pebble otherwise sleeps up to 5 s before each validation.
		"PEBBLE_VA_NOSLEEP=1",
		// and rejects 5 % of good nonces (lego retries them; the
		// extra requests would only blur the order counts).
		"PEBBLE_WFE_NONCEREJECT=0",
		// Every order gets authorizations of its own, as a failing name
		// gets at Let's Encrypt (an invalid authorization is never
		// reused), so validations count orders.
		"PEBBLE_AUTHZREUSE=0",
	}
	p, err := startProcess(filepath.Join(bins, "pebble"), []string{"-config", cfgFile, "-dnsserver", o.DNS}, env, filepath.Join(dir, "pebble.log"))
	if err != nil {
		return nil, fmt.Errorf("pebble %s: %w", o.Name, err)
	}
	c := &CA{
		Name:      o.Name,
		Directory: "https://" + cfg.Pebble.ListenAddress + "/dir",
		TrustFile: lc.caFile,
		mgmt:      "https://" + cfg.Pebble.ManagementListenAddress,
		client: &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			Proxy:           nil,
			TLSClientConfig: &tls.Config{RootCAs: lc.pool},
		}},
		proc: p,
	}
	if err := c.waitReady(20 * time.Second); err != nil {
		c.Stop()
		return nil, fmt.Errorf("pebble %s: %w\n%s", o.Name, err, p.tail(20))
	}
	return c, nil
}

func (c *CA) waitReady(limit time.Duration) error {
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		if c.proc.exited() {
			return fmt.Errorf("exited during start")
		}
		if _, err := c.get(c.Directory); err == nil {
			if _, err := c.get(c.mgmt + "/roots/0"); err == nil {
				return nil
			}
		} else {
			last = err
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("did not answer within %s: %v", limit, last)
}

func (c *CA) get(url string) ([]byte, error) {
	resp, err := c.client.Get(url)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %d %s", url, resp.StatusCode, bytes.TrimSpace(body))
	}
	return body, nil
}

// Roots is the pool of the root Pebble generated at its start, which every
// certificate it issues chains to (through the intermediate Traefik sends).
func (c *CA) Roots() (*x509.CertPool, []byte, error) {
	pemBytes, err := c.get(c.mgmt + "/roots/0")
	if err != nil {
		return nil, nil, fmt.Errorf("pebble %s root: %w", c.Name, err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemBytes) {
		return nil, nil, fmt.Errorf("pebble %s root: no certificate in %q", c.Name, pemBytes)
	}
	return pool, pemBytes, nil
}

// Log is everything Pebble has logged so far.
func (c *CA) Log() string { return c.proc.text() }

// Lines are Pebble's log lines, each with the time this process read it.
func (c *CA) Lines() []Line { return c.proc.snapshot() }

// Stop ends Pebble and waits for it.
func (c *CA) Stop() { c.proc.stop() }

// Line is one line of a child's output and when it was read.
type Line struct {
	At   time.Time
	Text string
}

// process is a child whose output is kept line by line, stamped as read
// (Pebble's own timestamps have whole seconds only), and also written to a
// file for a failing test to show.
type process struct {
	cmd  *exec.Cmd
	done chan struct{}

	mu    sync.Mutex
	lines []Line
}

func startProcess(bin string, args, env []string, logFile string) (*process, error) {
	f, err := os.Create(logFile)
	if err != nil {
		return nil, err
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		f.Close()
		return nil, err
	}
	p := &process{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = pw, pw
	// A test that dies never leaves a CA behind.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		pr.Close()
		pw.Close()
		f.Close()
		return nil, fmt.Errorf("start %s: %w", filepath.Base(bin), err)
	}
	pw.Close()
	read := make(chan struct{})
	go func() {
		defer close(read)
		defer f.Close()
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			l := Line{At: time.Now(), Text: sc.Text()}
			fmt.Fprintln(f, l.Text)
			p.mu.Lock()
			p.lines = append(p.lines, l)
			p.mu.Unlock()
		}
	}()
	go func() {
		_ = p.cmd.Wait()
		<-read
		pr.Close()
		close(p.done)
	}()
	return p, nil
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

func (p *process) snapshot() []Line {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]Line(nil), p.lines...)
}

func (p *process) text() string {
	var b strings.Builder
	for _, l := range p.snapshot() {
		b.WriteString(l.Text)
		b.WriteByte('\n')
	}
	return b.String()
}

func (p *process) tail(n int) string {
	ls := p.snapshot()
	if len(ls) > n {
		ls = ls[len(ls)-n:]
	}
	var b strings.Builder
	for _, l := range ls {
		b.WriteString(l.Text)
		b.WriteByte('\n')
	}
	return b.String()
}

func (p *process) stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// postJSON sends a management request and wants 200.
func postJSON(ctx context.Context, client *http.Client, url string, body any) error {
	raw, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(raw))
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("POST %s %s: %d %s", url, raw, resp.StatusCode, bytes.TrimSpace(msg))
	}
	return nil
}
