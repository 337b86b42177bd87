package kamalhost

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// KamalEnv is the environment variable naming the Kamal to run: a command,
// split on spaces ("kamal", "/opt/kamal/bin/kamal", "bundle exec kamal").
const KamalEnv = "KAMAL"

// rootModule is the module line of the repository's root go.mod; ../shared
// lies beside the directory that holds it.
const rootModule = "module github.com/wombatworkouts/berth"

var (
	kamalOnce    sync.Once
	kamalArgv    []string
	kamalVersion string
	kamalErr     error
)

// Kamal returns the command that runs Kamal: $KAMAL, else `kamal` on PATH,
// else ../shared/kamal/kamal beside the repository (the real Kamal 2.12 on
// Debian's Ruby). The first that exists must answer `kamal version` with a
// 2.x version; the answer is kept for the whole test binary. A test that
// needs Kamal fails (never skips) on the error: `make setup` installs it.
func Kamal() ([]string, error) {
	kamalOnce.Do(func() { kamalArgv, kamalVersion, kamalErr = locateKamal() })
	return kamalArgv, kamalErr
}

// KamalVersion is what `kamal version` printed ("2.12.0").
func KamalVersion() (string, error) {
	_, err := Kamal()
	return kamalVersion, err
}

func locateKamal() ([]string, string, error) {
	if v := strings.TrimSpace(os.Getenv(KamalEnv)); v != "" {
		argv := strings.Fields(v)
		version, err := probeKamal(argv)
		if err != nil {
			return nil, "", fmt.Errorf("%s=%q does not run Kamal: %w", KamalEnv, v, err)
		}
		return argv, version, nil
	}
	var tried []string
	if path, err := exec.LookPath("kamal"); err == nil {
		version, err := probeKamal([]string{path})
		if err == nil {
			return []string{path}, version, nil
		}
		tried = append(tried, fmt.Sprintf("kamal on PATH (%s): %v", path, err))
	} else {
		tried = append(tried, "kamal on PATH: not found")
	}
	runner, err := sharedKamal()
	if err == nil {
		version, perr := probeKamal([]string{runner})
		if perr == nil {
			return []string{runner}, version, nil
		}
		err = perr
	}
	tried = append(tried, fmt.Sprintf("../shared/kamal/kamal: %v", err))
	return nil, "", fmt.Errorf("no Kamal 2 runs here; tried $%s (unset), %s. Install it: `make setup` "+
		"(Debian's ruby and ruby-* packages for ../shared/kamal, see its README), or `gem install kamal -v 2.12.0`, "+
		"or set %s to a command that runs Kamal 2", KamalEnv, strings.Join(tried, "; "), KamalEnv)
}

// probeKamal runs `argv version` and checks it printed a 2.x version.
func probeKamal(argv []string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], append(argv[1:], "version")...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("`%s version`: %v: %s", strings.Join(argv, " "), err, lastLines(out.String(), 5))
	}
	version := strings.TrimSpace(lastLines(out.String(), 1))
	if !strings.HasPrefix(version, "2.") {
		return "", fmt.Errorf("`%s version` printed %q, not a Kamal 2 version", strings.Join(argv, " "), version)
	}
	return version, nil
}

// sharedKamal finds ../shared/kamal/kamal from the repository root: the
// nearest directory above the working directory whose go.mod is the root
// module's.
func sharedKamal() (string, error) {
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	runner := filepath.Join(filepath.Dir(root), "shared", "kamal", "kamal")
	if _, err := os.Stat(runner); err != nil {
		return "", fmt.Errorf("not found beside the repository (%s)", runner)
	}
	return runner, nil
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		b, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && hasLine(string(b), rootModule) {
			return dir, nil
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return "", err
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no directory above the working directory holds the root go.mod (" + rootModule + ")")
		}
		dir = parent
	}
}

func hasLine(s, want string) bool {
	for _, line := range strings.Split(s, "\n") {
		if strings.TrimSpace(line) == want {
			return true
		}
	}
	return false
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
