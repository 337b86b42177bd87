package kamalhost

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/wombatworkouts/berth/e2e/internal/kamalhost/recdocker"
)

// TestRollouts runs deploy, deploy, redeploy, rollback and app boot of one
// app and checks the docker calls each makes and what runs afterwards.
func TestRollouts(t *testing.T) {
	t.Parallel()
	srv := StartServer(t, ServerOptions{})
	app := NewApp(t, srv, AppOptions{
		Service:   "khrollout",
		DeployYML: "env:\n  clear: {RAILS_ENV: production}\n  secret: [APP_SECRET]\n",
		Secrets:   map[string]string{"APP_SECRET": "first-secret"},
	})
	repo := app.Repository
	health := "{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}"
	timings := map[string]time.Duration{}

	t.Run("deploy v1", func(t *testing.T) {
		r := app.MustKamal(t, "deploy", "--skip-push", "--version", "v1")
		timings["deploy"] = r.Elapsed
		calls := srv.NewCalls(t)
		idx := requireOrder(t, calls,
			[]string{"login", DefaultRegistry},
			[]string{"pull", repo + ":v1"},
			[]string{"inspect", "-f", "{{ .Config.Labels.service }}", repo + ":v1"},
			[]string{"network", "create", "kamal"},
			[]string{"run", "--detach", "--restart", "unless-stopped", "--name", "khrollout-web-v1", "--network", "kamal"},
			[]string{"inspect", "--format", health},
			[]string{"tag", repo + ":v1", repo + ":latest"},
			[]string{"image", "prune", "--force", "--filter", "label=service=khrollout"},
		)
		run := calls[idx[4]]
		if run.Cwd != srv.RemoteHome {
			t.Errorf("docker ran in %q, want root's home %q", run.Cwd, srv.RemoteHome)
		}
		// Clear env goes on the command line, secrets into the env file.
		for _, want := range []string{"--label service=khrollout", "--label role=web", "--env KAMAL_VERSION=v1",
			"--env RAILS_ENV=production", repo + ":v1"} {
			if !strings.Contains(strings.Join(run.Argv, " "), want) {
				t.Errorf("run lacks %q: %s", want, run.Line())
			}
		}
		if len(run.EnvFiles) != 1 || run.EnvFiles[0].Path != ".kamal/apps/khrollout/env/roles/web.env" {
			t.Fatalf("env files = %+v", run.EnvFiles)
		}
		if vars := run.EnvFiles[0].Vars(); !reflect.DeepEqual(vars, map[string]string{"APP_SECRET": "first-secret"}) {
			t.Errorf("env file at boot = %v", vars)
		}
		if got := running(t, srv); !reflect.DeepEqual(got, []string{"khrollout-web-v1"}) {
			t.Errorf("running = %q", got)
		}
	})

	t.Run("deploy v2 stops v1 once v2 is healthy", func(t *testing.T) {
		app.MustKamal(t, "deploy", "--skip-push", "--version", "v2")
		calls := srv.NewCalls(t)
		v1 := srv.State(t).Container("khrollout-web-v1")
		requireOrder(t, calls,
			[]string{"run", "--detach", "--name", "khrollout-web-v2"},
			[]string{"inspect", "--format", health},
			[]string{"stop", "-t", "30", v1.ShortID()},
		)
		if v1.Running() || v1.StopTimeout != "30" {
			t.Errorf("v1 = %+v, want stopped with -t 30", v1)
		}
		if got := running(t, srv); !reflect.DeepEqual(got, []string{"khrollout-web-v2"}) {
			t.Errorf("running = %q", got)
		}
		// The network exists now: docker refuses and Kamal goes on.
		if c := callsWith(calls, "network", "create", "kamal"); len(c) != 1 || c[0].Exit != 1 {
			t.Errorf("network create = %+v", c)
		}
	})

	t.Run("redeploy v3 neither creates the network nor prunes", func(t *testing.T) {
		r := app.MustKamal(t, "redeploy", "--skip-push", "--version", "v3")
		timings["redeploy"] = r.Elapsed
		calls := srv.NewCalls(t)
		requireOrder(t, calls,
			[]string{"pull", repo + ":v3"},
			[]string{"run", "--detach", "--name", "khrollout-web-v3"},
			[]string{"stop", "-t", "30"},
		)
		for _, words := range [][]string{{"network", "create"}, {"image", "prune"}} {
			if c := callsWith(calls, words...); len(c) > 0 {
				t.Errorf("redeploy ran %s", c[0].Line())
			}
		}
		if got := running(t, srv); !reflect.DeepEqual(got, []string{"khrollout-web-v3"}) {
			t.Errorf("running = %q", got)
		}
	})

	t.Run("rollback v2 renames the old v2 and boots a new one", func(t *testing.T) {
		r := app.MustKamal(t, "rollback", "v2")
		timings["rollback"] = r.Elapsed
		calls := srv.NewCalls(t)
		requireOrder(t, calls,
			[]string{"container", "ls", "--all", "--filter", "name=^khrollout-web-v2$", "--quiet"},
			[]string{"rename", "khrollout-web-v2", "khrollout-web-v2_replaced_*"},
			[]string{"run", "--detach", "--name", "khrollout-web-v2"},
			[]string{"stop", "-t", "30"},
			[]string{"tag", repo + ":v2", repo + ":latest"},
		)
		if c := callsWith(calls, "pull"); len(c) > 0 {
			t.Errorf("rollback pulled: %s", c[0].Line())
		}
		if got := running(t, srv); !reflect.DeepEqual(got, []string{"khrollout-web-v2"}) {
			t.Errorf("running = %q", got)
		}
		r = app.MustKamal(t, "app", "version")
		timings["app version"] = r.Elapsed
		requireOutput(t, r, "\nv2\n")
	})

	t.Run("rollback to a version with no container does nothing", func(t *testing.T) {
		r := app.MustKamal(t, "rollback", "v9")
		requireOutput(t, r, "The app version 'v9' is not available as a container")
		if c := callsWith(srv.NewCalls(t), "run"); len(c) > 0 {
			t.Errorf("rollback to a missing version ran %s", c[0].Line())
		}
	})

	t.Run("app boot boots the latest image as <service>-web-latest", func(t *testing.T) {
		r := app.MustKamal(t, "app", "boot")
		timings["app boot"] = r.Elapsed
		calls := srv.NewCalls(t)
		idx := requireOrder(t, calls,
			[]string{"run", "--detach", "--restart", "unless-stopped", "--name", "khrollout-web-latest"},
			[]string{"stop", "-t", "30"},
			[]string{"tag", repo + ":latest", repo + ":latest"},
		)
		if !calls[idx[0]].Has("--env", "KAMAL_VERSION=latest", repo+":latest") {
			t.Errorf("boot ran %s", calls[idx[0]].Line())
		}
		if got := running(t, srv); !reflect.DeepEqual(got, []string{"khrollout-web-latest"}) {
			t.Errorf("running = %q", got)
		}
		requireOutput(t, app.MustKamal(t, "app", "version"), "\nlatest\n")
	})
	t.Logf("kamal against the harness: %v", timings)
}

