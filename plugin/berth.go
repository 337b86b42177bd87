// Package plugin is berth's Traefik middleware: maintenance mode and
// health-aware routing for each app hosted behind Traefik.
//
// It runs inside Traefik's Yaegi interpreter, so it uses the Go 1.22
// standard library only and avoids what Yaegi lacks (see docs/yaegi.md#traefik-plugins-under-yaegi): no
// range over integers, no unsafe, no goroutine without recover.
package plugin

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Berth is one middleware instance. Traefik builds one per router on every
// configuration apply; the long-lived parts live in the shared controller.
type Berth struct {
	// serve is the handler New gives Traefik (see fastPath).
	serve      http.HandlerFunc
	statusPath string
	next       http.Handler
	name       string
	s          *settings
	c          *controller
	// pageAtOnce: no operator can pass (no allowlist, no bypass secret) and
	// every always-pass path is exact (exactPass), so a maintenance
	// request is decided by a path lookup alone.
	pageAtOnce bool
	exactPass  map[string]bool
	// The controller's maintenance flag and pages, one selector closer.
	inMaintenance      chan struct{}
	htmlPage, jsonPage *atomic.Value
}

// New is called by Traefik for every router that uses the middleware. An
// error here drops only that router, so every field is checked and the
// error names it.
func New(ctx context.Context, next http.Handler, cfg *Config, name string) (h http.Handler, err error) {
	defer func() {
		if r := recover(); r != nil {
			h = nil
			err = fmt.Errorf("berth: %s: internal error while loading the configuration: %v", name, r)
		}
	}()
	b, err := newInstance(ctx, next, cfg, name)
	if err != nil {
		return nil, err
	}
	return b.serve, nil
}

func newInstance(ctx context.Context, next http.Handler, cfg *Config, name string) (*Berth, error) {
	if next == nil {
		return nil, fmt.Errorf("berth: %s: no next handler", name)
	}
	if cfg == nil {
		return nil, fmt.Errorf("berth: no configuration given (middleware %s)", name)
	}
	cfg, err := applyOptions(cfg)
	if err != nil {
		return nil, fmt.Errorf("%v (middleware %s)", err, name)
	}
	s, err := compile(cfg)
	if err != nil {
		return nil, fmt.Errorf("%v (middleware %s)", err, name)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	c := acquire(ctx, configKey(cfg), s, next)
	b := &Berth{statusPath: s.statusPath, next: next, name: name, s: s, c: c,
		inMaintenance: c.inMaintenance, htmlPage: &c.htmlPage, jsonPage: &c.jsonPage}
	b.pageAtOnce = s.bypassSecret == nil && len(s.allow) == 0
	b.exactPass = map[string]bool{}
	for _, p := range s.alwaysPass {
		if strings.HasSuffix(p, "*") {
			b.pageAtOnce = false
		}
		b.exactPass[p] = true
	}
	b.serve = fastPath(b, next, c.notLive, s.statusPath)
	return b, nil
}

// fastPath is what Traefik calls for every request. While the app is live
// it is one channel length, one path comparison and next: no
// ResponseWriter wrapper, so streams, SSE and websockets pass through
// untouched.
//
// It is a closure rather than a method because under Yaegi that is the
// cheapest shape (measured in e2e/yaegi, see README): a closure reads what
// it captured without copying a receiver or selecting fields, and Yaegi
// allocates every local of a function on each call, so the body stays
// this small and everything else is in serveNotLive.
func fastPath(b *Berth, next http.Handler, notLive chan struct{}, statusPath string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if len(notLive) == 0 && r.URL.Path != statusPath {
			next.ServeHTTP(w, r)
			return
		}
		serveNotLive(b, w, r)
	}
}

// ServeHTTP is the same handler for Go callers holding a *Berth.
func (b *Berth) ServeHTTP(w http.ResponseWriter, r *http.Request) { b.serve(w, r) }

// serveNotLive answers a maintenance request with the prepared page when
// nothing about the request can change that (pageAtOnce: no operator can
// pass; the path is not an always-pass one), and hands everything else to
// serveGuarded.
//
// This path has no deferred recover, unlike every other one: a deferred
// call costs about a quarter of a maintenance response under Yaegi, and
// nothing here can panic on berth's account. It reads fields set once in
// New, a read-only map, the request and an atomically published page, and
// calls the ResponseWriter; prefersJSON, its only parsing, is fuzzed. The
// live path is in the same position.
func serveNotLive(b *Berth, w http.ResponseWriter, r *http.Request) {
	if b.pageAtOnce && len(b.inMaintenance) != 0 {
		path := r.URL.Path
		if path != b.statusPath && !b.exactPass[path] && serveCurrentPage(b, w, r) {
			return
		}
	}
	serveGuarded(b, w, r)
}

