// Package acme_test proves how the Traefik configuration berth renders
// meets Let's Encrypt on a first deploy, with the real parts: the real
// Traefik v3.6.12 binary runs the rendered static and dynamic files (only
// addresses, the Docker socket and the CA adapted by internal/localserver),
// its docker provider reads the rendered labels from the stand-in Docker
// Engine API (internal/dockerapi: no Docker engine runs here) on an app
// container played by internal/backend, and Pebble, Let's Encrypt's own
// test CA, issues the certificates over ACME, validating HTTP-01 against
// Traefik on loopback, with pebble-challtestsrv as the DNS that decides
// which names resolve (internal/pebble).
package acme_test

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wombatworkouts/berth/config"
	"github.com/wombatworkouts/berth/config/render"
	berthtraefik "github.com/wombatworkouts/berth/config/traefik"
	"github.com/wombatworkouts/berth/e2e/internal/backend"
	"github.com/wombatworkouts/berth/e2e/internal/dockerapi"
	"github.com/wombatworkouts/berth/e2e/internal/localserver"
	"github.com/wombatworkouts/berth/e2e/internal/pebble"
	"github.com/wombatworkouts/berth/e2e/internal/pluginsrc"
	"github.com/wombatworkouts/berth/e2e/internal/traefikrun"
)

// The names of the wombatworkouts example (config/examples/wombatworkouts).
const (
	apex = "wombatworkouts.com"
	www  = "www.wombatworkouts.com"
)

// rig is one server: its DNS as the CA sees it, the Docker engine with the
// app's containers, and the fixed loopback addresses Traefik's entry points
// listen on across restarts (the CA validates there).
type rig struct {
	t          *testing.T
	dir        string
	dns        *pebble.DNS
	engine     *dockerapi.Engine
	containers []string          // the app's containers, the running one last
	ports      map[string]string // entry point -> 127.0.0.1:port
	acmeDir    string            // stands in for the ACME volume (/letsencrypt)
	stateDir   string
	tr         *traefikrun.Traefik
	runs       int
}

func newRig(t *testing.T) *rig {
	t.Helper()
	r := &rig{t: t, dir: t.TempDir(), ports: map[string]string{}}
	r.acmeDir = filepath.Join(r.dir, "letsencrypt")
	r.stateDir = filepath.Join(r.dir, "state")
	for _, d := range []string{r.acmeDir, r.stateDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, ep := range []string{berthtraefik.EntryPointWeb, berthtraefik.EntryPointSecure, berthtraefik.EntryPointTraefik} {
		p, err := traefikrun.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		r.ports[ep] = "127.0.0.1:" + strconv.Itoa(p)
	}
	dns, err := pebble.StartDNS(filepath.Join(r.dir, "dns"))
	if err != nil {
		t.Fatal(err)
	}
	r.dns = dns
	t.Cleanup(dns.Stop)
	sock, err := os.MkdirTemp("", "berth-acme-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sock) })
	if r.engine, err = dockerapi.New(filepath.Join(sock, "docker.sock")); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.engine.Close() })
	return r
}

// resolve makes names resolve to the server (127.0.0.1) for the CA.
func (r *rig) resolve(names ...string) {
	r.t.Helper()
	for _, n := range names {
		if err := r.dns.AddA(n, "127.0.0.1"); err != nil {
			r.t.Fatal(err)
		}
	}
}

// startCA starts a Pebble that validates on this server's entry points.
func (r *rig) startCA(name string) *pebble.CA {
	r.t.Helper()
	port := func(ep string) int {
		_, p, _ := net.SplitHostPort(r.ports[ep])
		n, _ := strconv.Atoi(p)
		return n
	}
	ca, err := pebble.Start(filepath.Join(r.dir, "ca-"+name), pebble.Options{
		Name:     name,
		HTTPPort: port(berthtraefik.EntryPointWeb),
		TLSPort:  port(berthtraefik.EntryPointSecure),
		DNS:      r.dns.Addr,
	})
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() {
		if r.t.Failed() {
			r.t.Logf("pebble %s log tail:\n%s", name, tail(ca.Log(), 40))
		}
		ca.Stop()
	})
	return ca
}

