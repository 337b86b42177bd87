// Package fakekamal is a stand-in `kamal` executable for tests. Kamal is a
// Ruby program that needs SSH access to real servers, and it cannot run
// here; the hooks only ever talk to it through its command line, so tests
// put this stand-in at that boundary: it records every argv and answers with
// recorded outputs, exit statuses and delays. For `kamal server exec` it can
// run the script on this machine instead (a temporary directory plays the
// server), so state-file scripts are tested for real.
//
// The stand-in is the test binary itself: Setup links it as "kamal" in a
// temporary directory, and the package's TestMain calls MaybeMain first.
package fakekamal

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Rule answers calls whose argv, joined with spaces, contains Match.
type Rule struct {
	Match  string `json:"match"`
	Stdout string `json:"stdout"`
	Exit   int    `json:"exit"`
	// Sleep delays the answer (deadline tests).
	Sleep time.Duration `json:"sleep"`
	// Exec runs the last argument with sh -c on this machine and relays
	// its output and status, after Kamal-like header lines.
	Exec bool `json:"exec"`
}

const (
	envRules = "BERTH_FAKE_KAMAL_RULES"
	envLog   = "BERTH_FAKE_KAMAL_LOG"
)

// MaybeMain acts as kamal when the binary was invoked under that name.
func MaybeMain() {
	if filepath.Base(os.Args[0]) != "kamal" || os.Getenv(envRules) == "" {
		return
	}
	os.Exit(act(os.Args[1:]))
}

func act(args []string) int {
	if f, err := os.OpenFile(os.Getenv(envLog), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644); err == nil {
		line, _ := json.Marshal(args)
		f.Write(append(line, '\n'))
		f.Close()
	}
	data, err := os.ReadFile(os.Getenv(envRules))
	if err != nil {
		fmt.Fprintln(os.Stderr, "fake kamal:", err)
		return 99
	}
	var rules []Rule
	if err := json.Unmarshal(data, &rules); err != nil {
		fmt.Fprintln(os.Stderr, "fake kamal:", err)
		return 99
	}
	joined := strings.Join(args, " ")
	for _, r := range rules {
		if !strings.Contains(joined, r.Match) {
			continue
		}
		time.Sleep(r.Sleep)
		if r.Exec {
			fmt.Println("  INFO [1a2b3c4d] Running '...' on 203.0.113.10")
			fmt.Println("App Host: 203.0.113.10")
			cmd := exec.Command("sh", "-c", args[len(args)-1])
			cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
			if err := cmd.Run(); err != nil {
				if ee, ok := err.(*exec.ExitError); ok {
					return ee.ExitCode()
				}
				return 98
			}
			return r.Exit
		}
		fmt.Print(r.Stdout)
		return r.Exit
	}
	fmt.Fprintf(os.Stderr, "fake kamal: no rule for %q\n", joined)
	return 97
}

// Fake is one installed stand-in.
type Fake struct {
	Bin   string
	rules string
	log   string
}

// Setup installs the stand-in with rules and returns it. The environment
// variables it needs are set for the test (t.Setenv).
func Setup(t testing.TB, rules ...Rule) *Fake {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	f := &Fake{Bin: filepath.Join(dir, "kamal"), rules: filepath.Join(dir, "rules.json"), log: filepath.Join(dir, "argv.log")}
	if err := os.Symlink(self, f.Bin); err != nil {
		t.Fatal(err)
	}
	f.SetRules(t, rules...)
	t.Setenv(envRules, f.rules)
	t.Setenv(envLog, f.log)
	return f
}

// SetRules replaces the rules.
func (f *Fake) SetRules(t testing.TB, rules ...Rule) {
	data, err := json.Marshal(rules)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.rules, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Calls returns every recorded argv (without "kamal").
func (f *Fake) Calls(t testing.TB) [][]string {
	data, err := os.ReadFile(f.log)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	var out [][]string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line == "" {
			continue
		}
		var a []string
		if err := json.Unmarshal([]byte(line), &a); err != nil {
			t.Fatal(err)
		}
		out = append(out, a)
	}
	return out
}
