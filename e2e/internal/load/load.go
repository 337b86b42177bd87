// Package load is a small closed-loop load generator for loopback tests:
// a fixed number of workers send requests back to back until told to stop or
// a hard deadline passes, and every answer is counted by outcome.
package load

import (
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"sync"
	"time"
)

// Result counts the outcomes of a run.
type Result struct {
	Total               int
	OK                  int            // 2xx
	Failed              int            // everything else, transport errors included
	ByStatus            map[int]int    // non-2xx statuses
	Errors              map[string]int // transport errors, by message
	MaxLatency          time.Duration
	FirstFail, LastFail time.Time
}

func (r Result) String() string {
	var parts []string
	codes := make([]int, 0, len(r.ByStatus))
	for c := range r.ByStatus {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d×%d", r.ByStatus[c], c))
	}
	for e, n := range r.Errors {
		parts = append(parts, fmt.Sprintf("%d×%q", n, e))
	}
	span := time.Duration(0)
	if r.Failed > 0 {
		span = r.LastFail.Sub(r.FirstFail)
	}
	return fmt.Sprintf("%d requests, %d ok, %d failed over %s [%s], max latency %s",
		r.Total, r.OK, r.Failed, span.Round(time.Millisecond), strings.Join(parts, " "), r.MaxLatency.Round(time.Millisecond))
}

// Run is a load in progress.
type Run struct {
	stop chan struct{}
	wg   sync.WaitGroup
	mu   sync.Mutex
	res  Result
}

// Start runs workers against url until Stop or maxDuration.
func Start(client *http.Client, url string, workers int, maxDuration time.Duration) *Run {
	run := &Run{stop: make(chan struct{}), res: Result{ByStatus: map[int]int{}, Errors: map[string]int{}}}
	deadline := time.Now().Add(maxDuration)
	for i := 0; i < workers; i++ {
		run.wg.Add(1)
		go func() {
			defer run.wg.Done()
			for time.Now().Before(deadline) {
				select {
				case <-run.stop:
					return
				default:
				}
				run.one(client, url)
			}
		}()
	}
	return run
}

func (run *Run) one(client *http.Client, url string) {
	start := time.Now()
	resp, err := client.Get(url)
	code := 0
	msg := ""
	if err != nil {
		msg = err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
	} else {
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		code = resp.StatusCode
	}
	lat := time.Since(start)
	run.mu.Lock()
	defer run.mu.Unlock()
	run.res.Total++
	if lat > run.res.MaxLatency {
		run.res.MaxLatency = lat
	}
	if err == nil && code >= 200 && code < 300 {
		run.res.OK++
		return
	}
	run.res.Failed++
	now := time.Now()
	if run.res.FirstFail.IsZero() {
		run.res.FirstFail = now
	}
	run.res.LastFail = now
	if err != nil {
		run.res.Errors[msg]++
	} else {
		run.res.ByStatus[code]++
	}
}

// Stop ends the run and returns its counts.
func (run *Run) Stop() Result {
	close(run.stop)
	run.wg.Wait()
	run.mu.Lock()
	defer run.mu.Unlock()
	return run.res
}

// Client returns an HTTP client with enough idle connections per host for
// the workers and a per-request timeout well above any hold.
func Client(workers int, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			MaxIdleConnsPerHost: workers,
			MaxIdleConns:        workers,
			DisableCompression:  true,
		},
	}
}
