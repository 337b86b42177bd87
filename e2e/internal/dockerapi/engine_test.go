package dockerapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The field names below are those of the Docker Go client's types
// (github.com/docker/docker v28.5.2 api/types: container.InspectResponse,
// container.State, container.Health, container.Config, container.Summary,
// network.EndpointSettings, container.NetworkSettings, types.Version,
// events.Message); "?" marks omitempty fields.
var (
	inspectFields = []string{"Id", "Created", "Path", "Args", "State", "Image", "ResolvConfPath", "HostnamePath",
		"HostsPath", "LogPath", "Name", "RestartCount", "Driver", "Platform", "MountLabel", "ProcessLabel",
		"AppArmorProfile", "ExecIDs", "HostConfig", "GraphDriver", "SizeRw?", "SizeRootFs?", "Mounts", "Config",
		"NetworkSettings", "ImageManifestDescriptor?"}
	stateFields = []string{"Status", "Running", "Paused", "Restarting", "OOMKilled", "Dead", "Pid", "ExitCode",
		"Error", "StartedAt", "FinishedAt", "Health?"}
	healthFields       = []string{"Status", "FailingStreak", "Log"}
	healthResultFields = []string{"Start", "End", "ExitCode", "Output"}
	healthcheckFields  = []string{"Test?", "Interval?", "Timeout?", "StartPeriod?", "StartInterval?", "Retries?"}
	configFields       = []string{"Hostname", "Domainname", "User", "AttachStdin", "AttachStdout", "AttachStderr",
		"ExposedPorts?", "Tty", "OpenStdin", "StdinOnce", "Env", "Cmd", "Healthcheck?", "ArgsEscaped?", "Image",
		"Volumes", "WorkingDir", "Entrypoint", "NetworkDisabled?", "MacAddress?", "OnBuild", "Labels",
		"StopSignal?", "StopTimeout?", "Shell?"}
	endpointFields = []string{"IPAMConfig", "Links", "Aliases", "MacAddress", "DriverOpts", "GwPriority",
		"NetworkID", "EndpointID", "Gateway", "IPAddress", "IPPrefixLen", "IPv6Gateway", "GlobalIPv6Address",
		"GlobalIPv6PrefixLen", "DNSNames"}
	networkSettingsFields = []string{"Bridge", "SandboxID", "SandboxKey", "Ports", "HairpinMode",
		"LinkLocalIPv6Address", "LinkLocalIPv6PrefixLen", "SecondaryIPAddresses", "SecondaryIPv6Addresses",
		"EndpointID", "Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen", "IPAddress", "IPPrefixLen",
		"IPv6Gateway", "MacAddress", "Networks"}
	summaryFields = []string{"Id", "Names", "Image", "ImageID", "ImageManifestDescriptor?", "Command", "Created",
		"Ports", "SizeRw?", "SizeRootFs?", "Labels", "State", "Status", "HostConfig", "NetworkSettings", "Mounts"}
	portFields    = []string{"IP?", "PrivatePort", "PublicPort?", "Type"}
	versionFields = []string{"Platform?", "Components?", "Version", "ApiVersion", "MinAPIVersion?", "GitCommit",
		"GoVersion", "Os", "Arch", "KernelVersion?", "Experimental?", "BuildTime?"}
	eventFields = []string{"status?", "id?", "from?", "Type", "Action", "Actor", "scope?", "time?", "timeNano?"}
	actorFields = []string{"ID", "Attributes"}
)

func webSpec(name, ip string) ContainerSpec {
	return ContainerSpec{
		Name:        name,
		Image:       "ghcr.io/wombatworkouts/wombat:abc123",
		IPAddress:   ip,
		ExposedPort: 80,
		Cmd:         []string{"./bin/thrust", "./bin/rails", "server"},
		Labels: map[string]string{
			"service":                             "wombat",
			"role":                                "web",
			"destination":                         "",
			"traefik.enable":                      "true",
			"traefik.http.routers.wombat.rule":    "PathPrefix(`/`)",
			"traefik.http.routers.wombat.service": "wombat",
			"traefik.http.services.wombat.loadbalancer.server.port": "80",
		},
	}
}

