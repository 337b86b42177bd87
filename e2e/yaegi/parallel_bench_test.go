package yaegi

import (
	"context"
	"net/http"
	"testing"
)

// BenchmarkPassThroughParallel is BenchmarkPassThrough from many goroutines,
// as Traefik calls a middleware: contention inside the interpreter shows
// here and not in the serial benchmark.
func BenchmarkPassThroughParallel(b *testing.B) {
	opts := map[string]any{"app": "bench-par", "health": map[string]any{"enabled": "false"}}
	berth, err := interpreted(&testing.T{})(context.Background(), nopNext, opts, "bench")
	if err != nil {
		b.Fatal(err)
	}
	trivial, err := trivialPlugin()
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"berth-yaegi", berth}, {"trivial-yaegi", trivial}} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(16)
			b.RunParallel(func(pb *testing.PB) {
				w := &nopWriter{h: http.Header{}}
				r, _ := http.NewRequest(http.MethodGet, "http://example.test/page", nil)
				for pb.Next() {
					c.h.ServeHTTP(w, r)
				}
			})
		})
	}
}
