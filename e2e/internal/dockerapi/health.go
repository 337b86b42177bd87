package dockerapi

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"
)

// dockerd's health check defaults.
const (
	defaultInterval      = 30 * time.Second
	defaultTimeout       = 30 * time.Second
	defaultStartInterval = 5 * time.Second
	defaultRetries       = 3
)

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func retriesOf(hc *Healthcheck) int {
	if hc.Retries <= 0 {
		return defaultRetries
	}
	return hc.Retries
}

// probeCommand is the command line dockerd puts in the exec events.
func probeCommand(test []string) string {
	if len(test) == 0 {
		return ""
	}
	switch test[0] {
	case "CMD-SHELL":
		return "/bin/sh -c " + strings.Join(test[1:], " ")
	case "CMD":
		return strings.Join(test[1:], " ")
	default:
		return strings.Join(test, " ")
	}
}

// monitor runs one container's health check for one run (until runStop is
// closed), with dockerd's rules: the first probe after one interval; while
// the status is starting and the start period has not passed, probes come
// every start interval and failures do not count; retries consecutive
// failures make it unhealthy; one success makes it healthy.
func (e *Engine) monitor(c *container, runStop chan struct{}, started time.Time, hc Healthcheck) {
	defer e.wg.Done()
	interval := orDefault(hc.Interval, defaultInterval)
	startInterval := orDefault(hc.StartInterval, defaultStartInterval)
	timeout := orDefault(hc.Timeout, defaultTimeout)
	cmd := probeCommand(hc.Test)

	next := func() time.Duration {
		if time.Since(started) >= hc.StartPeriod {
			return interval
		}
		e.mu.Lock()
		starting := c.health != nil && c.health.status == "starting"
		e.mu.Unlock()
		if starting {
			return startInterval
		}
		return interval
	}

	timer := time.NewTimer(next())
	defer timer.Stop()
	for {
		select {
		case <-runStop:
			return
		case <-timer.C:
		}
		execID := randomHex(32)
		if !e.probeEvent(c, runStop, "exec_create: "+cmd, map[string]string{"execID": execID}) {
			return
		}
		if !e.probeEvent(c, runStop, "exec_start: "+cmd, map[string]string{"execID": execID}) {
			return
		}
		start := time.Now().UTC()
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		result := make(chan error, 1)
		go func() { result <- hc.Probe(ctx) }()
		var err error
		select {
		case err = <-result:
		case <-runStop:
			cancel()
			<-result
			return
		}
		timedOut := err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded)
		cancel()
		e.probeDone(c, runStop, execID, start, err, timedOut, timeout)
		timer.Reset(next())
	}
}

// probeEvent emits an exec event unless the run already ended.
func (e *Engine) probeEvent(c *container, runStop chan struct{}, action string, attrs map[string]string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	select {
	case <-runStop:
		return false
	default:
	}
	e.emitContainerLocked(c, action, attrs)
	return true
}

func (e *Engine) probeDone(c *container, runStop chan struct{}, execID string, start time.Time, err error, timedOut bool, timeout time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	select {
	case <-runStop:
		return
	default:
	}
	r := probeResult{start: start, end: time.Now().UTC()}
	execExit := 0
	switch {
	case timedOut:
		r.exitCode = -1
		r.output = "Health check exceeded timeout (" + timeout.String() + ")"
		execExit = 137
	case err != nil:
		r.exitCode = 1
		r.output = err.Error()
		execExit = 1
	}
	e.emitContainerLocked(c, "exec_die", map[string]string{"execID": execID, "exitCode": strconv.Itoa(execExit)})
	e.recordHealthLocked(c, r)
	if r.exitCode == 0 {
		c.health.streak = 0
		e.setHealthLocked(c, "healthy")
		return
	}
	if c.health.status == "starting" && r.start.Sub(c.startedAt) < c.spec.Healthcheck.StartPeriod {
		return // failures in the start period do not count
	}
	c.health.streak++
	if c.health.streak >= retriesOf(c.spec.Healthcheck) {
		e.setHealthLocked(c, "unhealthy")
	}
}
