package restorepoint

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/benbjohnson/litestream"
	lsfile "github.com/benbjohnson/litestream/file"
	lss3 "github.com/benbjohnson/litestream/s3"
	"github.com/superfly/ltx"
	_ "modernc.org/sqlite" // database/sql driver "sqlite", the one Litestream uses

	"github.com/wombatworkouts/berth/config"
	cfglitestream "github.com/wombatworkouts/berth/config/litestream"
	"github.com/wombatworkouts/berth/hooks/transport"
)

// Position is the newest transaction a replica holds.
type Position struct {
	TXID uint64
	// At is when that LTX file was written (the replica's clock).
	At time.Time
}

// CheckResult is what a restore check found.
type CheckResult struct {
	// Bytes is the size of the restored database.
	Bytes int64
	// SchemaVersion is MAX(version) from schema_migrations, "" when the
	// database has no such table (the queue database).
	SchemaVersion string
	Duration      time.Duration
	// Phases splits Duration (zero when the reader cannot tell).
	Phases CheckPhases
}

// CheckPhases is where a restore check's time went.
type CheckPhases struct {
	// Restore reads the LTX files and writes the temporary database.
	Restore time.Duration
	// Integrity is PRAGMA integrity_check.
	Integrity time.Duration
	// Schema reads MAX(version) from schema_migrations.
	Schema time.Duration
	// Cleanup removes the temporary database.
	Cleanup time.Duration
}

// Reader reads one database's replica.
type Reader interface {
	// Where says what is read and from where, for messages.
	Where() string
	// Newest is the newest TXID in the replica, across all levels.
	Newest(ctx context.Context) (Position, error)
	// Check restores txid into a temporary file, runs the full integrity
	// check, reads the newest migration and removes the file.
	Check(ctx context.Context, txid uint64, workDir string) (CheckResult, error)
}

// ErrCredentials is wrapped when the S3 credentials are not in the
// environment.
var ErrCredentials = errors.New("S3 credentials not set")

// NewReader picks how to read db's replica: the Litestream library from
// this machine for S3 (and S3-compatible endpoints) and for a file replica
// this machine can reach; through the accessory for a file replica that
// only the server has.
func NewReader(m *config.Manifest, db string, t transport.Transport, lookup func(string) (string, bool)) (Reader, error) {
	replica := m.ReplicaURL(db)
	if m.ReplicaIsS3() {
		c, err := S3Client(m, replica, lookup)
		if err != nil {
			return nil, err
		}
		where := replica
		if c.Endpoint != "" {
			where += " at " + c.Endpoint
		}
		where += " (read from this machine)"
		// Litestream's S3 client fails to load its AWS config when
		// AWS_CA_BUNDLE is set (docs/litestream.md#litestream-as-berth-uses-it); berth drops it for its own
		// process only and says so.
		if v, ok := os.LookupEnv("AWS_CA_BUNDLE"); ok && v != "" {
			os.Unsetenv("AWS_CA_BUNDLE")
			where += " (AWS_CA_BUNDLE ignored: Litestream's S3 client cannot use it)"
		}
		return &libraryReader{client: c, where: where}, nil
	}
	if local, ok := t.LocalPath(replica); ok {
		return &libraryReader{client: lsfile.NewReplicaClient(local), where: local + " (file replica, read from this machine)"}, nil
	}
	return &accessoryReader{t: t, db: config.DatabasePath(db), where: replica + " (file replica on the server, read through the litestream accessory)"}, nil
}

// S3Client builds the Litestream S3 client for a replica URL
// (s3://bucket/path), with the endpoint, region and the credentials named
// in the manifest, read from the environment (Kamal exports .kamal/secrets
// to pre-deploy and post-deploy).
func S3Client(m *config.Manifest, replica string, lookup func(string) (string, bool)) (*lss3.ReplicaClient, error) {
	u, err := url.Parse(replica)
	if err != nil || u.Scheme != "s3" || u.Host == "" {
		return nil, fmt.Errorf("litestream.replica: %q is not an s3://BUCKET/PATH URL", replica)
	}
	l := m.Litestream
	var missing []string
	id, ok := lookup(l.Secrets.AccessKeyID)
	if !ok || id == "" {
		missing = append(missing, l.Secrets.AccessKeyID)
	}
	secret, ok := lookup(l.Secrets.SecretAccessKey)
	if !ok || secret == "" {
		missing = append(missing, l.Secrets.SecretAccessKey)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w: %s not in the environment; Kamal exports .kamal/secrets to the pre-deploy and post-deploy hooks; outside a deploy run `export $(kamal secrets print | grep LITESTREAM_)` or set them by hand (names from litestream.secrets in %s)",
			ErrCredentials, strings.Join(missing, " and "), m.Path)
	}
	c := lss3.NewReplicaClient()
	c.SetLogger(quietLogger())
	c.Bucket = u.Host
	c.Path = strings.TrimPrefix(u.Path, "/")
	c.Region = l.Region
	c.Endpoint = l.Endpoint
	c.ForcePathStyle = l.Endpoint != ""
	c.AccessKeyID = id
	c.SecretAccessKey = secret
	return c, nil
}

