package traefik_test

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wombatworkouts/berth/hooks/cli"
	"github.com/wombatworkouts/berth/hooks/hookstest/testapp"
)

// The operator commands as a user types them (berth maintenance pause,
// resume, on, off and berth bypass-token, here with the local transport, as
// on the server itself) against the plugin in the real Traefik.
func TestOperatorCommandsInTraefik(t *testing.T) {
	key := filepath.Join(t.TempDir(), "bypass.key")
	if err := os.WriteFile(key, []byte("e2e-bypass-key-0123456789abcdef0123456789\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := testapp.New(t, testapp.Options{ExtraMaintenance: "  bypass:\n    secret_file: " + key + "\n"})
	t.Setenv("BERTH_TRANSPORT", "local")
	t.Setenv("BERTH_LOCAL_STORAGE", t.TempDir())
	berth := func(args ...string) string {
		t.Helper()
		var out, errb bytes.Buffer
		var code int
		switch args[0] {
		case "maintenance":
			code = cli.Maintenance(args[1:], a.Dir, &out, &errb)
		case "bypass-token":
			code = cli.BypassToken(args[1:], a.Dir, &out, &errb)
		}
		if code != 0 {
			t.Fatalf("berth %s: exit %d\n%s%s", strings.Join(args, " "), code, out.String(), errb.String())
		}
		return out.String()
	}

	app := startBackend(t, "opscmd")
	apply(t, shared, "opscmd.yml", dynamicFile(
		[]route{{name: "opscmd", middlewares: []string{"opscmd-berth"}, servers: []string{app.URL()}}},
		map[string]string{"opscmd-berth": berthMiddleware(fmt.Sprintf("app: shop\nstateDir: %s\npollInterval: 200ms\nholdTimeout: 15s\nbypassSecretFile: %s\nhealth:\n  enabled: false", a.StateDir, key))},
	), "opscmd")
	waitStatus(t, "/opscmd", 200, 5*time.Second)

	// pause holds a request until resume, then the app answers it.
	berth("maintenance", "pause", "--for", "1m")
	time.Sleep(600 * time.Millisecond) // three poll intervals
	type answer struct {
		code int
		took time.Duration
		err  error
	}
	done := make(chan answer, 1)
	start := time.Now()
	go func() {
		resp, err := http.Get(shared.WebURL + "/opscmd")
		if err != nil {
			done <- answer{err: err}
			return
		}
		resp.Body.Close()
		done <- answer{code: resp.StatusCode, took: time.Since(start)}
	}()
	select {
	case a := <-done:
		t.Fatalf("a paused app answered at once: %+v", a)
	case <-time.After(1500 * time.Millisecond):
	}
	berth("maintenance", "resume")
	select {
	case got := <-done:
		if got.err != nil || got.code != 200 {
			t.Fatalf("held request after resume: %+v", got)
		}
		t.Logf("held request answered %s after it was sent (resumed at ~1.5 s)", got.took)
	case <-time.After(5 * time.Second):
		t.Fatal("the held request was not released by resume")
	}

	// maintenance on pages visitors; a token from bypass-token passes.
	berth("maintenance", "on", "--message", "Moving house", "--for", "10m")
	waitStatus(t, "/opscmd", 503, 3*time.Second)
	token := strings.TrimSpace(berth("bypass-token", "--for", "5m"))
	if resp, _ := get(t, "/opscmd", http.Header{"X-Berth-Bypass": {token}}); resp.StatusCode != 200 {
		t.Fatalf("the bypass token did not pass: %d", resp.StatusCode)
	}
	if resp, _ := get(t, "/opscmd", http.Header{"X-Berth-Bypass": {token + "x"}}); resp.StatusCode != 503 {
		t.Fatalf("a tampered token passed: %d", resp.StatusCode)
	}
	berth("maintenance", "off")
	waitStatus(t, "/opscmd", 200, 3*time.Second)
}
