// Package pluginsrc lays the repository's own plugin source out the way
// Traefik expects a local plugin: <root>/src/<moduleName>/ with the
// manifest, go.mod and the plugin package. Tests always stage from the
// working tree, so what is tested is what a user would load.
package pluginsrc

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// ModuleName is the root module path, also the plugin's moduleName.
const ModuleName = "github.com/wombatworkouts/berth"

// RepoRoot finds the repository root from this source file's location.
func RepoRoot() (string, error) {
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		return "", fmt.Errorf("pluginsrc: cannot locate source file")
	}
	root := filepath.Clean(filepath.Join(filepath.Dir(file), "..", "..", ".."))
	if _, err := os.Stat(filepath.Join(root, ".traefik.yml")); err != nil {
		return "", fmt.Errorf("pluginsrc: %s has no .traefik.yml: %w", root, err)
	}
	return root, nil
}

// Stage copies .traefik.yml, go.mod, go.sum and plugin/*.go (tests left
// out, as a user's download would contain them but Traefik never builds
// them) into dst/src/<ModuleName>/ and returns that directory.
func Stage(dst string) (string, error) {
	root, err := RepoRoot()
	if err != nil {
		return "", err
	}
	target := filepath.Join(dst, "src", filepath.FromSlash(ModuleName))
	if err := os.MkdirAll(filepath.Join(target, "plugin"), 0o755); err != nil {
		return "", err
	}
	for _, name := range []string{".traefik.yml", "go.mod", "go.sum"} {
		if err := copyFile(filepath.Join(root, name), filepath.Join(target, name)); err != nil {
			if name == "go.sum" && os.IsNotExist(err) {
				continue
			}
			return "", err
		}
	}
	entries, err := os.ReadDir(filepath.Join(root, "plugin"))
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		n := e.Name()
		if e.IsDir() || !strings.HasSuffix(n, ".go") || strings.HasSuffix(n, "_test.go") {
			continue
		}
		if err := copyFile(filepath.Join(root, "plugin", n), filepath.Join(target, "plugin", n)); err != nil {
			return "", err
		}
	}
	return target, nil
}

// ManifestImport reads the import line of the staged .traefik.yml, the
// package Traefik will import.
func ManifestImport(pluginDir string) (string, error) {
	f, err := os.Open(filepath.Join(pluginDir, ".traefik.yml"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "import:") {
			return strings.TrimSpace(strings.TrimPrefix(line, "import:")), nil
		}
	}
	return "", fmt.Errorf("pluginsrc: no import line in %s/.traefik.yml", pluginDir)
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
