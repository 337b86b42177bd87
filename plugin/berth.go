// Package plugin is berth's Traefik middleware: maintenance mode and
// health-aware routing for each app hosted behind Traefik.
//
// It runs inside Traefik's Yaegi interpreter, so it uses the Go 1.22
// standard library only and avoids what Yaegi lacks (see FACTS.md §5): no
// range over integers, no unsafe, no goroutine without recover.
package plugin

import (
	"context"
	"fmt"
	"log"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// Berth is one middleware instance. Traefik builds one per router on every
// configuration apply; the long-lived parts live in the shared controller.
type Berth struct {
	// live and statusPath are copies of what ServeHTTP reads on every
	// request, one field access away (each step costs under Yaegi).
	live       *atomic.Bool
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
	// The newest prepared page, one for HTML and one for JSON clients.
	htmlPage atomic.Value // *preparedPage
	jsonPage atomic.Value // *preparedPage
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
	if next == nil {
		return nil, fmt.Errorf("berth: %s: no next handler", name)
	}
	s, err := compile(cfg)
	if err != nil {
		return nil, fmt.Errorf("%v (middleware %s)", err, name)
	}
	if ctx == nil {
		ctx = context.Background()
	}
	c := acquire(ctx, configKey(cfg), s, next)
	b := &Berth{live: &c.live, statusPath: s.statusPath, next: next, name: name, s: s, c: c}
	b.pageAtOnce = s.bypassSecret == nil && len(s.allow) == 0
	b.exactPass = map[string]bool{}
	for _, p := range s.alwaysPass {
		if strings.HasSuffix(p, "*") {
			b.pageAtOnce = false
		}
		b.exactPass[p] = true
	}
	return b, nil
}

// ServeHTTP keeps the live path to one atomic load, a path comparison and
// next: no ResponseWriter wrapper, so streams, SSE and websockets pass
// through untouched.
//
// Under Yaegi every method call on an interpreted type costs about 4 µs and
// a type assertion on a large struct about 5 µs (measured, see README), so
// the paths taken on every request are plain functions reading a few
// atomics; methods are kept for the rarer paths where clarity wins.
func (b *Berth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if b.live.Load() && r.URL.Path != b.statusPath {
		b.next.ServeHTTP(w, r)
		return
	}
	serveNotLive(b, w, r)
}

// serveNotLive guards everything off the live path so that no panic of
// berth's reaches Traefik (a deferred call costs a few µs under Yaegi, so it
// is only paid here). Yaegi allocates every local of a function when it is
// called, so ServeHTTP stays tiny for the live path, and the maintenance
// page, served to every visitor, goes through small functions; everything
// rarer goes through serveRest.
func serveNotLive(b *Berth, w http.ResponseWriter, r *http.Request) {
	defer recoverRequest(b, w, r)
	if b.pageAtOnce && b.c.eff.Load() == effMaintenance {
		path := r.URL.Path
		if path != b.statusPath && !b.exactPass[path] {
			serveCurrentPage(b, w, r)
			return
		}
	}
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
	log.Printf("berth[%s]: recovered from a panic serving %s %s: %v", b.s.app, r.Method, r.URL.Path, p)
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
		serveCurrentPage(b, w, r)
		return
	}
	now := time.Now()
	if eff == effDeploying {
		b.forward(w, r, now.Add(s.holdTimeout))
		return
	}
	// Paused or unavailable: hold.
	deadline := now.Add(s.holdTimeout)
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

// serveCurrentPage serves the page for the published state, prepared once
// per state change (and once a second while Retry-After counts down).
func serveCurrentPage(b *Berth, w http.ResponseWriter, r *http.Request) {
	version := b.c.version.Load()
	asJSON := false
	if accept := r.Header.Get("Accept"); accept != "" {
		asJSON = wantsJSON(b.s, accept)
	}
	slot := &b.htmlPage
	if asJSON {
		slot = &b.jsonPage
	}
	p, _ := slot.Load().(*preparedPage)
	if p == nil || p.version != version || (p.countdown && p.second != time.Now().Unix()) {
		p = b.s.preparePage(pageInfoFor(b.c.current()), time.Now(), asJSON)
		p.version = version
		slot.Store(p)
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