// example loads config/examples/wombatworkouts/berth.yml with edits made
// to its text (as a user edits the file) and renders it.
func example(t *testing.T, edits ...string) (*config.Manifest, map[string][]byte) {
	t.Helper()
	root, err := pluginsrc.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(root, "config", "examples", "wombatworkouts", "berth.yml")
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	for i := 0; i+1 < len(edits); i += 2 {
		if strings.Count(text, edits[i]) != 1 {
			t.Fatalf("%s: %q is not there exactly once", path, edits[i])
		}
		text = strings.Replace(text, edits[i], edits[i+1], 1)
	}
	m, err := config.Parse([]byte(text), path)
	if err != nil {
		t.Fatal(err)
	}
	files, err := render.Files(m)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]byte{}
	for _, f := range files {
		out[f.Path] = f.Data
	}
	return m, out
}

// serve runs Traefik with the rendered files (one at a time: a restart is
// stop, then serve again) and the app's container as Kamal runs it. cas
// stand in for Let's Encrypt production and staging; adapt, when set,
// changes the adapted static configuration further (what berth no longer
// renders, for comparison).
func (r *rig) serve(m *config.Manifest, files map[string][]byte, production, staging *pebble.CA, adapt func(string) string) {
	t := r.t
	t.Helper()
	r.runs++
	dir := filepath.Join(r.dir, fmt.Sprintf("traefik-%d", r.runs))
	dyn := filepath.Join(dir, "dynamic")
	if err := os.MkdirAll(dyn, 0o755); err != nil {
		t.Fatal(err)
	}
	s := localserver.Settings{DockerEndpoint: r.engine.Endpoint(), DynamicDir: dyn, ACMEDir: r.acmeDir, Ports: r.ports}
	var trust []string
	if production != nil {
		s.ProductionCA = production.Directory
		trust = append(trust, production.TrustFile)
	}
	if staging != nil {
		s.StagingCA = staging.Directory
		trust = append(trust, staging.TrustFile)
	}
	adapted, err := localserver.AdaptStatic(files[render.StaticPath], s)
	if err != nil {
		t.Fatal(err)
	}
	static := string(adapted.YAML)
	if adapt != nil {
		static = adapt(static)
	}
	cfg := filepath.Join(dir, "traefik.yml")
	write(t, cfg, static)
	write(t, filepath.Join(dyn, berthtraefik.ServerFile), string(files[render.ServerDynamicPath]))
	// The plugin's state directory is a server path, mounted into Traefik
	// there; here a temporary directory (the berth middleware's and the
	// fallback's).
	appFile := strings.ReplaceAll(string(files[render.DynamicPath(m.App)]),
		"stateDir: "+m.Server.StateDir+"\n", "stateDir: "+strconv.Quote(r.stateDir)+"\n")
	write(t, filepath.Join(dyn, berthtraefik.DynamicFile(m.App)), appFile)
	// The rendered static config keeps the API off every entry point; the
	// test reaches it as an operator would, through a router to
	// api@internal on the internal entry point (loopback), where ping is.
	write(t, filepath.Join(dyn, "e2e-api.yml"), fmt.Sprintf("http:\n  routers:\n    e2e-api:\n      rule: \"PathPrefix(`/api`)\"\n      entryPoints: [%s]\n      service: api@internal\n", berthtraefik.EntryPointTraefik))
	if len(r.containers) == 0 {
		r.deploy(m, files, "e2e0001")
	}
	tr, err := traefikrun.StartStatic(dir, traefikrun.StaticOptions{
		ConfigFile:   cfg,
		PingURL:      "http://" + r.ports[berthtraefik.EntryPointTraefik],
		WebAddr:      r.ports[berthtraefik.EntryPointWeb],
		WebURL:       "http://" + r.ports[berthtraefik.EntryPointWeb],
		DynamicDir:   dyn,
		StartTimeout: 60 * time.Second,
		Env: []string{
			// Traefik's ACME client trusts the test CAs' own HTTPS.
			"LEGO_CA_CERTIFICATES=" + strings.Join(trust, string(os.PathListSeparator)),
			// The Docker client lets these override the endpoint.
			"DOCKER_HOST=", "DOCKER_TLS_VERIFY=", "DOCKER_CERT_PATH=", "DOCKER_API_VERSION=", "DOCKER_CONTEXT=",
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	r.tr = tr
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("traefik run %d, static config:\n%s\nlog tail (access log left out):\n%s", r.runs, static, tail(traefikLog(tr), 60))
		}
		tr.Stop()
	})
	for _, d := range m.Domains {
		if err := tr.WaitRouter(berthtraefik.RouterName(m.App, d)+"@docker", 30*time.Second); err != nil {
			t.Fatal(err)
		}
	}
}

