// Command standin-rails is a stand-in for a Rails 8.1 app container
// (Thruster in front of Puma, SQLite): the deploy rehearsal starts it as a
// process on a container address, SIGTERMs it like `docker stop` and kills
// it with -9. `standin-rails help` and `standin-rails -h` list the
// commands and flags; e2e/internal/railsapp documents the behaviour.
package main

import (
	"os"

	"github.com/wombatworkouts/berth/e2e/internal/railsapp"
)

func main() {
	os.Exit(railsapp.Main(os.Args[1:], os.Stdout, os.Stderr))
}