func TestPingVersionAndVersionedPaths(t *testing.T) {
	e := newTestEngine(t, Options{})

	head := do(t, e, http.MethodHead, "/_ping")
	if head.status != 200 || len(head.body) != 0 {
		t.Fatalf("HEAD /_ping: %d %q", head.status, head.body)
	}
	for h, want := range map[string]string{
		"Api-Version": "1.51", "Ostype": "linux", "Swarm": "inactive", "Builder-Version": "2",
		"Docker-Experimental": "false", "Content-Length": "0", "Pragma": "no-cache",
		"Server": "Docker/28.5.2 (linux)",
	} {
		if got := head.header.Get(h); got != want {
			t.Errorf("HEAD /_ping header %s = %q, want %q", h, got, want)
		}
	}
	get := do(t, e, http.MethodGet, "/_ping")
	if get.status != 200 || string(get.body) != "OK" || get.header.Get("Api-Version") != "1.51" {
		t.Fatalf("GET /_ping: %d %q %v", get.status, get.body, get.header)
	}
	if r := do(t, e, http.MethodGet, "/v1.51/_ping"); r.status != 200 {
		t.Fatalf("GET /v1.51/_ping: %d", r.status)
	}

	for _, path := range []string{"/version", "/v1.51/version", "/v1.24/version"} {
		v := getJSON(t, e, path, 200)
		checkFields(t, "version", v, versionFields...)
		if at(t, v, "ApiVersion") != "1.51" || at(t, v, "Version") != "28.5.2" || at(t, v, "MinAPIVersion") != "1.24" {
			t.Fatalf("%s: %v", path, v)
		}
		comp := at(t, v, "Components").([]any)[0]
		checkFields(t, "version component", comp, "Name", "Version", "Details?")
	}

	tooNew := getJSON(t, e, "/v1.52/version", 400)
	if want := "client version 1.52 is too new. Maximum supported API version is 1.51"; at(t, tooNew, "message") != want {
		t.Fatalf("too new: %v", tooNew)
	}
	tooOld := getJSON(t, e, "/v1.12/containers/json", 400)
	if !strings.HasPrefix(at(t, tooOld, "message").(string), "client version 1.12 is too old. Minimum supported API version is 1.24") {
		t.Fatalf("too old: %v", tooOld)
	}

	info := getJSON(t, e, "/v1.51/info", 200)
	if at(t, info, "ServerVersion") != "28.5.2" || at(t, info, "Swarm", "LocalNodeState") != "inactive" {
		t.Fatalf("info: %v", info)
	}
}

func TestDocker29VersionWindow(t *testing.T) {
	e := newTestEngine(t, Options{EngineVersion: "29.0.0", APIVersion: "1.52", MinAPIVersion: "1.44"})
	if r := do(t, e, http.MethodHead, "/_ping"); r.header.Get("Api-Version") != "1.52" {
		t.Fatalf("Api-Version %q", r.header.Get("Api-Version"))
	}
	getJSON(t, e, "/v1.51/containers/json", 200)
	old := getJSON(t, e, "/v1.43/containers/json", 400)
	if !strings.Contains(at(t, old, "message").(string), "Minimum supported API version is 1.44") {
		t.Fatalf("%v", old)
	}
	if _, err := NewWithOptions(filepath.Join(t.TempDir(), "x.sock"), Options{APIVersion: "1.40", MinAPIVersion: "1.44"}); err == nil {
		t.Fatal("min above max accepted")
	}
}

