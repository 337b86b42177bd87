// Package kamal writes the app's Kamal 2 config/deploy.yml for berth, and
// compares a hand-written deploy.yml with it (Check). Only keys that Kamal
// 2.12 accepts are written; a test checks every key against Kamal's own
// configuration reference.
package kamal

import (
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/wombatworkouts/berth/config"
	"github.com/wombatworkouts/berth/config/internal/ynode"
	"github.com/wombatworkouts/berth/config/litestream"
	"github.com/wombatworkouts/berth/config/traefik"
)

const (
	// Role is the one role berth configures; Kamal's primary role.
	Role = "web"
	// Accessory is the Litestream accessory's name; Kamal names its
	// container <service>-litestream.
	Accessory     = "litestream"
	registryHost  = "ghcr.io"
	containerUser = "1000:1000" // the Rails 8 image's user (docs/rails.md#the-app-image)
	logMaxSize    = "10m"
	logMaxFile    = "5"
)

const header = `# Kamal 2 deploy configuration for %s, written by berth from config/berth.yml
# (berth config render config). Edit config/berth.yml and render again
# rather than editing this file: berth config check compares the two.
#
# Traefik, not kamal-proxy, terminates TLS and routes requests to the web
# containers by their labels, so the web role runs with proxy: false. Docker's
# own health check (options below) tells Kamal when a new container is ready.
`

// Deploy builds deploy.yml as an ordered YAML tree.
func Deploy(m *config.Manifest) *yaml.Node {
	root := ynode.Map(
		"service", ynode.Str(m.App),
		// Kamal prefixes registry.server, so the image is OWNER/NAME.
		"image", ynode.Str(m.Repository()),
		"servers", ynode.Map(Role, webRole(m)),
		"registry", ynode.Map(
			"server", ynode.Str(registryHost),
			"username", ynode.Str(m.RegistryUsername()),
			"password", ynode.Strs(config.DefaultRegistryPassword),
		),
		"env", ynode.Map(
			"secret", ynode.Strs("RAILS_MASTER_KEY"),
			"clear", ynode.Map("SOLID_QUEUE_IN_PUMA", ynode.Bool(true)),
		),
		"logging", ynode.Map(
			"driver", ynode.Str("json-file"),
			"options", ynode.Map("max-size", ynode.Str(logMaxSize), "max-file", ynode.Str(logMaxFile)),
		),
		"volumes", ynode.Strs(storageVolume(m)),
		"builder", ynode.Map("arch", ynode.Str("amd64")),
		// The aliases `rails new` generates.
		"aliases", ynode.Map(
			"console", ynode.Str(`app exec --interactive --reuse "bin/rails console"`),
			"shell", ynode.Str(`app exec --interactive --reuse "bash"`),
			"logs", ynode.Str("app logs -f"),
			"dbc", ynode.Str(`app exec --interactive --reuse "bin/rails dbconsole --include-password"`),
		),
		"accessories", ynode.Map(Accessory, litestreamAccessory(m)),
	)
	if m.Kamal.Kind == yaml.MappingNode {
		// The manifest's kamal: section; config validated that it leaves
		// berth's own keys alone.
		merge(root, &m.Kamal)
	}
	addDeployTimeout(root, m)
	addHooksOutput(root, m)
	ynode.Comment(root, "volumes", "SQLite databases and Active Storage files; Litestream replicates the databases.")
	ynode.Comment(root, "accessories", "One Litestream per app, never inside the app container: two Litestreams\n"+
		"replicating one database corrupt the backup (only this accessory may).")
	return root
}

// hooksOutputSince is the first Kamal that accepts hooks_output; older ones
// refuse the key, so it is written only when the app's Gemfile.lock pins
// this or a later Kamal.
var hooksOutputSince = [2]int{2, 11}

// addHooksOutput makes Kamal show what berth's pre-deploy and post-deploy
// print on a normal deploy (the restore point and its restore command, the
// smoke checks); without it Kamal shows hook output only with -v or when a
// hook fails. The manifest's kamal: section may set it otherwise.
func addHooksOutput(root *yaml.Node, m *config.Manifest) {
	v := m.KamalVersion
	if v[0] < hooksOutputSince[0] || v[0] == hooksOutputSince[0] && v[1] < hooksOutputSince[1] || indexOf(root, "hooks_output") >= 0 {
		return
	}
	root.Content = append(root.Content, ynode.Str("hooks_output"),
		ynode.Map("pre-deploy", ynode.Str("verbose"), "post-deploy", ynode.Str("verbose")))
	ynode.Comment(root, "hooks_output", fmt.Sprintf("Show berth's pre-deploy and post-deploy lines (restore point, smoke checks) on every\n"+
		"deploy: Kamal %d.%d, pinned in Gemfile.lock, accepts this key (2.11 and later do).", v[0], v[1]))
}

// addDeployTimeout writes deploy_timeout right after servers, with the
// arithmetic behind it (config.HealthTiming). A manifest that Load
// validated always has parseable durations; without them nothing is written
// and Kamal's own 30 s applies.
func addDeployTimeout(root *yaml.Node, m *config.Manifest) {
	timing, err := m.Health.Container.Timing()
	if err != nil {
		return
	}
	comment := "How long Kamal waits for the new container to turn healthy before it stops it and\n" +
		"keeps the old one. Kamal does not give up early on \"unhealthy\", so this is also how\n" +
		"long a broken version takes to fail its deploy:\n" + timing.Explain() + "."
	if _, own := m.KamalDeployTimeout(); own {
		// merge already put the manifest's value at the end.
		comment = "Set in berth.yml's kamal: section; berth would write " + fmt.Sprint(timing.DeployTimeout()) +
			":\n" + timing.Explain() + "."
	} else {
		insertAfter(root, "servers", "deploy_timeout", ynode.Int(timing.DeployTimeout()))
	}
	ynode.Comment(root, "deploy_timeout", comment)
}

