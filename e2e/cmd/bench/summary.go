package main

import (
	"fmt"
	"io"
)

// summary is what the table of goals is made of. Ratios are per round.
type summary struct {
	rounds int
	noise  []float64 // (a2)/(a): the A/A pair
	ba     []float64 // berth live against the no-middleware baseline
	bd     []float64 // berth live against the trivial Yaegi plugin
	bk     []float64 // berth live against kamal-proxy, req/s
	bkP99  []float64 // and p99
	cm     []float64 // berth's maintenance page against kamal-proxy's stop page
	memory []memRow
	soak   *soakResult
}

// Goals of issue 12.
const (
	goalBK      = 1.0  // berth live >= kamal-proxy, req/s
	goalBD      = 0.97 // berth live >= the trivial plugin
	goalBKP99   = 1.10 // berth's p99 within 10 % of kamal-proxy's
	goalCM      = 1.0  // berth's page >= kamal-proxy's stop page
	goalPerApp  = 2.0  // MiB berth adds per app
	goalGrowth  = 1.0  // MiB of live heap berth may grow by over the soak, beyond Traefik without berth
	goalGorouts = 10   // goroutines, likewise
)

// perApp is what berth adds per app between the smallest and the largest
// app count: the slope of (with berth - without) over the apps, so that
// what berth costs once (Yaegi and the plugin's code) is left out. ok is
// false with fewer than two app counts.
func perApp(rows []memRow, value func(memRow) float64) (float64, bool) {
	if len(rows) < 2 {
		return 0, false
	}
	lo, hi := rows[0], rows[0]
	for _, r := range rows {
		if r.apps < lo.apps {
			lo = r
		}
		if r.apps > hi.apps {
			hi = r
		}
	}
	if hi.apps == lo.apps {
		return 0, false
	}
	return (value(hi) - value(lo)) / float64(hi.apps-lo.apps), true
}

func (s *summary) print(w io.Writer) {
	if len(s.memory) > 0 {
		fmt.Fprintf(w, "\nResident memory (MiB) after 200 requests to each app, each proxy started fresh; live heap right after a collection:\n\n")
		fmt.Fprintf(w, "| apps | Traefik without berth | Traefik with berth | berth adds | per app | live heap without / with berth | kamal-proxy |\n|---|---|---|---|---|---|---|\n")
		for _, r := range s.memory {
			d := r.berth - r.plain
			fmt.Fprintf(w, "| %d | %.1f | %.1f | %+.1f | %+.2f | %.1f / %.1f | %.1f |\n", r.apps, r.plain, r.berth, d, d/float64(r.apps),
				r.plainHeap, r.berthHeap, r.kamalProxy)
		}
	}
	if r := s.soak; r != nil && len(r.plain) > 0 && len(r.berth) > 0 {
		fmt.Fprintf(w, "\nSoak: %s of load (%d req/s over both Traefiks, %d apps each, %d requests, %d failed) and %d configuration reloads applied by both,\n",
			r.cfg.duration, r.cfg.rate, r.cfg.apps, r.requests, r.fails, r.reloads)
		fmt.Fprintf(w, "after a warm-up of %s and %d reloads; early: 10 s into the warm-up; first: at its end; last: after the last reload (load paused for all three):\n\n",
			r.warm, r.warmReloads)
		fmt.Fprintf(w, "| Traefik | RSS early → first → last (max) MiB | live heap early → first → last MiB | goroutines early → first → last |\n|---|---|---|---|\n")
		for k, x := range []struct {
			name    string
			samples []soakSample
		}{{"without berth", r.plain}, {"with berth", r.berth}} {
			early, first, last := r.early[k], x.samples[0], x.samples[len(x.samples)-1]
			top := 0.0
			for _, smp := range x.samples {
				top = max(top, smp.rss)
			}
			fmt.Fprintf(w, "| %s | %.1f → %.1f → %.1f (%.1f) | %.1f → %.1f → %.1f | %d → %d → %d |\n", x.name, early.rss, first.rss, last.rss, top,
				early.heap, first.heap, last.heap, early.goroutines, first.goroutines, last.goroutines)
		}
	}

	fmt.Fprintf(w, "\nGoals (medians of the per-round ratios, [range over %d rounds]):\n\n", s.rounds)
	fmt.Fprintf(w, "| comparison | measured | goal | |\n|---|---|---|---|\n")
	ratio := func(name string, xs []float64, goal string, ok func(float64) bool) {
		if len(xs) == 0 {
			return
		}
		lo, hi := minMax(xs)
		m := median(xs)
		v := "–"
		if ok != nil {
			v = verdict(ok(m))
		}
		fmt.Fprintf(w, "| %s | %.3f [%.3f–%.3f] | %s | %s |\n", name, m, lo, hi, goal, v)
	}
	ratio("berth live / kamal-proxy, req/s (b/k)", s.bk, fmt.Sprintf("≥ %.2f", goalBK), func(m float64) bool { return m >= goalBK })
	ratio("berth live / kamal-proxy, p99 (b/k)", s.bkP99, fmt.Sprintf("≤ %.2f", goalBKP99), func(m float64) bool { return m <= goalBKP99 })
	ratio("berth live / trivial Yaegi plugin, req/s (b/d)", s.bd, fmt.Sprintf("≥ %.2f", goalBD), func(m float64) bool { return m >= goalBD })
	ratio("berth's page / kamal-proxy's stop page, req/s (c/m)", s.cm, fmt.Sprintf("≥ %.2f", goalCM), func(m float64) bool { return m >= goalCM })
	ratio("berth live / no middleware, req/s (b/a)", s.ba, "", nil)
	ratio("A/A noise: no middleware / no middleware (a2/a)", s.noise, "", nil)
	if slope, ok := perApp(s.memory, func(r memRow) float64 { return r.berth - r.plain }); ok {
		heap, _ := perApp(s.memory, func(r memRow) float64 { return r.berthHeap - r.plainHeap })
		kp, _ := perApp(s.memory, func(r memRow) float64 { return r.kamalProxy })
		tr, _ := perApp(s.memory, func(r memRow) float64 { return r.plain })
		first, last := s.memory[0], s.memory[0]
		for _, r := range s.memory {
			if r.apps < first.apps {
				first = r
			}
			if r.apps > last.apps {
				last = r
			}
		}
		fmt.Fprintf(w, "| berth's resident memory per app (%d → %d apps) | %+.2f MiB (live heap %+.2f; Traefik's own per app %+.2f, kamal-proxy's %+.2f) | ≤ %.0f MiB | %s |\n",
			first.apps, last.apps, slope, heap, tr, kp, goalPerApp, verdict(slope <= goalPerApp))
		fmt.Fprintf(w, "| berth's memory at %d app(s), once for Yaegi and the plugin | %+.1f MiB | | – |\n", first.apps, first.berth-first.plain)
	}
	if r := s.soak; r != nil && len(r.plain) > 0 && len(r.berth) > 0 {
		_, hb, gb := growth(r.berth)
		_, hp, gp := growth(r.plain)
		fmt.Fprintf(w, "| growth over %s and %d reloads after the warm-up, with berth (without) | live heap %+.1f MiB (%+.1f), goroutines %+d (%+d) | ≤ %+.0f MiB and %+d goroutines beyond Traefik's own | %s |\n",
			r.cfg.duration, r.reloads, hb, hp, gb, gp, goalGrowth, goalGorouts, verdict(hb-hp <= goalGrowth && gb-gp <= goalGorouts && r.fails == 0))
	}
}
