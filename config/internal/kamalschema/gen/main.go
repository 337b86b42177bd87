// Command gen writes table.go from Kamal's configuration reference:
//
//	go run ./gen -ref ../../../../shared/kamal-config -out table.go
//
// (what `go generate ./config/internal/kamalschema` runs).
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/wombatworkouts/berth/config/internal/kamalschema"
)

func main() {
	ref := flag.String("ref", "", "directory holding Kamal's configuration reference (configuration.yml, role.yml, ...)")
	out := flag.String("out", "table.go", "file to write")
	flag.Parse()
	if *ref == "" {
		fmt.Fprintln(os.Stderr, "gen: -ref is required")
		os.Exit(2)
	}
	t, err := kamalschema.Generate(*ref)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	src, err := kamalschema.Source(t)
	if err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
