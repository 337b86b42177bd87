// Package rehearsal is berth's main job on one machine: the real Traefik
// v3.6.12 with its docker provider (on the stand-in Docker Engine API), the
// config berth renders for the two example apps, stand-in Rails apps,
// Litestream replicating wombat's database, the berth hooks run the way Kamal
// runs them (local transport), and steady HTTPS load while wombat is
// deployed, booted, crashed and put into maintenance. A second Traefik on
// the same containers runs the same scenario without berth's middleware
// (plain Traefik with Kamal 1's retry middleware), so the report shows both
// counts side by side from the same run.
package rehearsal

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/wombatworkouts/berth/config"
	berthtraefik "github.com/wombatworkouts/berth/config/traefik"
	"github.com/wombatworkouts/berth/e2e/internal/dockerapi"
	"github.com/wombatworkouts/berth/e2e/internal/kamalsim"
	"github.com/wombatworkouts/berth/e2e/internal/localserver"
	"github.com/wombatworkouts/berth/e2e/internal/pebble"
	"github.com/wombatworkouts/berth/e2e/internal/pluginsrc"
	"github.com/wombatworkouts/berth/e2e/internal/traefikrun"
)

// Options shape a run.
type Options struct {
	// Dir is the workspace; a temporary directory when empty (removed at
	// the end unless Keep).
	Dir  string
	Keep bool
	// Workers per load target.
	Workers int
	// Short skips the boot, crash and second-app phases (make e2e).
	Short bool
	// Progress receives a line per step.
	Progress io.Writer
}

// Phase is one step of the scenario with its load counts.
type Phase struct {
	Name     string
	Berth    Stats // through Traefik with berth
	Plain    Stats // through Traefik without berth
	Timeline *kamalsim.Timeline
	Note     string
	// Goal0 is true for the phases berth must get through without a failed
	// request (deploys, boots, maintenance).
	Goal0 bool
}

// Report is what a run measured.
type Report struct {
	Phases            []Phase
	MaintenanceOnTook time.Duration // `berth maintenance on --all` to the first 503
	RestoreCheck      string
	Duration          time.Duration
}

const wombat = "wombat_workouts"

type run struct {
	opt      Options
	ws       string
	bin      *binaries
	engine   *dockerapi.Engine
	withB    *traefikrun.Traefik
	withoutB *traefikrun.Traefik
	host     *kamalsim.Host
	apps     map[string]*appEnv
	ports    map[string]map[string]string // traefik -> entry point -> addr
	stateDir string
	caFile   string
	maint    atomic.Bool
	cleanup  []func()
}

type appEnv struct {
	m        *config.Manifest
	dir      string
	kapp     *kamalsim.App
	version  string
	replica  string
	lsConfig string
}

func (r *run) logf(format string, args ...any) {
	if r.opt.Progress != nil {
		fmt.Fprintf(r.opt.Progress, "%s  %s\n", time.Now().Format("15:04:05.0"), fmt.Sprintf(format, args...))
	}
}

// Run performs the rehearsal and returns its report.
func Run(ctx context.Context, opt Options) (*Report, error) {
	if opt.Workers <= 0 {
		opt.Workers = 3
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("the rehearsal's stand-in containers listen on port 80 of 127.0.0.x addresses, which needs root")
	}
	r := &run{opt: opt, apps: map[string]*appEnv{}, ports: map[string]map[string]string{}}
	start := time.Now()
	ws := opt.Dir
	if ws == "" {
		var err error
		if ws, err = os.MkdirTemp("", "berth-rehearsal-"); err != nil {
			return nil, err
		}
		if !opt.Keep {
			defer os.RemoveAll(ws)
		}
	}
	r.ws = ws
	defer r.close()
	rep, err := r.scenario(ctx)
	if rep != nil {
		rep.Duration = time.Since(start)
	}
	return rep, err
}

func (r *run) close() {
	for i := len(r.cleanup) - 1; i >= 0; i-- {
		r.cleanup[i]()
	}
}

