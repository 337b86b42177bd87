// Package traefik_test runs berth inside the real Traefik v3.6.12 binary,
// loaded with experimental.localPlugins from the repository's own files,
// in front of stand-in app servers on loopback.
package traefik_test

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wombatworkouts/berth/e2e/internal/backend"
	"github.com/wombatworkouts/berth/e2e/internal/traefikrun"
	"github.com/wombatworkouts/berth/plugin"
)

// shared is one Traefik for the tests that do not need their own; each test
// writes its own file into the file provider's directory.
var shared *traefikrun.Traefik

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "berth-traefik-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	shared, err = traefikrun.Start(dir, traefikrun.Options{
		ThrottleDuration:         200 * time.Millisecond,
		InsecureForwardedHeaders: true,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "start traefik:", err)
		os.Exit(1)
	}
	code := m.Run()
	shared.Stop()
	if code != 0 {
		fmt.Fprintln(os.Stderr, "traefik log tail:\n"+shared.LogTail(60))
	} else {
		os.RemoveAll(dir)
	}
	os.Exit(code)
}

// route describes one router of a test's dynamic file.
type route struct {
	name        string   // router, service and path prefix /<name>
	middlewares []string // names defined in the same file
	servers     []string // backend URLs
}

// dynamicFile renders routers, their services and the given middleware
// definitions (YAML fragments under http.middlewares) into one file.
func dynamicFile(routes []route, middlewares map[string]string) string {
	var b strings.Builder
	b.WriteString("http:\n  routers:\n")
	for _, r := range routes {
		fmt.Fprintf(&b, "    %s:\n      rule: \"PathPrefix(`/%s`)\"\n      entryPoints: [web]\n      service: %s\n", r.name, r.name, r.name)
		if len(r.middlewares) > 0 {
			fmt.Fprintf(&b, "      middlewares: [%s]\n", strings.Join(r.middlewares, ", "))
		}
	}
	b.WriteString("  services:\n")
	for _, r := range routes {
		fmt.Fprintf(&b, "    %s:\n      loadBalancer:\n        servers:\n", r.name)
		for _, s := range r.servers {
			fmt.Fprintf(&b, "          - url: %q\n", s)
		}
	}
	if len(middlewares) > 0 {
		b.WriteString("  middlewares:\n")
		for name, def := range middlewares {
			fmt.Fprintf(&b, "    %s:\n", name)
			for _, line := range strings.Split(strings.TrimRight(def, "\n"), "\n") {
				fmt.Fprintf(&b, "      %s\n", line)
			}
		}
	}
	return b.String()
}

// berthMiddleware renders a plugin middleware with the given options (YAML
// lines under plugin.berth).
func berthMiddleware(options string) string {
	var b strings.Builder
	b.WriteString("plugin:\n  berth:\n")
	for _, line := range strings.Split(strings.TrimRight(options, "\n"), "\n") {
		b.WriteString("    " + line + "\n")
	}
	return b.String()
}

// retryMiddleware is what berth's generated config puts in front of berth.
// Six attempts 500 ms apart (growing to 1 s, randomised ±50 %) keep a
// refused request retrying for at least 1.7 s, longer than berth takes to
// notice a dead app with its default 1 s probe interval.
const retryMiddleware = "retry:\n  attempts: 6\n  initialInterval: 500ms\n"

func startBackend(t *testing.T, name string) *backend.Server {
	t.Helper()
	b, err := backend.Start(name, "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Stop)
	return b
}

// apply writes a test's dynamic file and waits for its routers.
func apply(t *testing.T, tr *traefikrun.Traefik, file, content string, routers ...string) {
	t.Helper()
	if err := tr.WriteDynamic(file, content); err != nil {
		t.Fatal(err)
	}
	for _, r := range routers {
		if err := tr.WaitRouter(r+"@file", 15*time.Second); err != nil {
			t.Fatalf("%v\n%s", err, tr.LogTail(30))
		}
	}
	t.Cleanup(func() { _ = os.Remove(filepath.Join(tr.DynamicDir, file)) })
}

// get sends one request through Traefik's web entrypoint.
func get(t *testing.T, path string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, shared.WebURL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var sb strings.Builder
	buf := make([]byte, 4096)
	for {
		n, err := resp.Body.Read(buf)
		sb.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return resp, sb.String()
}

var noRedirect = &http.Client{
	Timeout:       30 * time.Second,
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// waitStatus polls path until it answers want, and returns how long it took.
func waitStatus(t *testing.T, path string, want int, limit time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	last := 0
	for time.Since(start) < limit {
		resp, _ := get(t, path, nil)
		last = resp.StatusCode
		if last == want {
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: still %d after %s, want %d", path, last, limit, want)
	return 0
}

func writeState(t *testing.T, dir, app string, st plugin.State) {
	t.Helper()
	if err := plugin.WriteStateFile(plugin.AppStatePath(dir, app), st); err != nil {
		t.Fatal(err)
	}
}
