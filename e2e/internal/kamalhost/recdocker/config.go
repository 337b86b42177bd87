package recdocker

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// File names inside the fake's directory (DirEnv).
const (
	ConfigFile = "config.json" // Config, written by the test
	StateFile  = "state.json"  // State, kept by the fake
	LogFile    = "calls.jsonl" // one Call per line
	lockFile   = "lock"
)

// DirEnv names the directory that holds the config, state and log. The
// harness sets it for every remote command through sshd's SetEnv.
const DirEnv = "RECDOCKER_DIR"

// Config is what a test asks of the fake. It is read on every call, so a
// test may change it between two kamal commands.
type Config struct {
	// Images maps an image repository (e.g. "127.0.0.1:5000/kamalhost/app")
	// to the labels its images carry. Any image can be pulled; one whose
	// repository is not listed has no labels (so Kamal's check of the
	// `service` label fails, as it would for an image built without it).
	Images map[string]map[string]string `json:"images,omitempty"`
	// Rules answer matching calls; the first rule that matches (and is not
	// used up) wins.
	Rules []Rule `json:"rules,omitempty"`
	// RecordStdin keeps what an interactive `docker run -i`/`docker exec -i`
	// read from its stdin in the log. Only interactive calls read stdin:
	// Kamal leaves the stdin of other commands open with nothing written.
	RecordStdin bool `json:"record_stdin,omitempty"`
}

// Rule answers the calls whose argv contains Args.
//
// A rule with a non-zero Exit replaces the call: it prints Stdout and Stderr,
// exits with Exit and changes no state (a failed `docker run` starts no
// container). A rule with Exit 0 lets the built-in answer run (so a matched
// `docker run --detach` still starts its container) and, when the built-in
// succeeds, prints Stdout and Stderr in place of its output if either is
// set; when the built-in fails (e.g. `docker exec` into a container that
// does not run), its error stands.
type Rule struct {
	// Args must all appear in the call's argv (the words after `docker`),
	// in this order; other words may stand between them. A word ending in
	// "*" matches any word with that prefix.
	Args []string `json:"args"`
	// Stdout, Stderr and Exit are the answer.
	Stdout string `json:"stdout,omitempty"`
	Stderr string `json:"stderr,omitempty"`
	Exit   int    `json:"exit,omitempty"`
	// DelayMS holds the answer back this many milliseconds.
	DelayMS int `json:"delay_ms,omitempty"`
	// Health, for a `docker run --detach` this rule matches, is the health
	// status the new container reports ("starting", "unhealthy" or
	// "healthy"). Empty means the default: "healthy" when the run has a
	// --health-cmd, no health check (status "running") otherwise.
	Health string `json:"health,omitempty"`
	// HealthyAfter, with Health set, turns the container healthy after that
	// many inspections; 0 keeps Health for ever.
	HealthyAfter int `json:"healthy_after,omitempty"`
	// Times limits the rule to its first Times matches; 0 is unlimited.
	Times int `json:"times,omitempty"`
	// Run, for `docker exec` or a `docker run` of a command, runs the
	// container's command on this machine instead of answering Stdout: its
	// output and exit status are the call's. The command finds the
	// server's PATH (stand-in programs of the test, such as a litestream
	// that answers `sync`), so scripts berth frames with per-call markers
	// answer for real.
	Run bool `json:"run,omitempty"`
}

// Matches reports whether argv contains r.Args in order.
func (r Rule) Matches(argv []string) bool {
	i := 0
	for _, word := range argv {
		if i == len(r.Args) {
			break
		}
		if wordMatches(r.Args[i], word) {
			i++
		}
	}
	return i == len(r.Args)
}

func wordMatches(pattern, word string) bool {
	if prefix, ok := strings.CutSuffix(pattern, "*"); ok {
		return strings.HasPrefix(word, prefix)
	}
	return pattern == word
}

var validHealth = map[string]bool{"": true, "starting": true, "healthy": true, "unhealthy": true}

// Validate names the first rule that cannot work and why.
func (c Config) Validate() error {
	for i, r := range c.Rules {
		if len(r.Args) == 0 {
			return fmt.Errorf("rules[%d].args is empty: name at least one word of the docker command it answers", i)
		}
		if !validHealth[r.Health] {
			return fmt.Errorf("rules[%d].health %q: use starting, healthy or unhealthy", i, r.Health)
		}
		if r.HealthyAfter < 0 || r.Times < 0 || r.DelayMS < 0 || r.Exit < 0 || r.Exit > 255 {
			return fmt.Errorf("rules[%d]: healthy_after, times, delay_ms must not be negative and exit must be 0..255", i)
		}
	}
	return nil
}

// WriteConfig validates c and writes it atomically into dir.
func WriteConfig(dir string, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return fmt.Errorf("encode recdocker config: %w", err)
	}
	return writeAtomic(filepath.Join(dir, ConfigFile), b)
}

// ReadConfig reads dir's config; a missing file is the zero Config.
func ReadConfig(dir string) (Config, error) {
	var c Config
	b, err := os.ReadFile(filepath.Join(dir, ConfigFile))
	if errors.Is(err, os.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, fmt.Errorf("read recdocker config: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("%s: %w", filepath.Join(dir, ConfigFile), err)
	}
	return c, c.Validate()
}

func writeAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}
