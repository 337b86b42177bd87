package restorepoint

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/superfly/ltx"

	"github.com/wombatworkouts/berth/config"
	cfglitestream "github.com/wombatworkouts/berth/config/litestream"
	"github.com/wombatworkouts/berth/hooks/output"
	"github.com/wombatworkouts/berth/hooks/transport"
)

// Timeouts bound each remote or network step.
type Timeouts struct {
	Sync    time.Duration
	Confirm time.Duration
	Check   time.Duration
}

// DefaultTimeouts are generous for a real server and an object store.
var DefaultTimeouts = Timeouts{Sync: 2 * time.Minute, Confirm: time.Minute, Check: 15 * time.Minute}

// Options for Take.
type Options struct {
	Manifest  *config.Manifest
	Transport transport.Transport
	Lookup    func(string) (string, bool)
	Printer   *output.Printer
	// Check restores each restore point into a temporary file and checks
	// it (integrity, newest migration against the live database).
	Check bool
	// WorkDir holds the temporary restore ("" = the system's).
	WorkDir  string
	Timeouts Timeouts
	// Destination is Kamal's -d, for the printed commands.
	Destination string
	// FirstSetup is true during `kamal setup`, where a missing accessory or
	// database is expected (the caller skips the restore point).
	FirstSetup bool
}

// Point is a verified restore point of one database.
type Point struct {
	DB          string    `json:"db"`
	Path        string    `json:"path"`
	TXID        uint64    `json:"txid"`
	TXIDHex     string    `json:"txid_hex"`
	ReplicaTXID uint64    `json:"replica_txid"`
	ReplicaAt   time.Time `json:"replica_at,omitempty"`
	Replica     string    `json:"replica"`
	Checked     bool      `json:"checked"`
	// SchemaVersion is the newest migration of the restored database.
	SchemaVersion string `json:"schema_version,omitempty"`
	// RestoreCommand is the litestream command that restores this point.
	RestoreCommand string `json:"restore_command"`
	// KamalCommand runs RestoreCommand in a one-off accessory container.
	KamalCommand string `json:"kamal_command,omitempty"`
}

// Command is what an operator types to restore p: through Kamal when the
// database lives on a server, the litestream command otherwise.
func (p Point) Command() string {
	if p.KamalCommand != "" {
		return p.KamalCommand
	}
	return p.RestoreCommand
}

// RestoreArgs is the litestream restore command for a point: into a new
// file next to the database (a restore never overwrites the live file).
func RestoreArgs(dbPath string, txid uint64) []string {
	return []string{"litestream", "restore", "-config", cfglitestream.ConfigPath, "-integrity-check", "full",
		"-txid", ltx.TXID(txid).String(), "-o", RestoreOutput(dbPath, txid), dbPath}
}

// RestoreOutput is the file the restore command writes: a copy beside the
// live database, never the live file itself.
func RestoreOutput(dbPath string, txid uint64) string {
	return dbPath + ".restore-" + ltx.TXID(txid).String()
}

// Take makes a restore point of every replicated database. It stops at
// the first failure: a deploy without a verified restore point must not go
// on.
func Take(ctx context.Context, o Options) ([]Point, error) {
	if o.Timeouts == (Timeouts{}) {
		o.Timeouts = DefaultTimeouts
	}
	dbs := o.Manifest.Databases()
	paths := make([]string, len(dbs))
	for i, db := range dbs {
		paths[i] = config.DatabasePath(db)
	}
	// Every database in one remote call: each kamal call is a Ruby start,
	// an SSH connection and a run of the app's pre-connect hook.
	var synced []SyncResult
	err := o.Printer.Step("litestream sync "+strings.Join(dbs, ", "), func() (string, error) {
		c, cancel := context.WithTimeout(ctx, o.Timeouts.Sync)
		defer cancel()
		var err error
		synced, err = SyncAll(c, o.Transport, cfglitestream.SocketPath, paths, o.Timeouts.Sync)
		if err != nil && o.FirstSetup && (errors.Is(err, transport.ErrNotRunning) || errors.Is(err, ErrSocket) || errors.Is(err, ErrNoDatabase)) {
			// Kamal boots accessories after pre-deploy on a first setup:
			// the caller says so, this is no failure.
			return "", &output.ExpectedError{Err: err}
		}
		if err != nil {
			return "", err
		}
		parts := make([]string, len(synced))
		for i, res := range synced {
			parts[i] = fmt.Sprintf("TXID %s (%d)", ltx.TXID(res.TXID), res.TXID)
			if len(dbs) > 1 {
				parts[i] = dbs[i] + " " + parts[i]
			}
		}
		return strings.Join(parts, ", ") + " uploaded", nil
	})
	if err != nil {
		return nil, err
	}
	var points []Point
	for i, db := range dbs {
		p, err := takeOne(ctx, o, db, synced[i], i == 0)
		if err != nil {
			return points, err
		}
		points = append(points, p)
	}
	return points, nil
}