func (r *run) scenario(ctx context.Context) (*Report, error) {
	var err error
	if r.bin, err = buildBinaries(r.ws, r.logf); err != nil {
		return nil, err
	}
	if err := r.prepareApps(); err != nil {
		return nil, err
	}
	if err := r.startServer(); err != nil {
		return nil, err
	}
	rep := &Report{}

	// kamal setup of both apps: first deploy (no database, no accessory yet).
	for _, name := range r.appNames() {
		a := r.apps[name]
		r.logf("kamal setup %s (version v1)", name)
		tl := r.host.Setup(ctx, a.kapp, "v1")
		if tl.Err != nil {
			return nil, fmt.Errorf("first deploy of %s: %w", name, tl.Err)
		}
		a.version = "v1"
		if err := r.startLitestream(ctx, a); err != nil {
			return nil, err
		}
	}

	a := r.apps[wombat]
	domain := a.m.CanonicalDomain()
	withB := newTraffic("berth", r.ports["with"][berthtraefik.EntryPointSecure], domain, "/workouts", r.opt.Workers, r.maint.Load)
	plain := newTraffic("plain", r.ports["without"][berthtraefik.EntryPointSecure], domain, "/workouts", r.opt.Workers, r.maint.Load)
	r.cleanup = append(r.cleanup, withB.close, plain.close)
	time.Sleep(2 * time.Second)

	phase := func(name string, goal0 bool, act func() (*kamalsim.Timeline, string, error)) error {
		r.logf("phase: %s", name)
		withB.setPhase(name)
		plain.setPhase(name)
		tl, note, err := act()
		time.Sleep(1500 * time.Millisecond) // let the last held requests land
		withB.setPhase("between")
		plain.setPhase("between")
		p := Phase{Name: name, Berth: withB.stats(name), Plain: plain.stats(name), Timeline: tl, Note: note, Goal0: goal0}
		rep.Phases = append(rep.Phases, p)
		r.logf("  with berth: %d sent, %d failed; without: %d sent, %d failed", p.Berth.Sent, p.Berth.Failed, p.Plain.Sent, p.Plain.Failed)
		return err
	}
	deploy := func(version string) func() (*kamalsim.Timeline, string, error) {
		return func() (*kamalsim.Timeline, string, error) {
			r.setPreviousVersion(a)
			tl := r.host.Deploy(ctx, a.kapp, version)
			if tl.Err != nil {
				return tl, "", tl.Err
			}
			a.version = version
			return tl, "", nil
		}
	}
	if err := phase("steady load", true, func() (*kamalsim.Timeline, string, error) {
		time.Sleep(3 * time.Second)
		return nil, "", nil
	}); err != nil {
		return rep, err
	}
	if err := phase("deploy v1b (no migration)", true, deploy("v1b")); err != nil {
		return rep, err
	}
	// v2 has a pending migration and wombat's policy is
	// when-migrations-pending: the pre-deploy hook puts the app into
	// maintenance while it migrates; those 503 pages are intended.
	r.maint.Store(true)
	if err := phase("deploy v2 (migration, maintenance)", true, deploy("v2")); err != nil {
		return rep, err
	}
	r.maint.Store(false)
	if !r.opt.Short {
		if err := phase("kamal app boot", true, func() (*kamalsim.Timeline, string, error) {
			tl := r.host.Boot(ctx, a.kapp)
			return tl, "no pre-deploy: berth's pre-app-boot hook sets deploying mode", tl.Err
		}); err != nil {
			return rep, err
		}
		if err := phase("crash of the only container", false, func() (*kamalsim.Timeline, string, error) {
			tl := r.host.Crash(ctx, a.kapp, time.Second)
			return tl, "SIGKILL, Docker restarts it after 1 s; while no container runs, berth's fallback router answers the unavailable page (503, Retry-After) and plain Traefik 404", tl.Err
		}); err != nil {
			return rep, err
		}
	}

	// Server-wide maintenance from the operator's command line.
	r.maint.Store(true)
	if err := phase("server-wide maintenance", true, func() (*kamalsim.Timeline, string, error) {
		took, err := r.maintenanceOn(ctx, withB)
		rep.MaintenanceOnTook = took
		time.Sleep(2 * time.Second)
		if err2 := r.berth(ctx, a, "maintenance", "off", "--all"); err == nil {
			err = err2
		}
		return nil, fmt.Sprintf("first 503 %s after `berth maintenance on --all`", took.Round(time.Millisecond)), err
	}); err != nil {
		return rep, err
	}
	r.maint.Store(false)

	check, err := r.restoreCheck(ctx, a)
	rep.RestoreCheck = check
	if err != nil {
		return rep, err
	}
	return rep, nil
}

func (r *run) appNames() []string {
	if r.opt.Short {
		return []string{wombat}
	}
	return []string{wombat, "lists"}
}

