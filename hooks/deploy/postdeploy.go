package deploy

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/wombatworkouts/berth/hooks/maintenance"
	"github.com/wombatworkouts/berth/hooks/restorepoint"
	"github.com/wombatworkouts/berth/hooks/smoke"
)

// ErrSmoke is wrapped when smoke checks fail.
var ErrSmoke = errors.New("smoke checks failed")

// SmokeReport prints the results as a table.
func SmokeReport(d Deps, rs []smoke.Result) {
	rows := [][]string{{"check", "result", "tries", "time", "detail"}}
	for _, r := range rs {
		res := "ok"
		if !r.OK {
			res = "FAIL"
		}
		rows = append(rows, []string{r.Name, res, fmt.Sprint(r.Attempts), r.Duration.Round(10 * time.Millisecond).String(), r.Detail})
	}
	d.Printer.Table(rows)
}

// RunSmoke runs the checks with the deploy's deadline.
func RunSmoke(ctx context.Context, d Deps) []smoke.Result {
	d.defaults()
	o := d.Smoke
	o.Manifest = d.Manifest
	if o.Now == nil {
		o.Now = d.Now
	}
	c, cancel := context.WithTimeout(ctx, d.Timeouts.Smoke)
	defer cancel()
	return smoke.Run(c, o)
}

// PostDeploy smoke-checks the new version and, when every check passes,
// takes the app back to live. On failure it prints the report and the exact
// rollback and restore commands and leaves the state alone (it expires by
// itself).
func PostDeploy(ctx context.Context, d Deps) error {
	d.defaults()
	m, env, pr := d.Manifest, d.Env, d.Printer
	pr.Infof("post-deploy %s version %s", m.App, env.Version)
	store, paths := d.store()
	// The smoke checks must see the new version, not the maintenance page
	// this deploy put up for its migrations.
	if err := pr.Step("maintenance -> deploying", func() (string, error) {
		c, cancel := d.step(ctx, d.Timeouts.State)
		defer cancel()
		changed, err := maintenance.EndMigrationMaintenance(c, store, paths, d.Now())
		if err != nil {
			return "", &Failure{Step: "end the migration's maintenance", Err: err,
				Unchanged: []string{"Kamal already switched to " + env.Version + "; the maintenance page is still up"},
				Todo:      []string{"run `berth maintenance off` once the app looks right; the state also ends by itself at its expiry"}}
		}
		if !changed {
			return "nothing to change", nil
		}
		return "the migrations are done and " + env.Version + " serves", nil
	}); err != nil {
		return err
	}
	var rs []smoke.Result
	_ = pr.Step("smoke checks", func() (string, error) {
		rs = RunSmoke(ctx, d)
		n := 0
		for _, r := range rs {
			if r.OK {
				n++
			}
		}
		if smoke.Failed(rs) {
			return "", fmt.Errorf("%d of %d passed", n, len(rs))
		}
		return fmt.Sprintf("%d of %d passed", n, len(rs)), nil
	})
	SmokeReport(d, rs)
	if smoke.Failed(rs) {
		rec, _ := restorepoint.Latest(d.AppDir, m.App, env.Version)
		var todo []string
		if rec.PreviousVersion != "" {
			todo = append(todo, "roll back the app: kamal rollback"+d.kamalFlags()+" "+rec.PreviousVersion)
		} else {
			todo = append(todo, "roll back the app: kamal rollback"+d.kamalFlags()+" <previous version> (`kamal app containers"+d.kamalFlags()+"` lists the versions on the server)")
		}
		for _, p := range rec.Points {
			todo = append(todo, fmt.Sprintf("if the data must go back too (restore point %s of %s, TXID %s): %s", rec.At.Format(time.RFC3339), p.DB, p.TXIDHex, restoreHint(d, p)))
		}
		todo = append(todo, "the deploying/maintenance state was left as it is and ends by itself at its expiry; `berth maintenance off` ends it now")
		return &Failure{Step: "post-deploy smoke checks", Err: ErrSmoke,
			Unchanged: []string{"Kamal already switched to " + env.Version + " (post-deploy runs after the deploy)", "the database and its replica"},
			Todo:      todo}
	}
	return pr.Step("back to live", func() (string, error) {
		c, cancel := d.step(ctx, d.Timeouts.State)
		defer cancel()
		st, cleared, err := maintenance.EndDeploy(c, store, paths)
		if err != nil {
			return "", &Failure{Step: "back to live", Err: err,
				Unchanged: []string{"the deploy itself succeeded and passed its smoke checks"},
				Todo:      []string{"run `berth maintenance off`; the state also ends by itself at its expiry"}}
		}
		if !cleared {
			return fmt.Sprintf("the operator's %s (by %s) stays on: `berth maintenance off` when ready", st.Mode, st.By), nil
		}
		return paths.AppFile() + " removed", nil
	})
}
