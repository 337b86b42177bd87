package dockerapi

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Defaults the engine presents when Options leave them empty: Docker Engine
// 28.5.2, whose API 1.51 is also what Traefik v3.6.12's Docker client speaks
// at most.
const (
	DefaultEngineVersion = "28.5.2"
	DefaultAPIVersion    = "1.51"
	DefaultMinAPIVersion = "1.24"
	// DefaultNetwork is the network Kamal puts app containers on.
	DefaultNetwork = "kamal"
)

// Options shape what the stand-in presents.
type Options struct {
	// EngineVersion is the daemon version in /version, /info and the Server
	// header.
	EngineVersion string
	// APIVersion is the highest API version served (the Api-Version header
	// the client negotiates down to); MinAPIVersion the lowest. Docker 29
	// is APIVersion "1.52" with MinAPIVersion "1.44".
	APIVersion    string
	MinAPIVersion string
	// Logf, when set, receives a line for each request the stand-in does
	// not serve and for each event stream it had to cut (a subscriber that
	// stopped reading).
	Logf func(format string, args ...any)
}

// Healthcheck is a container's Docker health check (`--health-cmd` and
// friends). Zero durations and retries mean Docker's defaults (interval 30s,
// timeout 30s, start period 0, start interval 5s, retries 3).
type Healthcheck struct {
	// Test is what inspect shows, e.g. {"CMD-SHELL", "curl -f http://localhost:80/up"}.
	// Empty means that curl command on the container's exposed port.
	Test          []string
	Interval      time.Duration
	Timeout       time.Duration
	StartPeriod   time.Duration
	StartInterval time.Duration
	Retries       int
	// Probe, when set, makes the engine run the check itself while the
	// container runs, with dockerd's timing and state rules: nil is a passing
	// probe, an error a failing one. Without Probe the status only changes
	// through SetHealth.
	Probe func(ctx context.Context) error
}

// HTTPProbe is a Probe that passes when GET url answers below 400, like
// `curl -f`.
func HTTPProbe(url string) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode >= 400 {
			return fmt.Errorf("GET %s: %s", url, resp.Status)
		}
		return nil
	}
}

// ContainerSpec is what `docker run` is given.
type ContainerSpec struct {
	// Name without the leading slash, e.g. "wombat-web-abc123".
	Name  string
	Image string
	// Labels, e.g. Kamal's service/role/destination and Traefik's.
	Labels map[string]string
	// Network defaults to DefaultNetwork ("kamal").
	Network string
	// IPAddress is the container's address on Network; use a loopback
	// address (127.0.0.x) where the stand-in app listens.
	IPAddress string
	// ExposedPort is the image's EXPOSE (80 for a Rails image); 0 for none.
	ExposedPort int
	Cmd         []string
	Env         []string
	// Healthcheck nil means the container has none.
	Healthcheck *Healthcheck
}

// Container is a snapshot of one container.
type Container struct {
	ID          string
	Name        string
	Image       string
	Labels      map[string]string
	Network     string
	IPAddress   string // configured address (inspect shows it only while running)
	ExposedPort int
	// Status is created, running or exited.
	Status  string
	Running bool
	// Health is "" without a health check, else starting, healthy or unhealthy.
	Health   string
	ExitCode int
	// Stopping is true after Stop until Exited: SIGTERM sent, still running.
	Stopping   bool
	Created    time.Time
	StartedAt  time.Time
	FinishedAt time.Time
}

// Request is one HTTP request the stand-in received.
type Request struct {
	Time       time.Time
	Method     string
	Path       string // as received, e.g. /v1.51/containers/json
	Route      string // without the version prefix, e.g. /containers/json
	Query      string // raw query
	APIVersion string // from the path, "" when unversioned
	UserAgent  string
	Status     int
	Served     bool // false: answered 404 page not found
}

// Engine is a running stand-in Docker daemon.
type Engine struct {
	opt     Options
	socket  string
	ln      net.Listener
	srv     *http.Server
	id      string
	started time.Time
	wg      sync.WaitGroup // health monitors

	mu         sync.Mutex
	closed     bool
	containers map[string]*container
	networks   map[string]*network
	history    []Event
	lastNano   int64
	subs       map[*subscriber]struct{}
	requests   []Request
	nextPid    int
}

