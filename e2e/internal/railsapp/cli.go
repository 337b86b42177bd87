package railsapp

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Exit codes of the command.
const (
	ExitOK      = 0
	ExitFailed  = 1 // a migration failed, the database or the address failed, no schema_migrations
	ExitUsage   = 2 // bad flags or environment
	ExitPending = 3 // `migrate status -exit-pending` found pending migrations
)

const usageText = `standin-rails: a stand-in for a Rails 8.1 container (Thruster + Puma + SQLite).

Usage:
  standin-rails [server] [flags]             run the container (see flags below)
  standin-rails migrate [flags]              apply pending migrations (also: db:migrate)
  standin-rails migrate status [flags]       print db:migrate:status (also: db:migrate:status)
  standin-rails db:prepare [flags]           create the database if missing, then migrate

Every flag has an environment variable, used when the flag is not given.
`

// Main runs the command line and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	cmd := ""
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "", "server", "s":
		return runServer(args, stdout, stderr)
	case "migrate", "db:migrate":
		if len(args) > 0 && args[0] == "status" {
			return runStatus(args[1:], stdout, stderr)
		}
		return runMigrate(args, stdout, stderr)
	case "db:migrate:status":
		return runStatus(args, stdout, stderr)
	case "db:prepare":
		return runPrepare(args, stdout, stderr)
	case "help":
		fmt.Fprint(stdout, usageText)
		return ExitOK
	default:
		fmt.Fprintf(stderr, "standin-rails: unknown command %q (want server, migrate, migrate status, db:prepare)\n", cmd)
		return ExitUsage
	}
}

// envFlags defines flags whose defaults come from environment variables,
// remembering bad environment values to report them by name.
type envFlags struct {
	fs   *flag.FlagSet
	errs []error
}

func newEnvFlags(name string, stderr io.Writer) *envFlags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return &envFlags{fs: fs}
}

func lookupEnv(envs []string) (name, value string, ok bool) {
	for _, e := range envs {
		if v, ok := os.LookupEnv(e); ok && v != "" {
			return e, v, true
		}
	}
	return "", "", false
}

func envUsage(usage string, envs []string) string {
	return usage + " (env " + strings.Join(envs, ", then ") + ")"
}

func (e *envFlags) str(p *string, name, def, usage string, envs ...string) {
	if _, v, ok := lookupEnv(envs); ok {
		def = v
	}
	e.fs.StringVar(p, name, def, envUsage(usage, envs))
}

func (e *envFlags) dur(p *time.Duration, name string, def time.Duration, usage string, envs ...string) {
	if env, v, ok := lookupEnv(envs); ok {
		d, err := time.ParseDuration(v)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s=%q (for -%s): want a duration such as 2s", env, v, name))
		} else {
			def = d
		}
	}
	e.fs.DurationVar(p, name, def, envUsage(usage, envs))
}

func (e *envFlags) int(p *int, name string, def int, usage string, envs ...string) {
	if env, v, ok := lookupEnv(envs); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s=%q (for -%s): want a whole number", env, v, name))
		} else {
			def = n
		}
	}
	e.fs.IntVar(p, name, def, envUsage(usage, envs))
}

func (e *envFlags) bool(p *bool, name string, def bool, usage string, envs ...string) {
	if env, v, ok := lookupEnv(envs); ok {
		b, err := strconv.ParseBool(v)
		if err != nil {
			e.errs = append(e.errs, fmt.Errorf("%s=%q (for -%s): want true or false", env, v, name))
		} else {
			def = b
		}
	}
	e.fs.BoolVar(p, name, def, envUsage(usage, envs))
}

// parse parses args; it reports problems itself and returns an exit code
// (or -1 to go on).
func (e *envFlags) parse(args []string, stderr io.Writer) int {
	if err := e.fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK
		}
		return ExitUsage // the flag package printed the error and the usage
	}
	if e.fs.NArg() > 0 {
		fmt.Fprintf(stderr, "%s: unexpected arguments %q\n", e.fs.Name(), e.fs.Args())
		return ExitUsage
	}
	if len(e.errs) > 0 {
		fmt.Fprintf(stderr, "%s: %v\n", e.fs.Name(), errors.Join(e.errs...))
		return ExitUsage
	}
	return -1
}

func dbFlags(e *envFlags, dbPath, migrations *string) {
	e.str(dbPath, "db", "storage/production.sqlite3", "SQLite database file", "STANDIN_DB")
	e.str(migrations, "migrations", "db/migrate", "directory of <version>_<name>.sql migrations", "STANDIN_MIGRATIONS")
}

