package railsapp_test

// Helpers: the real standin-rails binary, built once in TestMain, run as a
// child process and talked to over loopback HTTP.

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	_ "modernc.org/sqlite"
)

var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "standin-rails-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "standin-rails")
	goTool, err := exec.LookPath("go")
	if err != nil {
		fmt.Fprintln(os.Stderr, "go not on PATH:", err)
		os.Exit(1)
	}
	build := exec.Command(goTool, "build", "-o", binPath, "github.com/wombatworkouts/berth/e2e/cmd/standin-rails")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building standin-rails:", err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	migrationsV1 = mustAbs("../../testdata/railsapp/migrations-v1")
	migrationsV2 = mustAbs("../../testdata/railsapp/migrations-v2")
)

func mustAbs(p string) string {
	a, err := filepath.Abs(p)
	if err != nil {
		panic(err)
	}
	return a
}

// cleanEnv is the test's environment without the variables the command
// reads, so a developer's shell cannot change what a test sees.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "STANDIN_") || strings.HasPrefix(kv, "KAMAL_") || strings.HasPrefix(kv, "RAILS_MAX_THREADS=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// syncBuffer is a bytes.Buffer safe for the exec copier and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// run runs a command to completion (migrate, status, bad flags).
func run(t *testing.T, env []string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binPath, args...)
	cmd.Env = cleanEnv(env...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		code = ee.ExitCode()
	default:
		t.Fatalf("running standin-rails %q: %v", args, err)
	}
	return code, out.String(), errb.String()
}

// proc is a running container.
type proc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdout syncBuffer
	stderr syncBuffer
	addr   string
	exited chan struct{}
	err    error // from Wait, once exited is closed
}

var listenRe = regexp.MustCompile(`Thruster listening on http://(\S+)`)

// startProc starts the server and returns without waiting for anything.
func startProc(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, exited: make(chan struct{})}
	p.cmd = exec.Command(binPath, append([]string{"server"}, args...)...)
	p.cmd.Env = cleanEnv(env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("starting standin-rails: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		select {
		case <-p.exited:
		default:
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
		if t.Failed() {
			t.Logf("standin-rails log:\n%s", p.stderr.String())
		}
	})
	return p
}

// start starts the server and waits until Thruster listens.
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	p := startProc(t, nil, args...)
	m := p.waitLog(listenRe, 20*time.Second)
	p.addr = m[1]
	return p
}

// waitLog waits for a log line matching re and returns its submatches.
func (p *proc) waitLog(re *regexp.Regexp, timeout time.Duration) []string {
	p.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if m := re.FindStringSubmatch(p.stderr.String()); m != nil {
			return m
		}
		select {
		case <-p.exited:
			if m := re.FindStringSubmatch(p.stderr.String()); m != nil {
				return m
			}
			p.t.Fatalf("standin-rails exited (%v) before logging %q:\n%s", p.err, re, p.stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("no log line %q within %s:\n%s", re, timeout, p.stderr.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// logTime is the time stamp of the first log line matching re.
func (p *proc) logTime(re string) time.Time {
	p.t.Helper()
	m := p.waitLog(regexp.MustCompile(`(\d{4}/\d\d/\d\d \d\d:\d\d:\d\d\.\d{6}) .*`+re), 10*time.Second)
	ts, err := time.ParseInLocation("2006/01/02 15:04:05.000000", m[1], time.Local)
	if err != nil {
		p.t.Fatal(err)
	}
	return ts
}

func (p *proc) signal(sig os.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("signal %s: %v", sig, err)
	}
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(timeout time.Duration) int {
	p.t.Helper()
	select {
	case <-p.exited:
	case <-time.After(timeout):
		p.t.Fatalf("standin-rails still running after %s", timeout)
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		p.t.Fatalf("wait: %v", p.err)
	}
	return 0
}

func (p *proc) url(path string) string { return "http://" + p.addr + path }

// clients: one keeps connections alive (like Traefik), one dials for every
// request (to see refusals at once).
func keepAliveClient(t *testing.T) *http.Client {
	tr := &http.Transport{MaxIdleConnsPerHost: 16}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 15 * time.Second}
}

func freshClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 15 * time.Second}
}

type reply struct {
	status int
	header http.Header
	body   string
	err    error
	took   time.Duration
}

func do(c *http.Client, method, url, contentType, body string) reply {
	start := time.Now()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		return reply{err: err}
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := c.Do(req)
	if err != nil {
		return reply{err: err, took: time.Since(start)}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return reply{status: resp.StatusCode, header: resp.Header, body: string(b), err: err, took: time.Since(start)}
}

func get(c *http.Client, url string) reply { return do(c, http.MethodGet, url, "", "") }

func refused(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }

func closedWhileStopping(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)
}

// waitUp polls /up until 200.
func waitUp(t *testing.T, p *proc) time.Time {
	t.Helper()
	c := freshClient()
	deadline := time.Now().Add(15 * time.Second)
	for {
		r := get(c, p.url("/up"))
		if r.err == nil && r.status == 200 {
			return time.Now()
		}
		if time.Now().After(deadline) {
			t.Fatalf("/up not 200 within 15s: last %d %v", r.status, r.err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// openDB opens the database file with a connection of the test's own,
// through the plain driver, not the app's settings.
func openDB(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	if _, err := db.Exec(`PRAGMA busy_timeout = 5000`); err != nil {
		t.Fatal(err)
	}
	return db
}

func queryInt(t *testing.T, db *sql.DB, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

func queryStrings(t *testing.T, db *sql.DB, q string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(q, args...)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitVisits waits until the database counted n visits of path: a request
// that got that far is inside the app.
func waitVisits(t *testing.T, db *sql.DB, path string, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var got int64
		err := db.QueryRow(`SELECT count FROM visits WHERE path = ?`, path).Scan(&got)
		if err == nil && got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("visits[%s] did not reach %d within 10s (got %d, %v)", path, n, got, err)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func newDBPath(t *testing.T) string {
	return filepath.Join(t.TempDir(), "storage", "production.sqlite3")
}