func TestUnknownEndpointIsLoggedAnd404(t *testing.T) {
	var mu sync.Mutex
	var lines []string
	e := newTestEngine(t, Options{Logf: func(f string, a ...any) {
		mu.Lock()
		lines = append(lines, fmt.Sprintf(f, a...))
		mu.Unlock()
	}})
	v := getJSON(t, e, "/v1.51/images/json?all=1", 404)
	if at(t, v, "message") != "page not found" {
		t.Fatalf("%v", v)
	}
	if r := do(t, e, http.MethodPost, "/v1.51/containers/create"); r.status != 404 {
		t.Fatalf("POST create: %d", r.status)
	}
	un := e.Unserved()
	if len(un) != 2 || un[0].Route != "/images/json" || un[0].APIVersion != "1.51" || un[0].Query != "all=1" ||
		un[1].Method != http.MethodPost || un[1].Status != 404 {
		t.Fatalf("unserved: %+v", un)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(lines) != 2 || !strings.Contains(lines[0], "/v1.51/images/json") {
		t.Fatalf("log lines: %q", lines)
	}
	// Served requests are recorded too, with their status.
	getJSON(t, e, "/v1.51/version", 200)
	reqs := e.Requests()
	last := reqs[len(reqs)-1]
	if !last.Served || last.Status != 200 || last.Route != "/version" || last.Path != "/v1.51/version" {
		t.Fatalf("last request %+v", last)
	}
}

func TestInspectShape(t *testing.T) {
	e := newTestEngine(t, Options{})
	spec := webSpec("wombat-web-abc123", "127.0.0.2")
	spec.Env = []string{"RAILS_ENV=production"}
	spec.Healthcheck = &Healthcheck{Interval: time.Second, Retries: 5}
	id, err := e.Run(spec)
	if err != nil {
		t.Fatal(err)
	}

	for _, ref := range []string{id, id[:12], "wombat-web-abc123", "/wombat-web-abc123"} {
		v := getJSON(t, e, "/v1.51/containers/"+url.PathEscape(ref)+"/json", 200)
		if at(t, v, "Id") != id {
			t.Fatalf("%s resolved to %v", ref, at(t, v, "Id"))
		}
	}
	v := getJSON(t, e, "/v1.51/containers/"+id+"/json", 200)
	checkFields(t, "inspect", v, inspectFields...)
	checkFields(t, "State", at(t, v, "State"), stateFields...)
	checkFields(t, "State.Health", at(t, v, "State", "Health"), healthFields...)
	checkFields(t, "Config", at(t, v, "Config"), configFields...)
	checkFields(t, "Config.Healthcheck", at(t, v, "Config", "Healthcheck"), healthcheckFields...)
	checkFields(t, "NetworkSettings", at(t, v, "NetworkSettings"), networkSettingsFields...)
	checkFields(t, "Networks.kamal", at(t, v, "NetworkSettings", "Networks", "kamal"), endpointFields...)
	checkFields(t, "HostConfig", at(t, v, "HostConfig"), "NetworkMode", "RestartPolicy", "PortBindings", "AutoRemove", "LogConfig", "Binds")

	for _, c := range []struct {
		path []string
		want any
	}{
		{[]string{"Name"}, "/wombat-web-abc123"},
		{[]string{"State", "Status"}, "running"},
		{[]string{"State", "Running"}, true},
		{[]string{"State", "Health", "Status"}, "starting"},
		{[]string{"State", "FinishedAt"}, "0001-01-01T00:00:00Z"},
		{[]string{"Config", "Image"}, "ghcr.io/wombatworkouts/wombat:abc123"},
		{[]string{"Config", "Labels", "service"}, "wombat"},
		{[]string{"Config", "Labels", "traefik.http.services.wombat.loadbalancer.server.port"}, "80"},
		{[]string{"Config", "Healthcheck", "Test"}, []any{"CMD-SHELL", "curl -f http://localhost:80/up"}},
		{[]string{"Config", "Healthcheck", "Interval"}, float64(time.Second)},
		{[]string{"Config", "Healthcheck", "Retries"}, float64(5)},
		{[]string{"Config", "ExposedPorts"}, map[string]any{"80/tcp": map[string]any{}}},
		{[]string{"Config", "Env"}, []any{"RAILS_ENV=production"}},
		{[]string{"Path"}, "./bin/thrust"},
		{[]string{"Args"}, []any{"./bin/rails", "server"}},
		{[]string{"HostConfig", "NetworkMode"}, "kamal"},
		{[]string{"NetworkSettings", "Ports"}, map[string]any{"80/tcp": nil}},
		{[]string{"NetworkSettings", "Networks", "kamal", "IPAddress"}, "127.0.0.2"},
		{[]string{"NetworkSettings", "Networks", "kamal", "IPPrefixLen"}, float64(8)},
		{[]string{"NetworkSettings", "Networks", "kamal", "Gateway"}, "127.0.0.1"},
		{[]string{"NetworkSettings", "IPAddress"}, ""}, // only the default bridge fills the top level
	} {
		if got := at(t, v, c.path...); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s = %#v, want %#v", strings.Join(c.path, "."), got, c.want)
		}
	}
	if img := at(t, v, "Image").(string); !strings.HasPrefix(img, "sha256:") || len(img) != 71 {
		t.Errorf("Image %q is not an image ID", img)
	}
	if len(id) != 64 {
		t.Errorf("ID %q is not 64 hex digits", id)
	}

	if err := e.SetHealth(id, "healthy"); err != nil {
		t.Fatal(err)
	}
	v = getJSON(t, e, "/v1.51/containers/"+id+"/json", 200)
	checkFields(t, "Health.Log[0]", at(t, v, "State", "Health", "Log").([]any)[0], healthResultFields...)
	if at(t, v, "State", "Health", "Status") != "healthy" {
		t.Fatal("not healthy")
	}

	// After the process exits: exited, address released, health frozen.
	if err := e.Stop(id); err != nil {
		t.Fatal(err)
	}
	if c, _ := e.Inspect(id); !c.Running || !c.Stopping {
		t.Fatalf("after Stop the process still runs: %+v", c)
	}
	if err := e.Exited(id, 143); err != nil {
		t.Fatal(err)
	}
	v = getJSON(t, e, "/v1.51/containers/"+id+"/json", 200)
	for _, c := range []struct {
		path []string
		want any
	}{
		{[]string{"State", "Status"}, "exited"},
		{[]string{"State", "Running"}, false},
		{[]string{"State", "ExitCode"}, float64(143)},
		{[]string{"State", "Pid"}, float64(0)},
		{[]string{"State", "Health", "Status"}, "healthy"},
		{[]string{"NetworkSettings", "Networks", "kamal", "IPAddress"}, ""},
		{[]string{"NetworkSettings", "Networks", "kamal", "EndpointID"}, ""},
	} {
		if got := at(t, v, c.path...); !reflect.DeepEqual(got, c.want) {
			t.Errorf("exited: %s = %#v, want %#v", strings.Join(c.path, "."), got, c.want)
		}
	}
	if at(t, v, "State", "FinishedAt") == "0001-01-01T00:00:00Z" {
		t.Error("FinishedAt not set")
	}

	nf := getJSON(t, e, "/v1.51/containers/nope/json", 404)
	if at(t, nf, "message") != "No such container: nope" {
		t.Fatalf("%v", nf)
	}
}

