package cli

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/wombatworkouts/berth/hooks/deploy"
	"github.com/wombatworkouts/berth/hooks/dockersetup"
	"github.com/wombatworkouts/berth/hooks/kamalenv"
	"github.com/wombatworkouts/berth/hooks/maintenance"
	"github.com/wombatworkouts/berth/hooks/restorepoint"
	"github.com/wombatworkouts/berth/hooks/smoke"
	"github.com/wombatworkouts/berth/hooks/transport"
)

// Hooks are the hook names berth answers to as .kamal/hooks/<name>.
var Hooks = []string{kamalenv.PreDeploy, kamalenv.PostDeploy, kamalenv.DockerSetup, kamalenv.PreAppBoot, kamalenv.PostAppBoot}

// IsHook reports whether name is a hook berth implements.
func IsHook(name string) bool {
	for _, h := range Hooks {
		if h == name {
			return true
		}
	}
	return false
}

// signalContext is cancelled on SIGINT/SIGTERM, so a Ctrl-C still puts the
// maintenance state back.
func signalContext() (context.Context, context.CancelFunc) {
	return signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("berth "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

// Hook is `berth hook pre-deploy|post-deploy|docker-setup|pre-app-boot|post-app-boot`.
func Hook(args []string, dir string, stdout, stderr io.Writer) int {
	if len(args) != 1 || !IsHook(args[0]) {
		fmt.Fprintf(stderr, "usage: berth hook %s\n", strings.Join(Hooks, "|"))
		return 2
	}
	return RunHook(args[0], dir, stdout, stderr)
}

// RunHook runs one hook with Kamal's environment.
func RunHook(name, dir string, stdout, stderr io.Writer) int {
	// A kamal command that berth itself started (a nested call from one of
	// its hooks or commands) must not run the deploy's hooks a second time.
	if by, _ := LookupEnv(transport.NestedEnv); by != "" {
		fmt.Fprintf(stdout, "berth: %s hook: nothing to do, this kamal command was started by berth (%s)\n", name, by)
		return 0
	}
	env, envErr := kamalenv.Parse(name, LookupEnv)
	dest := ""
	if env != nil {
		dest = env.Destination
	}
	s, err := newSession(dir, stdout, stderr, dest, name)
	if err != nil {
		if envErr != nil {
			err = fmt.Errorf("%w\n%w", envErr, err)
		}
		return s.fail(fmt.Errorf("%s hook stopped before changing anything: %w", name, err))
	}
	if envErr != nil {
		return s.fail(fmt.Errorf("%s hook stopped before changing anything: %w", name, envErr))
	}
	if err := env.CheckService(s.m.App, s.m.Path); err != nil {
		return s.fail(fmt.Errorf("%s hook stopped before changing anything: %w", name, err))
	}
	if err := env.CheckHosts(s.m.Hosts, s.m.Path); err != nil {
		return s.fail(fmt.Errorf("%s hook stopped before changing anything: %w", name, err))
	}
	ctx, cancel := signalContext()
	defer cancel()
	d := s.deps
	d.Env = env
	switch name {
	case kamalenv.PreDeploy:
		err = deploy.PreDeploy(ctx, d)
	case kamalenv.PostDeploy:
		err = deploy.PostDeploy(ctx, d)
	case kamalenv.DockerSetup:
		err = dockerSetup(ctx, s)
	case kamalenv.PreAppBoot:
		err = deploy.PreAppBoot(ctx, d)
	case kamalenv.PostAppBoot:
		err = deploy.PostAppBoot(ctx, d)
	}
	if err != nil {
		return s.fail(err)
	}
	s.close()
	return 0
}

func dockerSetup(ctx context.Context, s *session) error {
	plan, err := dockersetup.NewPlan(s.m)
	if err != nil {
		return err
	}
	return s.printer.Step("docker-setup (network, state directory, Traefik config, plugin, "+dockersetup.Container+")", func() (string, error) {
		c, cancel := context.WithTimeout(ctx, 5*time.Minute)
		defer cancel()
		r, err := dockersetup.Run(c, s.t, plan)
		if err != nil {
			return "", &deploy.Failure{Step: "docker-setup", Err: err,
				Unchanged: []string{"the apps already on the server: files are replaced one by one only when their content differs"},
				Todo:      []string{"run `berth hook docker-setup` again after fixing the cause; it is safe to repeat"}}
		}
		for _, n := range r.Notices {
			s.printer.Noticef("%s", n)
		}
		if len(r.Changes) == 0 {
			return "nothing to change: the server is current", nil
		}
		return strings.Join(r.Changes, "; "), nil
	})
}

// Maintenance is `berth maintenance on|off|pause|resume|status`.
func Maintenance(args []string, dir string, stdout, stderr io.Writer) int {
	usage := "usage: berth maintenance on|off|pause|resume|status [--message M] [--until RFC3339 | --for DURATION] [--all] [-d DESTINATION]"
	if len(args) == 0 {
		fmt.Fprintln(stderr, usage)
		return 2
	}
	sub := args[0]
	fs := newFlags("maintenance "+sub, stderr)
	message := fs.String("message", "", "text on the maintenance page (default: the manifest's maintenance.message)")
	until := fs.String("until", "", "end of the maintenance, RFC 3339 (2026-12-01T03:00:00Z)")
	forD := fs.Duration("for", 0, "length of the maintenance (e.g. 20m)")
	all := fs.Bool("all", false, "every app on the server (server.json)")
	dest := fs.String("d", "", "Kamal destination")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "berth maintenance: unexpected %q\n%s\n", fs.Arg(0), usage)
		return 2
	}
	switch sub {
	case "on", "off", "pause", "resume", "status":
	default:
		fmt.Fprintf(stderr, "berth maintenance: unknown %q\n%s\n", sub, usage)
		return 2
	}
	now := Now()
	var end time.Time
	if *until != "" && *forD != 0 {
		fmt.Fprintln(stderr, "berth maintenance: give --until or --for, not both")
		return 2
	}
	if *until != "" {
		t, err := time.Parse(time.RFC3339, *until)
		if err != nil {
			fmt.Fprintf(stderr, "berth maintenance: --until %q: want RFC 3339 such as 2026-12-01T03:00:00Z\n", *until)
			return 2
		}
		end = t
	}
	if *forD < 0 {
		fmt.Fprintln(stderr, "berth maintenance: --for must be positive")
		return 2
	}
	if *forD > 0 {
		end = now.Add(*forD)
	}
	if sub != "on" && *message != "" {
		fmt.Fprintf(stderr, "berth maintenance %s: --message goes with `on` (a pause shows no page)\n", sub)
		return 2
	}
	if sub != "on" && sub != "pause" && !end.IsZero() {
		fmt.Fprintf(stderr, "berth maintenance %s: --until and --for go with `on` and `pause`\n", sub)
		return 2
	}
	s, err := newSession(dir, stdout, stderr, *dest, "maintenance")
	if err != nil {
		return s.fail(err)
	}
	ctx, cancel := signalContext()
	defer cancel()
	ctx, cancel2 := context.WithTimeout(ctx, s.deps.Timeouts.State)
	defer cancel2()
	store, paths := maintenance.NewStore(s.t, s.m.Server.StateDir)
	paths.App = s.m.App
	req := maintenance.Request{Store: store, Paths: paths, All: *all, Message: *message, Until: end, By: maintenance.Who(), Now: now}
	if req.Message == "" && !*all {
		req.Message = s.m.Maintenance.Message
	}
	scope := "app " + s.m.App
	if *all {
		scope = "every app on the server"
	}
	switch sub {
	case "on":
		err = s.printer.Step("maintenance on for "+scope, func() (string, error) {
			f, st, err := maintenance.On(ctx, req)
			if err != nil {
				return "", err
			}
			d := f + " " + store.Where()
			if st.Until.IsZero() {
				d += "; no end set: `berth maintenance off` ends it"
			} else {
				d += "; ends by itself at " + st.Until.Format(time.RFC3339)
			}
			return d, nil
		})
	case "pause":
		err = s.printer.Step("pause "+scope, func() (string, error) {
			f, st, err := maintenance.Pause(ctx, req)
			if err != nil {
				return "", err
			}
			return f + " " + store.Where() + "; requests are held (up to the plugin's holdTimeout) until " + st.Until.Format(time.RFC3339) + " or `berth maintenance resume`", nil
		})
	case "resume":
		err = s.printer.Step("resume "+scope, func() (string, error) {
			f, err := maintenance.Resume(ctx, req)
			return f + " " + store.Where() + ": held requests go on to the app", err
		})
	case "off":
		err = s.printer.Step("maintenance off for "+scope, func() (string, error) {
			f, err := maintenance.Off(ctx, req)
			return f + " removed " + store.Where(), err
		})
	case "status":
		rows := [][]string{{"scope", "state", "message", "by", "file"}}
		for _, r := range maintenance.Status(ctx, store, paths, now) {
			if r.Err != nil {
				err = r.Err
			}
			rows = append(rows, []string{r.Scope, r.Effective(now), r.State.Message, r.State.By, r.File})
		}
		s.printer.Table(rows)
	}
	if err != nil {
		return s.fail(err)
	}
	s.close()
	return 0
}

