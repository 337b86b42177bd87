package hooks_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/wombatworkouts/berth/e2e/hooks/lshelper"
	"github.com/wombatworkouts/berth/hooks/output"
	"github.com/wombatworkouts/berth/hooks/restorepoint"
)

// The crash drill: an app writer in its own process and the Litestream
// daemon are killed with SIGKILL mid-write, right after a restore point was
// taken; the database is then restored from the replica alone, and every
// transaction committed before the restore point was taken must be in it.
func TestCrashDrill(t *testing.T) {
	f := newFixture(t, fixtureOpts{})
	f.writer.Stop() // the in-process writer; this drill's writer is a process
	f.writer = nil
	ids := filepath.Join(t.TempDir(), "committed.log")
	// Each sqlite3 run commits one row and then prints its id: a line in
	// the log means that transaction committed.
	script := `while :; do sqlite3 -cmd ".timeout 5000" "$DB" "INSERT INTO items(body, created_at) VALUES (hex(randomblob(300)), datetime('now')); SELECT last_insert_rowid();" >> "$IDS" || exit 1; done`
	w := exec.Command("sh", "-c", script)
	w.Env = append(os.Environ(), "DB="+f.site.DB, "IDS="+ids)
	w.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := w.Start(); err != nil {
		t.Fatal(err)
	}
	killWriter := func() { syscall.Kill(-w.Process.Pid, syscall.SIGKILL); w.Wait() }
	t.Cleanup(killWriter)
	time.Sleep(time.Second)

	// What had committed when the restore point was asked for.
	confirmedUpTo := lastID(t, ids)
	var out strings.Builder
	points, err := restorepoint.Take(context.Background(), restorepoint.Options{Manifest: f.app.Manifest, Transport: f.site.Transport(f.app.Dir),
		Lookup: f.lookup, Printer: output.New(&out), Timeouts: restorepoint.Timeouts{Sync: 20 * time.Second, Confirm: 5 * time.Second, Check: 30 * time.Second}})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	// Keep writing, then kill -9 both mid-write.
	time.Sleep(700 * time.Millisecond)
	killWriter()
	f.daemon.Kill()
	lastBeforeCrash := lastID(t, ids)
	if confirmedUpTo < 10 || lastBeforeCrash <= confirmedUpTo {
		t.Fatalf("writer too slow: %d then %d", confirmedUpTo, lastBeforeCrash)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for _, tc := range []struct{ name, txid string }{{"at the restore point", points[0].TXIDHex}, {"newest in the replica", ""}} {
		restored := filepath.Join(t.TempDir(), "restored.sqlite3")
		if msg, err := f.site.Restore(ctx, restored, tc.txid); err != nil {
			t.Fatalf("%s: restore: %v\n%s", tc.name, err, msg)
		}
		missing, n, err := lshelper.MissingIDs(restored, confirmedUpTo)
		if err != nil {
			t.Fatal(err)
		}
		if len(missing) > 0 {
			t.Fatalf("%s: %d of %d confirmed transactions restored; missing e.g. %v", tc.name, n, confirmedUpTo, missing)
		}
		t.Logf("%s (TXID %q): all %d transactions committed before the restore point are there (%d committed before the crash)", tc.name, tc.txid, confirmedUpTo, lastBeforeCrash)
	}
}

func lastID(t *testing.T, file string) int64 {
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(data))
	if len(lines) == 0 {
		return 0
	}
	n, err := strconv.ParseInt(lines[len(lines)-1], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
