package plugin

import (
	"net/http"
	"time"
)

// hold waits until the app can take r (live or deploying and healthy), the
// deadline passes, or the client goes away. It returns the newest snapshot
// and whether the request may now go to the app. At most maxHeld requests
// wait at once; beyond that the answer is immediate, so a long outage cannot
// pile up unbounded goroutines and sockets in Traefik.
func (b *Berth) hold(r *http.Request, deadline time.Time) (*snapshot, bool) {
	if b.c.held.Add(1) > int64(b.s.maxHeld) {
		b.c.held.Add(-1)
		return b.c.current(), false
	}
	defer b.c.held.Add(-1)

	timer := time.NewTimer(time.Until(deadline))
	defer timer.Stop()
	for {
		changed := b.c.changes()
		snap := b.c.current()
		switch snap.effective() {
		case ModeLive, ModeDeploying:
			return snap, true
		case ModeMaintenance:
			return snap, false
		}
		select {
		case <-changed:
		case <-timer.C:
			return b.c.current(), false
		case <-r.Context().Done():
			return snap, false
		}
	}
}
