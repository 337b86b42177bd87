// Package render turns one manifest into every file berth writes, and writes
// them into a directory without clobbering files a person wrote by hand.
package render

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/wombatworkouts/berth/config"
	"github.com/wombatworkouts/berth/config/kamal"
	"github.com/wombatworkouts/berth/config/litestream"
	"github.com/wombatworkouts/berth/config/traefik"
)

// File is one rendered file, with its path relative to the output directory.
type File struct {
	Path string
	Data []byte
}

// Paths of the rendered files, relative to the output directory. Rendering
// into an app's config/ directory puts deploy.yml and litestream.yml where
// Kamal and the accessory's files: entry expect them.
const (
	StaticPath     = "traefik/static.yml"
	DeployPath     = "deploy.yml"
	LitestreamPath = "litestream.yml"
)

// DynamicPath is the app's file in the Traefik dynamic directory.
func DynamicPath(app string) string { return "traefik/dynamic/" + traefik.DynamicFile(app) }

// ServerDynamicPath is the shared dynamic file.
var ServerDynamicPath = "traefik/dynamic/" + traefik.ServerFile

// Files renders everything for one app, in a stable order.
func Files(m *config.Manifest) ([]File, error) {
	tr, err := traefik.Render(m)
	if err != nil {
		return nil, err
	}
	deploy, err := kamal.Render(m)
	if err != nil {
		return nil, err
	}
	ls, err := litestream.Render(m)
	if err != nil {
		return nil, err
	}
	return []File{
		{StaticPath, tr.Static},
		{ServerDynamicPath, tr.Server},
		{DynamicPath(m.App), tr.App},
		{DeployPath, sign(deploy)},
		{LitestreamPath, ls},
	}, nil
}

// marker is in the header of every file berth writes.
var marker = []byte("written by berth")

// IsGenerated reports whether existing file content was written by berth.
func IsGenerated(data []byte) bool { return bytes.Contains(data, marker) }

// Write puts the files under dir. A file that exists and was not written by
// berth (a hand-written deploy.yml, say) is left alone unless force is set,
// and Write then fails before writing anything.
func Write(dir string, files []File, force bool) ([]string, error) {
	if !force {
		for _, f := range files {
			p := filepath.Join(dir, filepath.FromSlash(f.Path))
			old, err := os.ReadFile(p)
			if err == nil && !IsGenerated(old) {
				return nil, fmt.Errorf("%s exists and was not written by berth; run `berth config check` to compare it, "+
					"or pass --force to replace it", p)
			}
		}
	}
	var written []string
	for _, f := range files {
		p := filepath.Join(dir, filepath.FromSlash(f.Path))
		if err := writeAtomic(p, f.Data); err != nil {
			return written, err
		}
		written = append(written, p)
	}
	return written, nil
}

// writeAtomic writes via a temporary file and rename, so Traefik's file
// watcher never reads half a file.
func writeAtomic(p string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(p), err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(p), "."+filepath.Base(p)+".tmp*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	if err := os.Rename(tmp.Name(), p); err != nil {
		return fmt.Errorf("writing %s: %w", p, err)
	}
	return nil
}
