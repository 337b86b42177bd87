// Package kamalschema is the shape of a Kamal 2.12 deploy.yml: every key path
// Kamal accepts and what its value may be (a scalar, a list, a mapping). berth
// checks the manifest's kamal: section against it, so a typo such as
// `ssh: {usr: deploy}` is found when the manifest is loaded rather than by
// Kamal on the deployer's machine.
//
// The table (table.go) is generated from Kamal's own configuration reference
// (the YAML files Kamal validates a deploy.yml against) by generate.go, which
// also encodes the rules Kamal's validator adds in code; see Generate.
package kamalschema

import (
	"sort"
	"strings"
)

// Shape says what a key's value may be; several bits mean any of them.
type Shape uint8

const (
	// Scalar is a string, number or boolean.
	Scalar Shape = 1 << iota
	// List is a sequence. Kamal does not check the keys of mappings inside
	// lists (files:, directories:, tagged hosts), and neither does berth.
	List
	// Map is a mapping whose keys are the table's children of this path.
	Map
	// Free is a mapping whose keys are the user's own: labels, docker
	// options, build args, environment variables. Together with Map (env:)
	// the mapping is the Map form when it has any of the listed children,
	// and the Free form otherwise, as Kamal decides for env.
	Free
	// Names is a mapping whose keys name things (roles, accessories,
	// aliases, env tags); every value has the shape of the path "<path>.*".
	Names
)

var shapeNames = []struct {
	s    Shape
	name string
}{{Scalar, "Scalar"}, {List, "List"}, {Map, "Map"}, {Free, "Free"}, {Names, "Names"}}

// String is the Go expression for s, as the generated table writes it.
func (s Shape) String() string {
	var parts []string
	for _, n := range shapeNames {
		if s&n.s != 0 {
			parts = append(parts, n.name)
		}
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, " | ")
}

// Describe says in words what s allows, for messages ("a mapping or a list").
func (s Shape) Describe() string {
	var parts []string
	if s&Scalar != 0 {
		parts = append(parts, "a single value")
	}
	if s&List != 0 {
		parts = append(parts, "a list")
	}
	if s&(Map|Free|Names) != 0 {
		parts = append(parts, "a mapping")
	}
	return strings.Join(parts, " or ")
}

// Wildcard is the path segment standing for any name under a Names mapping.
const Wildcard = "*"

// Lookup returns the shape of a dotted key path ("ssh.user",
// "servers.*.options"), and whether Kamal 2.12 knows the path.
func Lookup(path string) (Shape, bool) {
	s, ok := table[path]
	return s, ok
}

// Children lists the keys Kamal accepts directly under a Map path, sorted;
// "" is the top level.
func Children(path string) []string {
	prefix := ""
	if path != "" {
		prefix = path + "."
	}
	var out []string
	for p := range table {
		rest, ok := strings.CutPrefix(p, prefix)
		if !ok || rest == "" || strings.Contains(rest, ".") || rest == Wildcard {
			continue
		}
		out = append(out, rest)
	}
	sort.Strings(out)
	return out
}