type container struct {
	id         string
	name       string
	spec       ContainerSpec
	imageID    string
	net        *network
	created    time.Time
	status     string
	pid        int
	exitCode   int
	startedAt  time.Time
	finishedAt time.Time
	health     *healthState
	stopping   bool
	endpointID string
	runStop    chan struct{} // closed when this run ends (stops the health monitor)
}

type healthState struct {
	status string
	streak int
	log    []probeResult
}

type probeResult struct {
	start, end time.Time
	exitCode   int
	output     string
}

type network struct {
	id      string
	name    string
	driver  string
	scope   string
	created time.Time
	subnet  string
	gateway string
}

// Errors the Go API returns (wrapped); the HTTP side maps errNotFound to 404.
var (
	errNotFound = errors.New("no such container")
	errConflict = errors.New("conflict")
	errState    = errors.New("invalid container state")
)

// New starts a stand-in engine on a unix socket at socketPath with the
// default Options.
func New(socketPath string) (*Engine, error) {
	return NewWithOptions(socketPath, Options{})
}

// NewWithOptions starts a stand-in engine on a unix socket at socketPath.
func NewWithOptions(socketPath string, opt Options) (*Engine, error) {
	if opt.EngineVersion == "" {
		opt.EngineVersion = DefaultEngineVersion
	}
	if opt.APIVersion == "" {
		opt.APIVersion = DefaultAPIVersion
	}
	if opt.MinAPIVersion == "" {
		opt.MinAPIVersion = DefaultMinAPIVersion
	}
	if compareVersions(opt.MinAPIVersion, opt.APIVersion) > 0 {
		return nil, fmt.Errorf("dockerapi: MinAPIVersion %s is above APIVersion %s", opt.MinAPIVersion, opt.APIVersion)
	}
	if socketPath == "" {
		return nil, errors.New("dockerapi: empty socket path")
	}
	// sun_path holds 108 bytes including the terminating NUL on Linux.
	if len(socketPath) > 107 {
		return nil, fmt.Errorf("dockerapi: socket path too long for a unix socket (%d bytes, max 107): %s", len(socketPath), socketPath)
	}
	if err := clearStaleSocket(socketPath); err != nil {
		return nil, err
	}
	ln, err := net.Listen("unix", socketPath)
	if err != nil {
		return nil, fmt.Errorf("dockerapi: listen on %s: %w", socketPath, err)
	}
	now := time.Now()
	e := &Engine{
		opt:        opt,
		socket:     socketPath,
		ln:         ln,
		id:         strings.ToUpper(randomHex(16)),
		started:    now,
		containers: map[string]*container{},
		networks:   map[string]*network{},
		subs:       map[*subscriber]struct{}{},
		nextPid:    4100,
	}
	// What a fresh dockerd has, plus the network Kamal creates.
	for _, n := range []struct{ name, driver, subnet, gateway string }{
		{"bridge", "bridge", "172.17.0.0/16", "172.17.0.1"},
		{"host", "host", "", ""},
		{"none", "null", "", ""},
		{DefaultNetwork, "bridge", "127.0.0.0/8", "127.0.0.1"},
	} {
		e.networks[n.name] = &network{id: randomHex(32), name: n.name, driver: n.driver, scope: "local", created: now, subnet: n.subnet, gateway: n.gateway}
	}
	e.srv = &http.Server{Handler: http.HandlerFunc(e.serveHTTP), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = e.srv.Serve(ln) }()
	return e, nil
}

// clearStaleSocket removes a socket file nobody listens on; it refuses to
// touch anything else.
func clearStaleSocket(path string) error {
	fi, err := os.Lstat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("dockerapi: %w", err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return fmt.Errorf("dockerapi: %s exists and is not a socket", path)
	}
	if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
		c.Close()
		return fmt.Errorf("dockerapi: something already listens on %s", path)
	}
	if err := os.Remove(path); err != nil {
		return fmt.Errorf("dockerapi: remove stale socket: %w", err)
	}
	return nil
}

