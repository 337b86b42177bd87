// Command restorepoint-bench measures berth's restore-point step on a 1 GiB
// SQLite database under writes, with the local transport and a file
// replica: sync + confirm (goal <= 2 s), and the full restore check's
// throughput against a plain `cp` of the same file in the same run, in
// alternating turns (goal >= 0.5x). Run from e2e/:
// go run ./hooks/cmd/restorepoint-bench [-size 1024] [-turns 4]
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"sort"
	"strings"
	"time"

	"github.com/wombatworkouts/berth/config"
	"github.com/wombatworkouts/berth/e2e/hooks/lshelper"
	"github.com/wombatworkouts/berth/hooks/output"
	"github.com/wombatworkouts/berth/hooks/restorepoint"
)

var cpuProfile string

func main() {
	sizeMiB := flag.Int("size", 1024, "database size in MiB")
	runs := flag.Int("runs", 5, "restore points to time")
	reps := flag.Int("turns", 4, "restore checks and cps to time, alternating which goes first")
	keep := flag.Bool("keep", false, "keep the database and the replica (the directory is printed)")
	flag.StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of the restore checks' turns to this file")
	flag.Parse()
	if err := run(*sizeMiB, *runs, *reps, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "restorepoint-bench:", err)
		os.Exit(1)
	}
}

