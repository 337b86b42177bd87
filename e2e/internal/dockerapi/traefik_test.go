package dockerapi

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/wombatworkouts/berth/e2e/internal/traefikrun"
)

// These tests run the real Traefik v3.6.12 binary with its docker provider
// pointed at the stand-in, and watch routers and services come and go
// through Traefik's API and the web entry point. Everything listens on
// loopback; every wait is bounded.

const throttle = 100 * time.Millisecond // providers.providersThrottleDuration

// rig is one stand-in engine plus one Traefik watching it.
type rig struct {
	e      *Engine
	tr     *traefikrun.Traefik
	subnet string // "127.a.b." — each run picks its own loopback /24
	host   int
}

func startRig(t *testing.T, opt Options) *rig {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the real Traefik binary")
	}
	e := newTestEngine(t, opt)
	dir := t.TempDir()
	tr, err := traefikrun.StartWithDocker(dir, traefikrun.Options{ThrottleDuration: throttle},
		traefikrun.DockerProvider{Endpoint: e.Endpoint(), Network: "kamal"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		tr.Stop()
		if t.Failed() {
			t.Logf("traefik log tail:\n%s", tr.LogTail(60))
		}
	})
	pid := os.Getpid()
	r := &rig{e: e, tr: tr, subnet: fmt.Sprintf("127.%d.%d.", 100+pid%100, (pid/100)%250+1), host: 1}
	// The provider is up once it has listed containers and opened /events.
	waitFor(t, 15*time.Second, "Traefik to open the event stream", func() (bool, string) {
		return e.EventStreams() == 1, fmt.Sprintf("%d streams", e.EventStreams())
	})
	return r
}

// backend is the process "inside" a container: an HTTP server on the
// container's loopback address answering with the container's name.
type backend struct {
	ip   string
	port int
	hits atomic.Int64
	srv  *http.Server
}

// newBackend listens on the rig's next address; port 0 picks a free one.
func (r *rig) newBackend(t *testing.T, name string, port int) *backend {
	t.Helper()
	r.host++
	b := &backend{ip: r.subnet + strconv.Itoa(r.host)}
	ln, err := net.Listen("tcp", net.JoinHostPort(b.ip, strconv.Itoa(port)))
	if err != nil {
		t.Fatalf("backend %s: %v", name, err)
	}
	b.port = ln.Addr().(*net.TCPAddr).Port
	b.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b.hits.Add(1)
		w.Header().Set("X-Container", name)
		io.WriteString(w, name)
	}), ReadHeaderTimeout: 5 * time.Second}
	go b.srv.Serve(ln)
	t.Cleanup(func() { b.srv.Close() })
	return b
}

// labels are what Kamal puts on a web container with Traefik labels under
// servers.web.labels: router and explicitly named service, server port.
func labels(svc string, port int, extra ...string) map[string]string {
	m := map[string]string{
		"service":                               svc,
		"role":                                  "web",
		"destination":                           "",
		"traefik.enable":                        "true",
		"traefik.http.routers." + svc + ".rule": "PathPrefix(`/" + svc + "/`)",
		"traefik.http.routers." + svc + ".entrypoints":               "web",
		"traefik.http.routers." + svc + ".service":                   svc,
		"traefik.http.services." + svc + ".loadbalancer.server.port": strconv.Itoa(port),
	}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}

