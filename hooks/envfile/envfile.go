// Package envfile writes the env file Kamal gives a role's containers
// (`.kamal/apps/<service>[-<destination>]/env/roles/<role>.env` on each
// host), as Kamal 2.12 would write it for this deploy.
//
// Kamal rewrites that file only when it boots an app container, but `kamal
// app exec` starts its container with it. In pre-deploy the file on the host
// still holds the previous deploy's secrets (and does not exist before the
// first boot), so a migration run there would see a rotated RAILS_MASTER_KEY's
// old value, or fail for a missing file. berth uploads the file Kamal is
// about to write before it migrates. The values come from the hook's
// environment (Kamal exports every secret to pre-deploy); which secrets go in
// the file comes from config/deploy.yml, read the way Kamal reads it.
package envfile

import (
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// Deploy is the part of config/deploy.yml (merged with the destination's
// file) that decides a role's env file.
type Deploy struct {
	Service     string
	Destination string
	raw         map[string]any
	file        string
}

// Load reads config/deploy.yml in appDir and, with a destination,
// config/deploy.<destination>.yml deep-merged over it (Kamal's rule:
// mappings merge, everything else is replaced).
func Load(appDir, destination string) (*Deploy, error) {
	base := filepath.Join(appDir, "config", "deploy.yml")
	raw, err := readYAML(base)
	if err != nil {
		return nil, err
	}
	d := &Deploy{Destination: destination, raw: raw, file: base}
	if destination != "" {
		f := filepath.Join(appDir, "config", "deploy."+destination+".yml")
		over, err := readYAML(f)
		if err != nil {
			return nil, err
		}
		d.raw = deepMerge(raw, over)
		d.file = base + " and " + f
	}
	svc, _ := d.raw["service"].(string)
	if svc == "" {
		return nil, fmt.Errorf("%s: no service: key; Kamal needs it, and berth names the env file after it", d.file)
	}
	d.Service = svc
	return d, nil
}

func readYAML(file string) (map[string]any, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read %s for the env file Kamal writes: %w", file, err)
	}
	if strings.Contains(string(data), "<%") {
		return nil, fmt.Errorf("%s uses ERB (<%% ... %%>), which berth does not evaluate, so it cannot tell which secrets Kamal puts in the app's env file; move the ERB out of env: and servers:, or render deploy.yml with `berth config render`", file)
	}
	var raw map[string]any
	if err := yaml.Unmarshal(data, &raw); err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	if raw == nil {
		raw = map[string]any{}
	}
	return raw, nil
}

func deepMerge(a, b map[string]any) map[string]any {
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		am, aok := out[k].(map[string]any)
		bm, bok := v.(map[string]any)
		if aok && bok {
			out[k] = deepMerge(am, bm)
			continue
		}
		out[k] = v
	}
	return out
}

// Path is where Kamal keeps role's env file on a host, relative to the SSH
// user's home directory (Kamal's own paths are relative too).
func (d *Deploy) Path(role string) string {
	dir := d.Service
	if d.Destination != "" {
		dir += "-" + d.Destination
	}
	return path.Join(".kamal", "apps", dir, "env", "roles", role+".env")
}

// SecretKeys are the entries of role's env file on host, in Kamal's order:
// env.secret, then the role's env.secret, then those of the host's tags,
// each name once. An entry is NAME or NAME:SECRET (the variable NAME gets
// the secret SECRET's value).
func (d *Deploy) SecretKeys(role, host string) ([]string, error) {
	var keys []string
	add := func(env any, where string) error {
		ks, err := secretList(env, where)
		if err != nil {
			return fmt.Errorf("%s: %w", d.file, err)
		}
		for _, k := range ks {
			if !contains(keys, k) {
				keys = append(keys, k)
			}
		}
		return nil
	}
	if err := add(d.raw["env"], "env"); err != nil {
		return nil, err
	}
	spec, tags := d.role(role, host)
	if spec != nil {
		if err := add(spec["env"], "servers."+role+".env"); err != nil {
			return nil, err
		}
	}
	envTags, _ := mapAt(d.raw, "env", "tags")
	for _, t := range tags {
		if err := add(envTags[t], "env.tags."+t); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// role returns the role's own settings (nil when the role is a plain host
// list) and the tags host has in it.
func (d *Deploy) role(role, host string) (map[string]any, []string) {
	servers := d.raw["servers"]
	if list, ok := servers.([]any); ok {
		// `servers: [host, ...]` is the web role without settings.
		if role == "web" {
			return nil, hostTags(list, host)
		}
		return nil, nil
	}
	m, _ := servers.(map[string]any)
	switch r := m[role].(type) {
	case map[string]any:
		hosts, _ := r["hosts"].([]any)
		return r, hostTags(hosts, host)
	case []any:
		return nil, hostTags(r, host)
	}
	return nil, nil
}

// hostTags finds host in a role's hosts: a plain name, or {name: tag} /
// {name: [tags]}.
func hostTags(hosts []any, host string) []string {
	for _, h := range hosts {
		m, ok := h.(map[string]any)
		if !ok {
			continue
		}
		switch t := m[host].(type) {
		case string:
			return []string{t}
		case []any:
			var tags []string
			for _, x := range t {
				if s, ok := x.(string); ok {
					tags = append(tags, s)
				}
			}
			return tags
		}
	}
	return nil
}

// secretList reads an env section's secret: list. A section without
// secret: or tags: is Kamal's shorthand for clear variables only.
func secretList(env any, where string) ([]string, error) {
	if env == nil {
		return nil, nil
	}
	m, ok := env.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s should be a mapping", where)
	}
	s, ok := m["secret"]
	if !ok || s == nil {
		return nil, nil
	}
	list, ok := s.([]any)
	if !ok {
		return nil, fmt.Errorf("%s.secret should be a list of secret names", where)
	}
	out := make([]string, 0, len(list))
	for _, x := range list {
		name, ok := x.(string)
		if !ok || name == "" {
			return nil, fmt.Errorf("%s.secret has %v, which is not a secret name", where, x)
		}
		out = append(out, name)
	}
	return out, nil
}

func mapAt(m map[string]any, keys ...string) (map[string]any, bool) {
	for _, k := range keys {
		next, ok := m[k].(map[string]any)
		if !ok {
			return nil, false
		}
		m = next
	}
	return m, true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// ErrMissingSecret is wrapped when a secret the env file needs has no value.
var ErrMissingSecret = errors.New("secret has no value")

// Render is the file's content: one NAME=value line per key, values from
// lookup (the hook's environment) escaped as Kamal escapes them. Kamal
// writes a single newline for an empty file.
func Render(keys []string, lookup func(string) (string, bool)) ([]byte, error) {
	var b strings.Builder
	var missing []string
	for _, k := range keys {
		name, secret, ok := strings.Cut(k, ":")
		if !ok {
			secret = name
		}
		v, ok := lookup(secret)
		if !ok {
			missing = append(missing, secret)
			continue
		}
		b.WriteString(name + "=" + escape(v) + "\n")
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s: %w (Kamal exports every secret in .kamal/secrets to pre-deploy; add %s there, or remove it from env.secret in config/deploy.yml)",
			strings.Join(missing, ", "), ErrMissingSecret, strings.Join(missing, ", "))
	}
	if b.Len() == 0 {
		return []byte("\n"), nil
	}
	return []byte(b.String()), nil
}