// RestorePoint is `berth restore-point [--check] [-d DEST]` and
// `berth restore-point list`.
func RestorePoint(args []string, dir string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "list" {
		return listRestorePoints(args[1:], dir, stdout, stderr)
	}
	fs := newFlags("restore-point", stderr)
	check := fs.Bool("check", false, "also restore it into a temporary file and check it (integrity, newest migration)")
	dest := fs.String("d", "", "Kamal destination")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: berth restore-point [--check] [-d DESTINATION] | berth restore-point list")
		return 2
	}
	s, err := newSession(dir, stdout, stderr, *dest, "restore-point")
	if err != nil {
		return s.fail(err)
	}
	ctx, cancel := signalContext()
	defer cancel()
	d := s.deps
	points, err := restorepoint.Take(ctx, restorepoint.Options{Manifest: s.m, Transport: s.t, Lookup: LookupEnv, Printer: s.printer,
		Check: *check || d.Check, WorkDir: d.WorkDir, Timeouts: d.Timeouts.RestorePoint, Destination: *dest})
	if err != nil {
		return s.fail(fmt.Errorf("no restore point: %w", err))
	}
	version, _ := LookupEnv("KAMAL_VERSION")
	rec := restorepoint.Record{At: Now().UTC(), App: s.m.App, Destination: *dest, Version: version, Command: "berth restore-point", By: maintenance.Who(), Points: points}
	where, err := restorepoint.Append(dir, rec)
	if err != nil {
		s.printer.Noticef("%v", err)
	}
	for _, p := range points {
		s.printer.Infof("restore point %s: TXID %s (%d), recorded in %s", p.DB, p.TXIDHex, p.TXID, where)
		s.printer.Infof("  to restore it: %s", p.Command())
	}
	s.close()
	return 0
}

