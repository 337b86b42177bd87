// Package cachedtool finds the real programs the end-to-end tests run
// (Traefik, dockerd, Pebble, kamal-proxy, litestream): the one an
// environment variable names, else what the repository's build script
// e2e/scripts/<script> prints after building it once into the cache outside
// the repository.
package cachedtool

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/wombatworkouts/berth/e2e/internal/pluginsrc"
)

// Path is $env when set (it must exist), else Build(script).
func Path(env, script string) (string, error) {
	if p := os.Getenv(env); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %w", env, p, err)
		}
		return p, nil
	}
	return Build(script)
}

// Build runs e2e/scripts/<script>, which builds its tool when the cache
// lacks it, and returns the path it prints. The build's progress goes to
// stderr.
func Build(script string) (string, error) {
	root, err := pluginsrc.RepoRoot()
	if err != nil {
		return "", err
	}
	cmd := exec.Command("bash", filepath.Join(root, "e2e", "scripts", script))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("%s: %w", script, err)
	}
	return strings.TrimSpace(string(out)), nil
}
