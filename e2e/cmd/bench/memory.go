package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/wombatworkouts/berth/e2e/internal/backend"
	"github.com/wombatworkouts/berth/e2e/internal/pluginsrc"
	"github.com/wombatworkouts/berth/e2e/internal/traefikrun"
)

// memRow is one app count of the memory comparison, in MiB.
type memRow struct {
	apps int
	// Resident memory after the same warm-up load.
	plain, berth, kamalProxy float64
	// Traefik's live heap right after a collection.
	plainHeap, berthHeap float64
}

// memory starts, one at a time and each fresh, Traefik without berth,
// Traefik with berth and kamal-proxy in front of n apps for each n in
// counts, sends each app the same warm-up requests through it and records
// its resident memory. Each app has a stand-in backend of its own.
//
// "Without berth" is the Traefik a Kamal 1 style setup has: per app a
// Host router, its service and Traefik's retry middleware, and no plugin
// in the static configuration (so no Yaegi). "With berth" adds what
// `berth config render` adds per app: the berth middleware (state
// directory, health probe of /up every second) on the router, and the
// fallback router with its own berth instance.
func memory(counts []int, s *summary) error {
	most := 0
	for _, n := range counts {
		most = max(most, n)
	}
	backends := make([]*backend.Server, most)
	for i := range backends {
		b, err := backend.Start(fmt.Sprintf("app-%d", i), "")
		if err != nil {
			return err
		}
		defer b.Stop()
		backends[i] = b
	}
	kpBin, err := kamalProxyBinary()
	if err != nil {
		return err
	}
	for _, n := range counts {
		row := memRow{apps: n}
		for _, withBerth := range []bool{false, true} {
			rss, heap, err := traefikMemory(backends[:n], withBerth)
			if err != nil {
				return err
			}
			if withBerth {
				row.berth, row.berthHeap = rss, heap
			} else {
				row.plain, row.plainHeap = rss, heap
			}
		}
		if row.kamalProxy, err = kamalProxyMemory(kpBin, backends[:n]); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "memory, %d apps: Traefik %.1f MiB (heap %.1f), with berth %.1f MiB (heap %.1f), kamal-proxy %.1f MiB\n",
			n, row.plain, row.plainHeap, row.berth, row.berthHeap, row.kamalProxy)
		s.memory = append(s.memory, row)
	}
	return nil
}

func traefikMemory(backends []*backend.Server, withBerth bool) (rss, heap float64, err error) {
	dir, err := os.MkdirTemp("", "berth-bench-mem-")
	if err != nil {
		return 0, 0, err
	}
	defer os.RemoveAll(dir)
	tr, err := startTraefik(dir, withBerth)
	if err != nil {
		return 0, 0, err
	}
	defer tr.Stop()
	stateDir := filepath.Join(dir, "state")
	if err := os.MkdirAll(filepath.Join(stateDir, "apps"), 0o755); err != nil {
		return 0, 0, err
	}
	if err := tr.WriteDynamic("apps.yml", appsConfig(backends, withBerth, stateDir, "")); err != nil {
		return 0, 0, err
	}
	if err := waitApps(tr, len(backends)); err != nil {
		return 0, 0, err
	}
	if err := warmUp(tr.WebURL, len(backends), 200); err != nil {
		return 0, 0, err
	}
	if rss, err = settledResidentMiB(tr.Pid()); err != nil {
		return 0, 0, err
	}
	heap, err = liveHeapMiB(tr.APIURL)
	return rss, heap, err
}

func kamalProxyMemory(bin string, backends []*backend.Server) (float64, error) {
	dir, err := os.MkdirTemp("", "berth-bench-kp-")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	kp, err := startKamalProxy(bin, dir)
	if err != nil {
		return 0, err
	}
	defer kp.Close()
	for i, b := range backends {
		if err := kp.deploy(fmt.Sprintf("app-%d", i), appHost(i), b.Addr); err != nil {
			return 0, err
		}
	}
	if err := warmUp(kp.URL, len(backends), 200); err != nil {
		return 0, err
	}
	return settledResidentMiB(kp.Pid())
}

func appHost(i int) string { return fmt.Sprintf("app-%d.test", i) }