func TestListContainers(t *testing.T) {
	e := newTestEngine(t, Options{})
	a, _ := e.Create(webSpec("app-created", "127.0.0.2"))
	specB := webSpec("app-running", "127.0.0.3")
	specB.Healthcheck = &Healthcheck{}
	b, err := e.Run(specB)
	if err != nil {
		t.Fatal(err)
	}
	specC := webSpec("app-exited", "127.0.0.4")
	specC.Labels["role"] = "job"
	c, _ := e.Run(specC)
	if err := e.Exited(c, 1); err != nil {
		t.Fatal(err)
	}

	ids := func(v any) []string {
		var out []string
		for _, s := range v.([]any) {
			out = append(out, at(t, s, "Id").(string))
		}
		return out
	}
	running := getJSON(t, e, "/v1.51/containers/json", 200)
	if got := ids(running); !reflect.DeepEqual(got, []string{b}) {
		t.Fatalf("default list %v, want only the running one", got)
	}
	s := running.([]any)[0]
	checkFields(t, "summary", s, summaryFields...)
	checkFields(t, "summary.Ports[0]", at(t, s, "Ports").([]any)[0], portFields...)
	checkFields(t, "summary.Networks.kamal", at(t, s, "NetworkSettings", "Networks", "kamal"), endpointFields...)
	for _, c := range []struct {
		path []string
		want any
	}{
		{[]string{"Names"}, []any{"/app-running"}},
		{[]string{"State"}, "running"},
		{[]string{"Status"}, "Up Less than a second (health: starting)"},
		{[]string{"HostConfig", "NetworkMode"}, "kamal"},
		{[]string{"Command"}, "./bin/thrust ./bin/rails server"},
		{[]string{"Ports"}, []any{map[string]any{"PrivatePort": float64(80), "Type": "tcp"}}},
		{[]string{"NetworkSettings", "Networks", "kamal", "IPAddress"}, "127.0.0.3"},
	} {
		if got := at(t, s, c.path...); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s = %#v, want %#v", strings.Join(c.path, "."), got, c.want)
		}
	}

	all := getJSON(t, e, "/v1.51/containers/json?all=1", 200)
	if got := ids(all); !reflect.DeepEqual(got, []string{c, b, a}) {
		t.Fatalf("all=1 gives %v, want newest first [c b a]", got)
	}
	if st := at(t, all.([]any)[0], "Status").(string); !strings.HasPrefix(st, "Exited (1) ") {
		t.Errorf("exited status %q", st)
	}
	if st := at(t, all.([]any)[2], "Status"); st != "Created" {
		t.Errorf("created status %q", st)
	}

	q := func(f string) string { return "/v1.51/containers/json?all=1&filters=" + url.QueryEscape(f) }
	if got := ids(getJSON(t, e, q(`{"status":{"exited":true}}`), 200)); !reflect.DeepEqual(got, []string{c}) {
		t.Errorf("status filter: %v", got)
	}
	if got := ids(getJSON(t, e, q(`{"label":["role=web","service"]}`), 200)); !reflect.DeepEqual(got, []string{b, a}) {
		t.Errorf("label filter (legacy encoding): %v", got)
	}
	if got := ids(getJSON(t, e, q(`{"name":{"app-run":true}}`), 200)); !reflect.DeepEqual(got, []string{b}) {
		t.Errorf("name filter: %v", got)
	}
	if got := ids(getJSON(t, e, q(`{"health":{"starting":true}}`), 200)); !reflect.DeepEqual(got, []string{b}) {
		t.Errorf("health filter: %v", got)
	}
	if got := ids(getJSON(t, e, q(`{"id":{"`+a[:10]+`":true}}`), 200)); !reflect.DeepEqual(got, []string{a}) {
		t.Errorf("id filter: %v", got)
	}
	if got := ids(getJSON(t, e, "/v1.51/containers/json?all=1&limit=1", 200)); !reflect.DeepEqual(got, []string{c}) {
		t.Errorf("limit: %v", got)
	}
	bad := getJSON(t, e, q(`{"volume":{"x":true}}`), 400)
	if at(t, bad, "message") != "invalid filter 'volume'" {
		t.Errorf("%v", bad)
	}

	nets := getJSON(t, e, "/v1.51/networks", 200)
	var names []string
	for _, n := range nets.([]any) {
		names = append(names, at(t, n, "Name").(string))
	}
	if !reflect.DeepEqual(names, []string{"bridge", "host", "kamal", "none"}) {
		t.Errorf("networks %v", names)
	}
	kamal := getJSON(t, e, "/v1.51/networks/kamal", 200)
	if ctr := at(t, kamal, "Containers", b); at(t, ctr, "IPv4Address") != "127.0.0.3/8" {
		t.Errorf("kamal network containers: %v", at(t, kamal, "Containers"))
	}

	got := e.List()
	if len(got) != 3 || got[0].ID != a || got[1].Health != "starting" || got[2].Status != "exited" || got[2].ExitCode != 1 {
		t.Errorf("List() = %+v", got)
	}
}

