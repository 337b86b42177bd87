// Command rehearsal runs berth's deploy rehearsal on this machine (see
// package rehearsal) and prints its report; `make demo` runs it. Ctrl-C
// stops it and everything it started.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/wombatworkouts/berth/e2e/rehearsal"
)

func main() {
	short := flag.Bool("short", false, "the shorter scenario make e2e runs")
	keep := flag.String("keep", "", "keep the workspace in this directory")
	workers := flag.Int("workers", 3, "load workers per Traefik")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	opt := rehearsal.Options{Short: *short, Workers: *workers, Progress: os.Stderr}
	if *keep != "" {
		opt.Dir, opt.Keep = *keep, true
		if err := os.MkdirAll(*keep, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	rep, err := rehearsal.Run(ctx, opt)
	if rep != nil {
		rep.Print(os.Stdout)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "rehearsal:", err)
		os.Exit(1)
	}
	if rep.Failed() != 0 {
		os.Exit(1)
	}
}
