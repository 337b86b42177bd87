// Package litestream writes litestream.yml (Litestream v0.5 format) for the
// app's Litestream accessory: the primary database (and the queue database
// when asked), one replica each, and the control socket the deploy hooks use
// for `litestream sync -wait`.
package litestream

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/wombatworkouts/berth/config"
	"github.com/wombatworkouts/berth/config/internal/ynode"
)

const (
	// LocalConfigPath is where `berth config render config` writes this
	// file in the app's repository; the accessory's files: entry uploads
	// it from there.
	LocalConfigPath = "config/litestream.yml"
	// ConfigPath is where the accessory container reads it.
	ConfigPath = "/etc/litestream.yml"
	// SocketPath is inside the app's volume: the image's uid 1000 cannot
	// write /var/run, and the volume is shared with the hooks' exec
	// containers (docs/litestream.md#litestream-as-berth-uses-it).
	SocketPath = config.StorageMount + "/.litestream.sock"
	// socketPermissions lets the app user (same uid) and group use it.
	socketPermissions = "0660"
)

const header = `# Litestream v0.5 configuration for %s, written by berth (berth config render).
# Do not edit: change litestream: in config/berth.yml and render again.
# Only this accessory may replicate these databases: a second Litestream
# writing the same replica corrupts it silently.
`

// Render writes litestream.yml for the manifest.
func Render(m *config.Manifest) ([]byte, error) {
	root := ynode.Map(
		"socket", ynode.Map(
			"enabled", ynode.Bool(true),
			"path", ynode.Str(SocketPath),
			// Octal, as Litestream reads it (yaml.v2: 0660 is octal).
			"permissions", ynode.Raw("!!int", socketPermissions),
		),
		"dbs", dbs(m),
	)
	out, err := ynode.Encode(fmt.Sprintf(header, m.App), root)
	if err != nil {
		return nil, fmt.Errorf("rendering litestream.yml: %w", err)
	}
	return out, nil
}

func dbs(m *config.Manifest) *yaml.Node {
	seq := ynode.Seq()
	for _, db := range m.Databases() {
		seq.Content = append(seq.Content, ynode.Map(
			"path", ynode.Str(config.DatabasePath(db)),
			"replica", replica(m, db),
		))
	}
	return seq
}

func replica(m *config.Manifest, db string) *yaml.Node {
	l := m.Litestream
	if !m.ReplicaIsS3() {
		return ynode.Map("type", ynode.Str("file"), "path", ynode.Str(m.ReplicaURL(db)))
	}
	r := ynode.Map("type", ynode.Str("s3"), "url", ynode.Str(m.ReplicaURL(db)))
	if l.Endpoint != "" {
		ynode.Add(r, "endpoint", ynode.Str(l.Endpoint))
	}
	ynode.Add(r, "region", ynode.Str(l.Region))
	// Litestream expands ${VAR} from its environment; Kamal puts the named
	// secrets there (the accessory's env.secret).
	ynode.Add(r, "access-key-id", ynode.Str("${"+l.Secrets.AccessKeyID+"}"))
	ynode.Add(r, "secret-access-key", ynode.Str("${"+l.Secrets.SecretAccessKey+"}"))
	return r
}
