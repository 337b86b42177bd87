package config_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wombatworkouts/berth/config/render"
	berthtraefik "github.com/wombatworkouts/berth/config/traefik"
	"github.com/wombatworkouts/berth/e2e/internal/backend"
	"github.com/wombatworkouts/berth/e2e/internal/localserver"
	"github.com/wombatworkouts/berth/e2e/internal/pebble"
	"github.com/wombatworkouts/berth/e2e/internal/traefikrun"
	"github.com/wombatworkouts/berth/plugin"
)

// What every app's responses must carry (the rendered headers middleware),
// written out from the design rather than read from the generator.
var securityHeaders = map[string]string{
	"Strict-Transport-Security": "max-age=31536000; includeSubDomains",
	"X-Frame-Options":           "DENY",
	"X-Content-Type-Options":    "nosniff",
	"Referrer-Policy":           "strict-origin-when-cross-origin",
}

// server is one Traefik running berth's rendered configuration for both
// example apps, the way one production server hosts them: the shared static
// file, the shared _server.yml and one dynamic file per app.
type server struct {
	tr        *traefikrun.Traefik
	secure    string         // 127.0.0.1:port of the websecure entry point
	web       string         // 127.0.0.1:port of the web entry point
	ca        *pebble.CA     // Let's Encrypt's test CA, standing in for Let's Encrypt
	roots     *x509.CertPool // the root of what ca issues
	stateDir  string         // the plugin's state directory (adapted)
	dynDir    string
	apps      []example
	backends  map[string]*backend.Server // by app
	serverYML []byte                     // the rendered _server.yml
	engine    *dockerEngine
}

// Kamal's containers for an app: the one running now and the one it
// stopped at the previous deploy and keeps for rollback (retain_containers).
func currentContainer(app string) string  { return app + "-web-e2e0002" }
func previousContainer(app string) string { return app + "-web-e2e0001" }

// The rendered static and dynamic configuration of both example apps runs
// in the real Traefik v3.6.12: every rendered middleware (berth plugin,
// headers, www redirect, retry) is enabled and used, the TLS options are in
// force, requests through the routers Traefik's docker provider builds from
// the rendered labels get the app with its security headers (and never a
// stopped container), every domain gets its own certificate from the ACME
// CA (Pebble, Let's Encrypt's test CA), the www domain is redirected to the
// apex with HSTS, berth's maintenance page carries the security headers too,
// also when no container runs, and Traefik logs no error about any of it.
func TestRenderedConfigRunsInTraefik(t *testing.T) {
	s := startServer(t)

	t.Run("certificates", func(t *testing.T) { s.checkCertificates(t) })
	t.Run("api", func(t *testing.T) { s.checkAPI(t) })
	t.Run("tls-options", func(t *testing.T) { s.checkTLSOptions(t) })
	t.Run("requests", func(t *testing.T) { s.checkRequests(t) })
	t.Run("maintenance", func(t *testing.T) { s.checkMaintenance(t) })
	t.Run("log", func(t *testing.T) { s.checkLog(t) })
}