func TestEventsLifecycle(t *testing.T) {
	e := newTestEngine(t, Options{})
	all := openEvents(t, e, "")
	onlyContainers := openEvents(t, e, "?filters="+url.QueryEscape(`{"type":{"container":true}}`))

	spec := webSpec("wombat-web-v1", "127.0.0.2")
	spec.Healthcheck = &Healthcheck{}
	id, err := e.Run(spec)
	if err != nil {
		t.Fatal(err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(e.SetHealth(id, "healthy"))
	must(e.SetHealth(id, "healthy")) // no change, no event
	must(e.SetHealth(id, "unhealthy"))
	must(e.SetHealth(id, "starting")) // silent, as dockerd
	must(e.SetHealth(id, "healthy"))
	must(e.Stop(id))
	must(e.Kill(id, 9))
	must(e.Exited(id, 137))
	must(e.Remove(id))

	wantContainer := []string{"create", "start", "health_status: healthy", "health_status: unhealthy",
		"health_status: healthy", "kill", "kill", "die", "stop", "destroy"}
	var got []Event
	for range wantContainer {
		got = append(got, onlyContainers.next(t, 2*time.Second))
	}
	onlyContainers.quiet(t, 100*time.Millisecond)
	var actions []string
	for _, ev := range got {
		actions = append(actions, ev.Action)
	}
	if !reflect.DeepEqual(actions, wantContainer) {
		t.Fatalf("container events %q, want %q", actions, wantContainer)
	}
	if a := all.actions(t, 12); !reflect.DeepEqual(a, []string{"create", "connect", "start", "health_status: healthy",
		"health_status: unhealthy", "health_status: healthy", "kill", "kill", "disconnect", "die", "stop", "destroy"}) {
		t.Fatalf("unfiltered events %q", a)
	}

	var prev int64
	for _, ev := range got {
		if ev.Type != "container" || ev.Actor.ID != id || ev.Scope != "local" || ev.Status != ev.Action || ev.ID != id ||
			ev.From != spec.Image {
			t.Errorf("event %+v", ev)
		}
		if ev.Actor.Attributes["name"] != "wombat-web-v1" || ev.Actor.Attributes["image"] != spec.Image ||
			ev.Actor.Attributes["service"] != "wombat" || ev.Actor.Attributes["traefik.http.routers.wombat.rule"] != "PathPrefix(`/`)" {
			t.Errorf("%s attributes %v", ev.Action, ev.Actor.Attributes)
		}
		if ev.Time != ev.TimeNano/int64(time.Second) || ev.TimeNano <= prev {
			t.Errorf("%s time %d / %d after %d", ev.Action, ev.Time, ev.TimeNano, prev)
		}
		prev = ev.TimeNano
	}
	if got[5].Actor.Attributes["signal"] != "15" || got[6].Actor.Attributes["signal"] != "9" {
		t.Errorf("kill signals %v %v", got[5].Actor.Attributes, got[6].Actor.Attributes)
	}
	if got[7].Actor.Attributes["exitCode"] != "137" || got[7].Actor.Attributes["execDuration"] != "0" {
		t.Errorf("die attributes %v", got[7].Actor.Attributes)
	}

	// Field names on the wire.
	now := time.Now()
	r := do(t, e, http.MethodGet, "/v1.51/events?since=0&until="+strconv.FormatInt(now.Unix(), 10)+"."+fmt.Sprintf("%09d", now.Nanosecond()))
	line := strings.SplitN(string(r.body), "\n", 2)[0]
	var raw map[string]any
	if err := json.Unmarshal([]byte(line), &raw); err != nil {
		t.Fatal(err)
	}
	checkFields(t, "event", raw, eventFields...)
	checkFields(t, "event.Actor", raw["Actor"], actorFields...)
}

func TestEventsSinceUntilAndFilters(t *testing.T) {
	e := newTestEngine(t, Options{})
	a, _ := e.Run(webSpec("alpha", "127.0.0.2"))
	mid := time.Now()
	time.Sleep(2 * time.Millisecond)
	specB := webSpec("beta", "127.0.0.3")
	specB.Labels["role"] = "worker"
	specB.Healthcheck = &Healthcheck{}
	b, _ := e.Run(specB)
	_ = e.SetHealth(b, "healthy")
	_ = e.Stop(a)
	_ = e.Exited(a, 0)
	end := time.Now()

	ts := func(t time.Time) string { return fmt.Sprintf("%d.%09d", t.Unix(), t.Nanosecond()) }
	past := func(query string) []string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://d/v1.51/events?"+query, nil)
		resp, err := unixClient(e.SocketPath()).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%s: %d", query, resp.StatusCode)
		}
		// A past `until` must end the stream by itself.
		dec := json.NewDecoder(resp.Body)
		var out []string
		for {
			var ev Event
			if err := dec.Decode(&ev); err != nil {
				if ctx.Err() != nil {
					t.Fatalf("%s: stream did not end after the replay", query)
				}
				return out
			}
			out = append(out, ev.Type+" "+ev.Actor.Attributes["name"]+" "+ev.Action)
		}
	}
	f := func(s string) string { return "&filters=" + url.QueryEscape(s) }

	if got, want := past("since="+ts(mid)+"&until="+ts(end)+f(`{"type":{"container":true}}`)),
		[]string{"container beta create", "container beta start", "container beta health_status: healthy",
			"container alpha kill", "container alpha die", "container alpha stop"}; !reflect.DeepEqual(got, want) {
		t.Errorf("since/until replay:\n got %q\nwant %q", got, want)
	}
	if got, want := past("until="+ts(end)+f(`{"event":{"health_status":true}}`)),
		[]string{"container beta health_status: healthy"}; !reflect.DeepEqual(got, want) {
		t.Errorf("event=health_status (prefix): %q", got)
	}
	if got, want := past("until="+ts(end)+f(`{"container":["alpha"],"event":["start","die"]}`)),
		[]string{"container alpha start", "container alpha die"}; !reflect.DeepEqual(got, want) {
		t.Errorf("container+event filter: %q", got)
	}
	if got := past("until=" + ts(end) + f(`{"label":{"role=worker":true},"type":{"container":true}}`)); len(got) != 3 {
		t.Errorf("label filter: %q", got)
	}
	if got := past("until=" + ts(end) + f(`{"image":{"ghcr.io/wombatworkouts/wombat":true},"event":{"create":true}}`)); len(got) != 2 {
		t.Errorf("image filter (tag stripped): %q", got)
	}
	if got := past("until=" + ts(end) + f(`{"type":{"network":true}}`)); len(got) != 3 || !strings.HasPrefix(got[0], "network kamal connect") {
		t.Errorf("network events: %q", got)
	}
	if got := past("since=" + ts(mid.Add(-time.Hour)) + "&until=" + ts(mid.Add(-time.Hour+time.Millisecond))); len(got) != 0 {
		t.Errorf("empty past window: %q", got)
	}
	bad := getJSON(t, e, "/v1.51/events?since="+ts(end)+"&until="+ts(mid), 400)
	if !strings.Contains(at(t, bad, "message").(string), "cannot be after `until`") {
		t.Errorf("%v", bad)
	}
	getJSON(t, e, "/v1.51/events?since=yesterday", 400)

	// A stream with a future until ends on its own; since replays first.
	s := openEvents(t, e, "?since="+ts(mid)+"&until="+ts(time.Now().Add(300*time.Millisecond))+f(`{"container":{"`+b[:8]+`":true}}`))
	if a := s.actions(t, 3); !reflect.DeepEqual(a, []string{"create", "start", "health_status: healthy"}) {
		t.Fatalf("replay %q", a)
	}
	_ = e.SetHealth(b, "unhealthy")
	if ev := s.next(t, time.Second); ev.Action != "health_status: unhealthy" {
		t.Fatalf("live %q", ev.Action)
	}
	select {
	case err := <-s.errc:
		if !errors.Is(err, io.EOF) {
			t.Fatalf("stream end: %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("stream with until did not end")
	}
}

func TestHealthProbeFollowsDockerRules(t *testing.T) {
	e := newTestEngine(t, Options{})
	var pass atomic.Bool
	var calls atomic.Int64
	spec := webSpec("probed", "127.0.0.2")
	spec.Healthcheck = &Healthcheck{
		Test:     []string{"CMD-SHELL", "curl -f http://localhost:80/up"},
		Interval: 40 * time.Millisecond,
		Timeout:  time.Second,
		Retries:  2,
		Probe: func(context.Context) error {
			calls.Add(1)
			if pass.Load() {
				return nil
			}
			return errors.New("connection refused")
		},
	}
	s := openEvents(t, e, "?filters="+url.QueryEscape(`{"type":{"container":true}}`))
	id, err := e.Run(spec)
	if err != nil {
		t.Fatal(err)
	}
	wait := func(action string) []Event {
		t.Helper()
		var seen []Event
		deadline := time.Now().Add(3 * time.Second)
		for time.Now().Before(deadline) {
			ev := s.next(t, 3*time.Second)
			seen = append(seen, ev)
			if ev.Action == action {
				return seen
			}
		}
		t.Fatalf("no %q", action)
		return nil
	}
	seen := wait("health_status: unhealthy")
	var execs []string
	for _, ev := range seen {
		if strings.HasPrefix(ev.Action, "exec_") {
			execs = append(execs, ev.Action)
			if ev.Actor.Attributes["execID"] == "" {
				t.Errorf("%s without execID", ev.Action)
			}
		}
	}
	// Two failing probes (retries 2), each create/start/die.
	want := []string{"exec_create: /bin/sh -c curl -f http://localhost:80/up", "exec_start: /bin/sh -c curl -f http://localhost:80/up", "exec_die",
		"exec_create: /bin/sh -c curl -f http://localhost:80/up", "exec_start: /bin/sh -c curl -f http://localhost:80/up", "exec_die"}
	if !reflect.DeepEqual(execs, want) {
		t.Fatalf("exec events %q", execs)
	}
	if seen[len(seen)-2].Actor.Attributes["exitCode"] != "1" {
		t.Errorf("failing exec_die %v", seen[len(seen)-2].Actor.Attributes)
	}
	c, _ := e.Inspect(id)
	if c.Health != "unhealthy" {
		t.Fatalf("health %q", c.Health)
	}
	pass.Store(true)
	wait("health_status: healthy")

	// The monitor stops with the process.
	if err := e.Exited(id, 0); err != nil {
		t.Fatal(err)
	}
	n := calls.Load()
	time.Sleep(150 * time.Millisecond)
	if calls.Load() != n {
		t.Fatalf("probes continued after exit: %d -> %d", n, calls.Load())
	}

	// Start period: failures do not count while starting within it.
	spec2 := webSpec("slow-boot", "127.0.0.3")
	spec2.Healthcheck = &Healthcheck{
		Interval: time.Hour, StartInterval: 20 * time.Millisecond, StartPeriod: 400 * time.Millisecond, Retries: 1,
		Probe: func(context.Context) error { return errors.New("booting") },
	}
	id2, _ := e.Run(spec2)
	time.Sleep(250 * time.Millisecond)
	if c, _ := e.Inspect(id2); c.Health != "starting" {
		t.Fatalf("within the start period: %q", c.Health)
	}
	// After the start period the next failing probe counts... but the next
	// probe is an interval (1h) away, as in dockerd once the period is over.
	// A probe that times out counts as a failure with exit code -1.
	spec3 := webSpec("hung", "127.0.0.4")
	spec3.Healthcheck = &Healthcheck{
		Interval: 20 * time.Millisecond, Timeout: 30 * time.Millisecond, Retries: 1,
		Probe: func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() },
	}
	id3, _ := e.Run(spec3)
	deadline := time.Now().Add(2 * time.Second)
	for {
		c, _ := e.Inspect(id3)
		if c.Health == "unhealthy" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("hung probe never made it unhealthy: %q", c.Health)
		}
		time.Sleep(10 * time.Millisecond)
	}
	v := getJSON(t, e, "/v1.51/containers/hung/json", 200)
	log := at(t, v, "State", "Health", "Log").([]any)
	if at(t, log[0], "ExitCode") != float64(-1) || !strings.HasPrefix(at(t, log[0], "Output").(string), "Health check exceeded timeout") {
		t.Errorf("timeout log %v", log[0])
	}
}