// prepareApps lays out each app's repository: its berth.yml (the example's,
// with the replica moved to a local directory), the files `berth config
// render` writes, a bin/rails that runs the stand-in app at the version of
// the "image", and the hooks installed as `make hooks` does.
func (r *run) prepareApps() error {
	root, err := pluginsrc.RepoRoot()
	if err != nil {
		return err
	}
	r.stateDir = filepath.Join(r.ws, "state")
	for _, v := range []struct{ version, set string }{{"v1", "migrations-v1"}, {"v1b", "migrations-v1"}, {"v2", "migrations-v2"}} {
		if err := copyTree(filepath.Join(root, "e2e", "testdata", "railsapp", v.set), filepath.Join(r.ws, "images", v.version, "db", "migrate")); err != nil {
			return err
		}
	}
	for _, name := range r.appNames() {
		example := map[string]string{wombat: "wombatworkouts", "lists": "lists"}[name]
		src := filepath.Join(root, "config", "examples", example)
		dir := filepath.Join(r.ws, "apps", name)
		if err := os.MkdirAll(filepath.Join(dir, "config"), 0o755); err != nil {
			return err
		}
		manifest, err := os.ReadFile(filepath.Join(src, "berth.yml"))
		if err != nil {
			return err
		}
		replica := filepath.Join(r.ws, "replicas", name)
		text := rewriteManifest(string(manifest), replica)
		if err := os.WriteFile(filepath.Join(dir, "config", "berth.yml"), []byte(text), 0o644); err != nil {
			return err
		}
		if html, err := os.ReadFile(filepath.Join(src, "maintenance.html")); err == nil {
			if err := os.WriteFile(filepath.Join(dir, "config", "maintenance.html"), html, 0o644); err != nil {
				return err
			}
		}
		if out, err := r.runIn(dir, nil, r.bin.berth, "config", "render", "config", "--allow-placeholders"); err != nil {
			return fmt.Errorf("berth config render for %s: %v\n%s", name, err, out)
		}
		if out, err := r.runIn(dir, nil, r.bin.berth, "install-hooks", dir); err != nil {
			return fmt.Errorf("berth install-hooks for %s: %v\n%s", name, err, out)
		}
		m, err := config.Load(filepath.Join(dir, "config", "berth.yml"))
		if err != nil {
			return err
		}
		rails := fmt.Sprintf(`#!/bin/sh
# The image's bin/rails in this rehearsal: the stand-in Rails app, with the
# migrations baked into the image of the version being run.
export STANDIN_DB="${BERTH_LOCAL_STORAGE}/production.sqlite3"
export STANDIN_MIGRATIONS="%s/images/${BERTH_APP_VERSION:-${KAMAL_VERSION}}/db/migrate"
exec %s "$@"
`, r.ws, r.bin.standin)
		if err := os.MkdirAll(filepath.Join(dir, "bin"), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "bin", "rails"), []byte(rails), 0o755); err != nil {
			return err
		}
		r.apps[name] = &appEnv{m: m, dir: dir, replica: replica}
	}
	return nil
}

