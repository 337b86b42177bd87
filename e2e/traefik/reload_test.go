package traefik_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wombatworkouts/berth/e2e/internal/traefikrun"
)

// Traefik calls New again on every configuration apply and cancels the
// previous context. 500 applies must leave the goroutine count flat (no
// poller, prober or waiter left behind) and the health state continuous
// (one controller survives; its "since" never moves and no probe is missed).
func TestFiveHundredReloads(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	app := startBackend(t, "reload")
	tr, err := traefikrun.Start(t.TempDir(), traefikrun.Options{ThrottleDuration: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer tr.Stop()

	const mw = `plugin:
  berth:
    app: reload
    statusPath: /reload/_status
    allowCIDRs: ["127.0.0.1"]
    health:
      interval: 200ms`
	file := func(i int) string {
		// The unrelated router changes every time, so each write is a new
		// configuration that Traefik applies in full.
		return fmt.Sprintf(`http:
  routers:
    reload:
      rule: "PathPrefix(`+"`/reload`"+`)"
      entryPoints: [web]
      service: reload
      middlewares: [reload-berth]
    unrelated-%d:
      rule: "PathPrefix(`+"`/unrelated-%d`"+`)"
      entryPoints: [web]
      service: reload
  services:
    reload:
      loadBalancer:
        servers:
          - url: %q
  middlewares:
    reload-berth:
%s
`, i, i, app.URL(), indent(mw, "      "))
	}
	if err := tr.WriteDynamic("reload.yml", file(0)); err != nil {
		t.Fatal(err)
	}
	if err := tr.WaitRouter("reload@file", 15*time.Second); err != nil {
		t.Fatal(err)
	}
	status := func() map[string]any {
		resp, err := http.Get(tr.WebURL + "/reload/_status")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		var st map[string]any
		if err := json.Unmarshal(body, &st); err != nil {
			t.Fatalf("status: %v: %s", err, body)
		}
		return st
	}
	time.Sleep(2 * time.Second) // let the first probes and Traefik settle
	before := status()
	g0, err := tr.Goroutines()
	if err != nil {
		t.Fatal(err)
	}

	var maxProbeGap time.Duration
	lastProbe := ""
	lastSeen := time.Now()
	for i := 1; i <= 500; i++ {
		if err := tr.WriteDynamic("reload.yml", file(i)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(25 * time.Millisecond)
		if i%10 == 0 {
			st := status()
			if st["healthy"] != true || st["since"] != before["since"] {
				t.Fatalf("after %d reloads the health state moved: %v (before %v)", i, st, before)
			}
			if p, _ := st["last_probe"].(string); p != lastProbe {
				if gap := time.Since(lastSeen); lastProbe != "" && gap > maxProbeGap {
					maxProbeGap = gap
				}
				lastProbe, lastSeen = p, time.Now()
			}
		}
	}
	if err := tr.WaitRouter("unrelated-500@file", 15*time.Second); err != nil {
		t.Fatalf("the last configuration was not applied: %v", err)
	}
	applied := strings.Count(tr.Log(), "Configuration received")
	time.Sleep(3 * time.Second) // old contexts are cancelled, waiters return
	g1, err := tr.Goroutines()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("configurations received: %d; goroutines before %d, after 500 reloads %d; longest gap between observed probes %s",
		applied, g0, g1, maxProbeGap.Round(time.Millisecond))
	if applied < 100 {
		t.Errorf("only %d configurations reached Traefik; the test did not reload enough", applied)
	}
	if g1 > g0+20 {
		t.Errorf("goroutines grew from %d to %d over 500 reloads", g0, g1)
	}
	if maxProbeGap > 2*time.Second {
		t.Errorf("health probes paused for %s during reloads", maxProbeGap)
	}
}

func indent(s, prefix string) string {
	lines := strings.Split(s, "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n")
}
