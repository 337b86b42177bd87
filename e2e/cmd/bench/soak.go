package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/wombatworkouts/berth/e2e/internal/backend"
	"github.com/wombatworkouts/berth/e2e/internal/traefikrun"
)

type soakConfig struct {
	duration time.Duration
	reloads  int
	apps     int
	rate     int // requests per second over both Traefiks
}

// soakSample is one Traefik's memory at one moment of the soak.
type soakSample struct {
	at         time.Duration
	rss, heap  float64 // MiB; heap: live, right after a collection
	goroutines int
}

type soakResult struct {
	cfg          soakConfig
	plain, berth []soakSample // from the end of the warm-up to the end
	// early: after the first 10 s of the warm-up (without berth, with).
	early       [2]soakSample
	warm        time.Duration
	warmReloads int
	// reloads: in the soak proper, applied by both, each confirmed through
	// the API.
	reloads         int
	requests, fails int64
}

// soak runs Traefik with berth and Traefik without it side by side, on
// the same apps (see memory), under the same paced load and the same
// configuration reloads, and samples each one's resident memory, live heap
// and goroutines from the end of a warm-up to the end. Every reload adds
// a router, so that Traefik applies a new configuration and calls berth's
// New again for every router that uses it, as a deploy of any app does.
func soak(cfg soakConfig, s *summary) error {
	if cfg.apps < 1 || cfg.rate < 1 || cfg.reloads < 0 {
		return fmt.Errorf("soak: want -soak-apps and -soak-rate of at least 1 and -reloads of at least 0")
	}
	backends := make([]*backend.Server, cfg.apps)
	for i := range backends {
		b, err := backend.Start(fmt.Sprintf("app-%d", i), "")
		if err != nil {
			return err
		}
		defer b.Stop()
		backends[i] = b
	}
	dir, err := os.MkdirTemp("", "berth-bench-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	stateDir := filepath.Join(dir, "state")
	if err := os.MkdirAll(filepath.Join(stateDir, "apps"), 0o755); err != nil {
		return err
	}
	var trs [2]*traefikrun.Traefik // without berth, with berth
	for k, withBerth := range []bool{false, true} {
		d := filepath.Join(dir, fmt.Sprintf("traefik-%d", k))
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
		tr, err := startTraefik(d, withBerth)
		if err != nil {
			return err
		}
		defer tr.Stop()
		trs[k] = tr
	}
	// config(i) is the apps and, from the first reload on, a router named
	// after reload i (the new router makes the file a new configuration).
	config := func(withBerth bool, i int) string {
		extra := ""
		if i > 0 {
			extra = fmt.Sprintf("    reload-%d:\n      entryPoints: [web]\n      rule: \"Host(`reload-%d.test`)\"\n      service: app-0\n", i, i)
		}
		return appsConfig(backends, withBerth, stateDir, extra)
	}
	apply := func(i int) error {
		for k, tr := range trs {
			if err := tr.WriteDynamic("apps.yml", config(k == 1, i)); err != nil {
				return err
			}
		}
		router := "app-0@file"
		if i > 0 {
			router = fmt.Sprintf("reload-%d@file", i)
		}
		for _, tr := range trs {
			if err := tr.WaitRouter(router, 30*time.Second); err != nil {
				return err
			}
		}
		return nil
	}
	if err := apply(0); err != nil {
		return err
	}
	for _, tr := range trs {
		if err := waitApps(tr, cfg.apps); err != nil {
			return err
		}
	}

	res := &soakResult{cfg: cfg}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var requests, fails atomic.Int64
	// paused: the workers skip their turns, so that the first and the last
	// sample see Traefik idle, with the same connections open, rather than
	// whatever requests are in flight at that moment.
	var paused atomic.Bool
	var failMu sync.Mutex
	var firstFail string
	var wg sync.WaitGroup
	const workers = 4
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	defer client.CloseIdleConnections()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			tick := time.NewTicker(time.Duration(workers) * time.Second / time.Duration(cfg.rate))
			defer tick.Stop()
			for n := w; ; n += workers {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				if paused.Load() {
					continue
				}
				tr := trs[n%2]
				requests.Add(1)
				if err := getApp(client, tr.WebURL, (n/2)%cfg.apps); err != nil {
					fails.Add(1)
					failMu.Lock()
					if firstFail == "" {
						firstFail = err.Error()
					}
					failMu.Unlock()
				}
			}
		}(w)
	}
	stopLoad := func() {
		cancel()
		wg.Wait()
	}
	defer stopLoad()

	// sample records each Traefik's memory now, in the series or, before
	// the soak proper, as its early sample.
	sample := func(at time.Duration, early bool) error {
		for k, tr := range trs {
			rss, err := residentMiB(tr.Pid())
			if err != nil {
				return err
			}
			heap, err := liveHeapMiB(tr.APIURL)
			if err != nil {
				return err
			}
			g, err := tr.Goroutines()
			if err != nil {
				return err
			}
			smp := soakSample{at: at, rss: rss, heap: heap, goroutines: g}
			name := [2]string{"without berth", "with berth"}[k]
			series := [2]*[]soakSample{&res.plain, &res.berth}[k]
			when := at.Round(time.Second).String()
			if early {
				res.early[k] = smp
				when = "early"
			} else {
				*series = append(*series, smp)
			}
			fmt.Fprintf(os.Stderr, "soak %6s %-13s RSS %6.1f MiB  live heap %5.1f MiB  goroutines %d\n", when, name, rss, heap, g)
		}
		return nil
	}

	quietSample := func(at time.Duration, early bool) error {
		paused.Store(true)
		defer paused.Store(false)
		time.Sleep(3 * time.Second)
		return sample(at, early)
	}
	// phase loads both Traefiks for d with n reloads spread evenly over
	// it, sampling every every (0: never).
	reload := 0
	phase := func(d time.Duration, n int, every time.Duration) error {
		start := time.Now()
		var gap time.Duration
		if n > 0 {
			gap = d / time.Duration(n)
		}
		next := every
		for done := 0; ; {
			now := time.Since(start)
			if now >= d && done >= n {
				return nil
			}
			if done < n && now >= time.Duration(done)*gap {
				reload++
				if err := apply(reload); err != nil {
					return err
				}
				done++
				continue
			}
			if every > 0 && now >= next && now < d {
				if err := sample(next, false); err != nil {
					return err
				}
				next += every
				continue
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// Warm-up, at the soak's pace for a tenth of it (at least 10 s and 5
	// reloads), so that the first sample is taken with every path, pool
	// and cache in use; an early sample after the first 10 s shows what
	// the warm-up itself took.
	warm, warmReloads := max(10*time.Second, cfg.duration/10), max(5, cfg.reloads/10)
	if err := phase(10*time.Second, 5, 0); err != nil {
		return err
	}
	if err := quietSample(0, true); err != nil {
		return err
	}
	if err := phase(warm-10*time.Second, warmReloads-5, 0); err != nil {
		return err
	}
	res.warm, res.warmReloads = warm, reload
	if err := quietSample(0, false); err != nil {
		return err
	}
	start := time.Now()
	if err := phase(cfg.duration, cfg.reloads, cfg.duration/10); err != nil {
		return err
	}
	res.reloads = reload - res.warmReloads
	// Old contexts are cancelled and waiters return a moment after the
	// last reload (quietSample waits 3 s).
	if err := quietSample(time.Since(start), false); err != nil {
		return err
	}
	stopLoad()
	res.requests, res.fails = requests.Load(), fails.Load()
	if res.fails > 0 {
		fmt.Fprintf(os.Stderr, "soak: %d of %d requests failed, the first: %s\n", res.fails, res.requests, firstFail)
	}
	s.soak = res
	return nil
}

// growth is how much a Traefik grew over the soak: the last sample (after
// the last reload) against the first (after the warm-up), both taken with
// the load paused.
func growth(samples []soakSample) (rss, heap float64, goroutines int) {
	first, last := samples[0], samples[len(samples)-1]
	return last.rss - first.rss, last.heap - first.heap, last.goroutines - first.goroutines
}
