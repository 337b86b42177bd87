package dockerapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"
)

var versionPrefix = regexp.MustCompile(`^/v([0-9]+(?:\.[0-9]+)*)(/.*)$`)

func (e *Engine) serveHTTP(w http.ResponseWriter, r *http.Request) {
	route, version := r.URL.Path, ""
	if m := versionPrefix.FindStringSubmatch(route); m != nil {
		version, route = m[1], m[2]
	}
	idx := e.logRequest(Request{
		Time:       time.Now(),
		Method:     r.Method,
		Path:       r.URL.Path,
		Route:      route,
		Query:      r.URL.RawQuery,
		APIVersion: version,
		UserAgent:  r.UserAgent(),
		Served:     true,
	})
	// The version middleware of dockerd sets these on every routed answer.
	h := w.Header()
	h.Set("Server", fmt.Sprintf("Docker/%s (%s)", e.opt.EngineVersion, runtime.GOOS))
	h.Set("Api-Version", e.opt.APIVersion)
	h.Set("Ostype", runtime.GOOS)

	if version != "" {
		if compareVersions(version, e.opt.MinAPIVersion) < 0 {
			e.fail(w, idx, http.StatusBadRequest, fmt.Sprintf("client version %s is too old. Minimum supported API version is %s, please upgrade your client to a newer version", version, e.opt.MinAPIVersion))
			return
		}
		if compareVersions(version, e.opt.APIVersion) > 0 {
			e.fail(w, idx, http.StatusBadRequest, fmt.Sprintf("client version %s is too new. Maximum supported API version is %s", version, e.opt.APIVersion))
			return
		}
	}

	get := r.Method == http.MethodGet
	switch {
	case route == "/_ping" && (get || r.Method == http.MethodHead):
		e.ping(w, r, idx)
	case route == "/version" && get:
		e.version(w, idx)
	case route == "/info" && get:
		e.info(w, idx)
	case route == "/containers/json" && get:
		e.listContainers(w, r, idx)
	case strings.HasPrefix(route, "/containers/") && strings.HasSuffix(route, "/json") && get &&
		validRef(strings.TrimSuffix(strings.TrimPrefix(route, "/containers/"), "/json")):
		e.inspectContainer(w, strings.TrimSuffix(strings.TrimPrefix(route, "/containers/"), "/json"), idx)
	case route == "/events" && get:
		e.events(w, r, idx)
	case route == "/networks" && get:
		e.listNetworks(w, idx)
	case strings.HasPrefix(route, "/networks/") && get && strings.Count(route, "/") == 2 && len(route) > len("/networks/"):
		e.inspectNetwork(w, strings.TrimPrefix(route, "/networks/"), idx)
	default:
		e.mu.Lock()
		e.requests[idx].Served = false
		e.mu.Unlock()
		e.logf("dockerapi: unserved request %s %s (query %q, user agent %q)", r.Method, r.URL.Path, r.URL.RawQuery, r.UserAgent())
		e.fail(w, idx, http.StatusNotFound, "page not found")
	}
}

// validRef accepts an ID, ID prefix or name, with an optional leading slash.
func validRef(ref string) bool {
	ref = strings.TrimPrefix(ref, "/")
	return ref != "" && !strings.Contains(ref, "/")
}

func (e *Engine) logRequest(r Request) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.requests = append(e.requests, r)
	return len(e.requests) - 1
}

func (e *Engine) setStatus(idx, status int) {
	e.mu.Lock()
	e.requests[idx].Status = status
	e.mu.Unlock()
}

func (e *Engine) fail(w http.ResponseWriter, idx, status int, msg string) {
	e.writeJSON(w, idx, status, apiError{Message: msg})
}

func (e *Engine) writeJSON(w http.ResponseWriter, idx, status int, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body, _ = json.Marshal(apiError{Message: "dockerapi: encode: " + err.Error()})
	}
	e.setStatus(idx, status)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

