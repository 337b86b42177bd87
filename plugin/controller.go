package plugin

import (
	"context"
	"encoding/json"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// snapshot is the app's effective state at one moment. It is immutable once
// published; the request path reads it with one atomic load.
type snapshot struct {
	mode    Mode // the written mode: live, deploying, paused or maintenance
	source  string
	message string
	until   time.Time
	// by and at are the winning state file's writer and time, for the
	// status endpoint.
	by      string
	at      time.Time
	since   time.Time
	healthy bool
	// lastProbe and probeError describe the newest health probe.
	lastProbe  time.Time
	probeError string
}

// effective folds health into the mode: a live or deploying app whose probe
// fails is unavailable.
func (s *snapshot) effective() Mode {
	if !s.healthy && (s.mode == ModeLive || s.mode == ModeDeploying) {
		return ModeUnavailable
	}
	return s.mode
}

// Effective modes as small integers, so the request path reads them with
// one atomic load instead of a type assertion.
const (
	effLive int32 = iota
	effDeploying
	effPaused
	effMaintenance
	effUnavailable
)

func effCode(m Mode) int32 {
	switch m {
	case ModeDeploying:
		return effDeploying
	case ModePaused:
		return effPaused
	case ModeMaintenance:
		return effMaintenance
	case ModeUnavailable:
		return effUnavailable
	}
	return effLive
}

// controller owns everything about one app configuration that outlives a
// single middleware instance: the state-file poller, the health prober, the
// published snapshot and the held-request count. Traefik calls New on every
// configuration apply, so instances come and go; controllers are shared
// through the registry and stop only when no instance has used them for a
// while.
type controller struct {
	key string
	s   *settings

	snap atomic.Value // *snapshot
	eff  atomic.Int32 // the snapshot's effective mode, as an eff* code
	next atomic.Value // *nextHolder, the newest instance's next handler
	held atomic.Int64
	// busy counts requests being held or retried: a controller with busy
	// requests is not stopped, so a configuration change (which starts a
	// new controller and lets this one go) never strands a held request
	// without the state and health updates it waits for.
	busy atomic.Int64

	// notLive (the snapshot is not live and healthy) and inMaintenance
	// (eff is maintenance) are for the request path: each holds one token
	// while its condition is true, so a request asks with len(), which
	// Yaegi answers without calling into native code (an atomic's Load
	// costs a reflected method call per request).
	notLive       chan struct{}
	inMaintenance chan struct{}
	// The maintenance page for HTML and JSON clients (*preparedPage),
	// prepared when maintenance begins or changes and refreshed by the
	// state loop while its Retry-After counts down, so that a request
	// only loads it.
	htmlPage atomic.Value
	jsonPage atomic.Value
	// pages renders them: the newest instance's settings, so a reload
	// with a changed templateFile shows the new page.
	pages *settings

	// serverW and appW read the state files (nil without a stateDir);
	// they are shared with other controllers and never take mu.
	serverW *fileWatcher
	appW    *fileWatcher

	mu         sync.Mutex
	changed    chan struct{} // closed and replaced on every new snapshot
	healthy    bool
	okStreak   int
	failStreak int
	lastProbe  time.Time
	probeError string

	// Guarded by registry.mu.
	refs      int
	stopTimer *time.Timer
	stop      chan struct{}
}

type nextHolder struct{ h http.Handler }

type controllerRegistry struct {
	mu         sync.Mutex
	byKey      map[string]*controller
	lastHealth map[string]bool
}

// registry is process-wide: every instance of the middleware, across every
// configuration reload, shares it.
var registry = &controllerRegistry{
	byKey:      map[string]*controller{},
	lastHealth: map[string]bool{},
}

// configKey identifies a configuration: instances with equal configs share
// one controller, so one prober runs per app however many routers use it.
func configKey(cfg *Config) string {
	b, err := json.Marshal(cfg)
	if err != nil {
		return cfg.App
	}
	return string(b)
}

func healthKey(s *settings) string {
	return s.app + "\x00" + s.health.url + "\x00" + s.health.path + "\x00" + s.health.host
}

// acquire returns the controller for key, starting it if needed, and keeps
// it alive until ctx is done (Traefik cancels it when the next configuration
// is applied).
func acquire(ctx context.Context, key string, s *settings, next http.Handler) *controller {
	registry.mu.Lock()
	c := registry.byKey[key]
	fresh := c == nil
	if c == nil {
		healthy, seen := registry.lastHealth[healthKey(s)]
		if !seen || !s.health.enabled {
			// Unknown health counts as healthy: never block an app on start.
			// Without a probe nothing could ever mark the app healthy again.
			healthy = true
		}
		c = newController(key, s, healthy)
		registry.byKey[key] = c
		c.next.Store(&nextHolder{h: next})
		c.start()
	}
	c.refs++
	if c.stopTimer != nil {
		c.stopTimer.Stop()
		c.stopTimer = nil
	}
	registry.mu.Unlock()

	if fresh {
		// Outside every lock: a blocked file costs this one New at most
		// firstLookWait, and nothing else.
		deadline := time.Now().Add(firstLookWait)
		if c.serverW != nil {
			c.serverW.waitFirstLook(deadline)
			c.appW.waitFirstLook(deadline)
		}
	}
	c.next.Store(&nextHolder{h: next})
	c.mu.Lock()
	if c.pages != s {
		c.pages = s
		c.preparePagesLocked(time.Now(), true)
	}
	c.mu.Unlock()
	if done := ctx.Done(); done != nil {
		go func() {
			defer recoverGoroutine(s.app, "release")
			<-done
			c.release()
		}()
	}
	return c
}

// stopGrace is how long an unused controller lives on, so a reload (the old
// context cancelled around the time the new instance is built) never
// restarts the poller or forgets health.
func (c *controller) stopGrace() time.Duration {
	g := minStopGrace
	if h := 3 * c.s.health.interval; h > g {
		g = h
	}
	return g
}

func (c *controller) release() {
	registry.mu.Lock()
	defer registry.mu.Unlock()
	c.refs--
	if c.refs > 0 || c.stopTimer != nil {
		return
	}
	c.armStopLocked(c.stopGrace())
}

// minStopGrace is the shortest stopGrace (a variable so that tests can
// let a released controller go sooner).
var minStopGrace = 10 * time.Second

// busyRecheck is how often a controller kept alive by held requests looks
// again whether it can stop.
const busyRecheck = time.Second

// armStopLocked stops c after d unless an instance picks it up again
// meanwhile or requests are still held or retried by it. Called with
// registry.mu held.
func (c *controller) armStopLocked(d time.Duration) {
	c.stopTimer = time.AfterFunc(d, func() {
		defer recoverGoroutine(c.s.app, "stop")
		registry.mu.Lock()
		defer registry.mu.Unlock()
		if c.refs != 0 || registry.byKey[c.key] != c {
			return
		}
		if c.busy.Load() > 0 {
			c.armStopLocked(busyRecheck)
			return
		}
		delete(registry.byKey, c.key)
		close(c.stop)
		if c.serverW != nil {
			c.serverW.unwatch(c)
			c.appW.unwatch(c)
		}
	})
}

func newController(key string, s *settings, healthy bool) *controller {
	c := &controller{
		key:           key,
		s:             s,
		pages:         s,
		changed:       make(chan struct{}),
		healthy:       healthy,
		stop:          make(chan struct{}),
		notLive:       make(chan struct{}, 1),
		inMaintenance: make(chan struct{}, 1),
	}
	c.notLive <- struct{}{} // until the first publish says otherwise
	// Under mu: a watcher that already runs may call stateFileChanged as
	// soon as c subscribes, and must find both watchers set.
	c.mu.Lock()
	if s.stateDir != "" {
		c.serverW = watch(ServerStatePath(s.stateDir), c)
		c.appW = watch(AppStatePath(s.stateDir, s.app), c)
	}
	c.publishLocked(time.Now())
	c.mu.Unlock()
	return c
}

// stateFileChanged is called by a watcher when one of c's files changed.
func (c *controller) stateFileChanged() {
	safely(c.s.app, "state update", func() {
		c.mu.Lock()
		defer c.mu.Unlock()
		now := time.Now()
		c.publishLocked(now)
		c.preparePagesLocked(now, false)
	})
}

func (c *controller) start() {
	go c.stateLoop()
	if c.s.health.enabled {
		go c.healthLoop()
	}
}

// current returns the published snapshot.
func (c *controller) current() *snapshot {
	return c.snap.Load().(*snapshot)
}

// changes returns a channel closed at the next published change. Take it
// before reading current() so no change can slip between the two.
func (c *controller) changes() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.changed
}

