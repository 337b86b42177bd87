package plugin

import (
	"sync"
	"sync/atomic"
	"time"
)

// A fileWatcher reads one state file for every controller that needs it
// (server.json is read by every app's controllers, apps/<app>.json by each
// configuration of that app), in a goroutine of its own, and never under
// a lock anyone else takes. A file that blocks (a FIFO renamed over it, a
// hung network mount) stalls only that goroutine: the controllers keep the
// last good state, requests and Traefik's configuration builds never wait
// on it, and one line says so (see checkStuck). Problems are logged by the
// watcher, so each is logged once per file however many routers use it.
type fileWatcher struct {
	path string
	file stateFile // the watcher goroutine's alone

	state    atomic.Value // *watchedState, replaced on every change
	interval atomic.Int64 // nanoseconds between looks: the shortest pollInterval of its controllers
	// busySince is when the look under way began (UnixNano), 0 between
	// looks; stuckLogged is set once a look that takes too long was
	// reported, so it is reported once.
	busySince   atomic.Int64
	stuckLogged atomic.Bool

	ready chan struct{} // closed after the first look
	stop  chan struct{} // closed when the last controller lets go

	// Guarded by watchers.mu.
	subs map[*controller]bool
}

// watchedState is what controllers read: the last good state, if any.
type watchedState struct {
	present bool
	good    State
}

type watcherRegistry struct {
	mu     sync.Mutex
	byPath map[string]*fileWatcher
}

// watchers is process-wide, like the controller registry.
var watchers = &watcherRegistry{byPath: map[string]*fileWatcher{}}

// stuckAfter is how long one look at a file may take before it is reported
// as blocked.
const stuckAfter = time.Second

// firstLookWait bounds how long a new controller waits for its files'
// first look, so a freshly started Traefik serves a maintenance that is
// already on from its first request, yet never hangs on a blocked file.
const firstLookWait = 500 * time.Millisecond

// watch subscribes c to the file at path, starting a watcher if none runs.
func watch(path string, c *controller) *fileWatcher {
	watchers.mu.Lock()
	defer watchers.mu.Unlock()
	w := watchers.byPath[path]
	if w == nil {
		w = &fileWatcher{path: path, file: stateFile{path: path}, ready: make(chan struct{}), stop: make(chan struct{}),
			subs: map[*controller]bool{}}
		w.state.Store(&watchedState{})
		w.interval.Store(int64(c.s.pollInterval))
		watchers.byPath[path] = w
		go w.run()
	}
	w.subs[c] = true
	if int64(c.s.pollInterval) < w.interval.Load() {
		w.interval.Store(int64(c.s.pollInterval))
	}
	return w
}

// unwatch lets go of w for c; the last one out stops it.
func (w *fileWatcher) unwatch(c *controller) {
	watchers.mu.Lock()
	defer watchers.mu.Unlock()
	if !w.subs[c] {
		return
	}
	delete(w.subs, c)
	if len(w.subs) == 0 {
		if watchers.byPath[w.path] == w {
			delete(watchers.byPath, w.path)
		}
		close(w.stop)
		return
	}
	shortest := int64(0)
	for sub := range w.subs {
		if d := int64(sub.s.pollInterval); shortest == 0 || d < shortest {
			shortest = d
		}
	}
	w.interval.Store(shortest)
}

// current is the file's last good state.
func (w *fileWatcher) current() *watchedState {
	return w.state.Load().(*watchedState)
}

// run looks at the file every interval until the last controller lets go.
// It waits on one Ticker for its whole life: under Yaegi in Traefik, a
// loop that waited on a fresh time.NewTimer in each round was seen to stop
// after a few rounds for good (its timer never fired; about one run in two
// of e2e/config's maintenance check), and a Ticker never was.
func (w *fileWatcher) run() {
	defer recoverGoroutine("watcher", "state file watcher for "+w.path)
	safely("watcher", "state file watcher for "+w.path, w.look)
	close(w.ready)
	every := w.interval.Load()
	t := time.NewTicker(time.Duration(every))
	defer t.Stop()
	for {
		select {
		case <-w.stop:
			return
		case <-t.C:
		}
		safely("watcher", "state file watcher for "+w.path, w.look)
		if d := w.interval.Load(); d != every {
			every = d
			t.Reset(time.Duration(d))
		}
	}
}

// look reads the file once (a stat when it looks unchanged), publishes a
// changed state to every subscribed controller and logs a new problem.
func (w *fileWatcher) look() {
	now := time.Now()
	w.busySince.Store(now.UnixNano())
	changed, problem := w.file.refresh(now)
	w.busySince.Store(0)
	if w.stuckLogged.Load() {
		w.stuckLogged.Store(false)
		logInfo("berth: %s: reading it returned after all", w.path)
	}
	if problem != nil {
		logError("berth: %v", problem)
	}
	if !changed {
		return
	}
	st := &watchedState{present: w.file.present, good: w.file.good}
	w.state.Store(st)
	if st.present {
		// string(): Yaegi hands a field of this named type to a variadic
		// interface{} parameter as its own node, not the value.
		logInfo("berth: %s: mode %s%s", w.path, string(st.good.Mode), describeWriter(st.good))
	} else {
		logInfo("berth: %s: removed (live)", w.path)
	}
	watchers.mu.Lock()
	subs := make([]*controller, 0, len(w.subs))
	for c := range w.subs {
		subs = append(subs, c)
	}
	watchers.mu.Unlock()
	for _, c := range subs {
		c.stateFileChanged()
	}
}

// checkStuck reports, once, a look that has been under way for longer
// than stuckAfter. Controllers call it on their tick.
func (w *fileWatcher) checkStuck(now time.Time) {
	since := w.busySince.Load()
	if since == 0 || now.Sub(time.Unix(0, since)) < stuckAfter {
		return
	}
	if w.stuckLogged.CompareAndSwap(false, true) {
		logError("berth: %s: reading it has not returned after %s (a FIFO, a device, or a hung network mount?); "+
			"keeping the last good state, not reading it again until that read returns", w.path, stuckAfter)
	}
}

// waitFirstLook waits until w has looked at its file once, or until the
// deadline.
func (w *fileWatcher) waitFirstLook(deadline time.Time) {
	select {
	case <-w.ready:
		return
	default:
	}
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	select {
	case <-w.ready:
	case <-t.C:
	}
}

func describeWriter(st State) string {
	s := ""
	if st.By != "" {
		s += " by " + st.By
	}
	if !st.At.IsZero() {
		s += " at " + st.At.UTC().Format(time.RFC3339)
	}
	if !st.Until.IsZero() {
		s += " until " + st.Until.UTC().Format(time.RFC3339)
	}
	return s
}