// SocketPath is the unix socket the engine listens on.
func (e *Engine) SocketPath() string { return e.socket }

// Endpoint is the socket as a Docker host URL (unix:///path), what
// Traefik's providers.docker.endpoint takes.
func (e *Engine) Endpoint() string { return "unix://" + e.socket }

// Close stops the engine: health monitors end, event streams close, the
// socket is removed.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	for _, c := range e.containers {
		c.endRun()
	}
	for s := range e.subs {
		e.dropLocked(s)
	}
	e.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	err := e.srv.Shutdown(ctx)
	if err != nil {
		err = e.srv.Close()
	}
	e.wg.Wait()
	_ = os.Remove(e.socket)
	return err
}

var validName = regexp.MustCompile(`^/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$`)

// Create records a new container (`docker create`) and emits "create". It
// returns the container's ID.
func (e *Engine) Create(spec ContainerSpec) (string, error) {
	if !validName.MatchString(spec.Name) {
		return "", fmt.Errorf("dockerapi: create: invalid container name %q, only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed", spec.Name)
	}
	spec.Name = strings.TrimPrefix(spec.Name, "/")
	if spec.Image == "" {
		return "", fmt.Errorf("dockerapi: create %s: no image", spec.Name)
	}
	ip := net.ParseIP(spec.IPAddress)
	if ip == nil || ip.To4() == nil {
		return "", fmt.Errorf("dockerapi: create %s: IPAddress %q is not an IPv4 address", spec.Name, spec.IPAddress)
	}
	if spec.ExposedPort < 0 || spec.ExposedPort > 65535 {
		return "", fmt.Errorf("dockerapi: create %s: ExposedPort %d out of range", spec.Name, spec.ExposedPort)
	}
	if spec.Network == "" {
		spec.Network = DefaultNetwork
	}
	spec.Labels = copyMap(spec.Labels)
	spec.Cmd = append([]string(nil), spec.Cmd...)
	spec.Env = append([]string(nil), spec.Env...)
	if hc := spec.Healthcheck; hc != nil {
		cp := *hc
		if len(cp.Test) == 0 {
			port := spec.ExposedPort
			if port == 0 {
				port = 80
			}
			cp.Test = []string{"CMD-SHELL", fmt.Sprintf("curl -f http://localhost:%d/up", port)}
		}
		cp.Test = append([]string(nil), cp.Test...)
		spec.Healthcheck = &cp
	}

	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return "", errors.New("dockerapi: engine closed")
	}
	for _, c := range e.containers {
		if c.name == spec.Name {
			return "", fmt.Errorf("dockerapi: create: %w. The container name \"/%s\" is already in use by container %q. You have to remove (or rename) that container to be able to reuse that name", errConflict, spec.Name, c.id)
		}
	}
	n := e.networks[spec.Network]
	if n == nil {
		// Kamal runs `docker network create kamal`; other names appear on use.
		n = &network{id: randomHex(32), name: spec.Network, driver: "bridge", scope: "local", created: time.Now(), subnet: "127.0.0.0/8", gateway: "127.0.0.1"}
		e.networks[spec.Network] = n
	}
	sum := sha256.Sum256([]byte(spec.Image))
	c := &container{
		id:      randomHex(32),
		name:    spec.Name,
		spec:    spec,
		imageID: "sha256:" + hex.EncodeToString(sum[:]),
		net:     n,
		created: time.Now().UTC(),
		status:  "created",
	}
	e.containers[c.id] = c
	e.emitContainerLocked(c, "create", nil)
	return c.id, nil
}

// Run is Create then Start (`docker run -d`).
func (e *Engine) Run(spec ContainerSpec) (string, error) {
	id, err := e.Create(spec)
	if err != nil {
		return "", err
	}
	if err := e.Start(id); err != nil {
		return id, err
	}
	return id, nil
}