func (e *Engine) ping(w http.ResponseWriter, r *http.Request, idx int) {
	h := w.Header()
	h.Add("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Add("Pragma", "no-cache")
	h.Set("Builder-Version", "2")
	h.Set("Docker-Experimental", "false")
	h.Set("Swarm", "inactive")
	h.Set("Content-Type", "text/plain; charset=utf-8")
	e.setStatus(idx, http.StatusOK)
	if r.Method == http.MethodHead {
		h.Set("Content-Length", "0")
		w.WriteHeader(http.StatusOK)
		return
	}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte("OK"))
}

const kernelVersion = "stand-in"

func (e *Engine) version(w http.ResponseWriter, idx int) {
	v := versionDoc{
		Version:       e.opt.EngineVersion,
		APIVersion:    e.opt.APIVersion,
		MinAPIVersion: e.opt.MinAPIVersion,
		GitCommit:     "berth-dockerapi",
		GoVersion:     runtime.Version(),
		Os:            runtime.GOOS,
		Arch:          runtime.GOARCH,
		KernelVersion: kernelVersion,
		BuildTime:     e.started.UTC().Format(time.RFC3339),
	}
	v.Platform.Name = "berth dockerapi (stand-in Docker Engine API, no containers run)"
	v.Components = []componentDoc{{
		Name:    "Engine",
		Version: e.opt.EngineVersion,
		Details: map[string]string{
			"ApiVersion":    e.opt.APIVersion,
			"MinAPIVersion": e.opt.MinAPIVersion,
			"GitCommit":     v.GitCommit,
			"GoVersion":     v.GoVersion,
			"Os":            v.Os,
			"Arch":          v.Arch,
			"KernelVersion": v.KernelVersion,
			"Experimental":  "false",
			"BuildTime":     v.BuildTime,
		},
	}}
	e.writeJSON(w, idx, http.StatusOK, v)
}

func (e *Engine) info(w http.ResponseWriter, idx int) {
	host, _ := os.Hostname()
	d := infoDoc{
		ID:              e.id,
		Driver:          "stand-in",
		Name:            host,
		ServerVersion:   e.opt.EngineVersion,
		OperatingSystem: "berth dockerapi stand-in",
		OSType:          runtime.GOOS,
		Architecture:    runtime.GOARCH,
		NCPU:            runtime.NumCPU(),
		DockerRootDir:   "/var/lib/docker",
		Warnings:        []string{},
	}
	d.Swarm.LocalNodeState = "inactive"
	e.mu.Lock()
	for _, c := range e.containers {
		d.Containers++
		if c.status == "running" {
			d.ContainersRunning++
		} else {
			d.ContainersStopped++
		}
	}
	e.mu.Unlock()
	e.writeJSON(w, idx, http.StatusOK, d)
}

// boolValue reads a boolean query parameter as dockerd does.
func boolValue(r *http.Request, key string) bool {
	s := strings.ToLower(strings.TrimSpace(r.URL.Query().Get(key)))
	return !(s == "" || s == "0" || s == "no" || s == "false" || s == "none")
}

func (e *Engine) listContainers(w http.ResponseWriter, r *http.Request, idx int) {
	q := r.URL.Query()
	f, err := parseFilters(q.Get("filters"))
	if err != nil {
		e.fail(w, idx, http.StatusBadRequest, err.Error())
		return
	}
	all := boolValue(r, "all")
	limit := -1
	if s := q.Get("limit"); s != "" {
		if limit, err = strconv.Atoi(s); err != nil {
			e.fail(w, idx, http.StatusBadRequest, fmt.Sprintf("invalid limit %q", s))
			return
		}
	}
	now := time.Now()
	e.mu.Lock()
	cs := e.sortedLocked()
	out := []summaryDoc{}
	// Newest first, as docker ps.
	for i := len(cs) - 1; i >= 0; i-- {
		c := cs[i]
		if !all && c.status != "running" && !f.has("status") {
			continue
		}
		ok, err := f.matchContainer(c)
		if err != nil {
			e.mu.Unlock()
			e.fail(w, idx, http.StatusBadRequest, err.Error())
			return
		}
		if !ok {
			continue
		}
		out = append(out, e.summaryLocked(c, now))
		if limit > 0 && len(out) == limit {
			break
		}
	}
	e.mu.Unlock()
	e.writeJSON(w, idx, http.StatusOK, out)
}

