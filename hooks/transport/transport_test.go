package transport_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wombatworkouts/berth/hooks/internal/fakekamal"
	"github.com/wombatworkouts/berth/hooks/transport"
)

// Fast unit tests (e2e/kamal runs the real Kamal 2.12 over SSH): the
// tests put a stand-in kamal at the command-line boundary (fakekamal).
func TestMain(m *testing.M) {
	fakekamal.MaybeMain()
	os.Exit(m.Run())
}

func TestKamalArgv(t *testing.T) {
	f := fakekamal.Setup(t,
		fakekamal.Rule{Match: "accessory exec", Stdout: "Launching command from existing container...\n{\"ok\": 1}\n"},
		fakekamal.Rule{Match: "app exec", Stdout: "App Host: 203.0.113.10\nmigrated\n"},
		fakekamal.Rule{Match: "app version", Stdout: "  INFO [x] Running docker ...\nApp Host: 203.0.113.10\nabc1234\n"},
		fakekamal.Rule{Match: "server exec", Exec: true},
	)
	k := &transport.Kamal{Bin: f.Bin, Dir: t.TempDir(), Destination: "staging", Role: "web"}
	ctx := context.Background()
	if _, err := k.Accessory(ctx, "litestream", []string{"litestream", "sync", "-wait", "/rails/storage/x y.sqlite3"}); err != nil {
		t.Fatal(err)
	}
	if _, err := k.App(ctx, "abc1234", "bin/rails db:migrate"); err != nil {
		t.Fatal(err)
	}
	v, err := k.RunningVersion(ctx)
	if err != nil || v != "abc1234" {
		t.Fatalf("version %q %v", v, err)
	}
	out, err := k.Server(ctx, "echo 'hello server' && printf '%s' \"$0\" >/dev/null")
	if err != nil || !strings.Contains(out, "hello server") {
		t.Fatalf("server: %q %v", out, err)
	}
	calls := f.Calls(t)
	want := [][]string{
		{"accessory", "exec", "litestream", "--reuse", "-H", "-d", "staging", "litestream sync -wait '/rails/storage/x y.sqlite3'"},
		{"app", "exec", "-p", "-r", "web", "-H", "-d", "staging", "--version=abc1234", "bin/rails db:migrate"},
		{"app", "version", "-H", "-d", "staging"},
	}
	if !reflect.DeepEqual(calls[:3], want) {
		t.Fatalf("argv:\n got %q\nwant %q", calls[:3], want)
	}
	if c := calls[3]; c[0] != "server" || c[1] != "exec" || c[2] != "-H" || !strings.HasSuffix(c[5], "| base64 -d | sh") {
		t.Fatalf("server argv %q", c)
	}
}

