// Package config_test proves berth's config generators with the real parts
// they are written for: the rendered Traefik static and dynamic files run in
// the real Traefik v3.6.12 binary, the rendered docker labels are decoded by
// Traefik's own label decoder, and the rendered litestream.yml is read by the
// real Litestream v0.5.18 CLI.
//
// Every test renders the example manifests (config/examples/*/berth.yml)
// with the config packages, so it follows the code, not the committed files
// (the golden-file tests in config/ keep those current).
package config_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wombatworkouts/berth/config"
	"github.com/wombatworkouts/berth/config/render"
	"github.com/wombatworkouts/berth/e2e/internal/pluginsrc"
)

// examples are the directories under config/examples.
var examples = []string{"wombatworkouts", "lists"}

// example is one rendered example app.
type example struct {
	name  string // directory under config/examples
	m     *config.Manifest
	files map[string][]byte // render.Files by path (render.StaticPath, ...)
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := pluginsrc.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// loadExample loads and renders one example manifest.
func loadExample(t *testing.T, name string) example {
	t.Helper()
	m, err := config.Load(filepath.Join(repoRoot(t), "config", "examples", name, "berth.yml"))
	if err != nil {
		t.Fatalf("loading example %s: %v", name, err)
	}
	files, err := render.Files(m)
	if err != nil {
		t.Fatalf("rendering example %s: %v", name, err)
	}
	ex := example{name: name, m: m, files: map[string][]byte{}}
	for _, f := range files {
		ex.files[f.Path] = f.Data
	}
	return ex
}

func (ex example) file(t *testing.T, path string) []byte {
	t.Helper()
	b, ok := ex.files[path]
	if !ok {
		t.Fatalf("%s: render.Files wrote no %s", ex.name, path)
	}
	return b
}

// replaceOnce substitutes one adapted value in a rendered file, failing
// unless old occurs exactly once, so each adaptation is explicit and breaks
// loudly if the rendering changes under it.
func replaceOnce(t *testing.T, what string, data []byte, old, new string) []byte {
	t.Helper()
	if n := strings.Count(string(data), old); n != 1 {
		t.Fatalf("%s: %q occurs %d times, want exactly once:\n%s", what, old, n, data)
	}
	return []byte(strings.Replace(string(data), old, new, 1))
}

// replaceAll substitutes every occurrence (at least want of them).
func replaceAll(t *testing.T, what string, data []byte, old, new string, want int) []byte {
	t.Helper()
	if n := strings.Count(string(data), old); n != want {
		t.Fatalf("%s: %q occurs %d times, want %d:\n%s", what, old, n, want, data)
	}
	return []byte(strings.ReplaceAll(string(data), old, new))
}

// shortTempDir is a temporary directory with a short path: Unix socket
// paths are limited to 108 bytes, and t.TempDir() names are long.
func shortTempDir(t *testing.T, prefix string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", prefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}