// Start starts a created or exited container: network "connect", then
// "start". A health check resets to starting (no event, as in dockerd).
func (e *Engine) Start(ref string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return errors.New("dockerapi: start: engine closed")
	}
	c, err := e.resolveLocked(ref)
	if err != nil {
		return fmt.Errorf("dockerapi: start: %w", err)
	}
	if c.status == "running" {
		return fmt.Errorf("dockerapi: start %s: %w: already running", c.name, errState)
	}
	for _, o := range e.containers {
		if o != c && o.status == "running" && o.net == c.net && o.spec.IPAddress == c.spec.IPAddress {
			return fmt.Errorf("dockerapi: start %s: %w: address %s on network %s is in use by container %s", c.name, errConflict, c.spec.IPAddress, c.net.name, o.name)
		}
	}
	now := time.Now().UTC()
	e.nextPid += 7
	c.status = "running"
	c.pid = e.nextPid
	c.exitCode = 0
	c.startedAt = now
	c.stopping = false
	c.endpointID = randomHex(32)
	c.runStop = make(chan struct{})
	if hc := c.spec.Healthcheck; hc != nil {
		if c.health == nil {
			c.health = &healthState{}
		}
		c.health.status = "starting"
		c.health.streak = 0
	}
	e.emitNetworkLocked(c, "connect")
	e.emitContainerLocked(c, "start", nil)
	if hc := c.spec.Healthcheck; hc != nil && hc.Probe != nil {
		e.wg.Add(1)
		go e.monitor(c, c.runStop, now, *hc)
	}
	return nil
}

