package traefik_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wombatworkouts/berth/e2e/internal/traefikrun"
	"github.com/wombatworkouts/berth/plugin"
)

// Traefik v3.6.12 gives a Yaegi plugin's standard output its DEBUG level
// and its standard error (Go's log package) its ERROR level, and has no
// other level for a plugin (pkg/plugins/middlewareyaegi.go). berth writes
// routine news (a state file seen, a mode change) to the first and faults
// (a malformed state file, a failing probe) to the second. In the real
// Traefik's log, in its plain and its JSON format: a mode change is a debug
// entry, a malformed file and a failing probe are error entries, all tagged
// plugin-berth. At INFO (the level berth renders), the routine lines are
// left out and the faults stay.
func TestLogLevelsInTraefik(t *testing.T) {
	for _, tc := range []struct{ format, level string }{{"", "DEBUG"}, {"json", "DEBUG"}, {"", "INFO"}} {
		name := "plain"
		if tc.format != "" {
			name = tc.format
		}
		t.Run(name+"-"+tc.level, func(t *testing.T) {
			tr, err := traefikrun.Start(t.TempDir(), traefikrun.Options{ThrottleDuration: 100 * time.Millisecond, LogFormat: tc.format, LogLevel: tc.level})
			if err != nil {
				t.Fatal(err)
			}
			defer tr.Stop()
			const app = "levels"
			dir := t.TempDir()
			be := startBackend(t, app)
			apply(t, tr, app+".yml", dynamicFile(
				[]route{{name: app, middlewares: []string{app + "-berth"}, servers: []string{be.URL()}}},
				map[string]string{app + "-berth": berthMiddleware(fmt.Sprintf("app: %s\nstateDir: %s\npollInterval: 100ms\nhealth:\n  interval: 200ms", app, dir))},
			), app)

			writeState(t, dir, app, plugin.State{Mode: plugin.ModeMaintenance, By: "alice@laptop"})
			waitLog(t, tr, "mode live -> maintenance", tc.level == "DEBUG")
			if err := writeRaw(plugin.AppStatePath(dir, app), `{"mode":"maint`); err != nil {
				t.Fatal(err)
			}
			waitLog(t, tr, "not valid JSON", true)
			be.SetHealthy(false)
			waitLog(t, tr, "health probe failing", true)

			entries := berthEntries(t, tr, tc.format)
			want := map[string]string{"not valid JSON": "error", "health probe failing": "error"}
			if tc.level == "DEBUG" {
				want["mode live -> maintenance"] = "debug"
				want["apps/levels.json: mode maintenance by alice@laptop"] = "debug"
			}
			for msg, level := range want {
				found := false
				for _, e := range entries {
					if strings.Contains(e.msg, msg) {
						found = true
						if e.level != level {
							t.Errorf("%q logged at %s, want %s", msg, e.level, level)
						}
					}
				}
				if !found {
					t.Errorf("%q not in the log:\n%s", msg, tr.LogTail(40))
				}
			}
			for _, e := range entries {
				if e.level == "error" && strings.Contains(e.msg, "mode ") && strings.Contains(e.msg, "->") {
					t.Errorf("a routine mode change at error level: %q", e.msg)
				}
			}
		})
	}
}

type logEntry struct{ level, msg string }

// berthEntries parses the plugin's entries out of tr's log.
func berthEntries(t *testing.T, tr *traefikrun.Traefik, format string) []logEntry {
	t.Helper()
	var out []logEntry
	for _, line := range strings.Split(tr.Log(), "\n") {
		if !strings.Contains(line, "plugin-berth") {
			continue
		}
		if format == "json" {
			var e struct {
				Level   string `json:"level"`
				Message string `json:"message"`
				Plugin  string `json:"plugin"`
			}
			if err := json.Unmarshal([]byte(line), &e); err != nil {
				t.Fatalf("not a JSON log entry: %v\n%s", err, line)
			}
			out = append(out, logEntry{e.Level, e.Message})
			continue
		}
		// 2026-12-04T16:06:25Z ERR fmt/print.go:306 > message module=... plugin=plugin-berth
		fields := strings.SplitN(line, " ", 3)
		if len(fields) < 3 {
			continue
		}
		level := map[string]string{"DBG": "debug", "INF": "info", "WRN": "warn", "ERR": "error"}[fields[1]]
		msg := fields[2]
		if i := strings.Index(msg, " > "); i >= 0 {
			msg = msg[i+3:]
		}
		out = append(out, logEntry{level, msg})
	}
	return out
}

// waitLog waits until a berth entry containing substr is in the log, or,
// when it is not expected, makes sure it still is not after a while.
func waitLog(t *testing.T, tr *traefikrun.Traefik, substr string, expected bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	if !expected {
		deadline = time.Now().Add(time.Second)
	}
	for time.Now().Before(deadline) {
		if len(berthLines(tr, substr)) > 0 {
			if !expected {
				t.Errorf("%q is in the log at this level:\n%s", substr, strings.Join(berthLines(tr, substr), "\n"))
			}
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	if expected {
		t.Fatalf("%q never logged:\n%s", substr, tr.LogTail(30))
	}
}
