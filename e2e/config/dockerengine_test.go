package config_test

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// dockerEngine stands in for the Docker Engine API on a Unix socket, for
// Traefik's docker provider: just the calls the provider makes (FACTS §6:
// _ping, version, containers/json?all=1, containers/{id}/json, events).
// The test says which containers exist; each change is announced with the
// event the provider re-lists on (start for a running container, die for a
// stopped one).
type dockerEngine struct {
	sock string

	mu         sync.Mutex
	containers map[string]engineContainer // by ID
	listeners  map[chan engineEvent]bool
	paths      map[string]int // requests seen, by path without version
}

// engineContainer is a container as Kamal would run it.
type engineContainer struct {
	ID, Name string
	Labels   map[string]string
	Running  bool
	IP       string // on the kamal network; "" for a stopped container
	Port     string // the port the image exposes (EXPOSE), shown while running
}

type engineEvent struct {
	id, action string
}

// engineAPIVersion is the API version the stand-in speaks (Docker 27's).
const engineAPIVersion = "1.47"

func startDockerEngine(t *testing.T) *dockerEngine {
	t.Helper()
	e := &dockerEngine{
		sock:       filepath.Join(shortTempDir(t, "berth-docker-"), "docker.sock"),
		containers: map[string]engineContainer{},
		listeners:  map[chan engineEvent]bool{},
		paths:      map[string]int{},
	}
	l, err := net.Listen("unix", e.sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: e, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { srv.Close() })
	return e
}

// Endpoint is the docker provider's endpoint for this engine.
func (e *dockerEngine) Endpoint() string { return "unix://" + e.sock }

// Seen reports how often the provider asked for a path (without /vX.Y).
func (e *dockerEngine) Seen(path string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.paths[path]
}

// Put adds or replaces a container and announces it.
func (e *dockerEngine) Put(c engineContainer) {
	e.mu.Lock()
	e.containers[c.ID] = c
	action := "die"
	if c.Running {
		action = "start"
	}
	for ch := range e.listeners {
		select {
		case ch <- engineEvent{c.ID, action}:
		default:
		}
	}
	e.mu.Unlock()
}

var versionPrefix = regexp.MustCompile(`^/v[0-9]+\.[0-9]+`)

func (e *dockerEngine) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	path := versionPrefix.ReplaceAllString(r.URL.Path, "")
	e.mu.Lock()
	e.paths[path]++
	e.mu.Unlock()
	w.Header().Set("Api-Version", engineAPIVersion)
	w.Header().Set("Ostype", "linux")
	switch {
	case path == "/_ping":
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprint(w, "OK")
	case path == "/version":
		writeJSON(w, map[string]any{
			"Version": "27.5.1", "ApiVersion": engineAPIVersion, "MinAPIVersion": "1.24",
			"Os": "linux", "Arch": "amd64", "KernelVersion": "6.8.0",
		})
	case path == "/containers/json":
		var list []map[string]any
		for _, c := range e.sorted() {
			list = append(list, map[string]any{
				"Id": c.ID, "Names": []string{"/" + c.Name}, "Image": "wombatworkouts/app:" + c.ID,
				"State": c.state(), "Labels": c.Labels,
			})
		}
		if list == nil {
			list = []map[string]any{}
		}
		writeJSON(w, list)
	case strings.HasPrefix(path, "/containers/") && strings.HasSuffix(path, "/json"):
		id := strings.TrimSuffix(strings.TrimPrefix(path, "/containers/"), "/json")
		e.mu.Lock()
		c, ok := e.containers[id]
		e.mu.Unlock()
		if !ok {
			w.WriteHeader(http.StatusNotFound)
			writeJSON(w, map[string]string{"message": "No such container: " + id})
			return
		}
		networks := map[string]any{"kamal": map[string]any{"NetworkID": "kamal0", "IPAddress": c.IP}}
		ports := map[string]any{}
		if c.Running && c.Port != "" {
			ports[c.Port+"/tcp"] = nil
		}
		writeJSON(w, map[string]any{
			"Id": c.ID, "Name": "/" + c.Name,
			"State":           map[string]any{"Status": c.state(), "Running": c.Running},
			"HostConfig":      map[string]any{"NetworkMode": "kamal"},
			"Config":          map[string]any{"Labels": c.Labels, "Image": "wombatworkouts/app:" + c.ID},
			"NetworkSettings": map[string]any{"Networks": networks, "Ports": ports},
		})
	case path == "/events":
		ch := make(chan engineEvent, 16)
		e.mu.Lock()
		e.listeners[ch] = true
		e.mu.Unlock()
		defer func() {
			e.mu.Lock()
			delete(e.listeners, ch)
			e.mu.Unlock()
		}()
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		for {
			select {
			case <-r.Context().Done():
				return
			case ev := <-ch:
				now := time.Now()
				b, _ := json.Marshal(map[string]any{
					"Type": "container", "Action": ev.action, "status": ev.action, "id": ev.id,
					"Actor": map[string]any{"ID": ev.id, "Attributes": map[string]string{}},
					"scope": "local", "time": now.Unix(), "timeNano": now.UnixNano(),
				})
				w.Write(append(b, '\n'))
				w.(http.Flusher).Flush()
			}
		}
	default:
		w.WriteHeader(http.StatusNotFound)
		writeJSON(w, map[string]string{"message": "not in this stand-in: " + r.URL.Path})
	}
}

func (c engineContainer) state() string {
	if c.Running {
		return "running"
	}
	return "exited"
}

func (e *dockerEngine) sorted() []engineContainer {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []engineContainer
	for _, c := range e.containers {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}
