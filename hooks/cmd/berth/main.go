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
	"sort"

	"github.com/wombatworkouts/berth/config/cli"
	hookcli "github.com/wombatworkouts/berth/hooks/cli"
	"github.com/wombatworkouts/berth/hooks/install"
)

// command runs with the arguments after its name, in the app directory dir.
type command struct {
	summary string
	run     func(args []string, dir string, stdout, stderr io.Writer) int
}

var commands = map[string]command{
	"config":        {"write and check the Traefik, Kamal and Litestream config (berth config help)", cli.Run},
	"maintenance":   {"maintenance on|off|pause|resume|status [--message M] [--until T | --for D] [--all] [-d DEST]", hookcli.Maintenance},
	"bypass-token":  {"print a token that lets its bearer past this app's pages [--for 1h] [--secret-file PATH] [-d DEST]", hookcli.BypassToken},
	"restore-point": {"take a verified Litestream restore point now [--check]; `restore-point list` shows them", hookcli.RestorePoint},
	"smoke":         {"run the post-deploy smoke checks [-d DEST]", hookcli.Smoke},
	"hook":          {"run a Kamal hook: hook pre-deploy|post-deploy|docker-setup|pre-app-boot|post-app-boot", hookcli.Hook},
	"install-hooks": {"install this binary and the hook stubs into APP/.kamal/hooks (make hooks APP=path)", installHooks},
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

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "berth: unknown command %q\n\n", args[0])
		usage(stderr)
		return 2
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
