package restorepoint_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wombatworkouts/berth/hooks/internal/fakekamal"
	"github.com/wombatworkouts/berth/hooks/restorepoint"
	"github.com/wombatworkouts/berth/hooks/transport"
)

// Fast unit tests: a stand-in kamal plays what
// `kamal accessory exec litestream --reuse ...` prints.
func TestMain(m *testing.M) {
	fakekamal.MaybeMain()
	os.Exit(m.Run())
}

const kamalNoise = "  INFO [a1b2c3] Running /usr/bin/env docker exec shop-litestream litestream sync on 203.0.113.10\nLaunching command from existing container...\nApp Host: 203.0.113.10\n"

func TestSync(t *testing.T) {
	// The fake kamal runs the accessory's script here with sh; this
	// litestream prints what the case says.
	tests := []struct {
		name    string
		out     string // litestream's output
		exit    int
		kamal   *fakekamal.Rule // kamal itself fails instead
		want    uint64
		wantErr string
		is      error
	}{
		{"in step", "{\n  \"db_path\": \"/rails/storage/production.sqlite3\",\n  \"txid\": 42,\n  \"replica_txid\": 42,\n  \"duration_ms\": 12\n}\n", 0, nil, 42, "", nil},
		{"replica behind", `{"db_path":"/rails/storage/production.sqlite3","txid":42,"replica_txid":40}` + "\n", 0, nil, 0, "replica is at TXID 40 but the database is at 42", nil},
		{"no -wait answer", `{"db_path":"/rails/storage/production.sqlite3","txid":42}`, 0, nil, 0, "no replica_txid", nil},
		{"socket disabled", "error: failed to connect to control socket: Post \"http://localhost/sync\": dial unix /rails/storage/.litestream.sock: connect: no such file or directory\n", 1, nil, 0, "socket", restorepoint.ErrSocket},
		{"unknown database", "error: sync failed: database not found\n", 1, nil, 0, "not in the running Litestream", restorepoint.ErrNoDatabase},
		{"accessory missing", "", 0, &fakekamal.Rule{Match: "sync", Exit: 1, Stdout: "Error response from daemon: No such container: shop-litestream\n"}, 0, "not running", transport.ErrNotRunning},
		{"garbage", "hello\n", 0, nil, 0, "no JSON answer", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rule := fakekamal.Rule{Match: "sync", Exec: true}
			if tc.kamal != nil {
				rule = *tc.kamal
			}
			fakekamal.Program(t, "litestream", tc.out, tc.exit)
			f := fakekamal.Setup(t, rule)
			res, err := restorepoint.Sync(context.Background(), &transport.Kamal{Bin: f.Bin}, "/rails/storage/.litestream.sock", "/rails/storage/production.sqlite3", time.Minute)
			if tc.wantErr == "" {
				if err != nil || res.TXID != tc.want {
					t.Fatalf("%+v %v", res, err)
				}
				argv := f.Calls(t)[0]
				if last := argv[len(argv)-1]; !strings.Contains(last, "litestream sync -wait -json -timeout 60 -socket /rails/storage/.litestream.sock /rails/storage/production.sqlite3") {
					t.Fatalf("command %q", last)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Fatalf("not %v: %v", tc.is, err)
			}
		})
	}
}

