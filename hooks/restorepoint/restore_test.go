package restorepoint

import (
	"bytes"
	"context"
	"database/sql"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/benbjohnson/litestream"
	lsfile "github.com/benbjohnson/litestream/file"
	"github.com/superfly/ltx"
)

// replicate builds a database under an in-process Litestream with a file
// replica, through changes that grow it, rewrite pages and shrink it
// (VACUUM), and returns the replica directory and the TXID after each step.
func replicate(t *testing.T) (string, []ltx.TXID) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "db.sqlite3")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	exec := func(q string) {
		t.Helper()
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`CREATE TABLE schema_migrations (version varchar NOT NULL PRIMARY KEY)`)
	exec(`INSERT INTO schema_migrations VALUES ('20240101000000')`)
	exec(`CREATE TABLE items (id INTEGER PRIMARY KEY, k TEXT NOT NULL, v BLOB NOT NULL)`)
	exec(`CREATE INDEX items_k ON items (k)`)
	exec(`WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM s WHERE n < 400) INSERT INTO items (k, v) SELECT hex(randomblob(8)), randomblob(3000) FROM s`)

	ldb := litestream.NewDB(path)
	replica := filepath.Join(dir, "replica")
	ldb.Replica = litestream.NewReplicaWithClient(ldb, lsfile.NewReplicaClient(replica))
	store := litestream.NewStore([]*litestream.DB{ldb}, litestream.CompactionLevels{{Level: 0}, {Level: 1, Interval: time.Hour}})
	store.Logger = quietLogger()
	ldb.SetLogger(quietLogger())
	if err := store.Open(ctx); err != nil {
		t.Fatal(err)
	}
	defer store.Close(ctx)
	var txids []ltx.TXID
	sync := func() {
		t.Helper()
		if err := ldb.SyncAndWait(ctx); err != nil {
			t.Fatal(err)
		}
		pos, err := ldb.Pos()
		if err != nil {
			t.Fatal(err)
		}
		txids = append(txids, pos.TXID)
	}
	sync()
	exec(`UPDATE items SET v = randomblob(3000), k = hex(randomblob(8)) WHERE id % 7 = 0`)
	sync()
	exec(`WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM s WHERE n < 300) INSERT INTO items (k, v) SELECT hex(randomblob(8)), randomblob(5000) FROM s`)
	sync()
	exec(`DELETE FROM items WHERE id > 100`)
	exec(`VACUUM`)
	sync()
	exec(`INSERT INTO schema_migrations VALUES ('20240202000000')`)
	sync()
	return replica, txids
}

func TestRestoreFileMatchesLitestreamRestore(t *testing.T) {
	replica, txids := replicate(t)
	ctx := context.Background()
	client := lsfile.NewReplicaClient(replica)
	out := t.TempDir()
	sizes := map[int64]bool{}
	for _, txid := range txids {
		ours := filepath.Join(out, "ours-"+txid.String())
		if err := restoreFile(ctx, client, txid, ours); err != nil {
			t.Fatalf("TXID %s: %v", txid, err)
		}
		theirs := filepath.Join(out, "theirs-"+txid.String())
		opt := litestream.NewRestoreOptions()
		opt.OutputPath, opt.TXID = theirs, txid
		if err := litestream.NewReplicaWithClient(nil, client).Restore(ctx, opt); err != nil {
			t.Fatal(err)
		}
		a, _ := os.ReadFile(ours)
		b, _ := os.ReadFile(theirs)
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Fatalf("TXID %s: berth restored %d bytes, Litestream %d, not the same", txid, len(a), len(b))
		}
		sizes[int64(len(a))] = true
		var res CheckResult
		if err := checkRestored(ctx, ours, int64(len(a)), &res); err != nil {
			t.Fatalf("TXID %s: %v", txid, err)
		}
		if res.SchemaVersion == "" {
			t.Fatalf("TXID %s: no schema version", txid)
		}
	}
	if len(sizes) < 3 {
		t.Fatalf("the database should have grown and shrunk: sizes %v", sizes)
	}
}

func TestRestoreFileRejectsDamagedReplica(t *testing.T) {
	replica, txids := replicate(t)
	ctx := context.Background()
	files, _ := filepath.Glob(filepath.Join(replica, "ltx", "*", "*.ltx"))
	var snapshot, last string
	for _, f := range files {
		name := filepath.Base(f)
		if strings.HasPrefix(name, "0000000000000001-") {
			snapshot = f
		}
		if strings.Contains(name, "-"+txids[len(txids)-1].String()) {
			last = f
		}
	}
	if snapshot == "" || last == "" {
		t.Fatalf("snapshot or last file missing in %v", files)
	}
	for name, f := range map[string]string{"snapshot": snapshot, "last": last} {
		t.Run(name, func(t *testing.T) {
			orig, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			defer os.WriteFile(f, orig, 0o644)
			bad := bytes.Clone(orig)
			bad[len(bad)/2] ^= 0x40
			if err := os.WriteFile(f, bad, 0o644); err != nil {
				t.Fatal(err)
			}
			out := filepath.Join(t.TempDir(), "db")
			err = restoreFile(ctx, lsfile.NewReplicaClient(replica), txids[len(txids)-1], out)
			if err == nil {
				t.Fatal("a damaged replica restored without an error")
			}
			t.Log(err)
		})
	}
}

// The check's connection (immutable, memory-mapped) still finds damage.
func TestCheckRestoredFindsDamage(t *testing.T) {
	replica, txids := replicate(t)
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "odd ?#% name")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "db")
	if err := restoreFile(ctx, lsfile.NewReplicaClient(replica), txids[2], path); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	var res CheckResult
	if err := checkRestored(ctx, path, int64(len(b)), &res); err != nil || res.SchemaVersion != "20240101000000" {
		t.Fatalf("%+v %v", res, err)
	}
	// Damage the start of a page in the middle of the file: a b-tree
	// page's header or an overflow page's link to the next one.
	const pageSize = 4096
	p := len(b) / pageSize / 2
	for i := 0; i < 8; i++ {
		b[p*pageSize+i] ^= 0x5a
	}
	bad := filepath.Join(dir, "bad")
	if err := os.WriteFile(bad, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := checkRestored(ctx, bad, int64(len(b)), &res); err == nil || !strings.Contains(err.Error(), "integrity check") {
		t.Fatalf("damage not found: %v", err)
	} else {
		t.Log(err)
	}
}

// restoredChecksum (used when the last file records a checksum the
// snapshot did not) agrees with ltx's own, on a file below the lock page.
func TestRestoredChecksum(t *testing.T) {
	replica, txids := replicate(t)
	path := filepath.Join(t.TempDir(), "db")
	if err := restoreFile(context.Background(), lsfile.NewReplicaClient(replica), txids[len(txids)-1], path); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	const pageSize = 4096
	got, err := restoredChecksum(f, pageSize, uint32(st.Size()/pageSize), ltx.LockPgno(pageSize))
	if err != nil {
		t.Fatal(err)
	}
	want, err := ltx.ChecksumReader(io.NewSectionReader(f, 0, st.Size()), pageSize)
	if err != nil || got != want {
		t.Fatalf("restoredChecksum %s, ltx %s (%v)", got, want, err)
	}
}
