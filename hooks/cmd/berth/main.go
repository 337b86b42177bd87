// Command berth is the toolkit's one program: Kamal hooks, operator commands
// and `berth config ...`. main only dispatches; each command lives in its
// own package and is added to the table below.
package main

import (
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/wombatworkouts/berth/config/cli"
)

// command runs with the arguments after its name, in the app directory dir.
type command struct {
	summary string
	run     func(args []string, dir string, stdout, stderr io.Writer) int
}

var commands = map[string]command{
	"config":        {"write and check the Traefik, Kamal and Litestream config (berth config help)", cli.Run},
	"maintenance":   {"turn an app's maintenance page on or off, or show its status", notYet("maintenance")},
	"restore-point": {"take a verified Litestream restore point now", notYet("restore-point")},
	"smoke":         {"run the post-deploy smoke checks", notYet("smoke")},
}

func notYet(name string) func([]string, string, io.Writer, io.Writer) int {
	return func(_ []string, _ string, _, stderr io.Writer) int {
		fmt.Fprintf(stderr, "berth %s: not yet implemented\n", name)
		return 1
	}
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
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
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
