// Command walkthrough starts the real Traefik with berth in front of a stand-in
// app on loopback and walks through what berth does, printing each step:
// live, maintenance from a state file, an operator's bypass token, a restart
// held by berth, and back to live. With -serve it keeps running so you can
// try it with curl or a browser. (The full deploy rehearsal, with Kamal's
// rollout and Litestream, comes with issue 5.)
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"time"

	"github.com/wombatworkouts/berth/e2e/internal/backend"
	"github.com/wombatworkouts/berth/e2e/internal/traefikrun"
	"github.com/wombatworkouts/berth/plugin"
)

func main() {
	serve := flag.Bool("serve", false, "keep running after the walkthrough (Ctrl-C stops)")
	flag.Parse()
	if err := run(*serve); err != nil {
		log.Fatal(err)
	}
}

func run(serve bool) error {
	dir, err := os.MkdirTemp("", "berth-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	state := filepath.Join(dir, "state")
	secret := []byte(strings.Repeat("demo-secret-", 4))
	if err := os.WriteFile(filepath.Join(dir, "bypass.secret"), secret, 0o600); err != nil {
		return err
	}

	app, err := backend.Start("wombatworkouts", "")
	if err != nil {
		return err
	}
	defer app.Stop()
	step("starting Traefik v3.6.12 with berth loaded from this repository")
	tr, err := traefikrun.Start(dir, traefikrun.Options{ThrottleDuration: 200 * time.Millisecond, LogLevel: "INFO"})
	if err != nil {
		return err
	}
	defer tr.Stop()
	dynamic := fmt.Sprintf(`http:
  routers:
    wombat:
      rule: "PathPrefix(`+"`/`"+`)"
      service: wombat
      middlewares: [wombat-retry, wombat-berth]
  services:
    wombat:
      loadBalancer:
        servers:
          - url: %q
  middlewares:
    wombat-retry:
      retry: {attempts: 6, initialInterval: 500ms}
    wombat-berth:
      plugin:
        berth:
          app: wombatworkouts
          stateDir: %s
          bypassSecretFile: %s
          holdTimeout: 10s
`, app.URL(), state, filepath.Join(dir, "bypass.secret"))
	if err := tr.WriteDynamic("wombat.yml", dynamic); err != nil {
		return err
	}
	if err := tr.WaitRouter("wombat@file", 20*time.Second); err != nil {
		return err
	}
	url := tr.WebURL + "/workouts"
	show("live", url, nil)

	step("berth maintenance on (writes " + plugin.AppStatePath(state, "wombatworkouts") + ")")
	until := time.Now().Add(20 * time.Minute).UTC().Truncate(time.Second)
	if err := plugin.WriteStateFile(plugin.AppStatePath(state, "wombatworkouts"), plugin.State{
		Mode: plugin.ModeMaintenance, Message: "Upgrading the workout log.", Until: until, By: "demo", At: time.Now().UTC(),
	}); err != nil {
		return err
	}
	time.Sleep(700 * time.Millisecond)
	show("visitor", url, nil)
	show("visitor asking for JSON", url, http.Header{"Accept": {"application/json"}})
	token := plugin.SignBypassToken(secret, "wombatworkouts", time.Now().Add(time.Hour))
	show("operator with a bypass token", url, http.Header{"X-Berth-Bypass": {token}})
	show("operator status", tr.WebURL+"/_berth/status", http.Header{"X-Berth-Bypass": {token}})

	step("berth maintenance off")
	if err := plugin.RemoveStateFile(plugin.AppStatePath(state, "wombatworkouts")); err != nil {
		return err
	}
	time.Sleep(700 * time.Millisecond)
	show("visitor", url, nil)

	step("the app restarts for 3 s; a visitor's request is held, not failed")
	go func() { _ = app.Restart(3 * time.Second) }()
	time.Sleep(1500 * time.Millisecond)
	show("visitor during the restart", url, nil)

	if !serve {
		fmt.Println("\nwalkthrough done. `make walkthrough ARGS=-serve` keeps it running to try by hand.")
		return nil
	}
	fmt.Printf("\nserving on %s (Ctrl-C stops)\n  maintenance on:  write %s\n  bypass header:   X-Berth-Bypass: %s\n",
		tr.WebURL, plugin.AppStatePath(state, "wombatworkouts"), token)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt)
	<-sig
	return nil
}

func step(s string) { fmt.Printf("\n== %s\n", s) }

func show(who, url string, header http.Header) {
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range header {
		req.Header[k] = v
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fmt.Printf("   %-30s error: %v\n", who, err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	extra := ""
	if ra := resp.Header.Get("Retry-After"); ra != "" {
		extra = " Retry-After: " + ra
	}
	text := strings.TrimSpace(string(body))
	if strings.HasPrefix(text, "<!DOCTYPE") {
		text = "(the HTML maintenance page)"
	}
	if len(text) > 160 {
		text = text[:160] + "…"
	}
	text = strings.ReplaceAll(text, "\n", " ")
	fmt.Printf("   %-30s %d%s after %s: %s\n", who, resp.StatusCode, extra, time.Since(start).Round(time.Millisecond), text)
}
