package kamalhost

import (
	"reflect"
	"strings"
	"testing"

	"github.com/wombatworkouts/berth/e2e/internal/kamalhost/recdocker"
)

const twoRoles = `servers:
  web:
    hosts: [127.0.0.1]
    proxy: false
    options: {health-cmd: "curl -fs http://localhost/up"}
  jobs:
    hosts: [127.0.0.1]
    cmd: bin/jobs
    options: {health-cmd: "pgrep -f jobs"}
env:
  secret: [APP_SECRET]
accessories:
  litestream:
    image: litestream/litestream:0.5.18
    host: 127.0.0.1
    cmd: replicate
`

// TestExec runs Kamal's ways of running a command on the server against an
// app with a web and a jobs role and a Litestream accessory.
func TestExec(t *testing.T) {
	t.Parallel()
	srv := StartServer(t, ServerOptions{})
	app := NewApp(t, srv, AppOptions{Service: "khexec", DeployYML: twoRoles, Secrets: map[string]string{"APP_SECRET": "exec-secret"}})
	repo := app.Repository
	app.MustKamal(t, "deploy", "--skip-push", "--version", "v1")
	if got := running(t, srv); !reflect.DeepEqual(got, []string{"khexec-web-v1", "khexec-jobs-v1"}) {
		t.Fatalf("running = %q", got)
	}
	srv.AddRule(t,
		recdocker.Rule{Args: []string{"db:migrate"}, Stdout: "== 20261204 CreateWorkouts: migrated\n"},
		recdocker.Rule{Args: []string{"console"}, Stdout: "console got its input\n"},
		recdocker.Rule{Args: []string{"exec", "khexec-litestream", "litestream", "databases"}, Stdout: "/rails/storage/production.sqlite3\n"},
	)
	srv.SetDocker(t, func() recdocker.Config { c := srv.Docker(); c.RecordStdin = true; return c }())
	srv.NewCalls(t)

	t.Run("-p runs once per role on the primary host", func(t *testing.T) {
		app.MustKamal(t, "app", "exec", "-p", "--version", "v1", "bin/rails db:migrate")
		// The roles run in parallel: either may come first.
		runs := callsWith(srv.NewCalls(t), "run", "db:migrate")
		var web, jobs int
		for _, c := range runs {
			switch {
			case c.Has("--name", "khexec-web-exec-v1-*"):
				web++
			case c.Has("--name", "khexec-jobs-exec-v1-*"):
				jobs++
			}
		}
		if len(runs) != 2 || web != 1 || jobs != 1 {
			t.Fatalf("migration runs:\n%s\nwant one in web and one in jobs", callLines(runs))
		}
	})

	t.Run("-p -r web runs exactly once, in a new container with the role's env file", func(t *testing.T) {
		r := app.MustKamal(t, "app", "exec", "-p", "-r", "web", "--version", "v1", "bin/rails db:migrate")
		requireOutput(t, r, "== 20261204 CreateWorkouts: migrated")
		calls := srv.NewCalls(t)
		runs := callsWith(calls, "run", "db:migrate")
		if len(runs) != 1 {
			t.Fatalf("%d migration runs:\n%s", len(runs), callLines(calls))
		}
		run := runs[0]
		if !run.Has("run", "--rm", "--name", "khexec-web-exec-v1-*", "--network", "kamal", "--env-file",
			".kamal/apps/khexec/env/roles/web.env", "--health-cmd", repo+":v1", "bin/rails", "db:migrate") {
			t.Errorf("migration ran as %s", run.Line())
		}
		if run.Has("--label") || run.Has("--detach") {
			t.Errorf("an exec container got labels or --detach: %s", run.Line())
		}
		if got := run.EnvFiles[0].Vars()["APP_SECRET"]; got != "exec-secret" {
			t.Errorf("env file APP_SECRET = %q", got)
		}
		requireOrder(t, calls, []string{"login", DefaultRegistry}, []string{"run", "--rm"})
	})

	t.Run("--reuse execs in the running container", func(t *testing.T) {
		app.MustKamal(t, "app", "exec", "--reuse", "-p", "-r", "web", "bin/rails runner 1")
		calls := srv.NewCalls(t)
		if c := callsWith(calls, "exec"); len(c) != 1 || strings.Join(c[0].Argv, " ") != "exec khexec-web-v1 bin/rails runner 1" {
			t.Fatalf("exec calls:\n%s", callLines(calls))
		}
		if c := callsWith(calls, "run"); len(c) > 0 {
			t.Errorf("--reuse started a container: %s", c[0].Line())
		}
	})

	t.Run("-i goes through the system ssh and passes stdin", func(t *testing.T) {
		r := app.KamalWith(t, RunOptions{Stdin: "puts 1 + 1\n"}, "app", "exec", "-i", "-r", "web", "--version", "v1", "bin/rails console")
		if r.Exit != 0 {
			t.Fatalf("%s", r)
		}
		requireOutput(t, r, "console got its input")
		calls := srv.NewCalls(t)
		runs := callsWith(calls, "run", "console")
		if len(runs) != 1 || !runs[0].Has("run", "-i", "--rm", "--name", "khexec-web-exec-v1-*", repo+":v1", "bin/rails", "console") {
			t.Fatalf("console runs:\n%s", callLines(calls))
		}
		if runs[0].Stdin == nil || *runs[0].Stdin != "puts 1 + 1\n" {
			t.Errorf("stdin = %v", runs[0].Stdin)
		}

		r = app.KamalWith(t, RunOptions{Stdin: "exit\n"}, "app", "exec", "-i", "--reuse", "-r", "web", "bin/rails console")
		if r.Exit != 0 {
			t.Fatalf("%s", r)
		}
		if c := callsWith(srv.NewCalls(t), "exec", "-i", "khexec-web-v1", "bin/rails", "console"); len(c) != 1 {
			t.Errorf("docker exec -i calls = %d", len(c))
		}
	})

	t.Run("accessory exec --reuse needs the accessory running", func(t *testing.T) {
		r := app.Kamal(t, "accessory", "exec", "litestream", "--reuse", "litestream databases")
		if r.Exit == 0 {
			t.Fatalf("exec into an accessory that never booted succeeded:\n%s", r.Output)
		}
		requireOutput(t, r, "No such container: khexec-litestream")
		app.MustKamal(t, "accessory", "boot", "litestream")
		r = app.MustKamal(t, "accessory", "exec", "litestream", "--reuse", "litestream databases")
		requireOutput(t, r, "/rails/storage/production.sqlite3")
		calls := srv.NewCalls(t)
		requireOrder(t, calls,
			[]string{"exec", "khexec-litestream", "litestream", "databases"},
			[]string{"run", "--name", "khexec-litestream", "--detach", "--restart", "unless-stopped", "--network", "kamal",
				"--label", "service=khexec-litestream", "litestream/litestream:0.5.18", "replicate"},
			[]string{"exec", "khexec-litestream", "litestream", "databases"},
		)
	})

	t.Run("server exec runs on the host, app version reads the running container", func(t *testing.T) {
		r := app.MustKamal(t, "server", "exec", "echo from-the-server-$((6*7))")
		requireOutput(t, r, "from-the-server-42")
		r = app.MustKamal(t, "app", "version")
		requireOutput(t, r, "\nv1\n")
		calls := srv.NewCalls(t)
		requireOrder(t, calls,
			[]string{"image", "ls", "--filter", "reference=" + repo + ":latest", "--format", "{{.ID}}"},
			[]string{"ps", "--latest", "--format", "{{.Names}}", "--filter", "label=service=khexec", "--filter", "label=destination=",
				"--filter", "label=role=web", "--filter", "status=running", "--filter", "status=restarting", "--filter", "ancestor=*"},
		)
	})
}
