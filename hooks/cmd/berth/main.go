// Command berth is the toolkit's one program: Kamal hooks, operator commands
// and `berth config ...`. main only dispatches; each command lives in its
// own package and is added to the table below. Invoked as
// .kamal/hooks/pre-deploy (post-deploy, docker-setup) it runs that hook.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"sort"

	"github.com/wombatworkouts/berth/config/cli"
	hookcli "github.com/wombatworkouts/berth/hooks/cli"
	"github.com/wombatworkouts/berth/hooks/install"
)

// command runs with the arguments after its name, in the app directory dir.
// usage is what `berth <command> --help` prints.
type command struct {
	summary string
	run     func(args []string, dir string, stdout, stderr io.Writer) int
	usage   string
}

var commands = map[string]command{
	"config": {"write and check the Traefik, Kamal and Litestream config (berth config help)", cli.Run, ""},
	"maintenance": {"maintenance on|off|pause|resume|status [--message M] [--until T | --for D] [--all] [-d DEST]", hookcli.Maintenance,
		`usage: berth maintenance on|off|pause|resume|status [flags]

  on       the maintenance page (503, Retry-After) for this app, or every app with --all
  off      end it (says so when server-wide maintenance still pages the app)
  pause    hold requests (up to the plugin's holdTimeout) until resume or the end (5 minutes unless given)
  resume   end a pause (never an operator's maintenance)
  status   what the plugin sees for this app and the server

Flags:
  --message M      text on the page (on; default: the manifest's maintenance.message)
  --until T        end, RFC 3339 (on, pause)
  --for D          length, e.g. 20m (on, pause)
  --all            every app on the server (server.json)
  -d DESTINATION   Kamal destination`},
	"bypass-token": {"print a token that lets its bearer past this app's pages [--for 1h] [--secret-file PATH] [-d DEST]", hookcli.BypassToken,
		`usage: berth bypass-token [--for D] [--secret-file PATH] [-d DESTINATION]

Prints a token (once, on stdout) that passes this app's maintenance, pause and unavailable pages until it expires,
signed with the key in maintenance.bypass.secret_file (read on the server through Kamal) or --secret-file.

Flags:
  --for D              validity, at most 168h (default 1h)
  --secret-file PATH   a local copy of the key
  -d DESTINATION       Kamal destination`},
	"restore-point": {"take a verified Litestream restore point now [--check]; `restore-point list` shows them", hookcli.RestorePoint,
		`usage: berth restore-point [--check] [-d DESTINATION]
       berth restore-point list

Takes a restore point now (litestream sync, the replica's TXID confirmed), --check restores it into a temporary
file and checks it; list prints the recorded ones with their restore commands.`},
	"smoke": {"run the post-deploy smoke checks [-d DEST]", hookcli.Smoke,
		`usage: berth smoke [-d DESTINATION]

Runs the post-deploy smoke checks (HTTPS and certificates of every domain, the http redirect, /up, smoke.checks).`},
	"hook": {"run a Kamal hook: hook pre-deploy|post-deploy|docker-setup|pre-app-boot|post-app-boot", hookcli.Hook,
		`usage: berth hook pre-deploy|post-deploy|docker-setup|pre-app-boot|post-app-boot

Runs a hook as Kamal does (it needs Kamal's KAMAL_* variables); .kamal/hooks/<name> runs the same.`},
	"install-hooks": {"install this binary and the hook stubs into APP/.kamal/hooks (make hooks APP=path)", installHooks,
		`usage: berth install-hooks [--force] APP_DIR

Installs this binary and the hook stubs into APP_DIR/.kamal/hooks; --force replaces hooks that are not berth's.`},
}

// wantsHelp reports whether a command's arguments ask for its help.
func wantsHelp(args []string) bool {
	for _, a := range args {
		if a == "-h" || a == "--help" || a == "-help" {
			return true
		}
	}
	return len(args) > 0 && args[0] == "help"
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: berth <command> [arguments]\n\nCommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n", n, commands[n].summary)
	}
}

func main() {
	if name := filepath.Base(os.Args[0]); hookcli.IsHook(name) {
		os.Exit(runHook(name, os.Stdout, os.Stderr))
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func runHook(name string, stdout, stderr io.Writer) int {
	dir, err := os.Getwd()
	if err != nil {
		fmt.Fprintf(stderr, "berth: %v\n", err)
		return 1
	}
	return hookcli.RunHook(name, dir, stdout, stderr)
}

// version is set at build time (-ldflags "-X main.version=..."; make hooks
// and make install do); a `go install ...@vX` build reads it from the module.
var version = ""

func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		if v == "" {
			for _, s := range bi.Settings {
				if s.Key == "vcs.revision" && len(s.Value) >= 12 {
					v = "dev-" + s.Value[:12]
				}
			}
		}
	}
	if v == "" {
		v = "dev"
	}
	return "berth " + v + " (" + runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH + ")"
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "--version" || args[0] == "version" || args[0] == "-v") {
		fmt.Fprintln(stdout, versionString())
		return 0
	}
	// Help that was asked for goes to stdout with exit 0; a usage error to
	// stderr with exit 2.
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	if args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "berth: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
	}
	if wantsHelp(args[1:]) {
		if c.usage == "" { // berth config: its own help
			return c.run([]string{"help"}, "", stdout, stdout)
		}
		fmt.Fprintln(stdout, c.usage)
		return 0
	}
	dir, err := os.Getwd()
	if err != nil {
		fmt.Fprintf(stderr, "berth: %v\n", err)
		return 1
	}
	return c.run(args[1:], dir, stdout, stderr)
}

func installHooks(args []string, _ string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("berth install-hooks", flag.ContinueOnError)
	fs.SetOutput(stderr)
	force := fs.Bool("force", false, "replace hooks that are not berth stubs")
	repo := fs.String("repo", "https://github.com/wombatworkouts/berth", "the berth repository, named in the stubs' message")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: berth install-hooks [--force] APP_DIR")
		return 2
	}
	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "berth install-hooks: %v\n", err)
		return 1
	}
	app, _ := filepath.Abs(fs.Arg(0))
	written, err := install.Install(install.Options{AppDir: app, Binary: self, Hooks: hookcli.Hooks, Repo: *repo, Force: *force})
	if err != nil {
		fmt.Fprintf(stderr, "berth install-hooks: %v\n", err)
		return 1
	}
	for _, w := range written {
		fmt.Fprintf(stdout, "installed %s\n", w)
	}
	fmt.Fprintf(stdout, "commit the stubs in .kamal/hooks; %s stays out of git (each deployer runs make hooks)\n", install.BinDir)
	return 0
}
