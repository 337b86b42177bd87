package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// How Kamal and Docker decide that a new container is ready, and so how long
// Kamal must wait (deploy_timeout). With proxy: false Kamal polls the
// container's health status after 1, 2, 3, ... s until deploy_timeout and
// accepts only "healthy": it never gives up early on "unhealthy", and it polls
// once more at the deadline (kamal/cli/healthcheck/poller.rb, Kamal 2.12).
// Docker marks the container healthy at the first passing probe, and a
// passing probe comes at most one probe gap after the app answers:
//
//   - Docker 25 and newer probe every --health-start-interval (5 s unless
//     set) while the start period runs and the container is still starting,
//     every --health-interval after it;
//   - Docker 20.10 (Debian 12's docker.io) has no start interval and probes
//     every --health-interval from the start, and its docker run refuses the
//     --health-start-interval flag, so berth never writes it.
const (
	// DockerStartInterval is Docker 25+'s default --health-start-interval.
	DockerStartInterval = 5 * time.Second
	// KamalPollMargin covers Kamal's last status poll: an SSH round trip
	// running `docker ps` and `docker inspect` on the server.
	KamalPollMargin = 3 * time.Second
)

// HealthTiming is the arithmetic behind deploy_timeout for one manifest.
type HealthTiming struct {
	// StartPeriod is the app's boot budget (health.container.start_period):
	// Docker does not count failed probes before it ends.
	StartPeriod time.Duration
	// ProbeGap is the longest time from the app answering to Docker's next
	// probe: the larger of Docker 25+'s start interval and the interval.
	ProbeGap time.Duration
	// ProbeTimeout is how long that passing probe may take
	// (health.container.timeout).
	ProbeTimeout time.Duration
}

// Timing derives the health timing from a validated manifest's durations.
func (h ContainerHealth) Timing() (HealthTiming, error) {
	start, err := time.ParseDuration(h.StartPeriod)
	if err != nil {
		return HealthTiming{}, fmt.Errorf("health.container.start_period %q: %w", h.StartPeriod, err)
	}
	interval, err := time.ParseDuration(h.Interval)
	if err != nil {
		return HealthTiming{}, fmt.Errorf("health.container.interval %q: %w", h.Interval, err)
	}
	timeout, err := time.ParseDuration(h.Timeout)
	if err != nil {
		return HealthTiming{}, fmt.Errorf("health.container.timeout %q: %w", h.Timeout, err)
	}
	return HealthTiming{StartPeriod: start, ProbeGap: max(interval, DockerStartInterval), ProbeTimeout: timeout}, nil
}

// Seen is the latest moment, counted from the container's start, at which
// Docker reports an app that answered at the end of its start period as
// healthy.
func (t HealthTiming) Seen() time.Duration { return t.StartPeriod + t.ProbeGap + t.ProbeTimeout }

// DeployTimeout is the deploy_timeout berth writes, in whole seconds (Kamal
// wants an integer): Seen plus Kamal's last poll.
func (t HealthTiming) DeployTimeout() int { return ceilSeconds(t.Seen() + KamalPollMargin) }

// MinDeployTimeout is the smallest deploy_timeout that can work at all: above
// the start period plus one probe gap. Anything less makes Kamal give up on
// an app that boots within its start period before Docker has probed it.
func (t HealthTiming) MinDeployTimeout() int {
	return int(math.Floor((t.StartPeriod + t.ProbeGap).Seconds())) + 1
}

// Explain is the arithmetic in words, for deploy.yml's comment.
func (t HealthTiming) Explain() string {
	return fmt.Sprintf("%s start period (the app's boot budget) + %s until Docker's next probe (Docker 25+\n"+
		"probes every 5s inside the start period, 20.10 every health-interval) + %s for that\n"+
		"probe (health-timeout) + %s for Kamal's last status poll over SSH = %ds",
		short(t.StartPeriod), short(t.ProbeGap), short(t.ProbeTimeout), short(KamalPollMargin), t.DeployTimeout())
}

func ceilSeconds(d time.Duration) int { return int(math.Ceil(d.Seconds())) }

// short prints 1m rather than Go's 1m0s.
func short(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}

// KamalDeployTimeout returns deploy_timeout from the manifest's kamal:
// section and whether it is there.
func (m *Manifest) KamalDeployTimeout() (*yaml.Node, bool) {
	n := kamalKey(&m.Kamal, "deploy_timeout")
	return n, n != nil
}

func kamalKey(m *yaml.Node, key string) *yaml.Node {
	if m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i+1]
		}
	}
	return nil
}

// validateDeployTimeout refuses a kamal.deploy_timeout that cannot let an app
// through that boots within its start period. Called after the health
// durations were checked.
func (v *validator) validateDeployTimeout() {
	n, ok := v.m.KamalDeployTimeout()
	if !ok {
		return
	}
	t, err := v.m.Health.Container.Timing()
	if err != nil {
		return // the bad duration is reported by validateHealth
	}
	line := n.Line
	bad := func(msg string) {
		v.errs = append(v.errs, &Error{File: v.m.Path, Line: line, Key: "kamal.deploy_timeout", Msg: msg})
	}
	secs, err := strconv.Atoi(n.Value)
	if n.Kind != yaml.ScalarNode || (n.Tag != "!!int" && n.Tag != "") || err != nil || secs <= 0 {
		bad(fmt.Sprintf("%q must be a whole number of seconds (Kamal's deploy_timeout); leave it out and berth writes %d", n.Value, t.DeployTimeout()))
		return
	}
	if secs < t.MinDeployTimeout() {
		bad(fmt.Sprintf("%d is not above health.container.start_period (%s) plus one Docker probe (%s): an app that "+
			"boots within its start period can turn healthy only after Kamal gave up. Use at least %d, or leave it out "+
			"and berth writes %d (%s)", secs, short(t.StartPeriod), short(t.ProbeGap), t.MinDeployTimeout(), t.DeployTimeout(),
			strings.ReplaceAll(t.Explain(), "\n", " ")))
	}
}