// quietLogger keeps Litestream's library logging off berth's output.
func quietLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

type libraryReader struct {
	client litestream.ReplicaClient
	where  string
}

func (r *libraryReader) Where() string { return r.where }

func (r *libraryReader) Newest(ctx context.Context) (Position, error) {
	if err := r.client.Init(ctx); err != nil {
		return Position{}, fmt.Errorf("open replica %s: %w", r.where, err)
	}
	rep := litestream.NewReplicaWithClient(nil, r.client)
	var pos Position
	for level := 0; level <= litestream.SnapshotLevel; level++ {
		info, err := rep.MaxLTXFileInfo(ctx, level)
		if err != nil {
			return Position{}, fmt.Errorf("list replica %s level %d: %w", r.where, level, err)
		}
		if uint64(info.MaxTXID) > pos.TXID {
			pos = Position{TXID: uint64(info.MaxTXID), At: info.CreatedAt}
		}
	}
	return pos, nil
}

func (r *libraryReader) Check(ctx context.Context, txid uint64, workDir string) (res CheckResult, err error) {
	start := time.Now()
	dir, err := os.MkdirTemp(workDir, "berth-restore-check-")
	if err != nil {
		return CheckResult{}, fmt.Errorf("restore check: temporary directory: %w", err)
	}
	defer func() {
		t := time.Now()
		if rerr := os.RemoveAll(dir); rerr != nil && err == nil {
			err = fmt.Errorf("restore check: remove %s: %w", dir, rerr)
		}
		res.Phases.Cleanup = time.Since(t)
		res.Duration = time.Since(start)
	}()
	if err := r.client.Init(ctx); err != nil {
		return CheckResult{}, fmt.Errorf("open replica %s: %w", r.where, err)
	}
	out := filepath.Join(dir, "restore.sqlite3")
	t := time.Now()
	if err := restoreFile(ctx, r.client, ltx.TXID(txid), out); err != nil {
		return CheckResult{}, fmt.Errorf("restore TXID %s from %s: %w", ltx.TXID(txid), r.where, err)
	}
	res.Phases.Restore = time.Since(t)
	st, err := os.Stat(out)
	if err != nil {
		return CheckResult{}, fmt.Errorf("restore check: %w", err)
	}
	res.Bytes = st.Size()
	if err := checkRestored(ctx, out, st.Size(), &res); err != nil {
		return CheckResult{}, fmt.Errorf("restored TXID %s from %s: %w", ltx.TXID(txid), r.where, err)
	}
	return res, nil
}

// checkRestored runs PRAGMA integrity_check (the full check: b-trees, free
// list, page accounting, and every index against its table) on a restored
// file, then reads its newest migration, on one read-only connection. The
// file is this process's own and nobody writes it, so it is opened
// immutable (no locks, no -wal or -shm files) and memory-mapped: the check
// reads every page, and through mmap each one costs no read call and no
// copy into SQLite's page cache. Measured on 1 GiB: 0.1 s instead of
// 0.5-0.9 s with the default connection. The pages checked are the same.
func checkRestored(ctx context.Context, file string, size int64, res *CheckResult) error {
	db, err := sql.Open("sqlite", sqliteURI(file, "mode=ro", "immutable=1",
		fmt.Sprintf("_pragma=mmap_size(%d)", size), "_pragma=query_only(1)"))
	if err != nil {
		return fmt.Errorf("open %s: %w", file, err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	t := time.Now()
	rows, err := db.QueryContext(ctx, "PRAGMA integrity_check")
	if err != nil {
		return fmt.Errorf("integrity check: %w", err)
	}
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			rows.Close()
			return fmt.Errorf("integrity check: %w", err)
		}
		if line != "ok" && len(problems) < 10 {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return fmt.Errorf("integrity check: %w", err)
	}
	rows.Close()
	if len(problems) > 0 {
		return fmt.Errorf("integrity check failed: %s", strings.Join(problems, "; "))
	}
	res.Phases.Integrity = time.Since(t)
	t = time.Now()
	res.SchemaVersion, err = schemaVersion(ctx, db)
	if err != nil {
		return fmt.Errorf("read %s: %w", file, err)
	}
	res.Phases.Schema = time.Since(t)
	return nil
}

// sqliteURI is a file: URI for path with params; the characters SQLite and
// the driver would take for URI syntax are escaped.
func sqliteURI(path string, params ...string) string {
	r := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23")
	return "file:" + r.Replace(path) + "?" + strings.Join(params, "&")
}

// SchemaVersionFile reads MAX(version) from schema_migrations in a local
// SQLite file ("" when the table does not exist). The database is opened
// read-only with a busy timeout, so the live app and Litestream are not
// disturbed.
func SchemaVersionFile(ctx context.Context, file string) (string, error) {
	if _, err := os.Stat(file); err != nil {
		return "", fmt.Errorf("open %s: %w", file, err)
	}
	db, err := sql.Open("sqlite", "file:"+file+"?_pragma=busy_timeout(5000)&_pragma=query_only(1)")
	if err != nil {
		return "", fmt.Errorf("open %s: %w", file, err)
	}
	defer db.Close()
	v, err := schemaVersion(ctx, db)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", file, err)
	}
	return v, nil
}