func (e *Engine) summaryLocked(c *container, now time.Time) summaryDoc {
	s := summaryDoc{
		ID:      c.id,
		Names:   []string{"/" + c.name},
		Image:   c.spec.Image,
		ImageID: c.imageID,
		Command: strings.Join(c.spec.Cmd, " "),
		Created: c.created.Unix(),
		Ports:   []portDoc{},
		Labels:  copyMap(c.spec.Labels),
		State:   c.status,
		Status:  statusText(c, now),
		NetworkSettings: &networksDoc{Networks: map[string]*endpointDoc{
			c.net.name: e.endpointLocked(c),
		}},
		Mounts: []any{},
	}
	if c.spec.ExposedPort > 0 {
		s.Ports = append(s.Ports, portDoc{PrivatePort: uint16(c.spec.ExposedPort), Type: "tcp"})
	}
	s.HostConfig.NetworkMode = c.net.name
	return s
}

// statusText is docker ps's STATUS column.
func statusText(c *container, now time.Time) string {
	switch c.status {
	case "running":
		s := "Up " + humanDuration(now.Sub(c.startedAt))
		if c.health != nil {
			if c.health.status == "starting" {
				s += " (health: starting)"
			} else {
				s += " (" + c.health.status + ")"
			}
		}
		return s
	case "exited":
		return fmt.Sprintf("Exited (%d) %s ago", c.exitCode, humanDuration(now.Sub(c.finishedAt)))
	default:
		return "Created"
	}
}

func humanDuration(d time.Duration) string {
	switch s := int(d.Seconds()); {
	case s < 1:
		return "Less than a second"
	case s == 1:
		return "1 second"
	case s < 60:
		return fmt.Sprintf("%d seconds", s)
	}
	switch m := int(d.Minutes()); {
	case m == 1:
		return "About a minute"
	case m < 60:
		return fmt.Sprintf("%d minutes", m)
	}
	switch h := int(d.Hours() + 0.5); {
	case h == 1:
		return "About an hour"
	case h < 48:
		return fmt.Sprintf("%d hours", h)
	default:
		return fmt.Sprintf("%d days", h/24)
	}
}

// endpointLocked is the container's endpoint on its network; the address
// and endpoint exist only while it runs, as with dockerd.
func (e *Engine) endpointLocked(c *container) *endpointDoc {
	ep := &endpointDoc{NetworkID: c.net.id}
	if c.status == "running" {
		ep.EndpointID = c.endpointID
		ep.Gateway = c.net.gateway
		ep.IPAddress = c.spec.IPAddress
		ep.IPPrefixLen = prefixLen(c.net.subnet)
		ep.MacAddress = macFor(c.spec.IPAddress)
		ep.DNSNames = []string{c.name, c.id[:12]}
	}
	return ep
}

func prefixLen(subnet string) int {
	_, bits, ok := strings.Cut(subnet, "/")
	if !ok {
		return 0
	}
	n, _ := strconv.Atoi(bits)
	return n
}

func macFor(ip string) string {
	parts := strings.Split(ip, ".")
	mac := "02:42"
	for _, p := range parts {
		n, _ := strconv.Atoi(p)
		mac += fmt.Sprintf(":%02x", n)
	}
	return mac
}

func formatTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

