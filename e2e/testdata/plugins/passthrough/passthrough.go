// Package passthrough calls next and nothing else: what any Yaegi plugin
// costs at the least, measured beside berth in the same run.
package passthrough

import (
	"context"
	"net/http"
)

// Config is empty.
type Config struct{}

// CreateConfig returns the empty config.
func CreateConfig() *Config { return &Config{} }

type passthrough struct{ next http.Handler }

// New returns the pass-through handler.
func New(ctx context.Context, next http.Handler, cfg *Config, name string) (http.Handler, error) {
	return &passthrough{next: next}, nil
}

func (p *passthrough) ServeHTTP(w http.ResponseWriter, r *http.Request) { p.next.ServeHTTP(w, r) }
