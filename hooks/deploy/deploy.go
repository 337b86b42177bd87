package deploy

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/wombatworkouts/berth/config"
	"github.com/wombatworkouts/berth/hooks/kamalenv"
	"github.com/wombatworkouts/berth/hooks/maintenance"
	"github.com/wombatworkouts/berth/hooks/migrate"
	"github.com/wombatworkouts/berth/hooks/output"
	"github.com/wombatworkouts/berth/hooks/restorepoint"
	"github.com/wombatworkouts/berth/hooks/smoke"
	"github.com/wombatworkouts/berth/hooks/transport"
	"github.com/wombatworkouts/berth/plugin"
)

// Timeouts bound every remote or network step of the hooks.
type Timeouts struct {
	RestorePoint   restorepoint.Timeouts
	State          time.Duration
	RunningVersion time.Duration
	MigrateStatus  time.Duration
	Migrate        time.Duration
	Smoke          time.Duration
}

// DefaultTimeouts suit a real server.
var DefaultTimeouts = Timeouts{
	RestorePoint:   restorepoint.DefaultTimeouts,
	State:          time.Minute,
	RunningVersion: time.Minute,
	MigrateStatus:  5 * time.Minute,
	Migrate:        30 * time.Minute,
	Smoke:          2 * time.Minute,
}

// Deps is what the hooks work with.
type Deps struct {
	Manifest  *config.Manifest
	Env       *kamalenv.Env
	Transport transport.Transport
	Printer   *output.Printer
	// AppDir is the app's directory (restore point log).
	AppDir string
	Lookup func(string) (string, bool)
	Now    func() time.Time
	// Check runs the full restore check (BERTH_RESTORE_CHECK=1).
	Check bool
	// WorkDir holds temporary restores ("" = system temp).
	WorkDir  string
	Timeouts Timeouts
	// StateTTL is how long a deploying/maintenance state lasts if the
	// deploy dies (default 30m).
	StateTTL time.Duration
	// Smoke are extra smoke options (address overrides, roots, retries).
	Smoke smoke.Options
}

func (d *Deps) defaults() {
	if d.Now == nil {
		d.Now = time.Now
	}
	if d.Lookup == nil {
		d.Lookup = os.LookupEnv
	}
	if d.Timeouts == (Timeouts{}) {
		d.Timeouts = DefaultTimeouts
	}
	if d.StateTTL <= 0 {
		d.StateTTL = 30 * time.Minute
	}
}

func (d *Deps) store() (maintenance.Store, maintenance.Paths) {
	s, p := maintenance.NewStore(d.Transport, d.Manifest.Server.StateDir)
	p.App = d.Manifest.App
	return s, p
}

func (d *Deps) step(ctx context.Context, timeout time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, timeout)
}

func (d *Deps) kamalFlags() string {
	if d.Env != nil && d.Env.Destination != "" {
		return " -d " + d.Env.Destination
	}
	return ""
}

// firstSetup reports whether a restore point error means the accessory or
// database does not exist yet during a first `kamal setup`.
func firstSetup(env *kamalenv.Env, err error) bool {
	if env == nil || !env.IsSetup() {
		return false
	}
	return errors.Is(err, transport.ErrNotRunning) || errors.Is(err, restorepoint.ErrSocket) || errors.Is(err, restorepoint.ErrNoDatabase)
}

