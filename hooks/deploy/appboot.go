package deploy

import (
	"context"

	"github.com/wombatworkouts/berth/hooks/maintenance"
	"github.com/wombatworkouts/berth/plugin"
)

// PreAppBoot covers a boot that no pre-deploy hook announced (`kamal app
// boot`; `kamal app start` runs no hooks at all): with `proxy: false` Kamal stops
// the old container while Traefik still routes to it, so the app goes into
// deploying mode (with the usual expiry) for the length of the boot. Inside
// a deploy, pre-deploy's state already covers it and nothing changes.
func PreAppBoot(ctx context.Context, d Deps) error {
	d.defaults()
	env, pr := d.Env, d.Printer
	if env.CoveredByPreDeploy() {
		pr.Infof("pre-app-boot: nothing to do, the %s's own state covers the boot", env.Command)
		return nil
	}
	store, paths := d.store()
	return pr.Step("state deploying for the boot ("+store.Where()+")", func() (string, error) {
		c, cancel := d.step(ctx, d.Timeouts.State)
		defer cancel()
		saved, err := maintenance.BeginDeploy(c, store, paths, plugin.ModeDeploying, "", "boot "+env.Version, d.StateTTL, d.Now())
		if err != nil {
			return "", &Failure{Step: "state deploying for the boot", Err: err,
				Unchanged: []string{"nothing was booted: Kamal stops when pre-app-boot fails"},
				Todo:      []string{"check the state directory on the server (`berth maintenance status`), then boot again"}}
		}
		if saved.Kept {
			return "an operator's " + string(saved.State.Mode) + " stays on", nil
		}
		return paths.AppFile(), nil
	})
}

// PostAppBoot ends what PreAppBoot set; an operator's state stays.
func PostAppBoot(ctx context.Context, d Deps) error {
	d.defaults()
	env, pr := d.Env, d.Printer
	if env.CoveredByPreDeploy() {
		pr.Infof("post-app-boot: nothing to do, post-deploy ends the %s's state", env.Command)
		return nil
	}
	store, paths := d.store()
	return pr.Step("back to live after the boot", func() (string, error) {
		c, cancel := d.step(ctx, d.Timeouts.State)
		defer cancel()
		st, cleared, err := maintenance.EndDeploy(c, store, paths)
		if err != nil {
			return "", &Failure{Step: "back to live after the boot", Err: err,
				Unchanged: []string{"the boot itself happened"},
				Todo:      []string{"run `berth maintenance off`; the state also ends by itself at its expiry"}}
		}
		if !cleared {
			return "the operator's " + string(st.Mode) + " stays on", nil
		}
		return paths.AppFile() + " removed", nil
	})
}
