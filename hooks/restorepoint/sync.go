// Package restorepoint takes a verified Litestream restore point before a
// deploy: the app's own Litestream daemon flushes and uploads everything
// now (`litestream sync -wait -json` through its control socket, never a
// second Litestream: two writers ruin a replica silently, docs/litestream.md#litestream-as-berth-uses-it); the
// replica is then read from this machine with the Litestream library to
// confirm it holds that transaction; optionally the restore point is
// restored into a temporary file, integrity-checked and compared with the
// live database's newest migration; and the result is recorded with the
// exact command that restores it.
package restorepoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/superfly/ltx"

	"github.com/wombatworkouts/berth/hooks/transport"
)

// Accessory is the Kamal accessory that runs Litestream (config's rendered
// deploy.yml).
const Accessory = "litestream"

// SyncResult is `litestream sync -wait -json` output.
type SyncResult struct {
	DBPath      string  `json:"db_path"`
	TXID        uint64  `json:"txid"`
	ReplicaTXID *uint64 `json:"replica_txid"`
	DurationMS  int64   `json:"duration_ms"`
}

// ErrSocket is wrapped when the control socket cannot be reached.
var ErrSocket = errors.New("litestream control socket unreachable")

// ErrNoDatabase is wrapped when the daemon does not know the database.
var ErrNoDatabase = errors.New("database not replicated by the running litestream")

// SyncArgs is the command run in the accessory.
func SyncArgs(socket, db string, timeout time.Duration) []string {
	secs := int(timeout / time.Second)
	if secs < 1 {
		secs = 1
	}
	return []string{"litestream", "sync", "-wait", "-json", "-timeout", strconv.Itoa(secs), "-socket", socket, db}
}

// Sync asks the running Litestream to upload one database now.
func Sync(ctx context.Context, t transport.Transport, socket, db string, timeout time.Duration) (SyncResult, error) {
	res, err := SyncAll(ctx, t, socket, []string{db}, timeout)
	if err != nil {
		return SyncResult{}, err
	}
	return res[0], nil
}

// SyncAll asks the running Litestream to upload every database now
// (`litestream sync -wait -json` through its control socket), all in one
// remote call, and checks that each replica reached the database's TXID.
// Litestream's /sync handler reads txid after the upload it waited for, so
// a transaction the app commits in between leaves replica_txid one behind
// although the upload finished: those databases are asked again, up to
// syncAttempts times, before the replica is called behind.
func SyncAll(ctx context.Context, t transport.Transport, socket string, dbs []string, timeout time.Duration) ([]SyncResult, error) {
	results := make([]SyncResult, len(dbs))
	pending := make([]int, len(dbs))
	for i := range dbs {
		pending[i] = i
	}
	for attempt := 1; ; attempt++ {
		argvs := make([][]string, len(pending))
		for n, i := range pending {
			argvs[n] = SyncArgs(socket, dbs[i], timeout)
		}
		outs, err := t.AccessoryEach(ctx, Accessory, argvs)
		if err != nil {
			return nil, classifySync(err, "", socket, strings.Join(dbs, ", "))
		}
		var behind []int
		for n, i := range pending {
			db, o := dbs[i], outs[n]
			if o.Err != nil {
				return nil, classifySync(o.Err, o.Text+" "+o.Err.Error(), socket, db)
			}
			res, err := ParseSync(o.Text)
			if err != nil {
				return nil, fmt.Errorf("litestream sync %s: %w", db, err)
			}
			if res.ReplicaTXID == nil {
				return nil, fmt.Errorf("litestream sync %s: no replica_txid in the answer (was -wait ignored? the accessory must run Litestream 0.5.x)", db)
			}
			results[i] = res
			if *res.ReplicaTXID != res.TXID {
				behind = append(behind, i)
			}
		}
		if len(behind) == 0 {
			return results, nil
		}
		if attempt == syncAttempts || ctx.Err() != nil {
			r := results[behind[0]]
			return nil, fmt.Errorf("litestream sync %s: the replica is at TXID %d but the database is at %d after %d syncs: the upload did not finish (replica unreachable or slow?); check `kamal accessory logs litestream`",
				dbs[behind[0]], *r.ReplicaTXID, r.TXID, syncAttempts)
		}
		pending = behind
		select {
		case <-time.After(syncPause):
		case <-ctx.Done():
		}
	}
}

const (
	syncAttempts = 4
	syncPause    = 250 * time.Millisecond
)

func classifySync(err error, out, socket, db string) error {
	low := strings.ToLower(out)
	switch {
	case strings.Contains(low, "failed to connect to control socket") || strings.Contains(low, "connect: no such file") || strings.Contains(low, "connection refused"):
		return fmt.Errorf("%w: %s: is `socket: enabled: true` (path %s) in litestream.yml and the accessory running the config berth rendered? Run `berth config render config` and `kamal accessory reboot litestream`: %w",
			ErrSocket, socket, socket, err)
	case strings.Contains(low, "database not found"):
		return fmt.Errorf("%w: %s is not in the running Litestream's config (litestream.yml dbs); render it again and reboot the accessory: %w", ErrNoDatabase, db, err)
	case errors.Is(err, transport.ErrNotRunning):
		return fmt.Errorf("the litestream accessory is not running (`kamal accessory boot litestream`): %w", err)
	}
	return fmt.Errorf("litestream sync %s: %w", db, err)
}

// ParseSync finds the JSON object in the command's output (Kamal prints its
// own lines around it).
func ParseSync(out string) (SyncResult, error) {
	for i := 0; i < len(out); i++ {
		if out[i] != '{' {
			continue
		}
		var r SyncResult
		dec := json.NewDecoder(strings.NewReader(out[i:]))
		if err := dec.Decode(&r); err == nil && r.DBPath != "" {
			return r, nil
		}
	}
	return SyncResult{}, fmt.Errorf("no JSON answer from `litestream sync -json` in its output: %q", clip(out))
}

// ParseLTXList reads `litestream ltx -json` output and returns the newest
// TXID across the listed files.
func ParseLTXList(out string) (uint64, time.Time, error) {
	type file struct {
		Level     int    `json:"level"`
		MaxTXID   string `json:"max_txid"`
		Timestamp string `json:"timestamp"`
	}
	for i := 0; i < len(out); i++ {
		if out[i] != '[' {
			continue
		}
		var files []file
		if err := json.NewDecoder(strings.NewReader(out[i:])).Decode(&files); err != nil {
			continue
		}
		var max uint64
		var at time.Time
		for _, f := range files {
			id, err := ltx.ParseTXID(f.MaxTXID)
			if err != nil {
				return 0, time.Time{}, fmt.Errorf("litestream ltx: bad max_txid %q: %w", f.MaxTXID, err)
			}
			if uint64(id) >= max {
				max = uint64(id)
				at, _ = time.Parse(time.RFC3339, f.Timestamp)
			}
		}
		return max, at, nil
	}
	return 0, time.Time{}, fmt.Errorf("no JSON list from `litestream ltx -json` in its output: %q", clip(out))
}

func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 400 {
		return s[:200] + " ... " + s[len(s)-200:]
	}
	return s
}