func run(sizeMiB, runs, reps int, keep bool) error {
	bin, err := lshelper.Binary()
	if err != nil {
		return err
	}
	root, err := os.MkdirTemp("", "berth-rp-bench-")
	if err != nil {
		return err
	}
	if !keep {
		defer os.RemoveAll(root)
	}
	replica := filepath.Join(root, "backups")
	site, err := lshelper.NewSite(root, bin, lshelper.Replica{Dir: replica}, true)
	if err != nil {
		return err
	}
	fmt.Printf("building a %d MiB database in %s ...\n", sizeMiB, root)
	start := time.Now()
	if err := lshelper.Seed(site.DB, "20240101000000"); err != nil {
		return err
	}
	if err := fill(site.DB, sizeMiB); err != nil {
		return err
	}
	st, _ := os.Stat(site.DB)
	fmt.Printf("  %.2f GiB in %s\n", float64(st.Size())/(1<<30), time.Since(start).Round(time.Millisecond))

	d, err := site.StartDaemon(true)
	if err != nil {
		return err
	}
	defer d.Kill()
	tr := site.Transport(root)
	start = time.Now()
	ctx := context.Background()
	if _, err := restorepoint.Sync(ctx, tr, site.Socket, "/rails/storage/"+config.DefaultDatabase, 10*time.Minute); err != nil {
		return fmt.Errorf("initial replication: %w", err)
	}
	fmt.Printf("initial replication (snapshot of the whole database): %s\n", time.Since(start).Round(time.Millisecond))

	w, err := lshelper.StartWriter(site.DB, 500, 2*time.Millisecond)
	if err != nil {
		return err
	}
	defer w.Stop()
	time.Sleep(time.Second)

	m, err := manifest(root, replica)
	if err != nil {
		return err
	}
	var times []time.Duration
	var last restorepoint.Point
	for i := 0; i < runs; i++ {
		time.Sleep(300 * time.Millisecond) // let writes accumulate
		t0 := time.Now()
		pts, err := restorepoint.Take(ctx, restorepoint.Options{Manifest: m, Transport: tr, Printer: output.New(io.Discard),
			Timeouts: restorepoint.Timeouts{Sync: time.Minute, Confirm: time.Minute, Check: 10 * time.Minute}})
		if err != nil {
			return err
		}
		times = append(times, time.Since(t0))
		last = pts[0]
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	med := times[len(times)/2]
	fmt.Printf("restore point (litestream sync -wait + confirm from the replica), %d runs under writes (%d rows written so far):\n", runs, w.Committed())
	fmt.Printf("  min %s  median %s  max %s   goal <= 2s: %s\n", ms(times[0]), ms(med), ms(times[len(times)-1]), verdict(med <= 2*time.Second))

	// Full restore check vs cp of the same file, alternately and in turns
	// (check first, then cp first): each writes a new 1 GiB file into the
	// page cache, and how fast that goes here depends on what ran just
	// before (memory freed a moment ago is at hand; after a pause it must
	// come back from the hypervisor), so each gets the same share of
	// both positions. Each output is removed before the next run.
	r, err := restorepoint.NewReader(m, config.DefaultDatabase, tr, os.LookupEnv)
	if err != nil {
		return err
	}
	work := filepath.Join(root, "work")
	if err := os.MkdirAll(work, 0o755); err != nil {
		return err
	}
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	var checkRates, cpRates, pairRatios []float64
	var cr restorepoint.CheckResult
	var checkD time.Duration
	for i := 0; i < reps; i++ {
		check := func() error {
			t0 := time.Now()
			res, err := r.Check(ctx, last.TXID, work)
			if err != nil {
				return err
			}
			cr, checkD = res, time.Since(t0)
			checkRates = append(checkRates, mibps(cr.Bytes, checkD))
			return nil
		}
		cp := func() error {
			dst := filepath.Join(work, "copy.sqlite3")
			t0 := time.Now()
			if out, err := exec.Command("cp", site.DB, dst).CombinedOutput(); err != nil {
				return fmt.Errorf("cp: %v %s", err, out)
			}
			d := time.Since(t0)
			cst, err := os.Stat(dst)
			if err != nil {
				return err
			}
			cpRates = append(cpRates, mibps(cst.Size(), d))
			return os.Remove(dst)
		}
		first, second := check, cp
		if i%2 == 1 {
			first, second = cp, check
		}
		if err := first(); err != nil {
			return err
		}
		if err := second(); err != nil {
			return err
		}
		pairRatios = append(pairRatios, checkRates[i]/cpRates[i])
		ph := cr.Phases
		fmt.Printf("  turn %d (%s first): restore check %.2f GiB in %s = %.0f MiB/s (restore %s, integrity_check %s, schema_migrations %s, remove %s); cp %.0f MiB/s; ratio %.2fx\n",
			i+1, map[bool]string{true: "check", false: "cp"}[i%2 == 0], float64(cr.Bytes)/(1<<30), ms(checkD), checkRates[i],
			ms(ph.Restore), ms(ph.Integrity), ms(ph.Schema), ms(ph.Cleanup), cpRates[i], pairRatios[i])
	}
	ratio := median(pairRatios)
	fmt.Printf("full restore check (restore TXID %s + PRAGMA integrity_check + schema_migrations), median of %d turns: %.0f MiB/s\n",
		last.TXIDHex, reps, median(checkRates))
	fmt.Printf("plain cp of the same database file, median of %d turns:                                  %.0f MiB/s\n", reps, median(cpRates))
	fmt.Printf("restore check / cp throughput (median of the turns' ratios): %.2fx   goal >= 0.5x: %s\n", ratio, verdict(ratio >= 0.5))
	if keep {
		fmt.Printf("kept %s (database %s, replica %s)\n", root, site.DB, replica)
	}
	return nil
}

func fill(path string, sizeMiB int) error {
	db, err := lshelper.Open(path)
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := db.Exec(`CREATE TABLE IF NOT EXISTS blobs (id INTEGER PRIMARY KEY, data BLOB NOT NULL)`); err != nil {
		return err
	}
	const per = 64
	for i := 0; i < sizeMiB; i += per {
		if _, err := db.Exec(fmt.Sprintf(`WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n+1 FROM s WHERE n < %d) INSERT INTO blobs(data) SELECT randomblob(1048576) FROM s`, min(per, sizeMiB-i))); err != nil {
			return err
		}
	}
	_, err = db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

func manifest(root, replica string) (*config.Manifest, error) {
	y := strings.Join([]string{"app: bench", "image: ghcr.io/example/bench", "hosts: [127.0.0.1]", "domains: [bench.example.org]",
		"litestream:", "  replica: " + replica, "server:", "  acme:", "    email: ops@bench-example.net", "  state_dir: " + filepath.Join(root, "state"), ""}, "\n")
	return config.Parse([]byte(y), filepath.Join(root, "berth.yml"))
}

func mibps(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / (1 << 20) / d.Seconds()
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 0 {
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return s[len(s)/2]
}

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
}
