package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/wombatworkouts/berth/plugin"
)

// toggleResult is how long state-file changes took to reach a client.
type toggleResult struct {
	on, off []time.Duration // rename(2) to the first 503, and to the first 200
}

// measureToggles switches app's state between maintenance and live n times
// each way by renaming a prepared state file over apps/<app>.json (what
// `berth maintenance on|off` does), and times each switch from the rename
// to the first response that shows it, polling url as fast as one client
// can. The client leaves from 127.0.0.5, which no allowlist covers. A
// random pause before each switch keeps it out of step with the plugin's
// polling.
func measureToggles(url, stateDir, app string, n int) (toggleResult, error) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.0.5")}, Timeout: 5 * time.Second}
	client := &http.Client{
		Timeout: 5 * time.Second,
		Transport: &http.Transport{
			DialContext:         func(ctx context.Context, nw, a string) (net.Conn, error) { return d.DialContext(ctx, nw, a) },
			MaxIdleConnsPerHost: 1,
		},
	}
	status := func() (int, error) {
		resp, err := client.Get(url)
		if err != nil {
			return 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	path := plugin.AppStatePath(stateDir, app)
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return toggleResult{}, err
	}
	var res toggleResult
	// switchTo prepares the whole file first (written and synced, as
	// berth does), so that only the rename is timed.
	switchTo := func(mode plugin.Mode, want int) (time.Duration, error) {
		data, err := json.Marshal(plugin.State{Version: 1, Mode: mode, By: "bench"})
		if err != nil {
			return 0, err
		}
		tmp := path + ".bench-tmp"
		f, err := os.Create(tmp)
		if err != nil {
			return 0, err
		}
		if _, err := f.Write(data); err != nil {
			f.Close()
			return 0, err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return 0, err
		}
		if err := f.Close(); err != nil {
			return 0, err
		}
		start := time.Now()
		if err := os.Rename(tmp, path); err != nil {
			return 0, err
		}
		for time.Since(start) < 5*time.Second {
			code, err := status()
			if err != nil {
				return 0, err
			}
			if code == want {
				return time.Since(start), nil
			}
		}
		// What berth says it is doing (127.0.0.1 is allowlisted for
		// berth live, so it may read the status).
		st, _ := httpGet(url[:strings.LastIndex(url, "/")] + "/_berth/status")
		return 0, fmt.Errorf("%s: still not %d 5 s after the rename (switch %d); berth's status: %s", mode, want, len(res.on)+1, st)
	}
	rng := rand.New(rand.NewSource(1))
	for i := 0; i < n; i++ {
		time.Sleep(time.Duration(100+rng.Intn(400)) * time.Millisecond)
		on, err := switchTo(plugin.ModeMaintenance, http.StatusServiceUnavailable)
		if err != nil {
			return res, err
		}
		time.Sleep(time.Duration(100+rng.Intn(400)) * time.Millisecond)
		off, err := switchTo(plugin.ModeLive, http.StatusOK)
		if err != nil {
			return res, err
		}
		res.on = append(res.on, on)
		res.off = append(res.off, off)
	}
	return res, plugin.RemoveStateFile(path)
}

// percentile is the nearest-rank p-th percentile of ds.
func percentile(ds []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	k := int(p/100*float64(len(s))+0.999999) - 1
	if k < 0 {
		k = 0
	}
	if k >= len(s) {
		k = len(s) - 1
	}
	return s[k]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