func (e *Engine) inspectContainer(w http.ResponseWriter, ref string, idx int) {
	e.mu.Lock()
	c, err := e.resolveLocked(ref)
	if err != nil {
		e.mu.Unlock()
		status := http.StatusNotFound
		if !errors.Is(err, errNotFound) {
			status = http.StatusBadRequest
		}
		msg := err.Error()
		if _, after, ok := strings.Cut(msg, ": "); ok {
			msg = after // drop the Go error prefix, keep Docker's wording
		}
		e.fail(w, idx, status, msg)
		return
	}
	doc := e.inspectLocked(c)
	e.mu.Unlock()
	e.writeJSON(w, idx, http.StatusOK, doc)
}

func (e *Engine) inspectLocked(c *container) inspectDoc {
	dir := "/var/lib/docker/containers/" + c.id
	st := &stateDoc{
		Status:     c.status,
		Running:    c.status == "running",
		Pid:        c.pid,
		ExitCode:   c.exitCode,
		StartedAt:  formatTime(c.startedAt),
		FinishedAt: formatTime(c.finishedAt),
	}
	if c.health != nil {
		hd := &healthDoc{Status: c.health.status, FailingStreak: c.health.streak, Log: []healthResultDoc{}}
		for _, r := range c.health.log {
			hd.Log = append(hd.Log, healthResultDoc{Start: formatTime(r.start), End: formatTime(r.end), ExitCode: r.exitCode, Output: r.output})
		}
		st.Health = hd
	}
	path, args := "", []string{}
	if len(c.spec.Cmd) > 0 {
		path, args = c.spec.Cmd[0], append(args, c.spec.Cmd[1:]...)
	}
	cfg := &configDoc{
		Hostname:     c.id[:12],
		AttachStdout: false,
		Env:          append([]string{}, c.spec.Env...),
		Cmd:          append([]string{}, c.spec.Cmd...),
		Image:        c.spec.Image,
		Labels:       copyMap(c.spec.Labels),
	}
	ports := map[string][]portBindingDoc{}
	if c.spec.ExposedPort > 0 {
		p := strconv.Itoa(c.spec.ExposedPort) + "/tcp"
		cfg.ExposedPorts = map[string]struct{}{p: {}}
		ports[p] = nil // exposed, not published
	}
	if hc := c.spec.Healthcheck; hc != nil {
		cfg.Healthcheck = &healthcheckDoc{
			Test:          append([]string{}, hc.Test...),
			Interval:      int64(hc.Interval),
			Timeout:       int64(hc.Timeout),
			StartPeriod:   int64(hc.StartPeriod),
			StartInterval: int64(hc.StartInterval),
			Retries:       hc.Retries,
		}
	}
	ns := &networkSettingsDoc{
		SandboxID: "",
		Ports:     ports,
		Networks:  map[string]*endpointDoc{c.net.name: e.endpointLocked(c)},
	}
	if c.status == "running" {
		ns.SandboxID = c.endpointID[:32] + c.id[:32]
		ns.SandboxKey = "/var/run/docker/netns/" + c.id[:12]
	}
	return inspectDoc{
		ID:             c.id,
		Created:        formatTime(c.created),
		Path:           path,
		Args:           args,
		State:          st,
		Image:          c.imageID,
		ResolvConfPath: dir + "/resolv.conf",
		HostnamePath:   dir + "/hostname",
		HostsPath:      dir + "/hosts",
		LogPath:        dir + "/" + c.id + "-json.log",
		Name:           "/" + c.name,
		Driver:         "overlay2",
		Platform:       "linux",
		HostConfig: &hostConfigDoc{
			NetworkMode:   c.net.name,
			RestartPolicy: restartPolicyDoc{Name: "no"},
			PortBindings:  map[string]any{},
			LogConfig:     logConfigDoc{Type: "json-file", Config: map[string]string{}},
		},
		GraphDriver:     graphDriverDoc{Name: "overlay2", Data: map[string]string{}},
		Mounts:          []any{},
		Config:          cfg,
		NetworkSettings: ns,
	}
}

