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
	"time"
)

// Berth is one middleware instance. Traefik builds one per router on every
// configuration apply; the long-lived parts live in the shared controller.
type Berth struct {
	next http.Handler
	name string
	s    *settings
	c    *controller
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
	return &Berth{next: next, name: name, s: s, c: c}, nil
}

// ServeHTTP keeps the live path to one atomic load, a path comparison and
// next: no ResponseWriter wrapper, so streams, SSE and websockets pass
// through untouched.
func (b *Berth) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if b.c.live.Load() && r.URL.Path != b.s.statusPath {
		b.next.ServeHTTP(w, r)
		return
	}
	defer func() {
		if p := recover(); p != nil {
			if p == http.ErrAbortHandler {
				// The app aborted a response it had begun (a reverse proxy
				// whose upstream died mid-body): let the server cut the
				// connection rather than finish a truncated body as if whole.
				panic(p)
			}
			log.Printf("berth[%s]: recovered from a panic serving %s %s: %v", b.s.app, r.Method, r.URL.Path, p)
			http.Error(w, "Internal Server Error", http.StatusInternalServerError)
		}
	}()
	b.serveSlow(w, r)
}

func (b *Berth) serveSlow(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	if b.s.statusPath != "" && r.URL.Path == b.s.statusPath && b.s.operator(r, now) {
		b.serveStatus(w, r, now)
		return
	}
	if b.s.tokenFromQuery(w, r, now) {
		return
	}
	snap := b.c.current()
	mode := snap.effective()
	if mode == ModeLive {
		b.next.ServeHTTP(w, r)
		return
	}
	if b.s.bypassed(r, now) {
		b.next.ServeHTTP(w, r)
		return
	}
	switch mode {
	case ModeMaintenance:
		b.s.servePage(w, r, pageInfo{mode: ModeMaintenance, message: snap.message, until: snap.until}, now)
	case ModeDeploying:
		b.forward(w, r, now.Add(b.s.holdTimeout))
	default: // paused, unavailable
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
}

// servePage serves the page that fits snap when a request cannot be
// answered by the app: maintenance keeps its own message, everything else
// is "unavailable".
func (b *Berth) servePage(w http.ResponseWriter, r *http.Request, snap *snapshot, now time.Time) {
	if snap.mode == ModeMaintenance {
		b.s.servePage(w, r, pageInfo{mode: ModeMaintenance, message: snap.message, until: snap.until}, now)
		return
	}
	info := pageInfo{mode: ModeUnavailable}
	if snap.mode == ModePaused {
		// A pause's own message and end say more than the generic text.
		info.message, info.until = snap.message, snap.until
	}
	b.s.servePage(w, r, info, now)
}