// startTraefik starts Traefik with the berth plugin in its static
// configuration or without any plugin, an entry point for the apps, its
// API with the debug endpoints (heap profile, expvar) and a short provider
// throttle, so that every configuration written is applied.
func startTraefik(dir string, withBerth bool) (*traefikrun.Traefik, error) {
	web, err := traefikrun.FreePort()
	if err != nil {
		return nil, err
	}
	api, err := traefikrun.FreePort()
	if err != nil {
		return nil, err
	}
	dynamic := filepath.Join(dir, "dynamic")
	if err := os.MkdirAll(dynamic, 0o755); err != nil {
		return nil, err
	}
	webAddr := "127.0.0.1:" + strconv.Itoa(web)
	var b strings.Builder
	fmt.Fprintf(&b, "entryPoints:\n  web:\n    address: %q\n  traefik:\n    address: \"127.0.0.1:%d\"\n", webAddr, api)
	b.WriteString("api:\n  insecure: true\n  debug: true\nping: {}\n")
	fmt.Fprintf(&b, "log:\n  level: ERROR\n  filePath: %q\n  noColor: true\n", filepath.Join(dir, "traefik.log"))
	fmt.Fprintf(&b, "providers:\n  providersThrottleDuration: 100ms\n  file:\n    directory: %q\n    watch: true\n", dynamic)
	if withBerth {
		fmt.Fprintf(&b, "experimental:\n  localPlugins:\n    berth:\n      moduleName: %s\n", pluginsrc.ModuleName)
	}
	config := filepath.Join(dir, "traefik.yml")
	if err := os.WriteFile(config, []byte(b.String()), 0o644); err != nil {
		return nil, err
	}
	return traefikrun.StartStatic(dir, traefikrun.StaticOptions{
		ConfigFile: config,
		PingURL:    "http://127.0.0.1:" + strconv.Itoa(api),
		WebURL:     "http://" + webAddr,
		WebAddr:    webAddr,
		DynamicDir: dynamic,
	})
}

// appsConfig is Traefik's dynamic configuration for one app per backend
// (Host app-<i>.test), with or without berth (see memory), plus extra
// (more routers, indented under http.routers).
func appsConfig(backends []*backend.Server, withBerth bool, stateDir, extra string) string {
	var routers, services, middlewares strings.Builder
	for i, be := range backends {
		app := fmt.Sprintf("app-%d", i)
		chain := app + "-retry"
		if withBerth {
			chain += ", " + app + "-berth"
		}
		fmt.Fprintf(&routers, "    %s:\n      entryPoints: [web]\n      rule: \"Host(`%s`)\"\n      service: %s\n      middlewares: [%s]\n",
			app, appHost(i), app, chain)
		fmt.Fprintf(&services, "    %s:\n      loadBalancer:\n        servers:\n          - url: %q\n", app, be.URL())
		fmt.Fprintf(&middlewares, "    %s-retry:\n      retry:\n        attempts: 6\n        initialInterval: 500ms\n", app)
		if !withBerth {
			continue
		}
		fmt.Fprintf(&routers, "    %s-fallback:\n      entryPoints: [web]\n      rule: \"Host(`%s`)\"\n      priority: 1\n      service: noop@internal\n      middlewares: [%s-fallback]\n",
			app, appHost(i), app)
		for _, kind := range []string{"berth", "fallback"} {
			fmt.Fprintf(&middlewares, "    %s-%s:\n      plugin:\n        berth:\n          app: %s\n          stateDir: %q\n          health:\n            path: /up\n            host: %s\n",
				app, kind, app, stateDir, appHost(i))
			if kind == "fallback" {
				middlewares.WriteString("          fallback: true\n          retryAfter: 10s\n")
			}
		}
	}
	return "http:\n  routers:\n" + routers.String() + extra + "  services:\n" + services.String() + "  middlewares:\n" + middlewares.String()
}

func waitApps(tr *traefikrun.Traefik, n int) error {
	for i := 0; i < n; i++ {
		if err := tr.WaitRouter(fmt.Sprintf("app-%d@file", i), 30*time.Second); err != nil {
			return err
		}
	}
	return nil
}

// warmUp sends perApp requests to each of n apps through the proxy at
// base, from 4 workers on kept-alive connections, and fails unless every
// one is answered 200 by the app.
func warmUp(base string, n, perApp int) error {
	client := &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	defer client.CloseIdleConnections()
	jobs := make(chan int)
	errs := make(chan error, 4)
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range jobs {
				if err := getApp(client, base, i); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	var err error
loop:
	for k := 0; k < perApp; k++ {
		for i := 0; i < n; i++ {
			select {
			case jobs <- i:
			case err = <-errs:
				break loop
			}
		}
	}
	close(jobs)
	wg.Wait()
	if err == nil {
		select {
		case err = <-errs:
		default:
		}
	}
	return err
}

// getApp asks app i for a page through the proxy at base; anything but
// the app's 200 is an error.
func getApp(client *http.Client, base string, i int) error {
	req, err := http.NewRequest(http.MethodGet, base+"/warm", nil)
	if err != nil {
		return err
	}
	req.Host = appHost(i)
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("%s through %s: %w", req.Host, base, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("X-Backend") != fmt.Sprintf("app-%d", i) {
		return fmt.Errorf("%s through %s: %s %.200s", req.Host, base, resp.Status, body)
	}
	return nil
}

// parseCounts reads "1,10,50".
func parseCounts(s string) ([]int, error) {
	var counts []int
	for _, f := range strings.Split(s, ",") {
		f = strings.TrimSpace(f)
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 500 {
			return nil, fmt.Errorf("%q: want app counts from 1 to 500, comma-separated", f)
		}
		counts = append(counts, n)
	}
	return counts, nil
}
