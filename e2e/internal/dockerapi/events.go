package dockerapi

import (
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// filterArgs is the decoded `filters` query parameter: key -> set of values.
type filterArgs map[string]map[string]bool

// parseFilters accepts both encodings the Engine API knows:
// {"type":{"container":true}} and the legacy {"type":["container"]}.
func parseFilters(raw string) (filterArgs, error) {
	out := filterArgs{}
	if raw == "" {
		return out, nil
	}
	var sets map[string]map[string]bool
	if err := json.Unmarshal([]byte(raw), &sets); err == nil {
		for k, vs := range sets {
			out[k] = map[string]bool{}
			for v := range vs {
				out[k][v] = true
			}
		}
		return out, nil
	}
	var lists map[string][]string
	if err := json.Unmarshal([]byte(raw), &lists); err != nil {
		return nil, fmt.Errorf("invalid filter: %q is neither {\"key\":{\"value\":true}} nor {\"key\":[\"value\"]}", raw)
	}
	for k, vs := range lists {
		out[k] = map[string]bool{}
		for _, v := range vs {
			out[k][v] = true
		}
	}
	return out, nil
}

func (f filterArgs) has(key string) bool { return len(f[key]) > 0 }

// exact: no such filter, or value is one of its values.
func (f filterArgs) exact(key, value string) bool {
	if !f.has(key) {
		return true
	}
	return f[key][value]
}

// fuzzy: no such filter, or value equals or starts with one of its values.
func (f filterArgs) fuzzy(key, value string) bool {
	if !f.has(key) {
		return true
	}
	for want := range f[key] {
		if strings.HasPrefix(value, want) {
			return true
		}
	}
	return false
}

// kv: no such filter, or every "k" / "k=v" of it is in attrs.
func (f filterArgs) kv(key string, attrs map[string]string) bool {
	for want := range f[key] {
		k, v, withValue := strings.Cut(want, "=")
		got, ok := attrs[k]
		if !ok || (withValue && got != v) {
			return false
		}
	}
	return true
}

// matchEvent applies the events filters the way dockerd does.
func (f filterArgs) matchEvent(ev Event) bool {
	// An "event" filter naming health_status, exec_create or exec_start
	// without the ": ..." suffix makes every event value a prefix match.
	eventOK := f.exact("event", ev.Action)
	if f["event"]["health_status"] || f["event"]["exec_create"] || f["event"]["exec_start"] {
		eventOK = f.fuzzy("event", ev.Action)
	}
	image := ev.Actor.Attributes["image"]
	if ev.Type == "image" {
		image = ev.Actor.Attributes["name"]
	}
	return eventOK &&
		f.exact("type", ev.Type) &&
		f.exact("scope", ev.Scope) &&
		(f.fuzzy("container", ev.Actor.ID) || f.fuzzy("container", ev.Actor.Attributes["name"])) &&
		(f.fuzzy("network", ev.Actor.ID) || f.fuzzy("network", ev.Actor.Attributes["name"])) &&
		(f.exact("image", ev.Actor.ID) || f.exact("image", image) || f.exact("image", stripTag(image))) &&
		f.kv("label", ev.Actor.Attributes)
}

// stripTag drops ":tag" (not a registry port) and "@digest" from an image
// reference.
func stripTag(ref string) string {
	if i := strings.Index(ref, "@"); i >= 0 {
		ref = ref[:i]
	}
	if i := strings.LastIndex(ref, ":"); i > strings.LastIndex(ref, "/") {
		ref = ref[:i]
	}
	return ref
}

// parseEventTime reads a Docker timestamp ("seconds" or
// "seconds.fraction") as Unix nanoseconds; "" is 0 (unset).
func parseEventTime(v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	secPart, fracPart, hasFrac := strings.Cut(v, ".")
	sec, err := strconv.ParseInt(secPart, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("invalid timestamp %q: %w", v, err)
	}
	var nsec int64
	if hasFrac && fracPart != "" {
		n, err := strconv.ParseInt(fracPart, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("invalid timestamp %q: %w", v, err)
		}
		nsec = int64(float64(n) * math.Pow10(9-len(fracPart)))
	}
	return sec*int64(time.Second) + nsec, nil
}

// subscriber is one open /events stream.
type subscriber struct {
	ch      chan Event
	filter  filterArgs
	dropped bool
}

// subscribeBuffer is how many events a stream may lag behind before the
// engine cuts it (dockerd drops events for slow readers instead; cutting is
// louder, and clients such as Traefik reconnect and re-list).
const subscribeBuffer = 4096

func (e *Engine) publishLocked(ev Event) {
	nano := time.Now().UnixNano()
	if nano <= e.lastNano {
		nano = e.lastNano + 1 // keep since/until replay unambiguous
	}
	e.lastNano = nano
	ev.Time, ev.TimeNano = nano/int64(time.Second), nano
	e.history = append(e.history, ev)
	for s := range e.subs {
		if !s.filter.matchEvent(ev) {
			continue
		}
		select {
		case s.ch <- ev.clone():
		default:
			e.logf("dockerapi: an /events reader fell %d events behind; closing its stream", subscribeBuffer)
			e.dropLocked(s)
		}
	}
}

// subscribeLocked registers a stream and returns the history it must replay
// first (events in [since, until], only when either is set, as dockerd).
func (e *Engine) subscribeLocked(since, until int64, f filterArgs) ([]Event, *subscriber) {
	var replay []Event
	if since != 0 || until != 0 {
		for _, ev := range e.history {
			if ev.TimeNano < since || (until != 0 && ev.TimeNano > until) {
				continue
			}
			if f.matchEvent(ev) {
				replay = append(replay, ev.clone())
			}
		}
	}
	s := &subscriber{ch: make(chan Event, subscribeBuffer), filter: f}
	e.subs[s] = struct{}{}
	return replay, s
}

func (e *Engine) dropLocked(s *subscriber) {
	if s.dropped {
		return
	}
	s.dropped = true
	close(s.ch)
	delete(e.subs, s)
}

func (e *Engine) logf(format string, args ...any) {
	if e.opt.Logf != nil {
		e.opt.Logf(format, args...)
	}
}

// listFilters are the /containers/json filters served; dockerd refuses
// unknown keys with 400.
var listFilters = map[string]bool{"id": true, "name": true, "label": true, "status": true, "health": true, "network": true}

func (f filterArgs) matchContainer(c *container) (bool, error) {
	for key := range f {
		if !listFilters[key] {
			return false, fmt.Errorf("invalid filter '%s'", key)
		}
	}
	if f.has("id") && !f.fuzzy("id", c.id) {
		return false, nil
	}
	if f.has("name") {
		ok := false
		for pattern := range f["name"] {
			re, err := regexp.Compile(pattern)
			if err != nil {
				return false, fmt.Errorf("invalid name filter %q: %w", pattern, err)
			}
			if re.MatchString("/" + c.name) {
				ok = true
			}
		}
		if !ok {
			return false, nil
		}
	}
	if !f.kv("label", c.spec.Labels) {
		return false, nil
	}
	if !f.exact("status", c.status) {
		return false, nil
	}
	if f.has("health") {
		h := "none"
		if c.health != nil {
			h = c.health.status
		}
		if !f["health"][h] {
			return false, nil
		}
	}
	if f.has("network") && !f["network"][c.net.name] && !f["network"][c.net.id] {
		return false, nil
	}
	return true, nil
}
