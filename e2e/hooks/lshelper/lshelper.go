// Package lshelper runs the pieces the hooks' end-to-end tests and the
// restore-point benchmark need: the real litestream CLI (built from its
// module and cached by e2e/scripts/build-litestream.sh), a `litestream
// replicate` daemon with a control socket, an app-like SQLite writer
// (modernc.org/sqlite, WAL, busy_timeout 5000 like Rails), and a local
// transport that maps /rails/storage onto a temporary directory.
package lshelper

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	_ "modernc.org/sqlite"

	"github.com/wombatworkouts/berth/config"
	cfglitestream "github.com/wombatworkouts/berth/config/litestream"
	"github.com/wombatworkouts/berth/hooks/transport"
)

// Binary returns the litestream CLI: $BERTH_LITESTREAM, or the cached build.
func Binary() (string, error) {
	if b := os.Getenv("BERTH_LITESTREAM"); b != "" {
		return b, nil
	}
	_, file, _, _ := runtime.Caller(0)
	script := filepath.Join(filepath.Dir(file), "..", "..", "scripts", "build-litestream.sh")
	out, err := exec.Command("bash", script).Output()
	if err != nil {
		return "", fmt.Errorf("build-litestream.sh: %w", err)
	}
	return strings.TrimSpace(string(out)), nil
}

// Site is one app's storage directory, replica and Litestream config.
type Site struct {
	Storage string // plays /rails/storage
	Config  string // litestream.yml
	Socket  string
	DB      string // the primary database's local path
	Bin     string
}

// Replica is the replica section of litestream.yml.
type Replica struct {
	Dir string // file replica directory (the database goes in Dir/<db>)
	// S3
	URL, Endpoint, KeyID, Secret string
}

// NewSite writes a Litestream v0.5 config like berth renders, with local
// paths. socket=false leaves the control socket off (Litestream's default).
func NewSite(root, bin string, r Replica, socket bool) (*Site, error) {
	s := &Site{Storage: filepath.Join(root, "storage"), Config: filepath.Join(root, "litestream.yml"), Bin: bin}
	if err := os.MkdirAll(s.Storage, 0o755); err != nil {
		return nil, err
	}
	s.Socket = filepath.Join(s.Storage, ".litestream.sock")
	s.DB = filepath.Join(s.Storage, config.DefaultDatabase)
	if err := s.WriteConfig(r, socket); err != nil {
		return nil, err
	}
	return s, nil
}

// WriteConfig (re)writes litestream.yml.
func (s *Site) WriteConfig(r Replica, socket bool) error {
	var b strings.Builder
	fmt.Fprintf(&b, "socket:\n  enabled: %v\n  path: %s\n  permissions: 0660\n", socket, s.Socket)
	fmt.Fprintf(&b, "dbs:\n  - path: %s\n    replica:\n", s.DB)
	if r.URL != "" {
		fmt.Fprintf(&b, "      type: s3\n      url: %s\n      endpoint: %s\n      region: us-east-1\n      access-key-id: %s\n      secret-access-key: %s\n",
			r.URL+"/"+config.DefaultDatabase, r.Endpoint, r.KeyID, r.Secret)
	} else {
		fmt.Fprintf(&b, "      type: file\n      path: %s\n", filepath.Join(r.Dir, config.DefaultDatabase))
	}
	return os.WriteFile(s.Config, []byte(b.String()), 0o644)
}

// Transport is the local transport for this site.
func (s *Site) Transport(appDir string) *transport.Local {
	return &transport.Local{
		Map:      map[string]string{config.StorageMount: s.Storage, cfglitestream.ConfigPath: s.Config},
		Programs: map[string]string{"litestream": s.Bin},
		AppDir:   appDir,
		// Kamal's files (the app's env file) stay in the site, not in
		// this machine's real home directory.
		Home: filepath.Join(filepath.Dir(s.Storage), "home"),
	}
}

// Daemon is a running `litestream replicate`.
type Daemon struct {
	cmd  *exec.Cmd
	done chan error
	Log  *os.File
}

// StartDaemon starts the replicating daemon and waits for its socket (when
// enabled) or a moment.
func (s *Site) StartDaemon(socket bool) (*Daemon, error) {
	logf, err := os.Create(filepath.Join(filepath.Dir(s.Config), fmt.Sprintf("litestream-%d.log", time.Now().UnixNano())))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(s.Bin, "replicate", "-config", s.Config)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	env := []string{}
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "AWS_") {
			env = append(env, e)
		}
	}
	cmd.Env = env
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &Daemon{cmd: cmd, done: make(chan error, 1), Log: logf}
	go func() { d.done <- cmd.Wait() }()
	deadline := time.Now().Add(20 * time.Second)
	for socket && time.Now().Before(deadline) {
		if _, err := os.Stat(s.Socket); err == nil {
			return d, nil
		}
		select {
		case err := <-d.done:
			return nil, fmt.Errorf("litestream exited: %v (log %s)", err, logf.Name())
		case <-time.After(50 * time.Millisecond):
		}
	}
	if socket {
		d.Kill()
		return nil, fmt.Errorf("litestream socket %s did not appear (log %s)", s.Socket, logf.Name())
	}
	time.Sleep(500 * time.Millisecond)
	return d, nil
}