// rewriteManifest points the replica at a local directory (dropping the S3
// settings), drops the queue database (the stand-in app has only the
// primary one), and keeps only the /up smoke check (the stand-in app's pages
// are not the real apps').
func rewriteManifest(text, replica string) string {
	// This machine plays the server Kamal reaches (KAMAL_HOSTS).
	text = strings.ReplaceAll(text, "203.0.113.10", "127.0.0.1")
	var out []string
	skipDeeperThan := -1
	for _, line := range strings.Split(text, "\n") {
		trim := strings.TrimSpace(line)
		depth := len(line) - len(strings.TrimLeft(line, " "))
		if skipDeeperThan >= 0 {
			if trim != "" && depth > skipDeeperThan {
				continue
			}
			skipDeeperThan = -1
		}
		switch {
		case strings.HasPrefix(trim, "replica:"):
			line = strings.Repeat(" ", depth) + "replica: " + replica
		case strings.HasPrefix(trim, "secrets:"):
			skipDeeperThan = depth
			continue
		case trim == "checks:":
			skipDeeperThan = depth
			line = strings.Repeat(" ", depth) + "checks: [{path: /up}]"
		case strings.HasPrefix(trim, "endpoint:"), strings.HasPrefix(trim, "region:"), strings.HasPrefix(trim, "queue_database:"):
			continue
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}

func (r *run) runIn(dir string, env []string, name string, args ...string) (string, error) {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// startServer starts what the server runs: the Docker engine stand-in, the
// two Traefiks (with and without berth) on it, and the Kamal stand-in.
func (r *run) startServer() error {
	var err error
	if r.engine, err = dockerapi.New(filepath.Join(r.ws, "docker.sock")); err != nil {
		return err
	}
	r.cleanup = append(r.cleanup, func() { r.engine.Close() })
	var domains []string
	for _, name := range r.appNames() {
		domains = append(domains, r.apps[name].m.Domains...)
	}
	// Let's Encrypt is Pebble, its test CA, one per Traefik (each
	// validates HTTP-01 on its own Traefik's web entry point), and its DNS
	// resolves every domain to this machine.
	dns, err := pebble.StartDNS(filepath.Join(r.ws, "dns"))
	if err != nil {
		return err
	}
	r.cleanup = append(r.cleanup, dns.Stop)
	for _, d := range domains {
		if err := dns.AddA(d, "127.0.0.1"); err != nil {
			return err
		}
	}
	cas := map[string]*pebble.CA{}

	for _, variant := range []string{"with", "without"} {
		dir := filepath.Join(r.ws, "traefik-"+variant)
		dyn := filepath.Join(dir, "dynamic")
		acmeDir := filepath.Join(dir, "letsencrypt") // the ACME volume
		for _, d := range []string{dyn, acmeDir} {
			if err := os.MkdirAll(d, 0o755); err != nil {
				return err
			}
		}
		ports := map[string]string{}
		for _, ep := range []string{berthtraefik.EntryPointWeb, berthtraefik.EntryPointSecure} {
			p, err := traefikrun.FreePort()
			if err != nil {
				return err
			}
			ports[ep] = "127.0.0.1:" + strconv.Itoa(p)
		}
		ca, err := pebble.Start(filepath.Join(dir, "pebble"), pebble.Options{Name: variant,
			HTTPPort: portOf(ports[berthtraefik.EntryPointWeb]), TLSPort: portOf(ports[berthtraefik.EntryPointSecure]), DNS: dns.Addr})
		if err != nil {
			return err
		}
		r.cleanup = append(r.cleanup, ca.Stop)
		cas[variant] = ca
		first := r.apps[wombat]
		static, err := os.ReadFile(filepath.Join(first.dir, "config", "traefik", "static.yml"))
		if err != nil {
			return err
		}
		adapted, err := localserver.AdaptStatic(static, localserver.Settings{
			DockerEndpoint: r.engine.Endpoint(),
			DynamicDir:     dyn,
			ACMEDir:        acmeDir,
			ProductionCA:   ca.Directory,
			StagingCA:      ca.Directory,
			Ports:          ports,
		})
		if err != nil {
			return err
		}
		r.ports[variant] = adapted.Ports
		for _, name := range r.appNames() {
			a := r.apps[name]
			files, err := r.dynamicFor(a, variant)
			if err != nil {
				return err
			}
			for fname, content := range files {
				if err := os.WriteFile(filepath.Join(dyn, fname), content, 0o644); err != nil {
					return err
				}
			}
		}
		cfgFile := filepath.Join(dir, "traefik.yml")
		if err := os.WriteFile(cfgFile, adapted.YAML, 0o644); err != nil {
			return err
		}
		t, err := traefikrun.StartStatic(dir, traefikrun.StaticOptions{
			ConfigFile: cfgFile,
			PingURL:    "http://" + adapted.Ports[berthtraefik.EntryPointTraefik],
			WebURL:     "http://" + adapted.Ports[berthtraefik.EntryPointWeb],
			WebAddr:    adapted.Ports[berthtraefik.EntryPointWeb],
			DynamicDir: dyn,
			// Traefik's ACME client trusts Pebble's own HTTPS; its docker
			// client reads DOCKER_HOST over the endpoint.
			Env: []string{"LEGO_CA_CERTIFICATES=" + ca.TrustFile, "DOCKER_HOST="},
		})
		if err != nil {
			return fmt.Errorf("start traefik (%s berth): %w", variant, err)
		}
		r.cleanup = append(r.cleanup, t.Stop)
		if variant == "with" {
			r.withB = t
		} else {
			r.withoutB = t
		}
	}

	// berth's fallback router asks a certificate for every domain as
	// Traefik starts; the smoke checks after the first deploy trust the
	// CA's root.
	if r.caFile, err = waitCertificates(cas["with"], r.ports["with"][berthtraefik.EntryPointSecure], domains, filepath.Join(r.ws, "tls")); err != nil {
		return fmt.Errorf("traefik with berth: %w", err)
	}

	r.host = kamalsim.NewHost(r.engine, r.bin.standin, filepath.Join(r.ws, "host"))
	r.host.Logf = r.logf
	r.cleanup = append(r.cleanup, r.host.StopAll)
	for _, name := range r.appNames() {
		a := r.apps[name]
		cfg, err := kamalsim.LoadDeployConfig(filepath.Join(a.dir, "config", "deploy.yml"))
		if err != nil {
			return err
		}
		a.kapp = &kamalsim.App{
			Config:     cfg,
			Dir:        a.dir,
			Migrations: func(v string) string { return filepath.Join(r.ws, "images", v, "db", "migrate") },
			// Thruster answers 502 for 3 s while Puma drains.
			AppArgs: []string{"-boot-delay", "1s", "-drain", "3s"},
		}
		storage, err := r.host.StorageDir(a.kapp)
		if err != nil {
			return err
		}
		a.lsConfig = filepath.Join(a.dir, "litestream.local.yml")
		a.kapp.HookEnv = []string{
			"BERTH_TRANSPORT=local",
			"BERTH_LOCAL_STORAGE=" + storage,
			"BERTH_LOCAL_HOME=" + filepath.Join(r.ws, "server-home"),
			// Kamal exports .kamal/secrets to pre-deploy; berth writes the
			// web role's env file from them before it migrates.
			"RAILS_MASTER_KEY=rehearsal-master-key-" + name,
			"BERTH_LOCAL_MAP=" + a.m.Server.StateDir + "=" + r.stateDir,
			"BERTH_LITESTREAM=" + r.bin.litestream,
			"BERTH_LITESTREAM_CONFIG=" + a.lsConfig,
			"BERTH_SMOKE_HTTPS_ADDR=" + r.ports["with"][berthtraefik.EntryPointSecure],
			"BERTH_SMOKE_HTTP_ADDR=" + r.ports["with"][berthtraefik.EntryPointWeb],
			"BERTH_SMOKE_CA=" + r.caFile,
		}
	}
	return nil
}

// dynamicFor returns the app's dynamic files for one Traefik. With berth:
// the rendered file, its state directory moved to this run's. Without
// berth: the same routers' middlewares, but `<app>-berth` does nothing and
// `<app>-retry` is Kamal 1's (5 attempts, 500 ms).
func (r *run) dynamicFor(a *appEnv, variant string) (map[string][]byte, error) {
	rendered, err := os.ReadFile(filepath.Join(a.dir, "config", "traefik", "dynamic", berthtraefik.DynamicFile(a.m.App)))
	if err != nil {
		return nil, err
	}
	server, err := os.ReadFile(filepath.Join(a.dir, "config", "traefik", "dynamic", berthtraefik.ServerFile))
	if err != nil {
		return nil, err
	}
	files := map[string][]byte{berthtraefik.ServerFile: server}
	text := strings.ReplaceAll(string(rendered), "stateDir: "+a.m.Server.StateDir, "stateDir: "+r.stateDir)
	if variant == "with" {
		files[berthtraefik.DynamicFile(a.m.App)] = []byte(text)
		return files, nil
	}
	files[berthtraefik.DynamicFile(a.m.App)] = []byte(withoutBerth(text, a.m.App))
	return files, nil
}

// withoutBerth replaces the berth and retry middlewares of a rendered
// dynamic file and drops berth's fallback router, keeping everything else.
func withoutBerth(text, app string) string {
	var out []string
	skipDeeperThan := -1
	for _, line := range strings.Split(text, "\n") {
		depth := len(line) - len(strings.TrimLeft(line, " "))
		if skipDeeperThan >= 0 {
			if strings.TrimSpace(line) != "" && depth > skipDeeperThan {
				continue
			}
			skipDeeperThan = -1
		}
		trim := strings.TrimSpace(line)
		if trim == app+"-fallback:" {
			skipDeeperThan = depth
			continue
		}
		if trim == "routers:" {
			continue // the fallback router was the only one
		}
		if trim == app+"-berth:" || trim == app+"-retry:" {
			skipDeeperThan = depth
			pad := strings.Repeat(" ", depth)
			if trim == app+"-berth:" {
				out = append(out, line, pad+"  headers:", pad+"    customResponseHeaders:", pad+"      X-Rehearsal: without-berth")
			} else {
				out = append(out, line, pad+"  retry:", pad+"    attempts: 5", pad+"    initialInterval: 500ms")
			}
			continue
		}
		out = append(out, line)
	}
	return strings.Join(out, "\n")
}