func startServer(t *testing.T) *server {
	t.Helper()
	s := &server{backends: map[string]*backend.Server{}}
	for _, name := range examples {
		s.apps = append(s.apps, loadExample(t, name))
	}
	// One static file for the server: every app renders the same one
	// (their server: sections agree, config.CheckServer).
	static := s.apps[0].file(t, render.StaticPath)
	for _, ex := range s.apps[1:] {
		if !bytes.Equal(ex.file(t, render.StaticPath), static) {
			t.Fatalf("%s and %s render different static configs for the same server", s.apps[0].name, ex.name)
		}
	}
	s.serverYML = s.apps[0].file(t, render.ServerDynamicPath)
	for _, ex := range s.apps[1:] {
		if !bytes.Equal(ex.file(t, render.ServerDynamicPath), s.serverYML) {
			t.Fatalf("%s and %s render different %s", s.apps[0].name, ex.name, render.ServerDynamicPath)
		}
	}

	dir := t.TempDir()
	s.dynDir = filepath.Join(dir, "dynamic")
	s.stateDir = filepath.Join(dir, "state")
	for _, d := range []string{s.dynDir, s.stateDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// There is no Docker engine here. The docker provider talks to a
	// stand-in Engine API instead (dockerengine_test.go), which lists the
	// app containers as Kamal runs them, with the rendered labels.
	s.engine = startDockerEngine(t)
	// The ACME CA: Pebble, validating HTTP-01 on the web entry point, with
	// a DNS that resolves every domain of both apps to this machine.
	ports := map[string]string{}
	for _, ep := range []string{berthtraefik.EntryPointWeb, berthtraefik.EntryPointSecure} {
		p, err := traefikrun.FreePort()
		if err != nil {
			t.Fatal(err)
		}
		ports[ep] = "127.0.0.1:" + strconv.Itoa(p)
	}
	s.startCA(t, dir, ports)
	staticFile, ports := s.adaptStatic(t, static, dir, ports)
	s.web, s.secure = ports[berthtraefik.EntryPointWeb], ports[berthtraefik.EntryPointSecure]

	write := func(name string, data []byte) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(s.dynDir, name), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(berthtraefik.ServerFile, s.serverYML)
	for _, ex := range s.apps {
		app := ex.m.App
		// The plugin's state directory is a server path (mounted into
		// Traefik in production); here it is a temporary directory.
		// Twice: the berth middleware and the fallback router's.
		dyn := replaceAll(t, render.DynamicPath(app), ex.file(t, render.DynamicPath(app)),
			"stateDir: "+ex.m.Server.StateDir+"\n", "stateDir: "+strconv.Quote(s.stateDir)+"\n", 2)
		write(berthtraefik.DynamicFile(app), dyn)

		// The app's routers and service come from the labels in the
		// rendered deploy.yml, exactly, on the containers Kamal leaves
		// after a deploy: the new one running and the previous one
		// stopped. The running one is a stand-in app on a loopback port;
		// its image "exposes" that port, as the Rails image exposes 80
		// (Thruster), which a test cannot bind.
		// Each app's container has its own address on the kamal network.
		b, err := backend.Start(app, fmt.Sprintf("127.0.3.%d:0", 1+len(s.backends)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(b.Stop)
		s.backends[app] = b
		host, port, err := net.SplitHostPort(b.Addr)
		if err != nil {
			t.Fatal(err)
		}
		labels := containerLabels(t, ex)
		// The previous release was deployed with other settings (a
		// different passive health check window): its stopped container
		// carries labels that differ from the running one's. Traefik must
		// ignore it, or it drops the app's router and service as defined
		// twice with different settings (what allownonrunning caused).
		previous := map[string]string{}
		for k, v := range labels {
			previous[k] = v
			if strings.HasSuffix(k, "passivehealthcheck.failurewindow") {
				previous[k] = "17s"
			}
		}
		if err := s.engine.Put(engineContainer{ID: "e2e0001" + app, Name: previousContainer(app), Labels: previous}); err != nil {
			t.Fatal(err)
		}
		if err := s.engine.Put(engineContainer{ID: "e2e0002" + app, Name: currentContainer(app), Labels: labels, Running: true, IP: host, Port: port}); err != nil {
			t.Fatal(err)
		}
	}
	// The rendered static config keeps the API off every entry point
	// (api.insecure false). The test reaches it the way an operator
	// would: a router to api@internal, here on the internal "traefik"
	// entry point (loopback), where ping already is.
	write("e2e-api.yml", []byte(fmt.Sprintf(`http:
  routers:
    e2e-api:
      rule: "PathPrefix(%s)"
      entryPoints: [%s]
      service: api@internal
`, "`/api`", berthtraefik.EntryPointTraefik)))

	tr, err := traefikrun.StartStatic(dir, traefikrun.StaticOptions{
		ConfigFile:   staticFile,
		PingURL:      "http://" + ports[berthtraefik.EntryPointTraefik],
		WebURL:       "http://" + s.web,
		WebAddr:      s.web,
		DynamicDir:   s.dynDir,
		StartTimeout: 60 * time.Second,
		// Traefik's ACME client trusts Pebble's own HTTPS; its Docker
		// client lets the others override the endpoint.
		Env: []string{"LEGO_CA_CERTIFICATES=" + s.ca.TrustFile,
			"DOCKER_HOST=", "DOCKER_TLS_VERIFY=", "DOCKER_CERT_PATH=", "DOCKER_API_VERSION=", "DOCKER_CONTEXT="},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.tr = tr
	t.Cleanup(func() {
		tr.Stop()
		if t.Failed() {
			t.Logf("static config as run:\n%s", readFile(staticFile))
			t.Logf("traefik log tail:\n%s", tr.LogTail(80))
		}
	})
	for _, ex := range s.apps {
		for name := range intended[ex.name].routers {
			if err := tr.WaitRouter(name+"@docker", 60*time.Second); err != nil {
				t.Fatalf("%v\n%s", err, tr.LogTail(40))
			}
		}
	}
	if s.engine.Seen("/containers/json") == 0 || s.engine.Seen("/events") == 0 {
		t.Fatalf("the docker provider did not list containers and watch events")
	}
	return s
}

// containerLabels are a web container's labels: the rendered ones and the
// ones Kamal adds to every container.
func containerLabels(t *testing.T, ex example) map[string]string {
	t.Helper()
	labels := deployLabels(t, ex)
	for k, v := range map[string]string{"service": ex.m.App, "role": "web", "destination": ""} {
		labels[k] = v
	}
	return labels
}

// servers lists the URLs in the app's load balancer, as Traefik's API
// shows them.
func (s *server) servers(t *testing.T, app string) []string {
	t.Helper()
	var svc apiElement
	if err := s.tr.API("/api/http/services/"+app+"@docker", &svc); err != nil {
		if strings.Contains(err.Error(), ": 404 ") {
			return nil // no running container defines the service
		}
		t.Fatalf("service %s@docker: %v", app, err)
	}
	var urls []string
	if svc.LoadBalancer != nil {
		for _, srv := range svc.LoadBalancer.Servers {
			urls = append(urls, srv.URL)
		}
	}
	return urls
}

// waitServers waits until the app's load balancer holds exactly want.
func (s *server) waitServers(t *testing.T, app string, want ...string) {
	t.Helper()
	var got []string
	if !eventually(15*time.Second, func() bool { got = s.servers(t, app); return equalLists(got, want) }) {
		t.Fatalf("service %s@docker: servers %q, want %q", app, got, want)
	}
}

// startCA starts Pebble and its DNS, which resolves every domain of the
// example apps to 127.0.0.1, where Pebble validates HTTP-01 on the web
// entry point's port.
func (s *server) startCA(t *testing.T, dir string, ports map[string]string) {
	t.Helper()
	dns, err := pebble.StartDNS(filepath.Join(dir, "dns"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dns.Stop)
	for _, ex := range s.apps {
		for _, d := range ex.m.Domains {
			if err := dns.AddA(d, "127.0.0.1"); err != nil {
				t.Fatal(err)
			}
		}
	}
	port := func(ep string) int {
		_, p, _ := net.SplitHostPort(ports[ep])
		n, _ := strconv.Atoi(p)
		return n
	}
	ca, err := pebble.Start(filepath.Join(dir, "pebble"), pebble.Options{Name: "letsencrypt",
		HTTPPort: port(berthtraefik.EntryPointWeb), TLSPort: port(berthtraefik.EntryPointSecure), DNS: dns.Addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pebble log tail:\n%s", lastLines(ca.Log(), 30))
		}
		ca.Stop()
	})
	s.ca = ca
	if s.roots, _, err = ca.Roots(); err != nil {
		t.Fatal(err)
	}
}

// adaptStatic changes only what cannot exist here in the rendered static
// configuration (internal/localserver) and writes it to dir/traefik.yml.
// Let's Encrypt is Pebble (startCA): the rendering names production, so
// Pebble stands in for it.
func (s *server) adaptStatic(t *testing.T, rendered []byte, dir string, ports map[string]string) (string, map[string]string) {
	t.Helper()
	var st map[string]any
	if err := yaml.Unmarshal(rendered, &st); err != nil {
		t.Fatalf("rendered static config: %v", err)
	}
	if resolvers, ok := st["certificatesResolvers"].(map[string]any); ok {
		if r, ok := resolvers[berthtraefik.CertResolver].(map[string]any); ok {
			if acme, ok := r["acme"].(map[string]any); ok && acme["caServer"] != nil {
				t.Fatalf("the examples use Let's Encrypt production (staging false), yet caServer is set: %v", acme["caServer"])
			}
		}
	}
	// The ACME volume, mounted at /letsencrypt on a server.
	acmeDir := filepath.Join(dir, "letsencrypt")
	if err := os.MkdirAll(acmeDir, 0o700); err != nil {
		t.Fatal(err)
	}
	adapted, err := localserver.AdaptStatic(rendered, localserver.Settings{
		DockerEndpoint: s.engine.Endpoint(),
		DynamicDir:     s.dynDir,
		ACMEDir:        acmeDir,
		ProductionCA:   s.ca.Directory,
		Ports:          ports,
	})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "traefik.yml")
	if err := os.WriteFile(path, adapted.YAML, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, adapted.Ports
}

// Every domain of both apps is served a certificate of its own from the
// ACME CA: the fallback router lists each name on its own (one certificate
// per name) and the label routers ask for theirs.
func (s *server) checkCertificates(t *testing.T) {
	for _, ex := range s.apps {
		for _, d := range ex.m.Domains {
			var chain []*x509.Certificate
			var err error
			if !eventually(30*time.Second, func() bool {
				chain, err = s.servedChain(d)
				if err == nil {
					err = verifyChain(chain, d, s.roots)
				}
				return err == nil
			}) {
				t.Errorf("%s: no certificate from the ACME CA within 30 s: %v", d, err)
				continue
			}
			if strings.Join(chain[0].DNSNames, ",") != d {
				t.Errorf("%s is served a certificate for %v, want one for %s alone", d, chain[0].DNSNames, d)
			}
		}
	}
}

func (s *server) servedChain(name string) ([]*x509.Certificate, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", s.secure, &tls.Config{ServerName: name, InsecureSkipVerify: true}) // verified by the caller
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates, nil
}

func verifyChain(chain []*x509.Certificate, name string, roots *x509.CertPool) error {
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

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func equalSets(a, b []string) bool {
	a, b = append([]string(nil), a...), append([]string(nil), b...)
	sort.Strings(a)
	sort.Strings(b)
	return strings.Join(a, "\x00") == strings.Join(b, "\x00")
}

// apiElement is the part of a router, middleware or service in Traefik's
// API that tells whether Traefik accepted it.
type apiElement struct {
	Name     string   `json:"name"`
	Provider string   `json:"provider"`
	Status   string   `json:"status"`
	Type     string   `json:"type"`
	Error    []string `json:"error"`
	UsedBy   []string `json:"usedBy"`
	// Routers.
	Middlewares []string `json:"middlewares"`
	Service     string   `json:"service"`
	TLS         *struct {
		CertResolver string `json:"certResolver"`
	} `json:"tls"`
	// Services.
	LoadBalancer *struct {
		Servers []struct {
			URL string `json:"url"`
		} `json:"servers"`
		PassiveHealthCheck *struct {
			FailureWindow     string `json:"failureWindow"`
			MaxFailedAttempts int    `json:"maxFailedAttempts"`
		} `json:"passiveHealthCheck"`
	} `json:"loadBalancer"`
}

// The kinds of middleware each app must have, with Traefik's type names.
var middlewareTypes = map[string]string{
	berthtraefik.KindBerth:       berthtraefik.PluginAlias, // a plugin's type is its alias
	berthtraefik.KindHeaders:     "headers",
	berthtraefik.KindRetry:       "retry",
	berthtraefik.KindWWWRedirect: "redirectregex",
	berthtraefik.KindFallback:    berthtraefik.PluginAlias,
}

func (s *server) checkAPI(t *testing.T) {
	var mws []apiElement
	if err := s.tr.API("/api/http/middlewares?per_page=1000", &mws); err != nil {
		t.Fatal(err)
	}
	byName := map[string]apiElement{}
	for _, m := range mws {
		byName[m.Name] = m
	}
	for _, ex := range s.apps {
		app := ex.m.App
		// Every middleware in the rendered dynamic file...
		rendered := sortedKeys(berthtraefik.Dynamic(ex.m).HTTP.Middlewares)
		// ...and the ones the design requires of this app.
		required := []string{berthtraefik.KindBerth, berthtraefik.KindHeaders, berthtraefik.KindRetry, berthtraefik.KindFallback}
		if len(ex.m.RedirectSources()) > 0 {
			required = append(required, berthtraefik.KindWWWRedirect)
		}
		var want []string
		for _, kind := range required {
			want = append(want, app+"-"+kind)
		}
		if !equalSets(rendered, want) {
			t.Errorf("%s: rendered middlewares %v, want %v", app, rendered, want)
		}
		for _, name := range want {
			kind := strings.TrimPrefix(name, app+"-")
			m, ok := byName[name+"@file"]
			switch {
			case !ok:
				t.Errorf("middleware %s@file is not in Traefik's API", name)
			case m.Status != "enabled" || len(m.Error) > 0:
				t.Errorf("middleware %s@file: status %q, errors %v", name, m.Status, m.Error)
			case m.Type != middlewareTypes[kind]:
				t.Errorf("middleware %s@file: type %q, want %q", name, m.Type, middlewareTypes[kind])
			}
		}
		// Each label router uses its chain's middlewares from the file.
		for rname, ir := range intended[ex.name].routers {
			for _, mw := range ir.middlewares {
				if !contains(byName[mw].UsedBy, rname+"@docker") {
					t.Errorf("middleware %s: used by %v, not by %s@docker", mw, byName[mw].UsedBy, rname)
				}
			}
		}
		for rname, ir := range intended[ex.name].routers {
			var r apiElement
			if err := s.tr.API("/api/http/routers/"+rname+"@docker", &r); err != nil {
				t.Errorf("router %s: %v", rname, err)
				continue
			}
			if r.Status != "enabled" || len(r.Error) > 0 {
				t.Errorf("router %s@docker: status %q, errors %v", rname, r.Status, r.Error)
			}
			if !equalLists(r.Middlewares, ir.middlewares) {
				t.Errorf("router %s@docker: middlewares %v, want %v", rname, r.Middlewares, ir.middlewares)
			}
			if r.Service != app {
				t.Errorf("router %s@docker: service %q, want %q", rname, r.Service, app)
			}
			if r.TLS == nil || r.TLS.CertResolver != berthtraefik.CertResolver {
				t.Errorf("router %s@docker: tls %+v", rname, r.TLS)
			}
		}
		// The fallback router: enabled, lowest priority, berth's fallback
		// instance behind the security headers, a service that goes nowhere.
		var fb struct {
			apiElement
			Priority int `json:"priority"`
		}
		if err := s.tr.API("/api/http/routers/"+app+"-fallback@file", &fb); err != nil {
			t.Errorf("fallback router: %v", err)
		} else if fb.Status != "enabled" || len(fb.Error) > 0 || fb.Priority != 1 || fb.Service != "noop@internal" ||
			!equalLists(fb.Middlewares, []string{app + "-headers@file", app + "-fallback@file"}) {
			t.Errorf("fallback router %s-fallback@file: %+v", app, fb)
		}
		var svc apiElement
		if err := s.tr.API("/api/http/services/"+app+"@docker", &svc); err != nil {
			t.Errorf("service %s: %v", app, err)
		} else if svc.Status != "enabled" || len(svc.Error) > 0 || svc.LoadBalancer == nil ||
			svc.LoadBalancer.PassiveHealthCheck == nil || svc.LoadBalancer.PassiveHealthCheck.MaxFailedAttempts != intended[ex.name].maxFailed {
			t.Errorf("service %s@docker: %+v", app, svc)
		}
		// Only the running container serves: the stopped one from the
		// previous deploy adds no server (no server without an address).
		if got, want := s.servers(t, app), []string{s.backends[app].URL()}; !equalLists(got, want) {
			t.Errorf("service %s@docker: servers %q, want only the running container %q", app, got, want)
		}
	}

	// Nothing in the whole runtime configuration has an error.
	var raw struct {
		Routers     map[string]apiElement `json:"routers"`
		Middlewares map[string]apiElement `json:"middlewares"`
		Services    map[string]apiElement `json:"services"`
	}
	if err := s.tr.API("/api/rawdata", &raw); err != nil {
		t.Fatal(err)
	}
	for kind, els := range map[string]map[string]apiElement{"router": raw.Routers, "middleware": raw.Middlewares, "service": raw.Services} {
		for name, el := range els {
			if el.Status != "enabled" || len(el.Error) > 0 {
				t.Errorf("rawdata: %s %s: status %q, errors %v", kind, name, el.Status, el.Error)
			}
		}
	}
	if len(raw.Middlewares) == 0 || len(raw.Routers) == 0 {
		t.Errorf("rawdata lists %d routers and %d middlewares", len(raw.Routers), len(raw.Middlewares))
	}
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func equalLists(a, b []string) bool { return strings.Join(a, "\x00") == strings.Join(b, "\x00") }

// TLS options have no entry in Traefik's API, so they are proven by what
// they do: a TLS 1.1 client is refused and TLS 1.2 works. Traefik's own
// default is also TLS 1.2, so the test then turns the rendered file's
// minimum up to 1.3 and sees 1.2 refused: the file's tls.options.default is
// what is in force (and its rendered value is the one Traefik knows, see
// TestServerDynamicDecodes). The rendered file is put back afterwards.
func (s *server) checkTLSOptions(t *testing.T) {
	domain := s.apps[0].m.CanonicalDomain()
	if err := s.handshake(domain, tls.VersionTLS10, tls.VersionTLS11); err == nil {
		t.Errorf("a TLS 1.1 client completed a handshake")
	} else if !strings.Contains(err.Error(), "protocol version") {
		t.Errorf("TLS 1.1 handshake failed, but not for its version: %v", err)
	}
	if err := s.handshake(domain, tls.VersionTLS12, tls.VersionTLS12); err != nil {
		t.Errorf("TLS 1.2 handshake: %v", err)
	}

	tls13 := replaceOnce(t, berthtraefik.ServerFile, s.serverYML, "minVersion: VersionTLS12", "minVersion: VersionTLS13")
	if err := s.tr.WriteDynamic(berthtraefik.ServerFile, string(tls13)); err != nil {
		t.Fatal(err)
	}
	if !eventually(15*time.Second, func() bool { return s.handshake(domain, tls.VersionTLS12, tls.VersionTLS12) != nil }) {
		t.Errorf("with minVersion VersionTLS13 in %s, TLS 1.2 is still accepted: the file's TLS options are not applied", berthtraefik.ServerFile)
	}
	if err := s.tr.WriteDynamic(berthtraefik.ServerFile, string(s.serverYML)); err != nil {
		t.Fatal(err)
	}
	if !eventually(15*time.Second, func() bool { return s.handshake(domain, tls.VersionTLS12, tls.VersionTLS12) == nil }) {
		t.Fatalf("the rendered %s put back, TLS 1.2 is still refused", berthtraefik.ServerFile)
	}
}

func (s *server) handshake(serverName string, minV, maxV uint16) error {
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", s.secure, &tls.Config{
		ServerName:         serverName,
		InsecureSkipVerify: true, // about protocol versions only; the certificates are checkCertificates
		MinVersion:         minV,
		MaxVersion:         maxV,
	})
	if err != nil {
		return err
	}
	return conn.Close()
}

func eventually(limit time.Duration, ok func() bool) bool {
	deadline := time.Now().Add(limit)
	for time.Now().Before(deadline) {
		if ok() {
			return true
		}
		time.Sleep(100 * time.Millisecond)
	}
	return false
}

// client sends requests for any host name to one loopback address (no DNS,
// no proxy), over TLS with the host as SNI, and does not follow redirects.
func client(addr string) *http.Client {
	d := &net.Dialer{Timeout: 5 * time.Second}
	return &http.Client{
		Timeout: 20 * time.Second,
		Transport: &http.Transport{
			Proxy:             nil,
			DialContext:       func(ctx context.Context, _, _ string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) },
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // an unknown host gets Traefik's default certificate; the others are checkCertificates
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

type response struct {
	status int
	header http.Header
	body   string
}

func fetch(t *testing.T, c *http.Client, url string) response {
	t.Helper()
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	return response{resp.StatusCode, resp.Header, string(body)}
}

func checkSecurityHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	for k, want := range securityHeaders {
		if got := h.Get(k); got != want {
			t.Errorf("%s: %s = %q, want %q", what, k, got, want)
		}
	}
}

func (s *server) checkRequests(t *testing.T) {
	https := client(s.secure)
	for _, ex := range s.apps {
		app := ex.m.App
		for _, d := range ex.m.Domains {
			url := "https://" + d + "/plans?week=2"
			r := fetch(t, https, url)
			target, redirects := ex.m.RedirectTarget(d)
			if !redirects {
				// Live: the app answers, with the security headers,
				// every time (a server without an address in the pool
				// would answer some of them with 500).
				if r.status != 200 || r.body != "hello from "+app+" /plans\n" {
					t.Errorf("%s: %d %q, want 200 from the app", url, r.status, short(r.body))
				}
				checkSecurityHeaders(t, url, r.header)
				for i := 0; i < 12; i++ {
					if r := fetch(t, https, url); r.status != 200 {
						t.Errorf("%s, request %d: %d %q", url, i+2, r.status, short(r.body))
					}
				}
				continue
			}
			// The www domain is redirected, permanently, to the apex
			// with path and query kept, and with the security headers:
			// HSTS on the name the visitor typed.
			if r.status != http.StatusMovedPermanently && r.status != http.StatusPermanentRedirect {
				t.Errorf("%s: %d, want a permanent redirect", url, r.status)
			}
			if loc, want := r.header.Get("Location"), "https://"+target+"/plans?week=2"; loc != want {
				t.Errorf("%s: Location %q, want %q", url, loc, want)
			}
			checkSecurityHeaders(t, url+" (redirect)", r.header)
		}
		// The app's routers serve only their own domains.
		if r := fetch(t, https, "https://unknown."+ex.m.CanonicalDomain()+"/"); r.status != 404 {
			t.Errorf("an unknown host answered %d, want 404", r.status)
		}
	}
	// The rendered static config: plain http on the web entry point is
	// redirected to https, permanently.
	http1 := client(s.web)
	canonical := s.apps[0].m.CanonicalDomain()
	u := "http://" + canonical + "/plans"
	r := fetch(t, http1, u)
	if r.status != http.StatusMovedPermanently && r.status != http.StatusPermanentRedirect {
		t.Errorf("%s: %d, want a permanent redirect to https", u, r.status)
	}
	if loc := r.header.Get("Location"); !strings.HasPrefix(loc, "https://"+canonical) || !strings.HasSuffix(loc, "/plans") {
		t.Errorf("%s: Location %q, want https://%s[:port]/plans", u, loc, canonical)
	}
}

// berth's maintenance page, served by the plugin from the rendered
// configuration (for lists its own inlined template, whose {{ }} had to
// survive Traefik's file templating), carries the security headers because
// the headers middleware runs before berth in the rendered chain. The
// health path still reaches the app.
func (s *server) checkMaintenance(t *testing.T) {
	https := client(s.secure)
	for _, ex := range s.apps {
		app, domain := ex.m.App, ex.m.CanonicalDomain()
		if err := plugin.WriteStateFile(plugin.AppStatePath(s.stateDir, app), plugin.State{Mode: plugin.ModeMaintenance}); err != nil {
			t.Fatal(err)
		}
		url := "https://" + domain + "/plans"
		var r response
		if !eventually(10*time.Second, func() bool { r = fetch(t, https, url); return r.status == 503 }) {
			t.Errorf("%s in maintenance: %d, want berth's 503 page", url, r.status)
			continue
		}
		if !strings.Contains(r.body, ex.m.Maintenance.Message) || r.header.Get("X-Berth-Mode") != "maintenance" {
			t.Errorf("%s: not berth's page with the manifest's message %q:\n%s", url, ex.m.Maintenance.Message, r.body)
		}
		if ex.m.Template != "" && !strings.Contains(r.body, "<h1>Lists</h1>") {
			t.Errorf("%s: the app's own page template is not used:\n%s", url, r.body)
		}
		if strings.Contains(r.body, "{{") {
			t.Errorf("%s: template delimiters leaked into the page:\n%s", url, r.body)
		}
		checkSecurityHeaders(t, url+" (maintenance page)", r.header)
		// The rendered plugin options reach the plugin: lists sets
		// retry_after 20s, wombat_workouts keeps the plugin's 30s.
		if got, want := r.header.Get("Retry-After"), retryAfter[app]; got != want {
			t.Errorf("%s: Retry-After %q, want %q", url, got, want)
		}

		health := "https://" + domain + ex.m.Health.Path
		if r := fetch(t, https, health); r.status != 200 {
			t.Errorf("%s in maintenance: %d, want the app's 200", health, r.status)
		}

		// Kamal stops the only container (say, `kamal app stop` for a
		// restore): Traefik forgets the label routers (no
		// allownonrunning, see config/traefik Labels) and the fallback
		// router answers: berth's page, here the maintenance one, with
		// the security headers, not Traefik's 404.
		if err := s.engine.Put(engineContainer{ID: "e2e0002" + app, Name: currentContainer(app), Labels: containerLabels(t, ex)}); err != nil {
			t.Fatal(err)
		}
		if !eventually(10*time.Second, func() bool {
			r = fetch(t, https, url)
			return r.status == 503 && r.header.Get("X-Berth-Mode") == "maintenance"
		}) {
			t.Errorf("%s with no container running: %d (mode %q), want berth's page from the fallback router", url, r.status, r.header.Get("X-Berth-Mode"))
		}
		checkSecurityHeaders(t, url+" (fallback router)", r.header)
		b := s.backends[app]
		host, port, _ := net.SplitHostPort(b.Addr)
		if err := s.engine.Put(engineContainer{ID: "e2e0002" + app, Name: currentContainer(app), Labels: containerLabels(t, ex), Running: true, IP: host, Port: port}); err != nil {
			t.Fatal(err)
		}
		s.waitServers(t, app, b.URL())

		if err := plugin.WriteStateFile(plugin.AppStatePath(s.stateDir, app), plugin.State{Mode: plugin.ModeLive}); err != nil {
			t.Fatal(err)
		}
		if !eventually(10*time.Second, func() bool { r = fetch(t, https, url); return r.status == 200 }) {
			t.Errorf("%s live again: %d", url, r.status)
		}
	}
}

// Retry-After on each example's maintenance page, in seconds.
var retryAfter = map[string]string{"wombat_workouts": "30", "lists": "20"}

var ansi = regexp.MustCompile("\x1b\\[[0-9;]*m")

// Traefik's log has no error-level line except the ones this test causes on
// purpose and explains; warnings are shown.
func (s *server) checkLog(t *testing.T) {
	if s.tr.Exited() {
		t.Fatalf("Traefik exited")
	}
	var unexpected []string
	for _, line := range strings.Split(ansi.ReplaceAllString(s.tr.Log(), ""), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch f[1] {
		case "WRN":
			t.Logf("warning: %s", line)
		case "ERR", "FTL", "PNC":
			if why := harmless(line); why != "" {
				continue
			}
			unexpected = append(unexpected, line)
		}
		if strings.HasPrefix(line, "panic:") {
			unexpected = append(unexpected, line)
		}
	}
	for _, l := range unexpected {
		t.Errorf("traefik logged: %s", l)
	}
}

// harmless says why an error line is expected in this test, or "".
func harmless(line string) string {
	// The Traefik binary here is built from the Go module, which has no
	// dashboard assets (the official image has them). The rendered config
	// enables the dashboard, so Traefik says so on every reload.
	if strings.Contains(line, "Error appending dashboard to API router") && strings.Contains(line, "`index.html`") {
		return "dashboard assets not in a binary built from the module"
	}
	// berth logs its mode changes with Go's log package, which Traefik
	// shows at error level (docs/yaegi.md#traefik-plugins-under-yaegi); the test changes modes on purpose.
	if strings.Contains(line, "plugin=plugin-berth") && berthModeChange.MatchString(line) {
		return "berth's own mode change"
	}
	// Likewise its probe while the test has stopped the app's only
	// container (Traefik answers 503: no server), and its recovery.
	if strings.Contains(line, "plugin=plugin-berth") && berthProbe.MatchString(line) {
		return "berth's probe while no container runs"
	}
	return ""
}

var berthProbe = regexp.MustCompile(`berth\[[a-z0-9_-]+\]: health probe (failing: GET /up: status 503|passes again)`)

var berthModeChange = regexp.MustCompile(`berth\[[a-z0-9_-]+\]: mode [a-z]+ -> [a-z]+ \(source "[a-z-]*"\)`)

// short cuts a response body for a failure message.
func short(body string) string {
	if len(body) > 160 {
		return body[:160] + "..."
	}
	return body
}

func readFile(p string) string {
	b, err := os.ReadFile(p)
	if err != nil {
		return err.Error()
	}
	return string(b)
}