// serveGuarded is everything off the two hot paths, under a recover so
// that no panic of berth's reaches Traefik. Yaegi allocates every local of
// a function when it is called, so the hot paths stay in small functions
// and this one holds the rest.
func serveGuarded(b *Berth, w http.ResponseWriter, r *http.Request) {
	defer recoverRequest(b, w, r)
	serveRest(b, w, r)
}

// recoverRequest turns a panic while serving r into a logged 500, except
// http.ErrAbortHandler: that is how a reverse proxy aborts a response whose
// upstream died half way, and the server must cut the connection rather
// than finish a truncated body as if it were whole.
func recoverRequest(b *Berth, w http.ResponseWriter, r *http.Request) {
	p := recover()
	if p == nil {
		return
	}
	if p == http.ErrAbortHandler {
		panic(p)
	}
	logError("berth[%s]: recovered from a panic serving %s %s: %v", b.s.app, r.Method, r.URL.Path, p)
	http.Error(w, "Internal Server Error", http.StatusInternalServerError)
}

func serveRest(b *Berth, w http.ResponseWriter, r *http.Request) {
	s := b.s
	path := r.URL.Path
	if path == s.statusPath && s.statusPath != "" && s.operator(r, time.Now()) {
		b.serveStatus(w, r, time.Now())
		return
	}
	if s.fallback {
		// No container runs: there is nothing to hold for or to pass to.
		b.servePage(w, r, b.c.current(), time.Now())
		return
	}
	if s.bypassSecret != nil && s.tokenFromQuery(w, r, time.Now()) {
		return
	}
	eff := b.c.eff.Load()
	if eff == effLive || passes(s, r, path) {
		b.next.ServeHTTP(w, r)
		return
	}
	if eff == effMaintenance {
		if !serveCurrentPage(b, w, r) {
			b.servePage(w, r, b.c.current(), time.Now())
		}
		return
	}
	serveHeld(b, w, r, eff)
}

// serveHeld holds (paused, unavailable) or retries (deploying) r. The
// controller counts it as busy meanwhile, so a configuration change that
// lets this controller go cannot stop it under a waiting request.
func serveHeld(b *Berth, w http.ResponseWriter, r *http.Request, eff int32) {
	b.c.busy.Add(1)
	defer b.c.busy.Add(-1)
	now := time.Now()
	if eff == effDeploying {
		b.forward(w, r, now.Add(b.s.holdTimeout))
		return
	}
	// Paused or unavailable: hold.
	deadline := now.Add(b.s.holdTimeout)
	snap, ok := b.hold(r, deadline)
	if r.Context().Err() != nil {
		return // the client went away while held
	}
	if !ok {
		b.servePage(w, r, snap, time.Now())
		return
	}
	b.forward(w, r, deadline)
}

// passes reports whether r skips the page: an always-pass path, or an
// operator (allowed address or bypass token).
func passes(s *settings, r *http.Request, path string) bool {
	if pathAlwaysPasses(s.alwaysPass, path) {
		return true
	}
	if len(s.allow) == 0 && s.bypassSecret == nil {
		return false
	}
	return s.operator(r, time.Now())
}

// serveCurrentPage serves the maintenance page the controller prepared
// for the published state, and reports false, having written nothing, if
// there is none yet.
func serveCurrentPage(b *Berth, w http.ResponseWriter, r *http.Request) bool {
	slot := b.htmlPage
	// The server canonicalises header names, so an index is Get without
	// the call.
	if accept := r.Header["Accept"]; len(accept) != 0 && wantsJSON(b.s, accept[0]) {
		slot = b.jsonPage
	}
	p, _ := slot.Load().(*preparedPage)
	if p == nil {
		return false
	}
	// writePage, inlined: one call less on the path every visitor takes.
	h := w.Header()
	h["Retry-After"] = p.retryAfter
	h["Cache-Control"] = cacheNoStore
	h["Content-Type"] = p.contentType
	h["Content-Length"] = p.contentLength
	h["X-Berth-Mode"] = p.mode
	w.WriteHeader(p.status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(p.body)
	}
	return true
}

// servePage serves the page that fits snap when a request cannot be
// answered by the app: maintenance keeps its own message, everything else
// is "unavailable".
func (b *Berth) servePage(w http.ResponseWriter, r *http.Request, snap *snapshot, now time.Time) {
	writePage(w, r, b.s.preparePage(pageInfoFor(snap), now, wantsJSON(b.s, r.Header.Get("Accept"))))
}

func pageInfoFor(snap *snapshot) pageInfo {
	if snap.mode == ModeMaintenance {
		return pageInfo{mode: ModeMaintenance, message: snap.message, until: snap.until}
	}
	info := pageInfo{mode: ModeUnavailable}
	if snap.mode == ModePaused {
		// A pause's own message and end say more than the generic text.
		info.message = snap.message
		info.until = snap.until
	}
	return info
}
