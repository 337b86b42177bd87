// Command bench measures what berth costs inside the real Traefik, and
// what a Kamal 2 user gets from berth in Traefik against kamal-proxy, the
// proxy Kamal 2 runs by default: wrk on loopback against five routers of
// one Traefik process and two services of one kamal-proxy v0.9.2 process,
// all in front of the same stand-in app:
//
//	(a) no middleware, on two identical routers, (b) berth in live mode,
//	(c) berth serving the maintenance page, (d) the smallest possible Yaegi
//	plugin (the floor for any interpreted middleware), (k) kamal-proxy
//	proxying the app as Kamal 2 deploys it, (m) kamal-proxy's page for a
//	stopped service (`kamal app maintenance`).
//
// Each round runs every target once, in an order rotated from round to
// round. The round's baseline is the mean of the two (a) routers, and
// every ratio is taken against it, so that drift in the machine's speed
// hits both sides of a ratio alike; the ratio of the two (a) routers to
// each other is the run's noise (an A/A test). berth's ratios to
// kamal-proxy and to the trivial plugin are taken within each round too.
// The median over the rounds is the result; the range is printed too.
//
// Then memory (memory.go): the resident memory of Traefik with berth on 1,
// 10 and 50 apps against Traefik without berth and kamal-proxy with the
// same apps; and the soak (soak.go): Traefik with and without berth under
// load and configuration reloads, its live heap and goroutines from start
// to end. Last, one table of the ratios against the goals.
//
// Every router has an entry point of its own, so none is matched against
// another's rule first.
//
// -pin runs Traefik (and kamal-proxy) alone on the last CPU with
// GOMAXPROCS=1, and wrk and the stand-in app on the others: Traefik's CPU then decides req/s, so
// whatever a middleware adds to Traefik's own work shows in full instead
// of being shared with wrk and the app. The maintenance page gains less
// there (no app to skip). It is off by default: on a 2-CPU machine it did
// not make the runs any steadier. The Traefik CPU column (from /proc)
// shows how busy Traefik was either way.
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
	"runtime"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/wombatworkouts/berth/e2e/internal/backend"
	"github.com/wombatworkouts/berth/e2e/internal/pluginsrc"
	"github.com/wombatworkouts/berth/e2e/internal/traefikrun"
)

func main() {
	duration := flag.Duration("d", 3*time.Second, "wrk duration per run")
	conns := flag.Int("c", 32, "wrk connections")
	rounds := flag.Int("rounds", 11, "interleaved rounds; the median ratio is reported")
	pin := flag.Bool("pin", false, "run Traefik and kamal-proxy alone on the last CPU (GOMAXPROCS=1), wrk and the app on the others")
	toggles := flag.Int("toggles", 40, "state-file switches each way, for the toggle latency")
	memApps := flag.String("memory-apps", "1,10,50", "app counts for the memory comparison (empty: skip it)")
	soakFor := flag.Duration("soak", time.Minute, "how long the growth check loads Traefik (0: skip it)")
	reloads := flag.Int("reloads", 50, "configuration reloads during the growth check")
	soakApps := flag.Int("soak-apps", 10, "apps in the growth check")
	soakRate := flag.Int("soak-rate", 400, "requests per second during the growth check, over both Traefiks")
	flag.Parse()
	counts, err := parseCounts(*memApps)
	if err != nil {
		log.Fatalf("-memory-apps: %v", err)
	}
	var s summary
	if err := run(*duration, *conns, *rounds, *toggles, *pin, &s); err != nil {
		log.Fatal(err)
	}
	if len(counts) > 0 {
		if err := memory(counts, &s); err != nil {
			log.Fatal(err)
		}
	}
	if *soakFor > 0 {
		if err := soak(soakConfig{duration: *soakFor, reloads: *reloads, apps: *soakApps, rate: *soakRate}, &s); err != nil {
			log.Fatal(err)
		}
	}
	s.print(os.Stdout)
}

// entryPoints are the routers' entry points, one each.
var entryPoints = []string{"none", "again", "live", "maint", "floor"}

type target struct {
	key, name, url string
	host           string     // Host header, when not the URL's
	pid            func() int // the proxy answering, for its CPU
	page           bool       // answered by a 503 page
	bytes          int        // response body size
	rps, p99, cpu  []float64
	rpsRatio       []float64 // against the round's baseline
	p99Ratio       []float64
}

