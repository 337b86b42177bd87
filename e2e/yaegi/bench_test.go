package yaegi

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/wombatworkouts/berth/e2e/internal/pluginsrc"
	"github.com/wombatworkouts/berth/e2e/internal/yaegiload"
)

// nopWriter is a ResponseWriter that costs nothing, so the benchmarks
// measure the middleware alone.
type nopWriter struct{ h http.Header }

func (w *nopWriter) Header() http.Header         { return w.h }
func (w *nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *nopWriter) WriteHeader(int)             {}

var nopNext = http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})

// BenchmarkPassThrough is berth's live path, compiled and under Yaegi, next
// to the smallest possible Yaegi plugin (testdata/plugins/passthrough), all
// calling a next handler that does nothing.
func BenchmarkPassThrough(b *testing.B) {
	opts := map[string]any{"app": "bench", "health": map[string]any{"enabled": "false"}}
	b.Run("berth-compiled", func(b *testing.B) {
		h, err := compiled(context.Background(), nopNext, opts, "bench")
		if err != nil {
			b.Fatal(err)
		}
		serveLoop(b, h)
	})
	b.Run("berth-yaegi", func(b *testing.B) {
		h, err := interpreted(&testing.T{})(context.Background(), nopNext, opts, "bench")
		if err != nil {
			b.Fatal(err)
		}
		serveLoop(b, h)
	})
	b.Run("trivial-yaegi", func(b *testing.B) {
		h, err := trivialPlugin()
		if err != nil {
			b.Fatal(err)
		}
		serveLoop(b, h)
	})
	b.Run("maintenance-yaegi", func(b *testing.B) {
		h, err := interpreted(&testing.T{})(context.Background(), nopNext,
			map[string]any{"app": "bench-maint", "enabled": "true", "health": map[string]any{"enabled": "false"}}, "bench")
		if err != nil {
			b.Fatal(err)
		}
		serveLoop(b, h)
	})
}

func serveLoop(b *testing.B, h http.Handler) {
	w := &nopWriter{h: http.Header{}}
	r, _ := http.NewRequest(http.MethodGet, "http://example.test/page", nil)
	r.RequestURI = "/page"
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		h.ServeHTTP(w, r)
	}
}

// trivialPlugin loads testdata/plugins/passthrough the way Traefik would.
func trivialPlugin() (http.Handler, error) {
	root, err := pluginsrc.RepoRoot()
	if err != nil {
		return nil, err
	}
	gopath, err := os.MkdirTemp("", "berth-trivial-")
	if err != nil {
		return nil, err
	}
	dst := filepath.Join(gopath, "src", "example.test", "passthrough")
	if err := os.MkdirAll(dst, 0o755); err != nil {
		return nil, err
	}
	for _, name := range []string{".traefik.yml", "go.mod", "passthrough.go"} {
		b, err := os.ReadFile(filepath.Join(root, "e2e", "testdata", "plugins", "passthrough", name))
		if err != nil {
			return nil, err
		}
		if err := os.WriteFile(filepath.Join(dst, name), b, 0o644); err != nil {
			return nil, err
		}
	}
	p, err := yaegiload.LoadStaged(gopath, dst)
	if err != nil {
		return nil, err
	}
	return p.Build(context.Background(), nopNext, nil, "trivial")
}
