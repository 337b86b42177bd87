package plugin

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// healthLoop probes the app every interval, and four times as often while it
// is failing, so held requests are released soon after the app is back.
//
// It waits on one Ticker for its whole life, reset when the pace changes:
// under Yaegi in Traefik, this loop waiting on a fresh time.NewTimer each
// round was seen to stop probing for good after a few seconds (about two
// runs in three with six apps probed every 100 ms), which leaves an app
// that goes down served as live, or one that came back held as down.
func (c *controller) healthLoop() {
	defer recoverGoroutine(c.s.app, "health prober")
	hs := c.s.health
	wait := hs.interval
	t := time.NewTicker(wait)
	defer t.Stop()
	for {
		var err error
		safely(c.s.app, "health probe", func() { err = c.probe(hs) })
		c.recordProbe(err, time.Now())

		next := hs.interval
		if err != nil {
			next = hs.interval / 4
			if next < 50*time.Millisecond {
				next = 50 * time.Millisecond
			}
		}
		if next != wait {
			wait = next
			t.Reset(wait)
		}
		select {
		case <-c.stop:
			return
		case <-t.C:
		}
	}
}

func (c *controller) recordProbe(err error, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastProbe = now
	if err == nil {
		c.probeError = ""
		c.okStreak++
		c.failStreak = 0
		if !c.healthy && c.okStreak >= c.s.health.healthyThreshold {
			c.healthy = true
			logInfo("berth[%s]: health probe passes again", c.s.app)
		}
	} else {
		c.probeError = err.Error()
		c.failStreak++
		c.okStreak = 0
		if c.healthy && c.failStreak >= c.s.health.unhealthyThreshold {
			c.healthy = false
			logError("berth[%s]: health probe failing: %v", c.s.app, err)
		}
	}
	registry.mu.Lock()
	registry.lastHealth[healthKey(c.s)] = c.healthy
	registry.mu.Unlock()
	c.publishLocked(now)
}

// probe returns nil when the app answers its health path with a 2xx.
func (c *controller) probe(hs healthSettings) error {
	ctx, cancel := context.WithTimeout(context.Background(), hs.timeout)
	defer cancel()
	if hs.url != "" {
		return probeURL(ctx, hs)
	}
	return probeThrough(ctx, c.s.app, c.nextHandler(), hs)
}

// probeThrough sends the probe through the router's own service, the way a
// visitor's request would go, so it reaches containers that Traefik
// discovered by label without berth knowing their addresses.
func probeThrough(ctx context.Context, app string, next http.Handler, hs healthSettings) error {
	host := hs.host
	if host == "" {
		host = "localhost"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+host+hs.path, nil)
	if err != nil {
		return fmt.Errorf("build probe request: %v", err)
	}
	req.Host = host
	req.RemoteAddr = "127.0.0.1:0"
	req.Header.Set("User-Agent", "berth-health/1")
	// Traefik terminated TLS in front of the app: a Rails app with force_ssl
	// would otherwise redirect the probe.
	req.Header.Set("X-Forwarded-Proto", "https")
	rec := newProbeRecorder()

	// The service runs in its own goroutine so a handler that ignores the
	// deadline cannot stall the prober.
	done := make(chan error, 1)
	go func() {
		defer func() {
			if r := recover(); r != nil {
				done <- fmt.Errorf("GET %s: the service panicked: %v", hs.path, r)
			}
		}()
		next.ServeHTTP(rec, req)
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			return err
		}
	case <-ctx.Done():
		return fmt.Errorf("GET %s: no answer within %s", hs.path, hs.timeout)
	}
	code := rec.status()
	if code < 200 || code > 299 {
		return fmt.Errorf("GET %s: status %d", hs.path, code)
	}
	return nil
}

func probeURL(ctx context.Context, hs healthSettings) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, hs.url, nil)
	if err != nil {
		return fmt.Errorf("build probe request: %v", err)
	}
	if hs.host != "" {
		req.Host = hs.host
	}
	req.Header.Set("User-Agent", "berth-health/1")
	resp, err := probeClient.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %v", hs.url, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("GET %s: status %d", hs.url, resp.StatusCode)
	}
	return nil
}

// probeClient never follows redirects: a redirect is not a healthy answer.
var probeClient = &http.Client{
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// probeRecorder is the ResponseWriter the probe hands to the service; it
// keeps the status and throws the body away.
type probeRecorder struct {
	header http.Header
	code   chan int
}

func newProbeRecorder() *probeRecorder {
	return &probeRecorder{header: http.Header{}, code: make(chan int, 1)}
}

func (p *probeRecorder) Header() http.Header { return p.header }

func (p *probeRecorder) WriteHeader(code int) {
	if code < 200 {
		return // 1xx (Early Hints and the like) are not the answer
	}
	select {
	case p.code <- code:
	default:
	}
}

func (p *probeRecorder) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return len(b), nil
}

func (p *probeRecorder) Flush() {}

// status is the first status written, or 200 if the handler wrote nothing.
func (p *probeRecorder) status() int {
	select {
	case code := <-p.code:
		return code
	default:
		return http.StatusOK
	}
}