func (r *rig) spec(name, svc string, b *backend, hc *Healthcheck, extra ...string) ContainerSpec {
	return ContainerSpec{
		Name:        name,
		Image:       "ghcr.io/wombatworkouts/" + svc + ":v1",
		Labels:      labels(svc, b.port, extra...),
		IPAddress:   b.ip,
		ExposedPort: b.port,
		Healthcheck: hc,
	}
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() (bool, string)) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	for {
		ok, state := cond()
		if ok {
			return time.Since(start)
		}
		last = state
		if time.Since(start) > limit {
			t.Fatalf("waited %s for %s; last state: %s", limit, what, last)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// router reports whether Traefik has the router name@docker enabled.
func (r *rig) router(name string) (bool, string) {
	var rt struct {
		Status  string   `json:"status"`
		Service string   `json:"service"`
		Error   []string `json:"error"`
	}
	if err := r.tr.API("/api/http/routers/"+name+"@docker", &rt); err != nil {
		return false, err.Error()
	}
	return rt.Status == "enabled", fmt.Sprintf("status %s service %s errors %v", rt.Status, rt.Service, rt.Error)
}

// servers lists the URLs of service name@docker (nil, false if no service).
func (r *rig) servers(name string) ([]string, bool) {
	var svc struct {
		LoadBalancer struct {
			Servers []struct {
				URL string `json:"url"`
			} `json:"servers"`
		} `json:"loadBalancer"`
	}
	if err := r.tr.API("/api/http/services/"+name+"@docker", &svc); err != nil {
		return nil, false
	}
	var out []string
	for _, s := range svc.LoadBalancer.Servers {
		out = append(out, s.URL)
	}
	sort.Strings(out)
	return out, true
}

// get requests path through Traefik's web entry point.
func (r *rig) get(t *testing.T, path string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, r.tr.WebURL+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(body))
}

func (r *rig) waitRouter(t *testing.T, name string, present bool) time.Duration {
	t.Helper()
	what := "router " + name + "@docker to appear"
	if !present {
		what = "router " + name + "@docker to disappear"
	}
	return waitFor(t, 10*time.Second, what, func() (bool, string) {
		ok, state := r.router(name)
		return ok == present, state
	})
}

// lists counts the provider's container listings (one per rebuild).
func (r *rig) lists() int {
	n := 0
	for _, q := range r.e.Requests() {
		if q.Route == "/containers/json" {
			n++
		}
	}
	return n
}

// waitRebuild waits until Traefik has listed containers again after
// `before` listings and then gives the new configuration time to apply, so
// an assertion that something did NOT appear is meaningful.
func (r *rig) waitRebuild(t *testing.T, before int) {
	t.Helper()
	waitFor(t, 5*time.Second, "Traefik to re-list containers", func() (bool, string) {
		return r.lists() > before, fmt.Sprintf("%d listings", r.lists())
	})
	time.Sleep(10 * throttle)
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func TestTraefikDockerProvider(t *testing.T) {
	began := time.Now()
	r := startRig(t, Options{})
	t.Logf("Traefik up and watching in %s", time.Since(began).Round(time.Millisecond))

	t.Run("no health check: routes as soon as it starts", func(t *testing.T) {
		b := r.newBackend(t, "plain-v1", 0)
		id, err := r.e.Create(r.spec("plain-web-v1", "plain", b, nil))
		must(t, err)
		before := r.lists()
		time.Sleep(5 * throttle)
		if r.lists() != before {
			t.Fatal("Traefik re-listed on a create event")
		}
		if ok, _ := r.router("plain"); ok {
			t.Fatal("router exists for a created, not started container")
		}
		must(t, r.e.Start(id))
		took := r.waitRouter(t, "plain", true)
		t.Logf("start -> router enabled in %s", took.Round(time.Millisecond))
		if got, _ := r.servers("plain"); len(got) != 1 || got[0] != fmt.Sprintf("http://%s:%d", b.ip, b.port) {
			t.Fatalf("servers %v, want the container's kamal address and port label", got)
		}
		if code, body := r.get(t, "/plain/x"); code != 200 || body != "plain-v1" {
			t.Fatalf("through Traefik: %d %q", code, body)
		}
	})

	t.Run("health check: routes only while healthy", func(t *testing.T) {
		b := r.newBackend(t, "hc-v1", 0)
		id, err := r.e.Create(r.spec("hc-web-v1", "hc", b, &Healthcheck{Interval: time.Second}))
		must(t, err)
		before := r.lists()
		must(t, r.e.Start(id))
		r.waitRebuild(t, before)
		if ok, _ := r.router("hc"); ok {
			t.Fatal("router exists while the health check is starting")
		}
		filtered := false
		for _, line := range strings.Split(r.tr.Log(), "\n") {
			if strings.Contains(line, "Filtering unhealthy or starting container") && strings.Contains(line, id) {
				filtered = true
			}
		}
		if !filtered {
			t.Error("Traefik did not log that it filtered the starting container")
		}
		if code, _ := r.get(t, "/hc/x"); code != 404 {
			t.Fatalf("starting: %d, want 404", code)
		}

		must(t, r.e.SetHealth(id, "healthy"))
		took := r.waitRouter(t, "hc", true)
		t.Logf("health_status: healthy -> router enabled in %s", took.Round(time.Millisecond))
		if code, body := r.get(t, "/hc/x"); code != 200 || body != "hc-v1" {
			t.Fatalf("healthy: %d %q", code, body)
		}

		must(t, r.e.SetHealth(id, "unhealthy"))
		took = r.waitRouter(t, "hc", false)
		t.Logf("health_status: unhealthy -> router gone in %s", took.Round(time.Millisecond))
		if code, _ := r.get(t, "/hc/x"); code != 404 {
			t.Fatalf("unhealthy: %d, want 404", code)
		}
		must(t, r.e.SetHealth(id, "healthy"))
		r.waitRouter(t, "hc", true)
	})

	t.Run("health check run by the engine (HTTP probe)", func(t *testing.T) {
		b := r.newBackend(t, "probe-v1", 0)
		hc := &Healthcheck{Interval: 100 * time.Millisecond, Timeout: time.Second, Retries: 1,
			Probe: HTTPProbe(fmt.Sprintf("http://%s:%d/up", b.ip, b.port))}
		id, err := r.e.Run(r.spec("probe-web-v1", "probe", b, hc))
		must(t, err)
		took := r.waitRouter(t, "probe", true)
		t.Logf("start -> first probe -> healthy -> router in %s", took.Round(time.Millisecond))
		if code, body := r.get(t, "/probe/x"); code != 200 || body != "probe-v1" {
			t.Fatalf("%d %q", code, body)
		}
		// The exec_* events of every probe do not make Traefik rebuild.
		before := r.lists()
		time.Sleep(500 * time.Millisecond) // about five probes
		if n := r.lists() - before; n != 0 {
			t.Fatalf("Traefik re-listed %d times on exec events", n)
		}
		// Its probe would go on, and a probe that times out on a busy
		// machine changes the health (an event Traefik re-lists on) in
		// the middle of the next subtest's count.
		must(t, r.e.Kill(id, 9))
		must(t, r.e.Exited(id, 137))
		r.waitRouter(t, "probe", false)
	})

	t.Run("SIGTERM keeps the server until the process exits (die)", func(t *testing.T) {
		b := r.newBackend(t, "drain-v1", 0)
		id, err := r.e.Run(r.spec("drain-web-v1", "drain", b, nil))
		must(t, err)
		r.waitRouter(t, "drain", true)

		before := r.lists()
		must(t, r.e.Stop(id)) // kill (signal 15)
		time.Sleep(10 * throttle)
		if n := r.lists() - before; n != 0 {
			t.Fatalf("Traefik re-listed %d times on kill", n)
		}
		if got, _ := r.servers("drain"); len(got) != 1 {
			t.Fatalf("server left the pool on SIGTERM: %v", got)
		}
		if code, body := r.get(t, "/drain/x"); code != 200 || body != "drain-v1" {
			t.Fatalf("while draining: %d %q", code, body)
		}

		must(t, r.e.Exited(id, 0)) // die, then stop
		took := r.waitRouter(t, "drain", false)
		t.Logf("die -> router gone in %s", took.Round(time.Millisecond))
		if code, _ := r.get(t, "/drain/x"); code != 404 {
			t.Fatalf("after die: %d, want 404 (no router)", code)
		}
		must(t, r.e.Remove(id))
	})

	t.Run("allownonrunning without a port label: router stays, empty service answers 503", func(t *testing.T) {
		// berth's labels: no server.port label, Traefik takes the port the
		// image exposes (inspect's NetworkSettings.Ports); another service
		// label (passhostheader) still names the service explicitly.
		b := r.newBackend(t, "anr-v1", 0)
		spec := r.spec("anr-web-v1", "anr", b, &Healthcheck{Interval: time.Second},
			"traefik.docker.allownonrunning", "true",
			"traefik.http.services.anr.loadbalancer.passhostheader", "true")
		delete(spec.Labels, "traefik.http.services.anr.loadbalancer.server.port")
		id, err := r.e.Run(spec)
		must(t, err)
		r.waitRouter(t, "anr", true)
		if got, ok := r.servers("anr"); !ok || len(got) != 0 {
			t.Fatalf("starting container: service %v (exists %v), want an empty one", got, ok)
		}
		if code, body := r.get(t, "/anr/x"); code != 503 || body != "no available server" {
			t.Fatalf("starting: %d %q, want 503 no available server", code, body)
		}
		must(t, r.e.SetHealth(id, "healthy"))
		waitFor(t, 10*time.Second, "server added once healthy", func() (bool, string) {
			got, _ := r.servers("anr")
			return len(got) == 1 && got[0] == fmt.Sprintf("http://%s:%d", b.ip, b.port), fmt.Sprint(got)
		})
		if code, body := r.get(t, "/anr/x"); code != 200 || body != "anr-v1" {
			t.Fatalf("healthy: %d %q", code, body)
		}
		must(t, r.e.SetHealth(id, "unhealthy"))
		waitFor(t, 10*time.Second, "server removed when unhealthy", func() (bool, string) {
			got, _ := r.servers("anr")
			return len(got) == 0, fmt.Sprint(got)
		})
		if ok, state := r.router("anr"); !ok {
			t.Fatalf("router gone while unhealthy despite allownonrunning: %s", state)
		}
		if code, _ := r.get(t, "/anr/x"); code != 503 {
			t.Fatalf("unhealthy: %d, want 503", code)
		}
		must(t, r.e.SetHealth(id, "healthy"))
		waitFor(t, 10*time.Second, "server back", func() (bool, string) {
			got, _ := r.servers("anr")
			return len(got) == 1, fmt.Sprint(got)
		})

		must(t, r.e.Stop(id))
		must(t, r.e.Exited(id, 0))
		took := waitFor(t, 10*time.Second, "server removed after die", func() (bool, string) {
			got, _ := r.servers("anr")
			return len(got) == 0, fmt.Sprint(got)
		})
		t.Logf("die -> empty service in %s", took.Round(time.Millisecond))
		if ok, state := r.router("anr"); !ok {
			t.Fatalf("router gone after die despite allownonrunning: %s", state)
		}
		if code, body := r.get(t, "/anr/x"); code != 503 {
			t.Fatalf("exited: %d %q, want 503", code, body)
		}

		before := r.lists()
		must(t, r.e.Remove(id)) // destroy: Traefik does not rebuild on it...
		time.Sleep(10 * throttle)
		if ok, _ := r.router("anr"); !ok || r.lists() != before {
			t.Fatal("Traefik reacted to destroy")
		}
		// ...the removed container's router goes with the next rebuild.
		other := r.newBackend(t, "nudge", 0)
		nid, err := r.e.Run(r.spec("nudge-web-v1", "nudge", other, nil))
		must(t, err)
		r.waitRouter(t, "anr", false)
		if code, _ := r.get(t, "/anr/x"); code != 404 {
			t.Fatalf("after destroy + rebuild: %d, want 404", code)
		}
		must(t, r.e.Exited(nid, 0))
	})

	t.Run("allownonrunning with a port label: a non-running container adds a server without URL (500)", func(t *testing.T) {
		b1 := r.newBackend(t, "anrp-v1", 0)
		b2 := r.newBackend(t, "anrp-v2", b1.port)
		hc := &Healthcheck{Interval: time.Second}
		id1, err := r.e.Run(r.spec("anrp-web-v1", "anrp", b1, hc, "traefik.docker.allownonrunning", "true"))
		must(t, err)
		r.waitRouter(t, "anrp", true)
		got, _ := r.servers("anrp")
		code, body := r.get(t, "/anrp/x")
		if len(got) != 1 || got[0] != "" || code != 500 {
			t.Fatalf("starting: servers %q, GET %d %q; expected Traefik v3.6.12 to keep the label's server with an empty URL and answer 500", got, code, body)
		}
		t.Logf("starting container with port label: servers %q, GET %d %q", got, code, body)

		// The Kamal deploy case: v1 healthy, v2 boots, v1 is stopped and stays
		// around (Kamal keeps old containers) while v2 serves.
		must(t, r.e.SetHealth(id1, "healthy"))
		id2, err := r.e.Run(r.spec("anrp-web-v2", "anrp", b2, hc, "traefik.docker.allownonrunning", "true"))
		must(t, err)
		must(t, r.e.SetHealth(id2, "healthy"))
		must(t, r.e.Stop(id1))
		must(t, r.e.Exited(id1, 0))
		want := []string{"", fmt.Sprintf("http://%s:%d", b2.ip, b2.port)}
		waitFor(t, 10*time.Second, "v2 plus the exited v1's empty server", func() (bool, string) {
			got, _ := r.servers("anrp")
			return fmt.Sprint(got) == fmt.Sprint(want), fmt.Sprintf("%q", got)
		})
		codes := map[int]int{}
		for i := 0; i < 20; i++ {
			code, _ := r.get(t, "/anrp/x")
			codes[code]++
		}
		t.Logf("v2 running, v1 exited, both labelled: 20 requests -> %v", codes)
		if codes[500] == 0 || codes[200] == 0 {
			t.Fatalf("expected the exited container's empty server to take part of the traffic: %v", codes)
		}
		must(t, r.e.Exited(id2, 0))
	})

	t.Run("two containers of one service load-balance", func(t *testing.T) {
		b1 := r.newBackend(t, "lb-v1", 0)
		b2 := r.newBackend(t, "lb-v2", b1.port) // same port, next address: like two Kamal versions
		id1, err := r.e.Run(r.spec("lb-web-v1", "lb", b1, nil))
		must(t, err)
		_, err = r.e.Run(r.spec("lb-web-v2", "lb", b2, nil))
		must(t, err)
		waitFor(t, 10*time.Second, "two servers", func() (bool, string) {
			got, _ := r.servers("lb")
			return len(got) == 2, fmt.Sprint(got)
		})
		seen := map[string]int{}
		for i := 0; i < 20; i++ {
			code, body := r.get(t, "/lb/x")
			if code != 200 {
				t.Fatalf("request %d: %d", i, code)
			}
			seen[body]++
		}
		if seen["lb-v1"] < 5 || seen["lb-v2"] < 5 {
			t.Fatalf("not balanced across both containers: %v", seen)
		}
		t.Logf("20 requests: %v", seen)

		must(t, r.e.Stop(id1))
		must(t, r.e.Exited(id1, 0))
		waitFor(t, 10*time.Second, "one server", func() (bool, string) {
			got, _ := r.servers("lb")
			return len(got) == 1 && strings.Contains(got[0], b2.ip+":"), fmt.Sprint(got)
		})
		for i := 0; i < 10; i++ {
			if code, body := r.get(t, "/lb/x"); code != 200 || body != "lb-v2" {
				t.Fatalf("after v1 died: %d %q", code, body)
			}
		}
	})

	t.Run("events drive Traefik; it does not poll", func(t *testing.T) {
		before := len(r.e.Requests())
		time.Sleep(3 * time.Second)
		if idle := r.e.Requests()[before:]; len(idle) != 0 {
			t.Fatalf("Traefik sent %d requests while nothing happened: %+v", len(idle), idle)
		}
		reqs := r.e.Requests()
		var streams []Request
		routes := map[string]int{}
		for _, q := range reqs {
			route := q.Route
			if strings.HasPrefix(route, "/containers/") && route != "/containers/json" {
				route = "/containers/{id}/json"
			}
			routes[q.Method+" "+route]++
			if q.Route == "/events" {
				streams = append(streams, q)
			}
			if q.Route != "/_ping" && q.APIVersion != DefaultAPIVersion {
				t.Errorf("unversioned or other version: %+v", q)
			}
			if !strings.HasPrefix(q.UserAgent, "Traefik") {
				t.Errorf("user agent %q", q.UserAgent)
			}
		}
		t.Logf("requests Traefik made: %v", routes)
		if len(streams) != 1 || streams[0].Query != "filters=%7B%22type%22%3A%7B%22container%22%3Atrue%7D%7D" {
			t.Fatalf("event streams %+v, want one with filters={\"type\":{\"container\":true}}", streams)
		}
		for route := range routes {
			switch route {
			case "HEAD /_ping", "GET /version", "GET /containers/json", "GET /containers/{id}/json", "GET /events":
			default:
				t.Errorf("unexpected request %s", route)
			}
		}
		if un := r.e.Unserved(); len(un) != 0 {
			t.Fatalf("Traefik asked for endpoints the stand-in does not serve: %+v", un)
		}
		for _, q := range reqs {
			if q.Route == "/containers/json" && q.Query != "all=1" {
				t.Errorf("list query %q, want all=1", q.Query)
			}
		}
	})

	t.Run("event stream cut: Traefik reconnects and re-lists", func(t *testing.T) {
		before := r.lists()
		r.e.DropEventStreams()
		took := waitFor(t, 10*time.Second, "a new event stream", func() (bool, string) {
			return r.e.EventStreams() == 1 && r.lists() > before, fmt.Sprintf("%d streams", r.e.EventStreams())
		})
		t.Logf("stream cut -> reconnected and re-listed in %s", took.Round(time.Millisecond))
		b := r.newBackend(t, "after-v1", 0)
		_, err := r.e.Run(r.spec("after-web-v1", "after", b, nil))
		must(t, err)
		r.waitRouter(t, "after", true)
		if code, body := r.get(t, "/after/x"); code != 200 || body != "after-v1" {
			t.Fatalf("%d %q", code, body)
		}
	})
	t.Logf("whole run %s", time.Since(began).Round(time.Millisecond))
}

// Docker 29 serves API 1.52 and refuses below 1.44; Traefik v3.6.12's
// client (max 1.51) must still work against it.
func TestTraefikAgainstDocker29APIWindow(t *testing.T) {
	began := time.Now()
	r := startRig(t, Options{EngineVersion: "29.0.1", APIVersion: "1.52", MinAPIVersion: "1.44"})
	b := r.newBackend(t, "d29-v1", 0)
	_, err := r.e.Run(r.spec("d29-web-v1", "d29", b, nil))
	must(t, err)
	r.waitRouter(t, "d29", true)
	if code, body := r.get(t, "/d29/x"); code != 200 || body != "d29-v1" {
		t.Fatalf("%d %q", code, body)
	}
	for _, q := range r.e.Requests() {
		if q.Route != "/_ping" && q.APIVersion != "1.51" {
			t.Fatalf("Traefik used API %q for %s, want 1.51", q.APIVersion, q.Path)
		}
		if q.Status != 200 {
			t.Fatalf("%s answered %d", q.Path, q.Status)
		}
	}
	if !strings.Contains(r.tr.Log(), "Provider connection established with docker 29.0.1 (API 1.52)") {
		t.Error("Traefik did not log the connection to the Docker 29 stand-in")
	}
	t.Logf("run %s", time.Since(began).Round(time.Millisecond))
}