// Every database is synced in one kamal call (one SSH connection), each
// command's answer and exit status read from its own frame.
func TestSyncAllOneCall(t *testing.T) {
	bin := t.TempDir()
	script := "#!/bin/sh\neval db=\\${$#}\ncase \"$db\" in\n" +
		"  */production.sqlite3) echo '{\"db_path\":\"/rails/storage/production.sqlite3\",\"txid\":7,\"replica_txid\":7}';;\n" +
		"  */production_queue.sqlite3) echo '{\"db_path\":\"/rails/storage/production_queue.sqlite3\",\"txid\":9,\"replica_txid\":9}';;\n" +
		"  *) echo 'error: sync failed: database not found'; exit 1;;\nesac\n"
	if err := os.WriteFile(filepath.Join(bin, "litestream"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	f := fakekamal.Setup(t, fakekamal.Rule{Match: "sync", Exec: true})
	tr := &transport.Kamal{Bin: f.Bin}
	res, err := restorepoint.SyncAll(context.Background(), tr, "/s.sock", []string{"/rails/storage/production.sqlite3", "/rails/storage/production_queue.sqlite3"}, time.Minute)
	if err != nil || res[0].TXID != 7 || res[1].TXID != 9 {
		t.Fatalf("%+v %v", res, err)
	}
	if n := len(f.Calls(t)); n != 1 {
		t.Fatalf("%d kamal calls, want 1", n)
	}
	_, err = restorepoint.SyncAll(context.Background(), tr, "/s.sock", []string{"/rails/storage/production.sqlite3", "/rails/storage/other.sqlite3"}, time.Minute)
	if !errors.Is(err, restorepoint.ErrNoDatabase) || !strings.Contains(err.Error(), "other.sqlite3") {
		t.Fatalf("the failing database is not named: %v", err)
	}
}

// scriptedTransport answers Accessory calls from a script, one answer a
// call, the last one over and over.
type scriptedTransport struct {
	transport.Local
	answers []string
	calls   int
}

func (s *scriptedTransport) Accessory(ctx context.Context, accessory string, argv []string) (string, error) {
	s.calls++
	return s.answers[min(s.calls, len(s.answers))-1], nil
}

func (s *scriptedTransport) AccessoryEach(ctx context.Context, accessory string, argvs [][]string) ([]transport.Output, error) {
	out := make([]transport.Output, len(argvs))
	for i, argv := range argvs {
		out[i].Text, out[i].Err = s.Accessory(ctx, accessory, argv)
	}
	return out, nil
}

// A transaction committed while Litestream answers the sync leaves txid one
// ahead of replica_txid although the upload finished: Sync asks again
// rather than failing the deploy, and gives up when the replica stays
// behind.
func TestSyncAgainWhenTheAppWroteMeanwhile(t *testing.T) {
	answer := func(txid, replica int) string {
		return fmt.Sprintf(`{"db_path":"/rails/storage/production.sqlite3","txid":%d,"replica_txid":%d}`, txid, replica)
	}
	tests := []struct {
		name      string
		answers   []string
		wantTXID  uint64
		wantCalls int
		wantErr   string
	}{
		{"caught up on the second sync", []string{answer(114, 113), answer(114, 114)}, 114, 2, ""},
		{"caught up on the last sync", []string{answer(114, 113), answer(115, 114), answer(116, 115), answer(117, 117)}, 117, 4, ""},
		{"stays behind", []string{answer(42, 40)}, 0, 4, "replica is at TXID 40 but the database is at 42 after 4 syncs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := &scriptedTransport{answers: tc.answers}
			res, err := restorepoint.Sync(context.Background(), tr, "/rails/storage/.litestream.sock", "/rails/storage/production.sqlite3", time.Minute)
			if tr.calls != tc.wantCalls {
				t.Errorf("%d syncs, want %d", tr.calls, tc.wantCalls)
			}
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || res.TXID != tc.wantTXID || *res.ReplicaTXID != tc.wantTXID {
				t.Fatalf("%+v %v, want TXID %d", res, err, tc.wantTXID)
			}
		})
	}
}

func TestParseLTXList(t *testing.T) {
	out := kamalNoise + `[
  {"level": 0, "min_txid": "0000000000000005", "max_txid": "0000000000000005", "size": 10, "timestamp": "2026-01-01T00:00:05Z"},
  {"level": 1, "min_txid": "0000000000000001", "max_txid": "000000000000002a", "size": 99, "timestamp": "2026-01-01T00:00:30Z"}
]
`
	id, at, err := restorepoint.ParseLTXList(out)
	if err != nil || id != 42 || at.Second() != 30 {
		t.Fatalf("%d %v %v", id, at, err)
	}
	if _, _, err := restorepoint.ParseLTXList("nothing"); err == nil {
		t.Fatal("no error")
	}
	if _, _, err := restorepoint.ParseLTXList(`[{"max_txid":"zz"}]`); err == nil {
		t.Fatal("bad txid accepted")
	}
}

func TestRestoreArgs(t *testing.T) {
	got := transport.Join(restorepoint.RestoreArgs("/rails/storage/production.sqlite3", 42))
	want := "litestream restore -config /etc/litestream.yml -integrity-check full -txid 000000000000002a -o /rails/storage/production.sqlite3.restore-000000000000002a /rails/storage/production.sqlite3"
	if got != want {
		t.Fatalf("%s", got)
	}
}

func TestRecordLog(t *testing.T) {
	dir := t.TempDir()
	for i, v := range []string{"v1", "v2"} {
		if _, err := restorepoint.Append(dir, restorepoint.Record{App: "shop", Version: v, PreviousVersion: "v0", Points: []restorepoint.Point{{DB: "production.sqlite3", TXID: uint64(i + 1)}}}); err != nil {
			t.Fatal(err)
		}
	}
	rs, bad, err := restorepoint.List(dir)
	if err != nil || bad != 0 || len(rs) != 2 {
		t.Fatalf("%v %d %v", rs, bad, err)
	}
	r, ok := restorepoint.Latest(dir, "shop", "v1")
	if !ok || r.Points[0].TXID != 1 {
		t.Fatalf("%+v", r)
	}
}
