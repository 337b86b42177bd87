package cli_test

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wombatworkouts/berth/hooks/cli"
	"github.com/wombatworkouts/berth/hooks/hookstest/testapp"
	"github.com/wombatworkouts/berth/plugin"
)

// berth maintenance pause holds requests with an end of its own; resume
// ends only a pause, never an operator's maintenance.
func TestMaintenancePauseResume(t *testing.T) {
	a := testapp.New(t, testapp.Options{})
	t.Setenv("BERTH_TRANSPORT", "local")
	t.Setenv("BERTH_LOCAL_STORAGE", t.TempDir())
	run := func(args ...string) (int, string) {
		var out, errb bytes.Buffer
		code := cli.Maintenance(args, a.Dir, &out, &errb)
		return code, out.String() + errb.String()
	}
	appFile := filepath.Join(a.StateDir, "apps", "shop.json")
	readState := func() plugin.State {
		t.Helper()
		data, err := os.ReadFile(appFile)
		if err != nil {
			t.Fatal(err)
		}
		st, err := plugin.ParseState(data)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	if code, out := run("pause"); code != 0 || !strings.Contains(out, "requests are held") {
		t.Fatalf("%d %s", code, out)
	}
	st := readState()
	if st.Mode != plugin.ModePaused || st.Until.IsZero() || time.Until(st.Until) > 6*time.Minute {
		t.Fatalf("pause without an end of its own: %+v", st)
	}
	if code, out := run("resume"); code != 0 {
		t.Fatalf("%d %s", code, out)
	}
	if _, err := os.Stat(appFile); !os.IsNotExist(err) {
		t.Fatal("still paused after resume")
	}
	if code, out := run("pause", "--for", "30s", "--all"); code != 0 || !strings.Contains(out, "every app") {
		t.Fatalf("%d %s", code, out)
	}
	if code, out := run("on", "--message", "Moving house"); code != 0 {
		t.Fatalf("%d %s", code, out)
	}
	code, out := run("resume")
	if code == 0 || !strings.Contains(out, "left as it is") || readState().Mode != plugin.ModeMaintenance {
		t.Fatalf("resume ended an operator's maintenance: %d %s", code, out)
	}
	for _, bad := range [][]string{{"pause", "--message", "x"}, {"resume", "--for", "1m"}} {
		if code, _ := run(bad...); code != 2 {
			t.Errorf("%q: exit %d", bad, code)
		}
	}
}

// A token from `berth bypass-token` passes the plugin's maintenance page for
// its app (the plugin reading the same key file), and only for its app.
func TestBypassTokenPassesThePlugin(t *testing.T) {
	key := filepath.Join(t.TempDir(), "bypass.key")
	secret := "0123456789abcdef0123456789abcdef-key"
	if err := os.WriteFile(key, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	a := testapp.New(t, testapp.Options{})
	withKey := testapp.New(t, testapp.Options{ExtraMaintenance: "  bypass:\n    secret_file: " + key + "\n"})
	t.Setenv("BERTH_TRANSPORT", "local")
	t.Setenv("BERTH_LOCAL_STORAGE", t.TempDir())
	mint := func(dir string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := cli.BypassToken(args, dir, &out, &errb)
		return code, out.String(), errb.String()
	}
	code, token, hints := mint(withKey.Dir, "--for", "10m")
	token = strings.TrimSpace(token)
	if code != 0 || token == "" || strings.Contains(token+hints, secret) {
		t.Fatalf("exit %d, token %q, stderr %s", code, token, hints)
	}
	if !strings.Contains(hints, "X-Berth-Bypass") || !strings.Contains(hints, "valid until") {
		t.Fatalf("no usage hint: %s", hints)
	}

	page := func(app, tok string) int {
		cfg := plugin.CreateConfig()
		cfg.App = app
		cfg.Enabled = true
		cfg.BypassSecretFile = key
		cfg.Health.Enabled = false
		h, err := plugin.New(context.Background(), http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(299) }), cfg, "t")
		if err != nil {
			t.Fatal(err)
		}
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", "https://shop.example.org/", nil)
		req.Header.Set("X-Berth-Bypass", tok)
		h.ServeHTTP(rec, req)
		return rec.Code
	}
	if c := page("shop", token); c != 299 {
		t.Fatalf("the token did not pass shop's maintenance page: %d", c)
	}
	if c := page("other", token); c != http.StatusServiceUnavailable {
		t.Fatalf("the token passed another app's page: %d", c)
	}
	if c := page("shop", token+"x"); c != http.StatusServiceUnavailable {
		t.Fatalf("a tampered token passed: %d", c)
	}

	if code, _, errs := mint(a.Dir); code != 1 || !strings.Contains(errs, "secret_file") {
		t.Fatalf("no key configured: exit %d %s", code, errs)
	}
	if code, _, _ := mint(withKey.Dir, "--for", "800h"); code != 2 {
		t.Fatalf("a month-long token: exit %d", code)
	}
	short := filepath.Join(t.TempDir(), "short.key")
	os.WriteFile(short, []byte("tooshort"), 0o600)
	if code, _, errs := mint(withKey.Dir, "--secret-file", short); code != 1 || !strings.Contains(errs, "shorter than 32") || strings.Contains(errs, "tooshort") {
		t.Fatalf("short key: exit %d %s", code, errs)
	}
}