func listRestorePoints(args []string, dir string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		fmt.Fprintln(stderr, "usage: berth restore-point list")
		return 2
	}
	recs, bad, err := restorepoint.List(dir)
	if err != nil {
		fmt.Fprintf(stderr, "berth: %v\n", err)
		return 1
	}
	if len(recs) == 0 {
		fmt.Fprintf(stdout, "no restore points recorded in %s yet (the pre-deploy hook and `berth restore-point` add them)\n", restorepoint.LogPath)
		return 0
	}
	for _, r := range recs {
		fmt.Fprintf(stdout, "%s  %s  version %s  (%s)\n", r.At.Format(time.RFC3339), r.App, orDash(r.Version), orDash(r.Command))
		for _, p := range r.Points {
			checked := ""
			if p.Checked {
				checked = ", restore-checked"
			}
			fmt.Fprintf(stdout, "    %s TXID %s (%d)%s\n      %s\n", p.DB, p.TXIDHex, p.TXID, checked, p.Command())
		}
	}
	if bad > 0 {
		fmt.Fprintf(stderr, "berth: %d unreadable lines in %s were skipped\n", bad, restorepoint.LogPath)
	}
	return 0
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// Smoke is `berth smoke [-d DEST]`.
func Smoke(args []string, dir string, stdout, stderr io.Writer) int {
	fs := newFlags("smoke", stderr)
	dest := fs.String("d", "", "Kamal destination")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintln(stderr, "usage: berth smoke [-d DESTINATION]   (BERTH_SMOKE_HTTPS_ADDR/HTTP_ADDR/CA redirect the checks)")
		return 2
	}
	s, err := newSession(dir, stdout, stderr, *dest, "smoke")
	if err != nil {
		return s.fail(err)
	}
	ctx, cancel := signalContext()
	defer cancel()
	var rs []smoke.Result
	_ = s.printer.Step("smoke checks", func() (string, error) {
		rs = deploy.RunSmoke(ctx, s.deps)
		if smoke.Failed(rs) {
			return "", deploy.ErrSmoke
		}
		return fmt.Sprintf("%d passed", len(rs)), nil
	})
	deploy.SmokeReport(s.deps, rs)
	if smoke.Failed(rs) {
		s.close()
		return 1
	}
	s.close()
	return 0
}
