package dockerapi

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// newTestEngine starts an engine on a socket in a short temporary
// directory (unix socket paths are limited to 107 bytes).
func newTestEngine(t *testing.T, opt Options) *Engine {
	t.Helper()
	dir, err := os.MkdirTemp("", "dapi")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if opt.Logf == nil {
		opt.Logf = t.Logf
	}
	e, err := NewWithOptions(filepath.Join(dir, "docker.sock"), opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// unixClient talks HTTP over the engine's socket, as the Docker client does.
func unixClient(socket string) *http.Client {
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", socket)
		},
	}}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func do(t *testing.T, e *Engine, method, path string) response {
	t.Helper()
	req, err := http.NewRequest(method, "http://api.moby.localhost"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := unixClient(e.SocketPath()).Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	return response{resp.StatusCode, resp.Header, body}
}

// getJSON GETs path and decodes the body into a generic value, so tests
// look at the JSON field names as sent.
func getJSON(t *testing.T, e *Engine, path string, wantStatus int) any {
	t.Helper()
	r := do(t, e, http.MethodGet, path)
	if r.status != wantStatus {
		t.Fatalf("GET %s: status %d, want %d; body %s", path, r.status, wantStatus, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("GET %s: Content-Type %q", path, ct)
	}
	var v any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("GET %s: %v in %s", path, err, r.body)
	}
	return v
}

// at walks a decoded JSON document: at(v, "State", "Health", "Status").
func at(t *testing.T, v any, path ...string) any {
	t.Helper()
	cur := v
	for i, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			t.Fatalf("%s is %T, not an object", strings.Join(path[:i], "."), cur)
		}
		next, ok := m[p]
		if !ok {
			t.Fatalf("no field %s (have %v)", strings.Join(path[:i+1], "."), keys(m))
		}
		cur = next
	}
	return cur
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// checkFields asserts that the object has exactly the fields named (those
// marked with a trailing "?" may be absent: omitempty in the Docker types).
func checkFields(t *testing.T, what string, v any, fields ...string) {
	t.Helper()
	m, ok := v.(map[string]any)
	if !ok {
		t.Fatalf("%s is %T, not an object", what, v)
	}
	allowed := map[string]bool{}
	for _, f := range fields {
		name, optional := strings.CutSuffix(f, "?")
		allowed[name] = true
		if _, ok := m[name]; !ok && !optional {
			t.Errorf("%s: missing field %q", what, name)
		}
	}
	for k := range m {
		if !allowed[k] {
			t.Errorf("%s: field %q is not in the Engine API type", what, k)
		}
	}
}

// eventStream reads an /events response in the background.
type eventStream struct {
	events chan Event
	errc   chan error
	cancel context.CancelFunc
	once   sync.Once
}

func openEvents(t *testing.T, e *Engine, query string) *eventStream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://api.moby.localhost/v1.51/events"+query, nil)
	resp, err := unixClient(e.SocketPath()).Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(resp.Body)
		cancel()
		t.Fatalf("events: %d %s", resp.StatusCode, b)
	}
	s := &eventStream{events: make(chan Event, 1000), errc: make(chan error, 1), cancel: cancel}
	go func() {
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			var ev Event
			if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
				s.errc <- fmt.Errorf("decode %q: %w", sc.Text(), err)
				return
			}
			s.events <- ev
		}
		err := sc.Err()
		if err == nil {
			err = io.EOF
		}
		s.errc <- err
	}()
	t.Cleanup(s.close)
	return s
}

func (s *eventStream) close() { s.once.Do(s.cancel) }

// next returns the next event or fails after limit.
func (s *eventStream) next(t *testing.T, limit time.Duration) Event {
	t.Helper()
	select {
	case ev := <-s.events:
		return ev
	case err := <-s.errc:
		t.Fatalf("event stream ended: %v", err)
	case <-time.After(limit):
		t.Fatalf("no event within %s", limit)
	}
	return Event{}
}

// actions collects n events' actions.
func (s *eventStream) actions(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	for i := 0; i < n; i++ {
		out = append(out, s.next(t, 2*time.Second).Action)
	}
	return out
}

// quiet asserts no event arrives for d.
func (s *eventStream) quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case ev := <-s.events:
		t.Fatalf("unexpected event %s %s", ev.Type, ev.Action)
	case <-time.After(d):
	}
}