func TestGoAPIErrors(t *testing.T) {
	e := newTestEngine(t, Options{})
	id, _ := e.Create(webSpec("one", "127.0.0.2"))
	check := func(what string, err error, want string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want it to mention %q", what, err, want)
		}
	}
	check("stop created", e.Stop(id), "container is created")
	check("exited created", e.Exited(id, 0), "container is created")
	check("set health without check", e.SetHealth(id, "healthy"), "no health check")
	check("bad status", e.SetHealth(id, "fine"), `status "fine"`)
	_, err := e.Create(webSpec("one", "127.0.0.3"))
	check("duplicate name", err, `The container name "/one" is already in use`)
	_, err = e.Create(webSpec("two", "localhost"))
	check("bad ip", err, "not an IPv4 address")
	_, err = e.Create(webSpec("-bad", "127.0.0.3"))
	check("bad name", err, "invalid container name")
	check("unknown", e.Start("zzz"), "No such container: zzz")
	if err := e.Start(id); err != nil {
		t.Fatal(err)
	}
	check("start twice", e.Start(id), "already running")
	check("remove running", e.Remove(id), "container is running")
	id2, _ := e.Create(webSpec("same-ip", "127.0.0.2"))
	check("address in use", e.Start(id2), "address 127.0.0.2 on network kamal is in use by container one")

	// The socket goes away with the engine, and a stale one is replaced.
	sock := e.SocketPath()
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(sock); !os.IsNotExist(err) {
		t.Fatalf("socket left behind: %v", err)
	}
	check("start after close", e.Start(id2), "engine closed")
	long := "/tmp/" + strings.Repeat("x", 120) + ".sock"
	_, err = New(long)
	check("long path", err, "socket path too long")
	notSock := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notSock, nil, 0o644)
	_, err = New(notSock)
	check("not a socket", err, "is not a socket")
}

func TestDropEventStreams(t *testing.T) {
	e := newTestEngine(t, Options{})
	s := openEvents(t, e, "")
	deadline := time.Now().Add(time.Second)
	for e.EventStreams() != 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if e.EventStreams() != 1 {
		t.Fatal("stream not registered")
	}
	e.DropEventStreams()
	select {
	case err := <-s.errc:
		if err.Error() != "EOF" {
			t.Fatalf("want EOF, got %v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("stream not closed")
	}
}
