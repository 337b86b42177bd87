// Package berth is the module root. It carries the Traefik plugin's own
// files (the manifest and plugin/), so that the berth program can install
// them on a server as Traefik's local plugin without a copy to keep in step.
package berth

import "embed"

// PluginSource holds .traefik.yml and plugin/*.go (tests included; installers
// leave out *_test.go).
//
//go:embed .traefik.yml plugin/*.go
var PluginSource embed.FS
