package main

import (
	"strings"
	"testing"
	"time"
)

func TestPerApp(t *testing.T) {
	rows := func(apps []int, plain, berth []float64) []memRow {
		var rs []memRow
		for i, n := range apps {
			rs = append(rs, memRow{apps: n, plain: plain[i], berth: berth[i]})
		}
		return rs
	}
	added := func(r memRow) float64 { return r.berth - r.plain }
	tests := []struct {
		name   string
		rows   []memRow
		want   float64
		wantOK bool
	}{
		// A fixed 12 MiB (Yaegi, the plugin's code) and 0.5 MiB per app.
		{"fixed cost left out", rows([]int{1, 10, 50}, []float64{100, 110, 150}, []float64{112.5, 127, 187}), 0.5, true},
		{"order does not matter", rows([]int{50, 1}, []float64{150, 100}, []float64{187, 112.5}), 0.5, true},
		{"shrinking", rows([]int{1, 11}, []float64{100, 100}, []float64{120, 110}), -1, true},
		{"one count", rows([]int{10}, []float64{100}, []float64{120}), 0, false},
		{"same count twice", rows([]int{10, 10}, []float64{100, 101}, []float64{120, 121}), 0, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := perApp(tc.rows, added)
			if ok != tc.wantOK || (ok && (got < tc.want-1e-9 || got > tc.want+1e-9)) {
				t.Fatalf("%v %v, want %v %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

// The table of goals says met or not met from the numbers, for every goal.
func TestSummaryVerdicts(t *testing.T) {
	soakOf := func(berthHeapEnd float64, berthGoroutinesEnd int, fails int64) *soakResult {
		return &soakResult{
			cfg:     soakConfig{duration: time.Minute, rate: 400, apps: 10},
			early:   [2]soakSample{{rss: 99, heap: 7.9, goroutines: 40}, {rss: 118, heap: 14, goroutines: 58}},
			reloads: 50, requests: 1000, fails: fails,
			plain: []soakSample{{rss: 100, heap: 8, goroutines: 40}, {rss: 101, heap: 8.2, goroutines: 41}},
			berth: []soakSample{{rss: 120, heap: 15, goroutines: 60}, {rss: 121, heap: berthHeapEnd, goroutines: berthGoroutinesEnd}},
		}
	}
	mem := []memRow{{apps: 1, plain: 100, berth: 112}, {apps: 50, plain: 150, berth: 170}}
	tests := []struct {
		name string
		s    summary
		want []string // substrings of lines, in order of the table
	}{
		{"all met", summary{rounds: 3, bk: []float64{1.1, 1.2, 1.3}, bkP99: []float64{0.9, 1.0, 1.05}, bd: []float64{0.97, 1, 1.1},
			cm: []float64{1.5, 1.6, 1.7}, memory: mem, soak: soakOf(15.5, 61, 0)},
			[]string{"| with berth | 118.0 → 120.0 → 121.0 (121.0) | 14.0 → 15.0 → 15.5 | 58 → 60 → 61 |", "(b/k) | 1.200 [1.100–1.300] | ≥ 1.00 | met", "p99 (b/k) | 1.000 [0.900–1.050] | ≤ 1.10 | met", "(b/d) | 1.000", "| met",
				"(c/m) | 1.600", "| met", "+0.16 MiB", "≤ 2 MiB | met", "+12.0 MiB", "live heap +0.5 MiB (+0.2), goroutines +1 (+1)", "| met"}},
		{"all missed", summary{rounds: 1, bk: []float64{0.99}, bkP99: []float64{1.2}, bd: []float64{0.9}, cm: []float64{0.8},
			memory: []memRow{{apps: 1, plain: 100, berth: 112}, {apps: 11, plain: 110, berth: 152}}, soak: soakOf(17, 61, 0)},
			[]string{"(b/k) | 0.990", "not met", "p99 (b/k) | 1.200", "not met", "(b/d) | 0.900", "not met", "(c/m) | 0.800", "not met",
				"+3.00 MiB", "not met", "live heap +2.0 MiB", "not met"}},
		{"goroutines left behind", summary{soak: soakOf(15, 90, 0)}, []string{"goroutines +30 (+1)", "not met"}},
		{"failed requests", summary{soak: soakOf(15, 60, 3)}, []string{"3 failed", "goroutines +0 (+1)", "not met"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var b strings.Builder
			tc.s.print(&b)
			out := b.String()
			rest := out
			for _, w := range tc.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("no %q after what came before in\n%s", w, out)
				}
				rest = rest[i+len(w):]
			}
		})
	}
}
