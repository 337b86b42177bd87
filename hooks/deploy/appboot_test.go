package deploy_test

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/wombatworkouts/berth/hooks/deploy"
	"github.com/wombatworkouts/berth/hooks/hookstest/testapp"
	"github.com/wombatworkouts/berth/hooks/internal/fakekamal"
	"github.com/wombatworkouts/berth/hooks/kamalenv"
	"github.com/wombatworkouts/berth/hooks/maintenance"
	"github.com/wombatworkouts/berth/hooks/output"
	"github.com/wombatworkouts/berth/hooks/transport"
	"github.com/wombatworkouts/berth/plugin"
)

// pre-app-boot and post-app-boot put a boot that no pre-deploy announced
// (kamal app boot) into deploying mode and back; inside a
// deploy, rollback or setup they leave everything to pre/post-deploy; an
// operator's maintenance or pause survives both.
func TestAppBootHooks(t *testing.T) {
	now := time.Now()
	ttl := 10 * time.Minute
	operator := &plugin.State{Mode: plugin.ModeMaintenance, Message: "Moving to a new server", By: "alice@laptop",
		Until: now.Add(time.Hour).UTC(), At: now.Add(-5 * time.Minute).UTC()}
	paused := &plugin.State{Mode: plugin.ModePaused, By: "alice@laptop", At: now.Add(-5 * time.Minute).UTC()}
	deploys := &plugin.State{Mode: plugin.ModeMaintenance, Message: "Back soon.", By: maintenance.DeployBy + " " + newVersion,
		Until: now.Add(20 * time.Minute).UTC(), At: now.Add(-time.Minute).UTC()}

	tests := []struct {
		name       string
		command    string
		subcommand string
		before     *plugin.State // nil: no state file
		boots      bool          // the hooks act (not covered by pre-deploy)
		preOut     string
		postOut    string
	}{
		{"app boot", "app", "boot", nil, true,
			"ok   state deploying for the boot (on the server (through kamal))", "ok   back to live after the boot"},
		{"app boot keeps an operator's maintenance", "app", "boot", operator, true,
			"an operator's maintenance stays on", "the operator's maintenance stays on"},
		{"app boot keeps an operator's pause", "app", "boot", paused, true,
			"an operator's paused stays on", "the operator's paused stays on"},
		{"deploy", "deploy", "", nil, false,
			"pre-app-boot: nothing to do, the deploy's own state covers the boot", "post-app-boot: nothing to do, post-deploy ends the deploy's state"},
		{"redeploy", "redeploy", "", nil, false, "nothing to do", "nothing to do"},
		{"rollback", "rollback", "", nil, false,
			"nothing to do, the rollback's own state", "post-deploy ends the rollback's state"},
		{"setup", "setup", "", nil, false, "nothing to do, the setup's own state", "post-deploy ends the setup's state"},
		{"deploy leaves the deploy's maintenance to post-deploy", "deploy", "", deploys, false, "nothing to do", "nothing to do"},
		{"deploy keeps an operator's maintenance", "deploy", "", operator, false, "nothing to do", "nothing to do"},
		{"rollback keeps an operator's maintenance", "rollback", "", operator, false, "nothing to do", "nothing to do"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := testapp.New(t, testapp.Options{})
			if tc.before != nil {
				writeState(t, a, *tc.before)
			}
			f := fakekamal.Setup(t, ruleServer)
			var buf bytes.Buffer
			d := deploy.Deps{Manifest: a.Manifest, Transport: &transport.Kamal{Bin: f.Bin, Dir: a.Dir, Destination: "production"},
				Printer: output.New(&buf), AppDir: a.Dir, Now: func() time.Time { return now }, StateTTL: ttl}
			d.Timeouts = deploy.DefaultTimeouts
			d.Timeouts.State = 30 * time.Second

			// pre-app-boot
			d.Env = hookEnv(t, kamalenv.PreAppBoot, tc.command, tc.subcommand)
			if err := deploy.PreAppBoot(context.Background(), d); err != nil {
				t.Fatalf("pre-app-boot: %v\n%s", err, buf.String())
			}
			preOut := buf.String()
			buf.Reset()
			st, ok := readState(t, a)
			switch {
			case tc.before != nil:
				if !ok || !sameState(st, *tc.before) {
					t.Fatalf("during the boot: state %+v (present %v), want it unchanged: %+v", st, ok, *tc.before)
				}
			case tc.boots:
				if !ok || st.Mode != plugin.ModeDeploying || !strings.HasPrefix(st.By, maintenance.DeployBy) ||
					st.By != maintenance.DeployBy+" boot "+newVersion || st.Message != "" ||
					!st.Until.Equal(now.Add(ttl)) || !st.At.Equal(now) {
					t.Fatalf("during the boot: state %+v (present %v), want deploying by %q until now+%s", st, ok, maintenance.DeployBy+" boot v2", ttl)
				}
			default:
				if ok {
					t.Fatalf("pre-app-boot wrote %+v during a %s", st, tc.command)
				}
			}
			if !strings.Contains(preOut, tc.preOut) {
				t.Errorf("pre-app-boot output lacks %q:\n%s", tc.preOut, preOut)
			}

			// post-app-boot
			d.Env = hookEnv(t, kamalenv.PostAppBoot, tc.command, tc.subcommand)
			if err := deploy.PostAppBoot(context.Background(), d); err != nil {
				t.Fatalf("post-app-boot: %v\n%s", err, buf.String())
			}
			postOut := buf.String()
			st, ok = readState(t, a)
			if tc.before != nil {
				if !ok || !sameState(st, *tc.before) {
					t.Fatalf("after the boot: state %+v (present %v), want it unchanged: %+v", st, ok, *tc.before)
				}
			} else if ok {
				t.Fatalf("after the boot: state file left: %+v", st)
			}
			if !strings.Contains(postOut, tc.postOut) {
				t.Errorf("post-app-boot output lacks %q:\n%s", tc.postOut, postOut)
			}
			if tc.boots && tc.before == nil && !strings.Contains(postOut, stateFile(a)+" removed") {
				t.Errorf("post-app-boot output does not name the removed file:\n%s", postOut)
			}

			calls := f.Calls(t)
			if !tc.boots && len(calls) != 0 {
				t.Errorf("a %s's boot ran kamal: %q", tc.command, calls)
			}
			if tc.boots && len(calls) == 0 {
				t.Error("the state was not read or written through the transport")
			}
		})
	}
}