// TestUnhealthyVersion: a version that never turns healthy fails the deploy
// with Kamal's timeout and is stopped; the old one keeps running. One that
// is slow to turn healthy is waited for.
func TestUnhealthyVersion(t *testing.T) {
	t.Parallel()
	srv := StartServer(t, ServerOptions{})
	app := NewApp(t, srv, AppOptions{Service: "khunhealthy", DeployYML: "deploy_timeout: 3\n"})
	app.RecordHooks(t, nil, "pre-deploy", "post-deploy")
	app.MustKamal(t, "deploy", "--skip-push", "--version", "v1")
	srv.NewCalls(t)
	app.ResetHookCalls(t)

	srv.AddRule(t, recdocker.Rule{Args: []string{"run", "--detach", "--name", "khunhealthy-web-v2"}, Health: "unhealthy"})
	r := app.Kamal(t, "deploy", "--skip-push", "--version", "v2")
	if r.Exit == 0 {
		t.Fatalf("deploy of an unhealthy version succeeded:\n%s", r.Output)
	}
	requireOutput(t, r, "container not ready after 3 seconds (unhealthy)")
	if r.Elapsed < 3*time.Second {
		t.Errorf("kamal gave up after %s, before deploy_timeout", r.Elapsed)
	}
	calls := srv.NewCalls(t)
	v2 := srv.State(t).Container("khunhealthy-web-v2")
	requireOrder(t, calls,
		[]string{"run", "--detach", "--name", "khunhealthy-web-v2"},
		[]string{"inspect", "--format"},
		[]string{"inspect", "--format"},
		[]string{"logs"},
		[]string{"inspect", "--format", "{{json .State.Health}}"},
		[]string{"stop", v2.ShortID()},
	)
	if got := running(t, srv); !reflect.DeepEqual(got, []string{"khunhealthy-web-v1"}) {
		t.Errorf("running = %q, want only v1", got)
	}
	if got := HookNamesOf(app.HookCalls(t)); !reflect.DeepEqual(got, []string{"pre-deploy"}) {
		t.Errorf("hooks = %q, want pre-deploy only (no post-deploy after a failed boot)", got)
	}

	srv.AddRule(t, recdocker.Rule{Args: []string{"run", "--detach", "--name", "khunhealthy-web-v3"}, Health: "starting", HealthyAfter: 1})
	app.MustKamal(t, "deploy", "--skip-push", "--version", "v3")
	if n := len(callsWith(srv.NewCalls(t), "inspect", "--format")); n < 2 {
		t.Errorf("%d health polls, want at least 2 (starting, then healthy)", n)
	}
	if got := running(t, srv); !reflect.DeepEqual(got, []string{"khunhealthy-web-v3"}) {
		t.Errorf("running = %q", got)
	}
}
