// Package kamalhost runs the real Kamal 2 against this machine over real SSH,
// so berth's hooks and Kamal's own flows are tested with the Kamal users
// run, not a model of it.
//
// The "server" is an sshd on 127.0.0.1 (StartServer) that lets root in with
// a generated ed25519 key. Its remote commands find a recording `docker`
// first on PATH (package recdocker): every call is logged with its argv,
// working directory, the content of any --env-file at call time and,
// when asked, its stdin; it answers like Docker 20.10 from a small state
// file (the containers it "runs", the images it pulled, the kamal network)
// and from rules a test sets (match argv words -> stdout, stderr, exit code,
// delay, a new container's health). NewApp writes an app directory (a git
// repository, as Kamal wants) with config/deploy.yml pointing at the server
// and .kamal/secrets, and App.Kamal runs Kamal there.
//
//	func TestMain(m *testing.M) { kamalhost.Main(m) } // removes the built tools
//
//	srv := kamalhost.StartServer(t, kamalhost.ServerOptions{})
//	app := kamalhost.NewApp(t, srv, kamalhost.AppOptions{
//		Service:   "mytest1", // unique: Kamal keeps /root/.kamal/apps/mytest1
//		DeployYML: "env:\n  secret: [APP_KEY]\n",
//		Secrets:   map[string]string{"APP_KEY": "test-value"},
//	})
//	app.RecordHooks(t, []string{"APP_KEY"}) // every hook logs its KAMAL_* env
//	srv.AddRule(t, recdocker.Rule{Args: []string{"run", "--rm", "db:migrate"}, Stdout: "migrated\n"})
//	app.MustKamal(t, "deploy", "--skip-push", "--version", "v1")
//	r := app.Kamal(t, "app", "exec", "-p", "-r", "web", "--version", "v1", "bin/rails db:migrate")
//	calls := srv.NewCalls(t) // the docker calls since the last NewCalls
//	hooks := app.HookCalls(t)
//
// Which Kamal runs: Kamal() explains the order ($KAMAL, `kamal` on PATH,
// ../shared/kamal/kamal). A test that needs Kamal fails when none runs.
//
// Kamal runs with HOME in a temporary directory and an ssh_config
// (Server.SSHConfig, deploy.yml's ssh.config) that checks the server's host
// key against Server.KnownHosts, both for net-ssh and for the system ssh of
// `kamal app exec -i`. Hooks that call `kamal` reach the same Kamal. With
// Debian's ruby-concurrent 1.1.6, Kamal's SSH connection limiter gets no
// connection (Concurrent::Semaphore#acquire ignores its block before 1.1.7);
// the harness loads rubyshim/semaphore_block.rb through RUBYOPT, which adds
// the block form only where it is missing.
//
// Remote commands run as root in root's home, so Kamal's relative paths
// (.kamal/apps/<service>, .kamal/lock-<service>, .kamal/<service>-audit.log)
// land in /root; App removes its service's when the test ends. bash would
// source root's ~/.bashrc for commands sshd starts and could reorder PATH;
// the harness sets SHLVL=1 so it does not, and StartServer checks that
// `command -v docker` finds the recording docker.
//
// Needs root, /usr/sbin/sshd, ssh, ssh-keygen, git and go (to build the
// recording docker once per test binary).
package kamalhost
