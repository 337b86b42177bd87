package rehearsal

import (
	"context"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Stats are the outcomes of one phase for one target.
type Stats struct {
	Sent     int
	OK       int // 2xx and 3xx
	Intended int // 503 maintenance pages during an announced maintenance
	Failed   int // everything else, transport errors included
	ByStatus map[int]int
	Errors   int
	lat      []time.Duration
}

// P99 is the 99th percentile latency of the phase's requests.
func (s *Stats) P99() time.Duration {
	if len(s.lat) == 0 {
		return 0
	}
	l := append([]time.Duration(nil), s.lat...)
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	return l[(len(l)*99)/100]
}

// Max is the slowest request of the phase.
func (s *Stats) Max() time.Duration {
	var m time.Duration
	for _, d := range s.lat {
		if d > m {
			m = d
		}
	}
	return m
}

// traffic is closed-loop GET load on one app through one Traefik, counted
// per phase. Requests go over HTTPS to the websecure entry point with the
// app's domain as SNI and Host, as a browser's would.
type traffic struct {
	name    string
	url     string
	client  *http.Client
	phase   atomic.Value // string
	mu      sync.Mutex
	byPhase map[string]*Stats
	order   []string
	stop    chan struct{}
	wg      sync.WaitGroup
	// maintenance says whether an announced maintenance is on, so its 503
	// pages count as intended.
	maintenance func() bool
}

func newTraffic(name, websecure, domain, path string, workers int, maintenance func() bool) *traffic {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return dialer.DialContext(ctx, network, websecure)
		},
		// The certificates come from the test CA (Pebble); berth's smoke
		// checks verify them, the load only measures.
		TLSClientConfig:     &tls.Config{InsecureSkipVerify: true, ServerName: domain},
		MaxIdleConnsPerHost: workers,
	}
	t := &traffic{
		name:        name,
		url:         "https://" + domain + path,
		client:      &http.Client{Transport: tr, Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }},
		byPhase:     map[string]*Stats{},
		stop:        make(chan struct{}),
		maintenance: maintenance,
	}
	t.setPhase("warm-up")
	for i := 0; i < workers; i++ {
		t.wg.Add(1)
		go t.loop()
	}
	return t
}

func (t *traffic) setPhase(p string) {
	t.mu.Lock()
	if _, ok := t.byPhase[p]; !ok {
		t.byPhase[p] = &Stats{ByStatus: map[int]int{}}
		t.order = append(t.order, p)
	}
	t.mu.Unlock()
	t.phase.Store(p)
}

func (t *traffic) loop() {
	defer t.wg.Done()
	for {
		select {
		case <-t.stop:
			return
		default:
		}
		phase := t.phase.Load().(string)
		start := time.Now()
		resp, err := t.client.Get(t.url)
		code := 0
		mode := ""
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			code = resp.StatusCode
			mode = resp.Header.Get("X-Berth-Mode")
		}
		lat := time.Since(start)
		t.mu.Lock()
		s := t.byPhase[phase]
		s.Sent++
		s.lat = append(s.lat, lat)
		switch {
		case err != nil:
			s.Failed++
			s.Errors++
		case code < 400:
			s.OK++
		case code == 503 && mode == "maintenance" && t.maintenance():
			s.Intended++
		default:
			s.Failed++
			s.ByStatus[code]++
		}
		t.mu.Unlock()
		if err != nil {
			time.Sleep(10 * time.Millisecond) // no busy loop while refused
		}
	}
}

// close stops the workers.
func (t *traffic) close() {
	close(t.stop)
	t.wg.Wait()
}

func (t *traffic) stats(phase string) Stats {
	t.mu.Lock()
	defer t.mu.Unlock()
	s, ok := t.byPhase[phase]
	if !ok {
		return Stats{}
	}
	// A copy: requests still in flight when the phase ended keep counting
	// into the live one.
	c := *s
	c.ByStatus = map[int]int{}
	for k, v := range s.ByStatus {
		c.ByStatus[k] = v
	}
	c.lat = append([]time.Duration(nil), s.lat...)
	return c
}
