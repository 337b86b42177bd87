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
		// AWS_CA_BUNDLE is set (FACTS §8); berth drops it for its own
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

func (r *libraryReader) Check(ctx context.Context, txid uint64, workDir string) (CheckResult, error) {
	start := time.Now()
	dir, err := os.MkdirTemp(workDir, "berth-restore-check-")
	if err != nil {
		return CheckResult{}, fmt.Errorf("restore check: temporary directory: %w", err)
	}
	defer os.RemoveAll(dir)
	out := filepath.Join(dir, "restore.sqlite3")
	rep := litestream.NewReplicaWithClient(nil, r.client)
	opt := litestream.NewRestoreOptions()
	opt.OutputPath = out
	opt.TXID = ltx.TXID(txid)
	opt.IntegrityCheck = litestream.IntegrityCheckFull
	if err := rep.Restore(ctx, opt); err != nil {
		return CheckResult{}, fmt.Errorf("restore TXID %s from %s: %w", ltx.TXID(txid), r.where, err)
	}
	st, err := os.Stat(out)
	if err != nil {
		return CheckResult{}, fmt.Errorf("restore check: %w", err)
	}
	v, err := SchemaVersionFile(ctx, out)
	if err != nil {
		return CheckResult{}, fmt.Errorf("restored database: %w", err)
	}
	return CheckResult{Bytes: st.Size(), SchemaVersion: v, Duration: time.Since(start)}, nil
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
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_master WHERE type='table' AND name='schema_migrations'`).Scan(&n); err != nil {
		return "", fmt.Errorf("read %s: %w", file, err)
	}
	if n == 0 {
		return "", nil
	}
	var v sql.NullString
	if err := db.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&v); err != nil {
		return "", fmt.Errorf("read schema_migrations in %s: %w", file, err)
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
	out, err := r.t.Accessory(ctx, Accessory, []string{"sh", "-c", transport.Framed(script)})
	if err != nil {
		return CheckResult{}, fmt.Errorf("restore TXID %s from %s: %w", ltx.TXID(txid), r.where, err)
	}
	body, ok := transport.Unframe(out)
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
	script := transport.Framed("echo version=$(sqlite3 -readonly " + transport.Quote(db) + " " + transport.Quote(q) + ")")
	out, err := t.Accessory(ctx, Accessory, []string{"sh", "-c", script})
	if err != nil {
		return "", fmt.Errorf("read the live database's schema_migrations: %w", err)
	}
	body, ok := transport.Unframe(out)
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