func runServer(args []string, stdout, stderr io.Writer) int {
	var c Config
	e := newEnvFlags("standin-rails server", stderr)
	e.str(&c.Listen, "listen", "127.0.0.1:80", "address Thruster listens on (a container address such as 127.0.0.5:80; port 0 picks one)", "STANDIN_LISTEN")
	dbFlags(e, &c.DBPath, &c.MigrationsDir)
	e.bool(&c.Prepare, "prepare", false, "run db:prepare before listening, as bin/docker-entrypoint does", "STANDIN_PREPARE")
	e.dur(&c.BootDelay, "boot-delay", 0, "time from Thruster listening to Puma taking requests (/up 200)", "STANDIN_BOOT_DELAY")
	e.str(&c.BeforeBoot, "before-boot", BeforeBoot502, "what a request meets before Puma is up: 502 (Thruster) or refuse (nothing listens yet)", "STANDIN_BEFORE_BOOT")
	e.str(&c.AppVersion, "app-version", "dev", "version shown in X-App-Version and the JSON", "STANDIN_APP_VERSION", "KAMAL_VERSION")
	e.str(&c.ContainerName, "container-name", "", "shown in X-Container-Name when set", "STANDIN_CONTAINER_NAME", "KAMAL_CONTAINER_NAME")
	e.str(&c.SIGTERM, "sigterm", ModeThruster, "SIGTERM behaviour: thruster (keep accepting, 502 while Puma drains) or clean (close the listener, finish in-flight requests)", "STANDIN_SIGTERM")
	e.dur(&c.Drain, "drain", 3*time.Second, "thruster mode: how long Puma takes to exit after SIGTERM (longer while its requests run)", "STANDIN_DRAIN")
	e.int(&c.Threads, "threads", 3, "Puma threads: requests served at once, the rest queue (0 = no limit)", "STANDIN_THREADS", "RAILS_MAX_THREADS")
	e.dur(&c.Latency, "latency", 0, "extra time every request spends in the app", "STANDIN_LATENCY")
	e.str(&c.UnhealthyFile, "unhealthy-file", "", "/up answers 500 while this file exists", "STANDIN_UNHEALTHY_FILE")
	e.fs.Usage = func() {
		fmt.Fprint(stderr, usageText+"\nServer flags:\n")
		e.fs.PrintDefaults()
	}
	if code := e.parse(args, stderr); code >= 0 {
		return code
	}
	srv, err := NewServer(c, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "standin-rails: %v\n", err)
		return ExitUsage
	}
	term := make(chan os.Signal, 2)
	signal.Notify(term, syscall.SIGTERM, syscall.SIGINT)
	defer signal.Stop(term)
	if err := srv.Run(term); err != nil {
		fmt.Fprintf(stderr, "standin-rails: %v\n", err)
		return ExitFailed
	}
	return ExitOK
}

// migrationFailed prints a failed migration the way `rails db:migrate`
// aborts, with the file name and the SQL error.
func migrationFailed(stderr io.Writer, err error) int {
	var me *MigrationError
	if errors.As(err, &me) {
		fmt.Fprintf(stderr, "standin-rails aborted!\nStandardError: An error has occurred, this and all later migrations canceled:\n\n%s: %v\n", me.File, me.Err)
		return ExitFailed
	}
	fmt.Fprintf(stderr, "standin-rails aborted!\n%v\n", err)
	return ExitFailed
}

func runMigrate(args []string, stdout, stderr io.Writer) int {
	var dbPath, dir string
	e := newEnvFlags("standin-rails migrate", stderr)
	dbFlags(e, &dbPath, &dir)
	if code := e.parse(args, stderr); code >= 0 {
		return code
	}
	if err := Migrate(dbPath, dir, stdout); err != nil {
		return migrationFailed(stderr, err)
	}
	return ExitOK
}

func runPrepare(args []string, stdout, stderr io.Writer) int {
	var dbPath, dir string
	e := newEnvFlags("standin-rails db:prepare", stderr)
	dbFlags(e, &dbPath, &dir)
	if code := e.parse(args, stderr); code >= 0 {
		return code
	}
	if err := Prepare(dbPath, dir, stdout); err != nil {
		return migrationFailed(stderr, err)
	}
	return ExitOK
}

func runStatus(args []string, stdout, stderr io.Writer) int {
	var dbPath, dir string
	var exitPending bool
	e := newEnvFlags("standin-rails migrate status", stderr)
	dbFlags(e, &dbPath, &dir)
	e.fs.BoolVar(&exitPending, "exit-pending", false, fmt.Sprintf("exit %d (instead of 0) when a migration is pending", ExitPending))
	if code := e.parse(args, stderr); code >= 0 {
		return code
	}
	st, err := Status(dbPath, dir)
	if errors.Is(err, ErrNoSchemaTable) {
		fmt.Fprintln(stderr, err)
		return ExitFailed
	}
	if err != nil {
		fmt.Fprintf(stderr, "standin-rails: %v\n", err)
		return ExitFailed
	}
	st.Write(stdout)
	if exitPending && len(st.Pending()) > 0 {
		return ExitPending
	}
	return ExitOK
}