func (c *controller) nextHandler() http.Handler {
	return c.next.Load().(*nextHolder).h
}

// tickEvery is how often a controller re-evaluates time-bound sources
// (a state's until, a window's start and end) and refreshes a counting-down
// Retry-After. The files themselves are watched by fileWatcher.
func (c *controller) tickEvery() time.Duration {
	d := c.s.pollInterval
	if d < 250*time.Millisecond {
		d = 250 * time.Millisecond
	}
	return d
}

func (c *controller) stateLoop() {
	defer recoverGoroutine(c.s.app, "state loop")
	t := time.NewTicker(c.tickEvery())
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			safely(c.s.app, "state loop", func() {
				now := time.Now()
				if c.serverW != nil {
					c.serverW.checkStuck(now)
					c.appW.checkStuck(now)
				}
				c.mu.Lock()
				defer c.mu.Unlock()
				c.publishLocked(now)
				c.preparePagesLocked(now, false)
			})
		}
	}
}

// publishLocked recomputes the snapshot from every source and publishes it
// if anything a request could notice changed. Sources rank by mode: the
// highest-precedence mode wins (maintenance > paused > deploying > live).
func (c *controller) publishLocked(now time.Time) {
	next := &snapshot{mode: ModeLive, healthy: c.healthy && !c.s.fallback, lastProbe: c.lastProbe, probeError: c.probeError}
	consider := func(m Mode, source, message string, until time.Time) {
		if m.rank() > next.mode.rank() {
			next.mode, next.source, next.message, next.until = m, source, message, until
		}
	}
	if c.s.enabled {
		consider(ModeMaintenance, "config", "", time.Time{})
	}
	for _, w := range c.s.windows {
		if !now.Before(w.start) && now.Before(w.end) {
			consider(ModeMaintenance, "window", w.message, w.end)
		}
	}
	files := []*fileWatcher{c.serverW, c.appW}
	sources := []string{"server-state", "app-state"}
	for i, w := range files {
		if w == nil {
			continue
		}
		ws := w.current()
		if ws.present && ws.good.activeAt(now) && ws.good.Mode.rank() > next.mode.rank() {
			consider(ws.good.Mode, sources[i], ws.good.Message, ws.good.Until)
			next.by = ws.good.By
			next.at = ws.good.At
		}
	}

	prev, _ := c.snap.Load().(*snapshot)
	if prev != nil && prev.mode == next.mode && prev.source == next.source && prev.message == next.message &&
		prev.until.Equal(next.until) && prev.healthy == next.healthy && prev.by == next.by && prev.at.Equal(next.at) {
		if prev.lastProbe.Equal(next.lastProbe) && prev.probeError == next.probeError {
			return
		}
		// Only probe bookkeeping changed: publish without waking anyone.
		next.since = prev.since
		c.snap.Store(next)
		return
	}
	next.since = now
	if prev != nil && prev.effective() != next.effective() {
		logInfo("berth[%s]: mode %s -> %s (source %q)", c.s.app, prev.effective(), next.effective(), next.source)
	}
	c.snap.Store(next)
	eff := effCode(next.effective())
	if eff == effMaintenance {
		c.preparePagesLocked(now, true) // before the flags, so a request finds them
	}
	c.eff.Store(eff)
	setFlag(c.inMaintenance, eff == effMaintenance)
	setFlag(c.notLive, !(next.mode == ModeLive && next.healthy))
	close(c.changed)
	c.changed = make(chan struct{})
}

