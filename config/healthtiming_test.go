package config_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/wombatworkouts/berth/config"
)

func TestHealthTiming(t *testing.T) {
	for _, tc := range []struct {
		name                   string
		h                      config.ContainerHealth
		gap                    time.Duration
		deployTimeout, minimum int
		explain                string
	}{
		// Docker 25+ probes every 5s inside the start period, so the gap is
		// 5s whenever the interval is shorter.
		{"defaults", config.ContainerHealth{Interval: "1s", Timeout: "5s", StartPeriod: "30s"}, 5 * time.Second, 43, 36,
			"30s start period (the app's boot budget) + 5s until Docker's next probe"},
		{"slow interval", config.ContainerHealth{Interval: "10s", Timeout: "3s", StartPeriod: "1m"}, 10 * time.Second, 76, 71,
			"1m start period"},
		{"fractions round up", config.ContainerHealth{Interval: "500ms", Timeout: "1500ms", StartPeriod: "20700ms"}, 5 * time.Second, 31, 26,
			"+ 1.5s for that\nprobe"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := tc.h.Timing()
			if err != nil {
				t.Fatal(err)
			}
			if got.ProbeGap != tc.gap || got.DeployTimeout() != tc.deployTimeout || got.MinDeployTimeout() != tc.minimum {
				t.Errorf("gap %s, deploy_timeout %d, minimum %d; want %s, %d, %d", got.ProbeGap, got.DeployTimeout(), got.MinDeployTimeout(), tc.gap, tc.deployTimeout, tc.minimum)
			}
			// What deploy.yml's comment says must add up to the value written.
			if ex := got.Explain(); !strings.Contains(ex, tc.explain) || !strings.HasSuffix(ex, fmt.Sprintf("= %ds", tc.deployTimeout)) {
				t.Errorf("Explain() = %q", ex)
			}
		})
	}
	if _, err := (config.ContainerHealth{Interval: "1s", Timeout: "5s", StartPeriod: "soon"}).Timing(); err == nil ||
		!strings.Contains(err.Error(), "health.container.start_period") {
		t.Errorf("bad start period: err = %v", err)
	}
}