// SetHealth sets a running container's health status: "healthy" or
// "unhealthy" emit "health_status: <status>" when it changes; "starting"
// resets the status silently (dockerd never reports starting in an event).
func (e *Engine) SetHealth(ref, status string) error {
	switch status {
	case "starting", "healthy", "unhealthy":
	default:
		return fmt.Errorf("dockerapi: set health: status %q is not starting, healthy or unhealthy", status)
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.resolveLocked(ref)
	if err != nil {
		return fmt.Errorf("dockerapi: set health: %w", err)
	}
	if c.spec.Healthcheck == nil || c.health == nil {
		return fmt.Errorf("dockerapi: set health %s: %w: the container has no health check (or never started)", c.name, errState)
	}
	if c.status != "running" {
		return fmt.Errorf("dockerapi: set health %s: %w: container is %s, health checks only run while it runs", c.name, errState, c.status)
	}
	now := time.Now().UTC()
	switch status {
	case "starting":
		c.health.status, c.health.streak = "starting", 0
		return nil
	case "healthy":
		e.recordHealthLocked(c, probeResult{start: now, end: now, exitCode: 0, output: "set healthy by the test"})
		c.health.streak = 0
	case "unhealthy":
		e.recordHealthLocked(c, probeResult{start: now, end: now, exitCode: 1, output: "set unhealthy by the test"})
		c.health.streak = retriesOf(c.spec.Healthcheck)
	}
	e.setHealthLocked(c, status)
	return nil
}

func (e *Engine) recordHealthLocked(c *container, r probeResult) {
	const maxLog = 5 // dockerd keeps the last five results
	c.health.log = append(c.health.log, r)
	if len(c.health.log) > maxLog {
		c.health.log = append([]probeResult(nil), c.health.log[len(c.health.log)-maxLog:]...)
	}
}

func (e *Engine) setHealthLocked(c *container, status string) {
	if c.health.status == status {
		return
	}
	c.health.status = status
	e.emitContainerLocked(c, "health_status: "+status, nil)
}

// Stop is the start of `docker stop`: SIGTERM (event "kill", signal=15).
// The container keeps running (and stays in Traefik's pool) until Exited.
func (e *Engine) Stop(ref string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.resolveLocked(ref)
	if err != nil {
		return fmt.Errorf("dockerapi: stop: %w", err)
	}
	if c.status != "running" {
		return fmt.Errorf("dockerapi: stop %s: %w: container is %s (dockerd answers 304, already stopped)", c.name, errState, c.status)
	}
	c.stopping = true
	e.emitContainerLocked(c, "kill", map[string]string{"signal": "15"})
	return nil
}

// Kill sends a signal (event "kill", signal=N), e.g. 9 when `docker stop`'s
// timeout expires. Like Stop it does not end the process: call Exited.
func (e *Engine) Kill(ref string, signal int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.resolveLocked(ref)
	if err != nil {
		return fmt.Errorf("dockerapi: kill: %w", err)
	}
	if c.status != "running" {
		return fmt.Errorf("dockerapi: kill %s: %w: container is %s", c.name, errState, c.status)
	}
	e.emitContainerLocked(c, "kill", map[string]string{"signal": strconv.Itoa(signal)})
	return nil
}

// Exited records that the container's main process ended with code:
// network "disconnect", "die" (exitCode, execDuration), and "stop" when a
// Stop asked for it. The container's address is released.
func (e *Engine) Exited(ref string, code int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.resolveLocked(ref)
	if err != nil {
		return fmt.Errorf("dockerapi: exited: %w", err)
	}
	if c.status != "running" {
		return fmt.Errorf("dockerapi: exited %s: %w: container is %s", c.name, errState, c.status)
	}
	now := time.Now().UTC()
	c.endRun()
	c.status = "exited"
	c.pid = 0
	c.exitCode = code
	c.finishedAt = now
	e.emitNetworkLocked(c, "disconnect")
	c.endpointID = ""
	e.emitContainerLocked(c, "die", map[string]string{
		"exitCode":     strconv.Itoa(code),
		"execDuration": strconv.Itoa(int(now.Sub(c.startedAt).Seconds())),
	})
	if c.stopping {
		c.stopping = false
		e.emitContainerLocked(c, "stop", nil)
	}
	return nil
}

// Rename gives a container a new name (`docker rename`), emitting "rename"
// with the old name, as Kamal does to the running container of a version it
// boots again (<name>_replaced_<hex>).
func (e *Engine) Rename(ref, newName string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.resolveLocked(ref)
	if err != nil {
		return fmt.Errorf("dockerapi: rename: %w", err)
	}
	newName = strings.TrimPrefix(newName, "/")
	if !validName.MatchString(newName) {
		return fmt.Errorf("dockerapi: rename %s: invalid container name %q", c.name, newName)
	}
	for _, o := range e.containers {
		if o.name == newName {
			return fmt.Errorf("dockerapi: rename %s: %w: the name %q is already in use by container %s", c.name, errConflict, newName, o.id)
		}
	}
	old := c.name
	c.name = newName
	c.spec.Name = newName
	e.emitContainerLocked(c, "rename", map[string]string{"oldName": "/" + old})
	return nil
}

// Remove deletes a container that is not running (`docker rm`): "destroy".
func (e *Engine) Remove(ref string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.resolveLocked(ref)
	if err != nil {
		return fmt.Errorf("dockerapi: remove: %w", err)
	}
	if c.status == "running" {
		return fmt.Errorf("dockerapi: remove %s: %w: cannot remove container \"/%s\": container is running: stop the container before removing or force remove", c.name, errConflict, c.name)
	}
	delete(e.containers, c.id)
	e.emitContainerLocked(c, "destroy", nil)
	return nil
}

// List returns all containers, oldest first.
func (e *Engine) List() []Container {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Container, 0, len(e.containers))
	for _, c := range e.sortedLocked() {
		out = append(out, c.snapshot())
	}
	return out
}

// Inspect returns one container by ID, unique ID prefix or name.
func (e *Engine) Inspect(ref string) (Container, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, err := e.resolveLocked(ref)
	if err != nil {
		return Container{}, fmt.Errorf("dockerapi: inspect: %w", err)
	}
	return c.snapshot(), nil
}

// Events returns every event emitted so far, oldest first.
func (e *Engine) Events() []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Event, len(e.history))
	for i, ev := range e.history {
		out[i] = ev.clone()
	}
	return out
}

// Requests returns every HTTP request received so far, oldest first.
func (e *Engine) Requests() []Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Request(nil), e.requests...)
}