// setFlag puts the token into a one-slot channel flag, or takes it out.
// Only publishLocked calls it, under c.mu, so it never blocks.
func setFlag(flag chan struct{}, on bool) {
	if on {
		select {
		case flag <- struct{}{}:
		default:
		}
		return
	}
	select {
	case <-flag:
	default:
	}
}

// preparePagesLocked renders the maintenance pages when the app is in
// maintenance: always when force is set (a new state or template), and
// otherwise only when a counting-down Retry-After has moved on a second
// (so it is at most one poll interval behind).
func (c *controller) preparePagesLocked(now time.Time, force bool) {
	snap, _ := c.snap.Load().(*snapshot)
	if snap == nil || snap.effective() != ModeMaintenance {
		return
	}
	if !force {
		p, _ := c.htmlPage.Load().(*preparedPage)
		if p != nil && (!p.countdown || p.second == now.Unix()) {
			return
		}
	}
	info := pageInfoFor(snap)
	c.htmlPage.Store(c.pages.preparePage(info, now, false))
	c.jsonPage.Store(c.pages.preparePage(info, now, true))
}

// safely runs one step of a loop so that a panic in it is logged and the
// loop goes on with the next step.
func safely(app, what string, step func()) {
	defer recoverGoroutine(app, what)
	step()
}

// recoverGoroutine keeps a panic in one of our goroutines from killing
// Traefik (an unrecovered panic in a plugin goroutine ends the process).
func recoverGoroutine(app, what string) {
	if r := recover(); r != nil {
		logError("berth[%s]: recovered from a panic in the %s: %v", app, what, r)
	}
}