func takeOne(ctx context.Context, o Options, db string, res SyncResult, primary bool) (Point, error) {
	dbPath := config.DatabasePath(db)
	p := Point{DB: db, Path: dbPath}
	p.TXID, p.TXIDHex = res.TXID, ltx.TXID(res.TXID).String()

	r, err := NewReader(o.Manifest, db, o.Transport, o.Lookup)
	if err != nil {
		return p, err
	}
	p.Replica = r.Where()
	err = o.Printer.Step("confirm replica "+db, func() (string, error) {
		c, cancel := context.WithTimeout(ctx, o.Timeouts.Confirm)
		defer cancel()
		pos, err := r.Newest(c)
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) || c.Err() != nil {
				return "", fmt.Errorf("%s did not answer within %s (unreachable? wrong endpoint?): %w", r.Where(), o.Timeouts.Confirm, err)
			}
			return "", err
		}
		p.ReplicaTXID, p.ReplicaAt = pos.TXID, pos.At
		if pos.TXID < res.TXID {
			return "", fmt.Errorf("the replica %s holds TXID %s but Litestream reported %s as uploaded: the replica is behind (another Litestream writing it? a wrong path?)",
				r.Where(), ltx.TXID(pos.TXID), ltx.TXID(res.TXID))
		}
		return fmt.Sprintf("newest TXID %s >= %s in %s", ltx.TXID(pos.TXID), ltx.TXID(res.TXID), r.Where()), nil
	})
	if err != nil {
		return p, err
	}

	if o.Check && res.TXID > 0 {
		err = o.Printer.Step("restore check "+db, func() (string, error) {
			c, cancel := context.WithTimeout(ctx, o.Timeouts.Check)
			defer cancel()
			cr, err := r.Check(c, res.TXID, o.WorkDir)
			if err != nil {
				return "", err
			}
			p.Checked, p.SchemaVersion = true, cr.SchemaVersion
			detail := fmt.Sprintf("%s restored, integrity ok, %s", humanBytes(cr.Bytes), rate(cr.Bytes, cr.Duration))
			if !primary {
				return detail, nil
			}
			live, err := LiveSchemaVersion(c, o.Transport, dbPath)
			if err != nil {
				return "", err
			}
			if live != cr.SchemaVersion {
				return "", fmt.Errorf("the restored database's newest migration is %q but the live database's is %q: the replica is stale even though its integrity check passed", cr.SchemaVersion, live)
			}
			if live != "" {
				detail += ", newest migration " + live + " matches the live database"
			}
			return detail, nil
		})
		if err != nil {
			return p, err
		}
	}
	argv := RestoreArgs(dbPath, res.TXID)
	p.RestoreCommand = transport.Join(argv)
	if o.Transport.Name() == "kamal" {
		dest := ""
		if o.Destination != "" {
			dest = " -d " + o.Destination
		}
		// A one-off accessory container: its entrypoint is litestream.
		p.KamalCommand = "kamal accessory exec " + Accessory + dest + " " + transport.Quote(transport.Join(argv[1:]))
	}
	return p, nil
}

func humanBytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func rate(n int64, d time.Duration) string {
	if d <= 0 {
		return ""
	}
	return fmt.Sprintf("%.0f MiB/s", float64(n)/(1<<20)/d.Seconds())
}