// Stop sends SIGTERM and waits.
func (d *Daemon) Stop() {
	if d == nil || d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		d.Kill()
	}
}

// Kill is kill -9 of the daemon's process group.
func (d *Daemon) Kill() {
	if d == nil || d.cmd.Process == nil {
		return
	}
	_ = syscall.Kill(-d.cmd.Process.Pid, syscall.SIGKILL)
	select {
	case <-d.done:
	case <-time.After(5 * time.Second):
	}
}

// Open opens the database the way a Rails app does (WAL, busy_timeout).
func Open(path string) (*sql.DB, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)")
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(1)
	return db, nil
}

// Seed creates the app's schema: schema_migrations with versions, and items.
func Seed(path string, versions ...string) error {
	db, err := Open(path)
	if err != nil {
		return err
	}
	defer db.Close()
	stmts := []string{
		`CREATE TABLE IF NOT EXISTS schema_migrations (version varchar NOT NULL PRIMARY KEY)`,
		`CREATE TABLE IF NOT EXISTS items (id INTEGER PRIMARY KEY, body TEXT NOT NULL, created_at TEXT NOT NULL)`,
	}
	for _, v := range versions {
		stmts = append(stmts, fmt.Sprintf(`INSERT OR IGNORE INTO schema_migrations VALUES ('%s')`, v))
	}
	for _, s := range stmts {
		if _, err := db.Exec(s); err != nil {
			return err
		}
	}
	return nil
}

// Writer inserts one row per transaction until stopped, and remembers the
// highest id whose COMMIT returned.
type Writer struct {
	db        *sql.DB
	committed atomic.Int64
	stop      chan struct{}
	wg        sync.WaitGroup
	Err       atomic.Value
}

// StartWriter starts writing rows of size bytes every interval.
func StartWriter(path string, size int, interval time.Duration) (*Writer, error) {
	db, err := Open(path)
	if err != nil {
		return nil, err
	}
	w := &Writer{db: db, stop: make(chan struct{})}
	body := strings.Repeat("x", size)
	w.wg.Add(1)
	go func() {
		defer w.wg.Done()
		for {
			select {
			case <-w.stop:
				return
			default:
			}
			res, err := db.Exec(`INSERT INTO items (body, created_at) VALUES (?, ?)`, body, time.Now().UTC().Format(time.RFC3339Nano))
			if err != nil {
				w.Err.Store(err)
				time.Sleep(10 * time.Millisecond)
				continue
			}
			id, _ := res.LastInsertId()
			w.committed.Store(id)
			if interval > 0 {
				time.Sleep(interval)
			}
		}
	}()
	return w, nil
}

// Committed is the highest id known committed.
func (w *Writer) Committed() int64 { return w.committed.Load() }

// Stop stops the writer cleanly.
func (w *Writer) Stop() {
	close(w.stop)
	w.wg.Wait()
	w.db.Close()
}

// Restore runs the real CLI: litestream restore [-txid T] -o out.
func (s *Site) Restore(ctx context.Context, out string, txidHex string) (string, error) {
	args := []string{"restore", "-config", s.Config, "-integrity-check", "full", "-o", out}
	if txidHex != "" {
		args = append(args, "-txid", txidHex)
	}
	args = append(args, s.DB)
	b, err := exec.CommandContext(ctx, s.Bin, args...).CombinedOutput()
	return string(b), err
}

// MissingIDs returns ids in 1..upTo that the database lacks, and its count.
func MissingIDs(path string, upTo int64) ([]int64, int64, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro")
	if err != nil {
		return nil, 0, err
	}
	defer db.Close()
	var n int64
	if err := db.QueryRow(`SELECT count(*) FROM items WHERE id <= ?`, upTo).Scan(&n); err != nil {
		return nil, 0, err
	}
	if n == upTo {
		return nil, n, nil
	}
	rows, err := db.Query(`WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i+1 FROM s WHERE i < ?) SELECT i FROM s WHERE i NOT IN (SELECT id FROM items) LIMIT 20`, upTo)
	if err != nil {
		return nil, n, err
	}
	defer rows.Close()
	var missing []int64
	for rows.Next() {
		var i int64
		rows.Scan(&i)
		missing = append(missing, i)
	}
	return missing, n, nil
}