func run(duration time.Duration, conns, rounds, toggles int, pin bool, s *summary) error {
	if _, err := exec.LookPath("wrk"); err != nil {
		return fmt.Errorf("wrk is not installed: run `make setup`")
	}
	var clientCPUs, traefikCPU string
	if pin {
		n := runtime.NumCPU()
		clientCPUs, traefikCPU = cpuList(0, n-2), strconv.Itoa(n-1)
		// This process holds the stand-in app, and Traefik starts from it.
		if err := taskset(os.Getpid(), clientCPUs); err != nil {
			return err
		}
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
	// berth live watches its state files while wrk measures it, so (b)
	// includes what watching costs; the toggles switch the same router.
	stateDir := filepath.Join(dir, "state")
	opts := traefikrun.Options{
		LogLevel: "ERROR",
		ExtraPlugins: map[string]traefikrun.ExtraPlugin{
			"passthrough": {ModuleName: "example.test/passthrough", Dir: filepath.Join(root, "e2e", "testdata", "plugins", "passthrough")},
		},
		EntryPoints: entryPoints,
	}
	if pin {
		opts.Env = []string{"GOMAXPROCS=1"}
	}
	tr, err := traefikrun.Start(dir, opts)
	if err != nil {
		return err
	}
	defer tr.Stop()
	if pin {
		if err := taskset(tr.Pid(), traefikCPU); err != nil {
			return err
		}
	}

	// kamal-proxy in front of the same app: one service proxying it, one
	// stopped for maintenance. Pinned, it gets what Traefik gets: the last
	// CPU alone (the two never serve at the same time).
	kpBin, err := kamalProxyBinary()
	if err != nil {
		return err
	}
	kp, err := startKamalProxy(kpBin, filepath.Join(dir, "kamal-proxy"), opts.Env...)
	if err != nil {
		return err
	}
	defer kp.Close()
	if pin {
		if err := taskset(kp.Pid(), traefikCPU); err != nil {
			return err
		}
	}
	if err := kp.deploy("bench-live", "kp-live.test", app.Addr); err != nil {
		return err
	}
	if err := kp.deploy("bench-maint", "kp-maint.test", app.Addr); err != nil {
		return err
	}
	if err := kp.maintenance("bench-maint", "We are making some improvements and will be back shortly."); err != nil {
		return err
	}

	// Each router has an entry point of its own, so no router's requests
	// are matched against another's rule first (Traefik tries the rules of
	// an entry point's routers one after the other).
	dynamic := fmt.Sprintf(`http:
  routers:
    none:
      entryPoints: [none]
      rule: "PathPrefix(`+"`/`"+`)"
      service: app
    again:
      entryPoints: [again]
      rule: "PathPrefix(`+"`/`"+`)"
      service: app
    live:
      entryPoints: [live]
      rule: "PathPrefix(`+"`/`"+`)"
      service: app
      middlewares: [berth-live]
    maint:
      entryPoints: [maint]
      rule: "PathPrefix(`+"`/`"+`)"
      service: app
      middlewares: [berth-maint]
    floor:
      entryPoints: [floor]
      rule: "PathPrefix(`+"`/`"+`)"
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
          allowCIDRs: ["127.0.0.1"]
          stateDir: %q
    berth-maint:
      plugin:
        berth:
          app: bench-maint
          enabled: true
    passthrough:
      plugin:
        passthrough: {}
`, app.URL(), stateDir)
	if err := tr.WriteDynamic("bench.yml", dynamic); err != nil {
		return err
	}
	for _, r := range entryPoints {
		if err := tr.WaitRouter(r+"@file", 20*time.Second); err != nil {
			return err
		}
	}
	url := tr.EntryPointURLs

	// berth must really be live (its probe passing), or (b) would measure
	// the hold path.
	if status, err := httpGet(url["live"] + "/_berth/status"); err != nil || !strings.Contains(status, `"mode": "live"`) {
		return fmt.Errorf("berth is not live before the benchmark: %v %s", err, status)
	}

	targets := []*target{
		{key: "a", name: "no middleware", url: url["none"] + "/a", pid: tr.Pid},
		{key: "b", name: "berth live", url: url["live"] + "/b", pid: tr.Pid},
		{key: "c", name: "berth maintenance page", url: url["maint"] + "/c", page: true, pid: tr.Pid},
		{key: "d", name: "trivial Yaegi plugin", url: url["floor"] + "/d", pid: tr.Pid},
		{key: "a2", name: "no middleware, again", url: url["again"] + "/a", pid: tr.Pid},
		{key: "k", name: "kamal-proxy", url: kp.URL + "/k", host: "kp-live.test", pid: kp.Pid},
		{key: "m", name: "kamal-proxy stop page", url: kp.URL + "/m", host: "kp-maint.test", page: true, pid: kp.Pid},
	}
	byKey := map[string]*target{}
	for _, t := range targets {
		byKey[t.key] = t
		if t.bytes, err = bodySize(t); err != nil {
			return err
		}
	}
	// Warm up every path (Yaegi compiles lazily, connections get pooled).
	for _, t := range targets {
		if _, err := measure(clientCPUs, t, 2*time.Second, conns); err != nil {
			return err
		}
	}
	var noise []float64        // (a) on its second router against its first
	var againstFloor []float64 // (b) against (d)
	var bk, bkP99, cm []float64
	for i := 0; i < rounds; i++ {
		res := map[*target]result{}
		for j := range targets {
			t := targets[(i+j)%len(targets)]
			m, err := measure(clientCPUs, t, duration, conns)
			if err != nil {
				return err
			}
			res[t] = m
			t.rps = append(t.rps, m.rps)
			t.p99 = append(t.p99, m.p99)
			t.cpu = append(t.cpu, m.traefikCPU)
			fmt.Fprintf(os.Stderr, "round %d %-24s %8.0f req/s  p99 %6.2f ms  proxy CPU %.2f\n", i+1, t.name, m.rps, m.p99, m.traefikCPU)
		}
		a1, a2 := res[byKey["a"]], res[byKey["a2"]]
		baseRPS, baseP99 := (a1.rps+a2.rps)/2, (a1.p99+a2.p99)/2
		for _, t := range targets {
			t.rpsRatio = append(t.rpsRatio, res[t].rps/baseRPS)
			t.p99Ratio = append(t.p99Ratio, res[t].p99/baseP99)
		}
		noise = append(noise, a2.rps/a1.rps)
		againstFloor = append(againstFloor, res[byKey["b"]].rps/res[byKey["d"]].rps)
		bk = append(bk, res[byKey["b"]].rps/res[byKey["k"]].rps)
		bkP99 = append(bkP99, res[byKey["b"]].p99/res[byKey["k"]].p99)
		cm = append(cm, res[byKey["c"]].rps/res[byKey["m"]].rps)
	}

	tg, err := measureToggles(url["live"]+"/t", stateDir, "bench-live", toggles)
	if err != nil {
		return fmt.Errorf("toggle latency: %w\nTraefik's log (errors only):\n%s", err, tr.LogTail(30))
	}

	placement := "unpinned"
	if pin {
		placement = fmt.Sprintf("Traefik and kamal-proxy alone on CPU %s with GOMAXPROCS=1, wrk and the app on CPU %s", traefikCPU, clientCPUs)
	}
	fmt.Printf("\nwrk -t1 -c%d -d%s, %d rounds in rotated order; ratios against the mean of the two (a) routers in the same round, medians;\n", conns, duration, rounds)
	fmt.Printf("Traefik v3.6.12 and kamal-proxy v0.9.2 on loopback (%s), stand-in app answering at once\n\n", placement)
	fmt.Printf("| | target | req/s | p99 ms | req/s vs (a) [range] | p99 vs (a) | proxy CPU | body bytes |\n|---|---|---|---|---|---|---|---|\n")
	for _, t := range targets {
		lo, hi := minMax(t.rpsRatio)
		fmt.Printf("| (%s) | %s | %.0f | %.2f | %.3f [%.3f–%.3f] | %.3f | %.2f | %d |\n", t.key, t.name, median(t.rps), median(t.p99),
			median(t.rpsRatio), lo, hi, median(t.p99Ratio), median(t.cpu), t.bytes)
	}
	b, c, d := byKey["b"], byKey["c"], byKey["d"]
	lo, hi := minMax(noise)
	fmt.Printf("\nnoise: the two (a) routers against each other %.3f [%.3f–%.3f]; the Yaegi floor (d/a): %.3f\n", median(noise), lo, hi, median(d.rpsRatio))
	lo, hi = minMax(againstFloor)
	fmt.Printf("berth live against the trivial Yaegi plugin (b/d in the same round): %.3f [%.3f–%.3f]\n", median(againstFloor), lo, hi)
	fmt.Printf("goals (berth in Traefik alone): b/a >= 0.97 with p99 within 10%%: b/a = %.3f, p99 %+.1f%% (%s); c/a >= 2: c/a = %.2f (%s)\n",
		median(b.rpsRatio), 100*(median(b.p99Ratio)-1), verdict(median(b.rpsRatio) >= 0.97 && median(b.p99Ratio) <= 1.10),
		median(c.rpsRatio), verdict(median(c.rpsRatio) >= 2))
	all := append(append([]time.Duration(nil), tg.on...), tg.off...)
	p50, p99 := percentile(all, 50), percentile(all, 99)
	fmt.Printf("\ntoggle latency, rename(2) of the state file to the first changed response (default pollInterval, no Traefik reload), %d switches each way:\n", toggles)
	fmt.Printf("  to maintenance: p50 %.1f ms, p99 %.1f ms, max %.1f ms; to live: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
		ms(percentile(tg.on, 50)), ms(percentile(tg.on, 99)), ms(percentile(tg.on, 100)),
		ms(percentile(tg.off, 50)), ms(percentile(tg.off, 99)), ms(percentile(tg.off, 100)))
	fmt.Printf("goal: p50 <= 100 ms and p99 <= 250 ms: p50 %.1f ms, p99 %.1f ms (%s)\n", ms(p50), ms(p99),
		verdict(p50 <= 100*time.Millisecond && p99 <= 250*time.Millisecond))
	s.rounds, s.noise, s.bd, s.bk, s.bkP99, s.cm, s.ba = rounds, noise, againstFloor, bk, bkP99, cm, b.rpsRatio
	if pin && median(targets[0].cpu) < 0.9 {
		fmt.Printf("note: Traefik used %.2f of its CPU for (a), so it was not the only bottleneck in this run\n", median(targets[0].cpu))
	}
	return nil
}

type result struct {
	rps, p99   float64
	traefikCPU float64 // CPUs of the proxy's time during the run
}

var (
	reqsRe = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	p99Re  = regexp.MustCompile(`(?m)^\s+99%\s+([0-9.]+)(us|ms|s)\b`)
)

// measure runs wrk once against t and returns req/s, the 99th
// percentile in ms and how busy the proxy was.
func measure(cpus string, t *target, d time.Duration, conns int) (result, error) {
	url := t.url
	args := []string{"wrk", "-t1", "-c" + strconv.Itoa(conns), "-d" + d.String(), "--latency", url}
	if t.host != "" {
		args = append(args, "-H", "Host: "+t.host)
	}
	if cpus != "" {
		args = append([]string{"taskset", "-c", cpus}, args...)
	}
	cpu0, err := processCPU(t.pid())
	if err != nil {
		return result{}, err
	}
	t0 := time.Now()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	elapsed := time.Since(t0)
	if err != nil {
		return result{}, fmt.Errorf("wrk %s: %v\n%s", url, err, out)
	}
	cpu1, err := processCPU(t.pid())
	if err != nil {
		return result{}, err
	}
	m := reqsRe.FindSubmatch(out)
	p := p99Re.FindSubmatch(out)
	if m == nil || p == nil {
		return result{}, fmt.Errorf("wrk %s: unexpected output\n%s", url, out)
	}
	if strings.Contains(string(out), "Non-2xx or 3xx responses") != t.page {
		return result{}, fmt.Errorf("wrk %s: not the answers expected (the page: %v)\n%s", url, t.page, out)
	}
	rps, _ := strconv.ParseFloat(string(m[1]), 64)
	p99, _ := strconv.ParseFloat(string(p[1]), 64)
	switch string(p[2]) {
	case "us":
		p99 /= 1000
	case "s":
		p99 *= 1000
	}
	return result{rps: rps, p99: p99, traefikCPU: (cpu1 - cpu0).Seconds() / elapsed.Seconds()}, nil
}

// taskset pins every thread of pid (and so the threads it starts later) to
// cpus.
func taskset(pid int, cpus string) error {
	if out, err := exec.Command("taskset", "-a", "-p", "-c", cpus, strconv.Itoa(pid)).CombinedOutput(); err != nil {
		return fmt.Errorf("taskset -a -p -c %s %d: %v %s (run with -pin=false to skip pinning)", cpus, pid, err, out)
	}
	return nil
}

func cpuList(from, to int) string {
	if from == to {
		return strconv.Itoa(from)
	}
	return fmt.Sprintf("%d-%d", from, to)
}

// bodySize fetches t once and returns the size of its body, after
// checking that it answers what t expects (the app, or a 503 page).
func bodySize(t *target) (int, error) {
	req, err := http.NewRequest(http.MethodGet, t.url, nil)
	if err != nil {
		return 0, err
	}
	if t.host != "" {
		req.Host = t.host
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", t.name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", t.name, err)
	}
	if want := map[bool]int{false: http.StatusOK, true: http.StatusServiceUnavailable}[t.page]; resp.StatusCode != want {
		return 0, fmt.Errorf("%s answers %s, want %d: %.200s", t.name, resp.Status, want, b)
	}
	return len(b), nil
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

func minMax(xs []float64) (float64, float64) {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[0], s[len(s)-1]
}

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "not met"
}