// Unserved returns the requests answered with 404 page not found.
func (e *Engine) Unserved() []Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Request
	for _, r := range e.requests {
		if !r.Served {
			out = append(out, r)
		}
	}
	return out
}

// EventStreams is the number of /events streams currently open.
func (e *Engine) EventStreams() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.subs)
}

// DropEventStreams ends every open /events stream, as a dockerd restart
// does; clients see EOF.
func (e *Engine) DropEventStreams() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for s := range e.subs {
		e.dropLocked(s)
	}
}

func (c *container) endRun() {
	if c.runStop != nil {
		close(c.runStop)
		c.runStop = nil
	}
}

func (c *container) snapshot() Container {
	s := Container{
		ID:          c.id,
		Name:        c.name,
		Image:       c.spec.Image,
		Labels:      copyMap(c.spec.Labels),
		Network:     c.net.name,
		IPAddress:   c.spec.IPAddress,
		ExposedPort: c.spec.ExposedPort,
		Status:      c.status,
		Running:     c.status == "running",
		ExitCode:    c.exitCode,
		Stopping:    c.stopping,
		Created:     c.created,
		StartedAt:   c.startedAt,
		FinishedAt:  c.finishedAt,
	}
	if c.health != nil {
		s.Health = c.health.status
	}
	return s
}

func (e *Engine) sortedLocked() []*container {
	out := make([]*container, 0, len(e.containers))
	for _, c := range e.containers {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].created.Equal(out[j].created) {
			return out[i].created.Before(out[j].created)
		}
		return out[i].id < out[j].id
	})
	return out
}

// resolveLocked finds a container the way dockerd does: full ID, name
// (with or without the slash), then a unique ID prefix.
func (e *Engine) resolveLocked(ref string) (*container, error) {
	if ref == "" {
		return nil, fmt.Errorf("%w: empty reference", errNotFound)
	}
	if c, ok := e.containers[ref]; ok {
		return c, nil
	}
	name := strings.TrimPrefix(ref, "/")
	for _, c := range e.containers {
		if c.name == name {
			return c, nil
		}
	}
	var found *container
	for id, c := range e.containers {
		if strings.HasPrefix(id, ref) {
			if found != nil {
				return nil, fmt.Errorf("%w: multiple IDs found with provided prefix: %s", errConflict, ref)
			}
			found = c
		}
	}
	if found == nil {
		return nil, fmt.Errorf("%w: No such container: %s", errNotFound, ref)
	}
	return found, nil
}

// emitContainerLocked logs a container event the way dockerd does: extra
// attributes, then the labels (which win), then image and name.
func (e *Engine) emitContainerLocked(c *container, action string, extra map[string]string) {
	attrs := map[string]string{}
	for k, v := range extra {
		attrs[k] = v
	}
	for k, v := range c.spec.Labels {
		attrs[k] = v
	}
	attrs["image"] = c.spec.Image
	attrs["name"] = c.name
	e.publishLocked(Event{
		Status: action,
		ID:     c.id,
		From:   c.spec.Image,
		Type:   "container",
		Action: action,
		Actor:  Actor{ID: c.id, Attributes: attrs},
		Scope:  "local",
	})
}

func (e *Engine) emitNetworkLocked(c *container, action string) {
	e.publishLocked(Event{
		Type:   "network",
		Action: action,
		Actor: Actor{ID: c.net.id, Attributes: map[string]string{
			"container": c.id,
			"name":      c.net.name,
			"type":      c.net.driver,
		}},
		Scope: "local",
	})
}

func (ev Event) clone() Event {
	ev.Actor.Attributes = copyMap(ev.Actor.Attributes)
	return ev
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("dockerapi: crypto/rand: " + err.Error())
	}
	return hex.EncodeToString(b)
}

// compareVersions compares dotted API versions numerically ("1.9" < "1.10").
func compareVersions(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) || i < len(bs); i++ {
		var x, y int
		if i < len(as) {
			x, _ = strconv.Atoi(as[i])
		}
		if i < len(bs) {
			y, _ = strconv.Atoi(bs[i])
		}
		if x != y {
			if x < y {
				return -1
			}
			return 1
		}
	}
	return 0
}