// schemaVersion is MAX(version) of schema_migrations, "" without the table.
func schemaVersion(ctx context.Context, db *sql.DB) (string, error) {
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type='table' AND name='schema_migrations'`).Scan(&n); err != nil {
		return "", err
	}
	if n == 0 {
		return "", nil
	}
	var v sql.NullString
	if err := db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		return "", fmt.Errorf("schema_migrations: %w", err)
	}
	return v.String, nil
}

// accessoryReader reads a file replica that lives on the server, with the
// litestream CLI inside the accessory (which mounts the replica directory).
type accessoryReader struct {
	t     transport.Transport
	db    string
	where string
}

func (r *accessoryReader) Where() string { return r.where }

func (r *accessoryReader) Newest(ctx context.Context) (Position, error) {
	argv := []string{"litestream", "ltx", "-json", "-level", "all", "-config", cfglitestream.ConfigPath, r.db}
	out, err := r.t.Accessory(ctx, Accessory, argv)
	if err != nil {
		return Position{}, fmt.Errorf("list replica %s: %w", r.where, err)
	}
	txid, at, err := ParseLTXList(out)
	if err != nil {
		return Position{}, err
	}
	return Position{TXID: txid, At: at}, nil
}

func (r *accessoryReader) Check(ctx context.Context, txid uint64, _ string) (CheckResult, error) {
	start := time.Now()
	tmp := path.Join("/tmp", "berth-restore-check-"+ltx.TXID(txid).String()+".sqlite3")
	script := fmt.Sprintf(`rm -f %[1]s %[1]s.tmp; litestream restore -config %[2]s -integrity-check full -txid %[3]s -o %[1]s %[4]s >&2 || exit 3; `+
		`echo size=$(wc -c < %[1]s); echo version=$(sqlite3 -readonly %[1]s "SELECT CASE WHEN EXISTS(SELECT 1 FROM sqlite_master WHERE name='schema_migrations') THEN (SELECT MAX(version) FROM schema_migrations) ELSE '' END"); rm -f %[1]s %[1]s-wal %[1]s-shm`,
		tmp, cfglitestream.ConfigPath, ltx.TXID(txid).String(), r.db)
	frame := transport.NewFrame()
	out, err := r.t.Accessory(ctx, Accessory, []string{"sh", "-c", frame.Wrap(script)})
	if err != nil {
		return CheckResult{}, fmt.Errorf("restore TXID %s from %s: %w", ltx.TXID(txid), r.where, err)
	}
	body, ok := frame.Extract(out)
	if !ok {
		return CheckResult{}, fmt.Errorf("restore check: unexpected output: %q", clip(out))
	}
	res := CheckResult{Duration: time.Since(start)}
	for _, line := range strings.Split(body, "\n") {
		line = strings.TrimSpace(line)
		if v, ok := strings.CutPrefix(line, "size="); ok {
			res.Bytes, _ = strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
		if v, ok := strings.CutPrefix(line, "version="); ok {
			res.SchemaVersion = strings.TrimSpace(v)
		}
	}
	return res, nil
}

// LiveSchemaVersion reads the live database's newest migration: directly
// when the transport reaches the file, otherwise with sqlite3 inside the
// Litestream accessory (its image has sqlite3 and the app's volume).
func LiveSchemaVersion(ctx context.Context, t transport.Transport, db string) (string, error) {
	if local, ok := t.LocalPath(db); ok {
		return SchemaVersionFile(ctx, local)
	}
	q := `SELECT CASE WHEN EXISTS(SELECT 1 FROM sqlite_master WHERE name='schema_migrations') THEN (SELECT MAX(version) FROM schema_migrations) ELSE '' END`
	frame := transport.NewFrame()
	script := frame.Wrap("echo version=$(sqlite3 -readonly " + transport.Quote(db) + " " + transport.Quote(q) + ")")
	out, err := t.Accessory(ctx, Accessory, []string{"sh", "-c", script})
	if err != nil {
		return "", fmt.Errorf("read the live database's schema_migrations: %w", err)
	}
	body, ok := frame.Extract(out)
	if !ok {
		return "", fmt.Errorf("read the live database's schema_migrations: unexpected output %q", clip(out))
	}
	for _, line := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), "version="); ok {
			return strings.TrimSpace(v), nil
		}
	}
	return "", fmt.Errorf("read the live database's schema_migrations: no answer in %q", clip(body))
}