// PreDeploy runs before Kamal boots the new version. Any error is a
// *Failure; the app's state file is back to what it was.
func PreDeploy(ctx context.Context, d Deps) error {
	d.defaults()
	m, env, t, pr := d.Manifest, d.Env, d.Transport, d.Printer
	pr.Infof("pre-deploy %s version %s (%s, transport %s)", m.App, env.Version, env.Command, t.Name())
	nothingDeployed := fmt.Sprintf("the running version of %s keeps serving: Kamal boots nothing when pre-deploy fails", m.App)

	// The version running now, for the rollback command post-deploy prints.
	var previous string
	if !env.IsSetup() {
		v, err := previousVersion(ctx, d)
		switch {
		case err != nil:
			pr.Noticef("could not read the running version (%v); the rollback command will need it by hand (`kamal app containers`)", firstLine(err))
		case v == "":
			pr.Noticef("no running version of %s is known; the rollback command will need it by hand (`kamal app containers`)", m.App)
		}
		previous = v
	}

	// 1-4: restore point.
	first := false
	points, err := restorepoint.Take(ctx, restorepoint.Options{
		Manifest: m, Transport: t, Lookup: d.Lookup, Printer: pr, Check: d.Check, WorkDir: d.WorkDir,
		Timeouts: d.Timeouts.RestorePoint, Destination: env.Destination, FirstSetup: env.IsSetup(),
	})
	switch {
	case err != nil && firstSetup(env, err):
		first = true
		pr.Skip("restore point", "first `kamal setup`: the Litestream accessory and the database do not exist yet (Kamal boots accessories after pre-deploy), so there is nothing to back up. Litestream starts replicating once the accessory boots.")
	case err != nil:
		return &Failure{
			Step: "restore point",
			Err:  err,
			Unchanged: []string{
				nothingDeployed,
				"no migration ran; the database and the maintenance state are as they were",
			},
			Todo: restorePointTodo(d, err),
		}
	default:
		rec := restorepoint.Record{At: d.Now().UTC(), App: m.App, Destination: env.Destination, Version: env.Version,
			PreviousVersion: previous, Command: env.Command, By: env.Performer, Points: points}
		where, err := restorepoint.Append(d.AppDir, rec)
		if err != nil {
			pr.Noticef("%v (the restore point itself is in the replica)", err)
		}
		for _, p := range points {
			pr.Infof("restore point %s: TXID %s (%d), recorded in %s", p.DB, p.TXIDHex, p.TXID, where)
			pr.Infof("  to restore it: %s", p.Command())
		}
	}

	// 5: deploying, or maintenance when the policy asks for it.
	mode := plugin.ModeDeploying
	var status migrate.Status
	knowPending := false
	migrateNeeded := !env.IsRollback() && !first
	if migrateNeeded {
		err := pr.Step("app env file for the migration", func() (string, error) { return uploadEnvFile(ctx, d) })
		if err != nil {
			return &Failure{Step: "app env file", Err: err,
				Unchanged: []string{nothingDeployed, "no migration ran; the database and the maintenance state are as they were"},
				Todo:      envFileTodo(d, err)}
		}
		switch m.Maintenance.Policy {
		case config.PolicyAlways:
			mode = plugin.ModeMaintenance
		case config.PolicyWhenMigrationsPending:
			err := pr.Step("migration status (new image "+env.Version+")", func() (string, error) {
				c, cancel := d.step(ctx, d.Timeouts.MigrateStatus)
				defer cancel()
				var err error
				status, err = migrate.Pending(c, t, env.Version)
				return status.String(), err
			})
			if err != nil {
				return &Failure{Step: "migration status", Err: err,
					Unchanged: []string{nothingDeployed, "no migration ran; the maintenance state is as it was"},
					Todo: []string{"run it by hand to see why: kamal app exec -p" + d.kamalFlags() + " --version=" + env.Version + " '" + migrate.StatusCommand + "'",
						"then deploy again"}}
			}
			knowPending = true
			if status.Any() {
				mode = plugin.ModeMaintenance
			}
		}
	}
	if env.IsRollback() {
		pr.Skip("db:migrate", "kamal rollback: forward migrations are not run for an older version (restore the restore point if the schema must go back)")
	}
	if first {
		pr.Skip("db:migrate", "first `kamal setup`: bin/docker-entrypoint prepares the database (db:prepare) when the app boots")
	}

	store, paths := d.store()
	var saved maintenance.Saved
	msg := m.Maintenance.Message
	if mode == plugin.ModeDeploying {
		msg = ""
	}
	err = pr.Step("state "+string(mode)+" for "+d.StateTTL.String()+" ("+store.Where()+")", func() (string, error) {
		c, cancel := d.step(ctx, d.Timeouts.State)
		defer cancel()
		var err error
		saved, err = maintenance.BeginDeploy(c, store, paths, mode, msg, env.Version, d.StateTTL, d.Now())
		if err != nil {
			return "", err
		}
		if saved.Kept {
			return fmt.Sprintf("left the operator's %s (by %s) in place", saved.State.Mode, saved.State.By), nil
		}
		return paths.AppFile(), nil
	})
	if err != nil {
		return &Failure{Step: "state file", Err: err,
			Unchanged: []string{nothingDeployed, "no migration ran"},
			Todo: []string{"check that " + m.Server.StateDir + " exists on the server and is writable (the docker-setup hook creates it: `kamal server bootstrap` runs it, or `berth hook docker-setup`)",
				"`berth maintenance status` shows what the plugin sees"}}
	}
	putBack := func() string {
		c, cancel := d.step(context.WithoutCancel(ctx), d.Timeouts.State)
		defer cancel()
		if err := maintenance.Restore(c, store, saved); err != nil {
			return fmt.Sprintf("the state file could NOT be put back (%v): it ends by itself at its expiry, or run `berth maintenance off`", err)
		}
		return "the maintenance state is back to what it was before the deploy"
	}

	// 6: migrations with the new image.
	if migrateNeeded && (!knowPending || status.Any()) {
		var out string
		err := pr.Step("db:migrate (new image "+env.Version+")", func() (string, error) {
			c, cancel := d.step(transport.WithStream(ctx, pr.Writer()), d.Timeouts.Migrate)
			defer cancel()
			var err error
			out, err = migrate.Run(c, t, env.Version)
			return "", err
		})
		_ = out
		if err != nil {
			restored := putBack()
			todo := []string{
				"read the migration's error above, fix it, and deploy again",
				"Rails runs each migration in its own transaction: migrations before the failing one are committed, the failing one was rolled back",
			}
			if len(points) > 0 {
				todo = append(todo, "to return the database to the moment before this deploy: "+restoreHint(d, points[0]))
			}
			return &Failure{Step: "db:migrate", Err: err,
				Unchanged: []string{nothingDeployed, restored},
				Todo:      todo}
		}
	} else if migrateNeeded && knowPending {
		pr.Skip("db:migrate", "no pending migrations")
	}

	if saved.Kept {
		pr.Infof("ready: Kamal boots %s now; the operator's %s stays on (berth maintenance off when done)", env.Version, saved.State.Mode)
	} else {
		pr.Infof("ready: Kamal boots %s now; %s is in %s mode until post-deploy passes (at most %s)", env.Version, m.App, mode, d.StateTTL)
	}
	return nil
}

func restoreHint(d Deps, p restorepoint.Point) string {
	if p.KamalCommand != "" {
		return p.KamalCommand + " (then follow the restore runbook in config/README.md)"
	}
	return p.RestoreCommand
}

func restorePointTodo(d Deps, err error) []string {
	var todo []string
	switch {
	case errors.Is(err, restorepoint.ErrSocket):
		todo = append(todo, "render the config again (`berth config render config`) so litestream.yml enables the control socket, then `kamal accessory reboot litestream`")
	case errors.Is(err, restorepoint.ErrCredentials):
		todo = append(todo, "put the S3 credentials in .kamal/secrets under the names in litestream.secrets")
	case errors.Is(err, transport.ErrNotRunning):
		todo = append(todo, "start the accessory: kamal accessory boot litestream"+d.kamalFlags())
	case errors.Is(err, transport.ErrTimeout):
		todo = append(todo, "the replica or the server did not answer in time: check the network, the endpoint and `kamal accessory logs litestream`")
	default:
		todo = append(todo, "look at the Litestream accessory: kamal accessory logs litestream"+d.kamalFlags())
	}
	todo = append(todo, "deploy again once `berth restore-point` succeeds; berth never deploys without a verified restore point")
	return todo
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
