// Command recdocker is the recording stand-in for `docker` that the kamalhost
// harness puts first on the PATH of its sshd's remote commands: it logs each
// call and answers like Docker from the state and rules in $RECDOCKER_DIR
// (see package recdocker).
package main

import (
	"os"

	"github.com/wombatworkouts/berth/e2e/internal/kamalhost/recdocker"
)

func main() {
	os.Exit(recdocker.Main(os.Getenv(recdocker.DirEnv), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
