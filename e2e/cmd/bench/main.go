// Command bench measures what berth costs inside the real Traefik: wrk on
// loopback against four routers of one Traefik process in the same run,
// interleaved so that machine noise hits them alike:
//
//	(a) no middleware, (b) berth in live mode, (c) berth serving the
//	maintenance page, (d) the smallest possible Yaegi plugin (the floor for
//	any interpreted middleware).
//
// It prints req/s and p99 latency (median of the rounds) and the ratios
// against (a).
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wombatworkouts/berth/e2e/internal/backend"
	"github.com/wombatworkouts/berth/e2e/internal/pluginsrc"
	"github.com/wombatworkouts/berth/e2e/internal/traefikrun"
)

func main() {
	duration := flag.Duration("d", 8*time.Second, "wrk duration per run")
	conns := flag.Int("c", 32, "wrk connections")
	rounds := flag.Int("rounds", 3, "interleaved rounds; the median is reported")
	flag.Parse()
	if err := run(*duration, *conns, *rounds); err != nil {
		log.Fatal(err)
	}
}

type target struct {
	key, name, path string
	rps, p99        []float64
}

func run(duration time.Duration, conns, rounds int) error {
	if _, err := exec.LookPath("wrk"); err != nil {
		return fmt.Errorf("wrk is not installed: run `make setup`")
	}
	app, err := backend.Start("bench", "")
	if err != nil {
		return err
	}
	defer app.Stop()

	root, err := pluginsrc.RepoRoot()
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "berth-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	tr, err := traefikrun.Start(dir, traefikrun.Options{
		LogLevel: "ERROR",
		ExtraPlugins: map[string]traefikrun.ExtraPlugin{
			"passthrough": {ModuleName: "example.test/passthrough", Dir: filepath.Join(root, "e2e", "testdata", "plugins", "passthrough")},
		},
	})
	if err != nil {
		return err
	}
	defer tr.Stop()

	dynamic := fmt.Sprintf(`http:
  routers:
    none:
      rule: "PathPrefix(`+"`/none`"+`)"
      service: app
    live:
      rule: "PathPrefix(`+"`/live`"+`)"
      service: app
      middlewares: [berth-live]
    maint:
      rule: "PathPrefix(`+"`/maint`"+`)"
      service: app
      middlewares: [berth-maint]
    floor:
      rule: "PathPrefix(`+"`/floor`"+`)"
      service: app
      middlewares: [passthrough]
  services:
    app:
      loadBalancer:
        servers:
          - url: %q
  middlewares:
    berth-live:
      plugin:
        berth:
          app: bench-live
          statusPath: /live/_berth/status
          allowCIDRs: ["127.0.0.1"]
    berth-maint:
      plugin:
        berth:
          app: bench-maint
          enabled: true
    passthrough:
      plugin:
        passthrough: {}
`, app.URL())
	if err := tr.WriteDynamic("bench.yml", dynamic); err != nil {
		return err
	}
	for _, r := range []string{"none", "live", "maint", "floor"} {
		if err := tr.WaitRouter(r+"@file", 20*time.Second); err != nil {
			return err
		}
	}

	// berth must really be live (its probe passing), or (b) would measure
	// the hold path.
	if status, err := httpGet(tr.WebURL + "/live/_berth/status"); err != nil || !strings.Contains(status, `"mode": "live"`) {
		return fmt.Errorf("berth is not live before the benchmark: %v %s", err, status)
	}

	targets := []*target{
		{key: "a", name: "no middleware", path: "/none"},
		{key: "b", name: "berth live", path: "/live"},
		{key: "c", name: "berth maintenance page", path: "/maint"},
		{key: "d", name: "trivial Yaegi plugin", path: "/floor"},
	}
	// Warm up every path (Yaegi compiles lazily, connections get pooled).
	for _, t := range targets {
		if _, _, err := wrk(tr.WebURL+t.path, 2*time.Second, conns); err != nil {
			return err
		}
	}
	for i := 0; i < rounds; i++ {
		for _, t := range targets {
			rps, p99, err := wrk(tr.WebURL+t.path, duration, conns)
			if err != nil {
				return err
			}
			t.rps = append(t.rps, rps)
			t.p99 = append(t.p99, p99)
			fmt.Fprintf(os.Stderr, "round %d %-24s %8.0f req/s  p99 %6.2f ms\n", i+1, t.name, rps, p99)
		}
	}

	base := targets[0]
	fmt.Printf("\nwrk -t1 -c%d -d%s, %d interleaved rounds, medians; Traefik v3.6.12, loopback, stand-in app answering at once\n\n", conns, duration, rounds)
	fmt.Printf("| | router | req/s | p99 ms | req/s vs (a) | p99 vs (a) |\n|---|---|---|---|---|---|\n")
	for _, t := range targets {
		fmt.Printf("| (%s) | %s | %.0f | %.2f | %.3f | %.3f |\n", t.key, t.name, median(t.rps), median(t.p99),
			median(t.rps)/median(base.rps), median(t.p99)/median(base.p99))
	}
	b, c := targets[1], targets[2]
	fmt.Printf("\ngoals: b/a >= 0.97 with p99 within 10%%: b/a = %.3f, p99 %+.1f%%; c/a >= 2: c/a = %.2f\n",
		median(b.rps)/median(base.rps), 100*(median(b.p99)/median(base.p99)-1), median(c.rps)/median(base.rps))
	return nil
}

var (
	reqsRe = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	p99Re  = regexp.MustCompile(`(?m)^\s+99%\s+([0-9.]+)(us|ms|s)\b`)
)

// wrk runs one measurement and returns req/s and the 99th percentile in ms.
func wrk(url string, d time.Duration, conns int) (float64, float64, error) {
	out, err := exec.Command("wrk", "-t1", "-c"+strconv.Itoa(conns), "-d"+d.String(), "--latency", url).CombinedOutput()
	if err != nil {
		return 0, 0, fmt.Errorf("wrk %s: %v\n%s", url, err, out)
	}
	m := reqsRe.FindSubmatch(out)
	p := p99Re.FindSubmatch(out)
	if m == nil || p == nil {
		return 0, 0, fmt.Errorf("wrk %s: unexpected output\n%s", url, out)
	}
	if strings.Contains(string(out), "Non-2xx or 3xx responses") && !strings.Contains(url, "/maint") {
		return 0, 0, fmt.Errorf("wrk %s: the app answered errors\n%s", url, out)
	}
	rps, _ := strconv.ParseFloat(string(m[1]), 64)
	p99, _ := strconv.ParseFloat(string(p[1]), 64)
	switch string(p[2]) {
	case "us":
		p99 /= 1000
	case "s":
		p99 *= 1000
	}
	return rps, p99, nil
}

func httpGet(url string) (string, error) {
	resp, err := http.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}