func (e *Engine) events(w http.ResponseWriter, r *http.Request, idx int) {
	q := r.URL.Query()
	since, err := parseEventTime(q.Get("since"))
	if err != nil {
		e.fail(w, idx, http.StatusBadRequest, err.Error())
		return
	}
	until, err := parseEventTime(q.Get("until"))
	if err != nil {
		e.fail(w, idx, http.StatusBadRequest, err.Error())
		return
	}
	if until != 0 && until < since {
		e.fail(w, idx, http.StatusBadRequest, fmt.Sprintf("`since` time (%s) cannot be after `until` time (%s)", q.Get("since"), q.Get("until")))
		return
	}
	f, err := parseFilters(q.Get("filters"))
	if err != nil {
		e.fail(w, idx, http.StatusBadRequest, err.Error())
		return
	}
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		e.fail(w, idx, http.StatusServiceUnavailable, "engine is shutting down")
		return
	}
	replay, sub := e.subscribeLocked(since, until, f)
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.dropLocked(sub)
		e.mu.Unlock()
	}()

	e.setStatus(idx, http.StatusOK)
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	flusher, _ := w.(http.Flusher)
	flush := func() {
		if flusher != nil {
			flusher.Flush()
		}
	}
	flush()
	enc := json.NewEncoder(w)
	for _, ev := range replay {
		if enc.Encode(ev) != nil {
			return
		}
	}
	flush()

	var timeout <-chan time.Time
	if until != 0 {
		left := time.Until(time.Unix(0, until))
		if left <= 0 {
			return // only past events were asked for
		}
		t := time.NewTimer(left)
		defer t.Stop()
		timeout = t.C
	}
	for {
		select {
		case ev, ok := <-sub.ch:
			if !ok {
				return
			}
			if enc.Encode(ev) != nil {
				return
			}
			flush()
		case <-timeout:
			return
		case <-r.Context().Done():
			return
		}
	}
}

func (e *Engine) networkDocLocked(n *network, withContainers bool) networkDoc {
	d := networkDoc{
		Name:       n.name,
		ID:         n.id,
		Created:    formatTime(n.created),
		Scope:      n.scope,
		Driver:     n.driver,
		EnableIPv4: n.driver != "null",
		IPAM:       ipamDoc{Driver: "default", Options: map[string]string{}, Config: []ipamConfigDoc{}},
		Containers: map[string]networkEndpointDoc{},
		Options:    map[string]string{},
		Labels:     map[string]string{},
	}
	if n.subnet != "" {
		d.IPAM.Config = append(d.IPAM.Config, ipamConfigDoc{Subnet: n.subnet, Gateway: n.gateway})
	}
	if withContainers {
		for _, c := range e.containers {
			if c.net == n && c.status == "running" {
				d.Containers[c.id] = networkEndpointDoc{
					Name:        c.name,
					EndpointID:  c.endpointID,
					MacAddress:  macFor(c.spec.IPAddress),
					IPv4Address: c.spec.IPAddress + "/" + strconv.Itoa(prefixLen(n.subnet)),
				}
			}
		}
	}
	return d
}

func (e *Engine) listNetworks(w http.ResponseWriter, idx int) {
	e.mu.Lock()
	out := []networkDoc{}
	for _, n := range e.networks {
		out = append(out, e.networkDocLocked(n, false))
	}
	e.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	e.writeJSON(w, idx, http.StatusOK, out)
}

func (e *Engine) inspectNetwork(w http.ResponseWriter, ref string, idx int) {
	e.mu.Lock()
	var found *network
	for _, n := range e.networks {
		if n.name == ref || n.id == ref || (len(ref) >= 12 && strings.HasPrefix(n.id, ref)) {
			found = n
			break
		}
	}
	if found == nil {
		e.mu.Unlock()
		e.fail(w, idx, http.StatusNotFound, "network "+ref+" not found")
		return
	}
	doc := e.networkDocLocked(found, true)
	e.mu.Unlock()
	e.writeJSON(w, idx, http.StatusOK, doc)
}