func TestKamalFailures(t *testing.T) {
	tests := []struct {
		name    string
		rule    fakekamal.Rule
		timeout time.Duration
		check   func(t *testing.T, err error)
	}{
		{"exit status and tail", fakekamal.Rule{Match: "app", Stdout: "line1\nActiveRecord::StatementInvalid: boom\n", Exit: 1}, 5 * time.Second, func(t *testing.T, err error) {
			var ce *transport.CommandError
			if !errors.As(err, &ce) || ce.ExitCode != 1 || !strings.Contains(err.Error(), "StatementInvalid: boom") {
				t.Fatalf("%v", err)
			}
		}},
		{"not running", fakekamal.Rule{Match: "app", Stdout: "Error response from daemon: No such container: shop-litestream\n", Exit: 1}, 5 * time.Second, func(t *testing.T, err error) {
			if !errors.Is(err, transport.ErrNotRunning) {
				t.Fatalf("%v", err)
			}
		}},
		{"deadline kills it", fakekamal.Rule{Match: "app", Sleep: 10 * time.Second}, 300 * time.Millisecond, func(t *testing.T, err error) {
			if !errors.Is(err, transport.ErrTimeout) {
				t.Fatalf("%v", err)
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := fakekamal.Setup(t, tc.rule)
			k := &transport.Kamal{Bin: f.Bin}
			ctx, cancel := context.WithTimeout(context.Background(), tc.timeout)
			defer cancel()
			start := time.Now()
			_, err := k.App(ctx, "v1", "bin/rails db:migrate")
			if time.Since(start) > 5*time.Second {
				t.Fatalf("took %s", time.Since(start))
			}
			tc.check(t, err)
		})
	}
}

func TestEncodeScriptLargeIsCompressed(t *testing.T) {
	big := "echo " + strings.Repeat("abcdefgh", 20000) + " >/dev/null; echo done"
	cmd, err := transport.EncodeScript(big)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(cmd, "gunzip") || len(cmd) > 100<<10 {
		t.Fatalf("len %d", len(cmd))
	}
	l := &transport.Local{}
	out, err := l.Server(context.Background(), cmd)
	if err != nil || strings.TrimSpace(out) != "done" {
		t.Fatalf("%q %v", out, err)
	}
}

func TestLocalMapsPaths(t *testing.T) {
	dir := t.TempDir()
	l := &transport.Local{Map: map[string]string{"/rails/storage": dir, "/etc/litestream.yml": filepath.Join(dir, "ls.yml")},
		Programs: map[string]string{"litestream": "echo"}}
	for in, want := range map[string]string{
		"/rails/storage/production.sqlite3": filepath.Join(dir, "production.sqlite3"),
		"/rails/storage":                    dir,
		"/rails/storagex":                   "/rails/storagex",
		"/etc/litestream.yml":               filepath.Join(dir, "ls.yml"),
		"relative":                          "relative",
	} {
		if got, _ := l.LocalPath(in); got != want {
			t.Errorf("%s -> %s, want %s", in, got, want)
		}
	}
	out, err := l.Accessory(context.Background(), "litestream", []string{"litestream", "-config=/etc/litestream.yml", "/rails/storage/a.db"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "-config=" + filepath.Join(dir, "ls.yml") + " " + filepath.Join(dir, "a.db"); strings.TrimSpace(out) != want {
		t.Fatalf("%q want %q", out, want)
	}
}

func TestFrameRunsAndQuotes(t *testing.T) {
	l := &transport.Local{}
	f := transport.NewFrame()
	out, err := l.Server(context.Background(), f.Wrap("echo inner; echo \"it's\""))
	if err != nil {
		t.Fatal(err)
	}
	body, ok := f.Extract("noise\n" + out + "more noise")
	if !ok || body != "inner\nit's\n" {
		t.Fatalf("%q", body)
	}
	if _, ok := transport.NewFrame().Extract(out); ok {
		t.Fatal("another frame's markers were taken for this one")
	}
	for in, want := range map[string]string{"plain": "plain", "a b": "'a b'", "it's": `'it'"'"'s'`, "": "''"} {
		if got := transport.Quote(in); got != want {
			t.Errorf("Quote(%q)=%s want %s", in, got, want)
		}
	}
}

// Kamal prints the command it runs (default verbosity) and decorates each
// output line (-v); only the lines the command itself printed are the
// answer. The shapes below are Kamal 2.12's, as printed by the real Kamal.
func TestFrameExtractAtEveryVerbosity(t *testing.T) {
	f := transport.NewFrame()
	script := f.Wrap("echo version=$(sqlite3 db 'SELECT 1')")
	echo := "  INFO [0a1b2c3d] Running docker exec app-litestream sh -c '" + script + "' on 127.0.0.1\n"
	debug := func(s string) string { return "  DEBUG [0a1b2c3d] \t" + s + "\n" }
	begin, end := markers(t, f)
	tests := []struct {
		name, out, want string
		ok              bool
	}{
		{"quiet", "\n" + begin + "\nversion=2026\n\n" + end + "\n", "version=2026\n", true},
		{"default: the echo comes first", echo + "  INFO [0a1b2c3d] Finished in 0.2 seconds with exit status 0 (successful).\nApp Host: 127.0.0.1\n\n" + begin + "\nversion=2026\n\n" + end + "\n", "version=2026\n", true},
		{"verbose: decorated copies, then the output", echo + debug("") + debug(begin) + debug("version=2026") + debug("") + debug(end) + "App Host: 127.0.0.1\n\n" + begin + "\nversion=2026\n\n" + end + "\n", "version=2026\n", true},
		{"carriage returns", begin + "\r\nversion=2026\r\n\r\n" + end + "\r\n", "version=2026\r\n", true},
		{"output without a final newline", begin + "\nno-newline\n" + end, "no-newline", true},
		{"only the echo", echo, "", false},
		{"no end", begin + "\nversion=2026\n", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := f.Extract(tt.out)
			if ok != tt.ok || got != tt.want {
				t.Fatalf("Extract = %q, %v; want %q, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

// markers reads the frame's markers back from its own script.
func markers(t *testing.T, f transport.Frame) (begin, end string) {
	t.Helper()
	for _, w := range strings.Fields(f.Wrap("true")) {
		w = strings.TrimSuffix(w, ";")
		switch {
		case strings.HasPrefix(w, "@@berth-begin-"):
			begin = w
		case strings.HasPrefix(w, "@@berth-end-"):
			end = w
		}
	}
	if begin == "" || end == "" {
		t.Fatalf("no markers in %q", f.Wrap("true"))
	}
	return begin, end
}

// A kamal that is not installed is named as such, not as a failed command.
func TestKamalMissing(t *testing.T) {
	k := &transport.Kamal{Bin: filepath.Join(t.TempDir(), "no-kamal-here")}
	_, err := k.Server(context.Background(), "true")
	if !errors.Is(err, transport.ErrNoProgram) || !strings.Contains(err.Error(), "no-kamal-here was not found") {
		t.Fatalf("%v", err)
	}
	t.Setenv("PATH", t.TempDir())
	_, err = (&transport.Kamal{}).Server(context.Background(), "true")
	if !errors.Is(err, transport.ErrNoProgram) || !strings.Contains(err.Error(), "kamal was not found") {
		t.Fatalf("%v", err)
	}
}