// deploy does what Kamal does to the app's containers on a deploy: start
// the new version's container (a stand-in app of its own, with the labels
// of the rendered deploy.yml and the ones Kamal adds), then stop the
// previous one. Each step is a Docker event that makes Traefik's docker
// provider reload its configuration.
func (r *rig) deploy(m *config.Manifest, files map[string][]byte, version string) {
	t := r.t
	t.Helper()
	labels := deployLabels(t, files[render.DeployPath])
	for k, v := range map[string]string{"service": m.App, "role": "web", "destination": ""} {
		labels[k] = v
	}
	app, err := backend.Start(m.App, fmt.Sprintf("127.0.4.%d:0", len(r.containers)+1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Stop)
	host, port, _ := net.SplitHostPort(app.Addr)
	p, _ := strconv.Atoi(port)
	id, err := r.engine.Run(dockerapi.ContainerSpec{Name: m.App + "-web-" + version, Image: "ghcr.io/wombatworkouts/wombat_workouts:" + version,
		Labels: labels, IPAddress: host, ExposedPort: p})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(r.containers); n > 0 {
		old := r.containers[n-1]
		if err := r.engine.Stop(old); err != nil {
			t.Fatal(err)
		}
		if err := r.engine.Exited(old, 0); err != nil {
			t.Fatal(err)
		}
	}
	r.containers = append(r.containers, id)
}

// deployLabels reads servers.web.labels from the rendered deploy.yml.
func deployLabels(t *testing.T, deployYML []byte) map[string]string {
	t.Helper()
	var doc struct {
		Servers struct {
			Web struct {
				Labels map[string]string `yaml:"labels"`
			} `yaml:"web"`
		} `yaml:"servers"`
	}
	if err := yaml.Unmarshal(deployYML, &doc); err != nil {
		t.Fatalf("rendered deploy.yml: %v", err)
	}
	if len(doc.Servers.Web.Labels) == 0 {
		t.Fatal("rendered deploy.yml has no servers.web.labels")
	}
	return doc.Servers.Web.Labels
}

// stop stops the running Traefik (a restart is stop, then serve).
func (r *rig) stop() {
	if r.tr != nil {
		r.tr.Stop()
		r.tr = nil
	}
}

// served is the certificate chain Traefik sends for name (no verification).
func (r *rig) served(name string) ([]*x509.Certificate, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", r.ports[berthtraefik.EntryPointSecure], &tls.Config{
		ServerName:         name,
		InsecureSkipVerify: true, // verified by the caller against the CA it expects
	})
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates, nil
}

// issuedBy reports whether chain is a certificate for name that verifies
// against roots (with the intermediates Traefik sent).
func issuedBy(chain []*x509.Certificate, name string, roots *x509.CertPool) error {
	if len(chain) == 0 {
		return fmt.Errorf("no certificate")
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err := chain[0].Verify(x509.VerifyOptions{DNSName: name, Roots: roots, Intermediates: inter})
	return err
}

// waitIssued waits until Traefik serves name a certificate from the CA
// whose roots are given, and returns it.
func (r *rig) waitIssued(name string, roots *x509.CertPool, limit time.Duration) (*x509.Certificate, error) {
	deadline := time.Now().Add(limit)
	var last error
	for time.Now().Before(deadline) {
		chain, err := r.served(name)
		if err == nil {
			if err = issuedBy(chain, name, roots); err == nil {
				return chain[0], nil
			}
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	return nil, fmt.Errorf("%s: no certificate from the CA within %s: %v", name, limit, last)
}

// traefikLog is Traefik's log without its access log (the rendered config
// turns it on; the tests' own API polling would fill it).
func traefikLog(tr *traefikrun.Traefik) string {
	var b strings.Builder
	for _, l := range strings.Split(tr.Log(), "\n") {
		if strings.HasPrefix(l, "127.0.0.1 - - [") {
			continue
		}
		b.WriteString(l)
		b.WriteByte('\n')
	}
	return b.String()
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