// insertAfter puts key: v into mapping m right after the key named after.
func insertAfter(m *yaml.Node, after, key string, v *yaml.Node) {
	i := indexOf(m, after)
	if i < 0 {
		ynode.Add(m, key, v)
		return
	}
	rest := append([]*yaml.Node{ynode.Str(key), v}, m.Content[i+2:]...)
	m.Content = append(m.Content[:i+2], rest...)
}

func webRole(m *config.Manifest) *yaml.Node {
	labels := ynode.Map()
	for _, l := range traefik.Labels(m) {
		ynode.Add(labels, l.Key, ynode.Str(l.Value))
	}
	h := m.Health.Container
	role := ynode.Map(
		"hosts", ynode.Strs(m.Hosts...),
		"proxy", ynode.Bool(false),
		"labels", labels,
		"options", ynode.Map(
			// Through Thruster on port 80, the way requests arrive.
			"health-cmd", ynode.Str(HealthCmd(m)),
			"health-interval", ynode.Str(h.Interval),
			"health-timeout", ynode.Str(h.Timeout),
			"health-retries", ynode.Int(h.Retries),
			"health-start-period", ynode.Str(h.StartPeriod),
		),
	)
	ynode.Comment(role, "proxy", "Traefik routes to these containers (labels); kamal-proxy is not used.")
	ynode.Comment(role, "options", "Docker's health check gates the switch-over (Kamal waits for \"healthy\") and\n"+
		"Traefik's routing. The start period is the app's boot budget; deploy_timeout\n"+
		"below is derived from it. No restart: here: Kamal runs every app container\n"+
		"with --restart unless-stopped itself.")
	return role
}

// merge adds src into dst: mappings merge key by key, lists gain the items
// they lack, and anything else in src replaces what berth wrote.
func merge(dst, src *yaml.Node) {
	for i := 0; i+1 < len(src.Content); i += 2 {
		k, v := src.Content[i], src.Content[i+1]
		j := indexOf(dst, k.Value)
		if j < 0 {
			dst.Content = append(dst.Content, ynode.Str(k.Value), v)
			continue
		}
		d := dst.Content[j+1]
		switch {
		case d.Kind == yaml.MappingNode && v.Kind == yaml.MappingNode:
			merge(d, v)
		case d.Kind == yaml.SequenceNode && v.Kind == yaml.SequenceNode:
			for _, item := range v.Content {
				if !containsScalar(d, item) {
					d.Content = append(d.Content, item)
				}
			}
		default:
			dst.Content[j+1] = v
		}
	}
}

func indexOf(m *yaml.Node, key string) int {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return i
		}
	}
	return -1
}

func containsScalar(seq, item *yaml.Node) bool {
	if item.Kind != yaml.ScalarNode {
		return false
	}
	for _, c := range seq.Content {
		if c.Kind == yaml.ScalarNode && c.Value == item.Value {
			return true
		}
	}
	return false
}

// HealthCmd is the docker health check: curl is in the Rails 8 image.
func HealthCmd(m *config.Manifest) string {
	host := "localhost"
	if config.ContainerPort != 80 {
		host = fmt.Sprintf("localhost:%d", config.ContainerPort)
	}
	return "curl -fsS http://" + host + m.Health.Path
}

func storageVolume(m *config.Manifest) string {
	return m.Storage.Volume + ":" + config.StorageMount
}

func litestreamAccessory(m *config.Manifest) *yaml.Node {
	volumes := []string{storageVolume(m)}
	if !m.ReplicaIsS3() {
		// A file replica is a directory on the host, mounted at the same
		// path so litestream.yml and the restore runbook agree.
		dir := config.FileReplicaDir(m.Litestream.Replica)
		volumes = append(volumes, dir+":"+dir)
	}
	acc := ynode.Map(
		"image", ynode.Str(m.Litestream.Image),
		"host", ynode.Str(m.Hosts[0]),
		"cmd", ynode.Str("replicate -config "+litestream.ConfigPath),
		"files", ynode.Strs(litestream.LocalConfigPath+":"+litestream.ConfigPath),
		"volumes", ynode.Strs(volumes...),
		// The app's uid, so Litestream can write next to the databases
		// and create its control socket in the volume.
		"options", ynode.Map("user", ynode.Str(containerUser)),
	)
	if m.ReplicaIsS3() {
		ynode.Add(acc, "env", ynode.Map("secret", ynode.Strs(
			m.Litestream.Secrets.AccessKeyID,
			m.Litestream.Secrets.SecretAccessKey,
		)))
	}
	return acc
}

// Render writes deploy.yml.
func Render(m *config.Manifest) ([]byte, error) {
	out, err := ynode.Encode(fmt.Sprintf(header, m.App), Deploy(m))
	if err != nil {
		return nil, fmt.Errorf("rendering deploy.yml: %w", err)
	}
	return out, nil
}
