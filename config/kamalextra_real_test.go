package config_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/wombatworkouts/berth/config/internal/golden"
)

// realKamal finds a Kamal to run: $KAMAL, else the Kamal 2.12 runner next to
// the repository (../shared/kamal/kamal), else kamal on the PATH.
func realKamal(t *testing.T) string {
	t.Helper()
	if k := os.Getenv("KAMAL"); k != "" {
		return k
	}
	if k := filepath.Join(golden.ModuleRoot(t), "..", "shared", "kamal", "kamal"); fileExists(k) {
		return k
	}
	if k, err := exec.LookPath("kamal"); err == nil {
		return k
	}
	return ""
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// A minimal deploy.yml for Kamal's own validation; the case's keys are
// merged into it.
const minimalDeploy = `service: app
image: me/app
servers:
  web:
    hosts: [203.0.113.10]
registry:
  server: localhost:5555
builder:
  arch: amd64
`

// berth's check of the kamal: section agrees with the real Kamal: what
// berth accepts, Kamal accepts (`kamal config`, Kamal's own validation),
// and what berth refuses as unknown or of the wrong shape, Kamal refuses too.
// Kamal starts in about half a second, so this is skipped with -short.
// The cases are the schema cases of TestKamalSectionSchema and
// TestKamalSectionAccepts, without what only berth refuses (its own keys,
// secrets, Traefik's ports, env pairs beside its env.clear).
func TestKamalSectionAgreesWithKamal(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the real Kamal once per case")
	}
	kamal := realKamal(t)
	if kamal == "" {
		t.Skip("no Kamal to run (set KAMAL, or put Kamal 2.12 at ../shared/kamal/kamal or on the PATH)")
	}
	type kase struct{ name, section string }
	accepted := []kase{
		{"ssh and builder", "ssh:\n  user: deploy\n  port: 2222\n  keys: [~/.ssh/id_ed25519]\nbuilder:\n  arch: [amd64, arm64]\n  remote: ssh://docker@builder\n  args:\n    RUBY_VERSION: 3.4.7\n  secrets: [GITHUB_TOKEN]\n"},
		{"env tags", "env:\n  clear:\n    A: b\n  tags:\n    replica:\n      clear:\n        MYSQL_USER: readonly\n      secret: [READONLY_PASSWORD]\n"},
		{"a job role", "servers:\n  job:\n    hosts: [203.0.113.10]\n    cmd: bin/jobs\n    options:\n      memory: 2g\n    env:\n      JOB_CONCURRENCY: 3\n    proxy: false\n"},
		{"an accessory", "accessories:\n  redis:\n    image: valkey/valkey:8\n    host: 203.0.113.10\n    port: \"127.0.0.1:6379:6379\"\n    directories:\n      - data:/data\n    options:\n      memory: 1g\n"},
		{"top-level settings", "retain_containers: 3\ndrain_timeout: 20\nhooks_output: verbose\nminimum_version: 2.12.0\nvolumes: [uploads:/uploads]\nlogging:\n  driver: json-file\n  options:\n    max-size: 50m\nsshkit:\n  max_concurrent_starts: 5\nboot:\n  limit: 25%\n"},
		{"an extension block", "x-defaults:\n  anything: goes\n"},
		{"an alias", "aliases:\n  jobs: app logs -r job -f\n"},
	}
	refused := []kase{
		{"typo in ssh", "ssh:\n  usr: deploy\n"},
		{"unknown top-level key", "healthcheck:\n  path: /up\n"},
		{"top-level typo", "retain_container: 3\n"},
		{"unknown role key", "servers:\n  job:\n    hosts: [203.0.113.10]\n    command: bin/jobs\n"},
		{"unknown accessory key", "accessories:\n  redis:\n    image: valkey/valkey:8\n    host: 203.0.113.10\n    volume: [data:/data]\n"},
		{"env tags in a role", "servers:\n  job:\n    hosts: [203.0.113.10]\n    env:\n      tags:\n        a: {}\n"},
		{"scalar for a mapping", "ssh: deploy\n"},
		{"mapping for a scalar", "ssh:\n  user:\n    name: deploy\n"},
		{"scalar for a list", "volumes: data:/data\n"},
		{"a role of the wrong shape", "servers:\n  job: bin/jobs\n"},
		{"a typo in a role's logging", "servers:\n  job:\n    hosts: [203.0.113.10]\n    logging:\n      drivr: json-file\n"},
	}
	// Everything berth accepts, together in one deploy.yml (one Kamal
	// run); each refusal on its own.
	var all []string
	for _, tc := range accepted {
		if _, err := parse(t, base+"kamal:\n"+indentLines(tc.section, "  ")); err != nil {
			t.Errorf("%s: berth refuses it: %v", tc.name, err)
		}
		all = append(all, tc.section)
	}
	if out, err := runKamalConfig(t, kamal, all...); err != nil {
		t.Errorf("Kamal refuses what berth accepts: %v\n%s", err, out)
	}
	for _, tc := range refused {
		tc := tc
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := parse(t, base+"kamal:\n"+indentLines(tc.section, "  ")); err == nil {
				t.Error("berth accepts it")
			}
			out, err := runKamalConfig(t, kamal, tc.section)
			if err == nil || !strings.Contains(out, "ConfigurationError") {
				t.Errorf("Kamal did not refuse it as a configuration error (%v):\n%s", err, out)
			}
		})
	}
}

func indentLines(s, prefix string) string {
	lines := strings.SplitAfter(s, "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = prefix + l
		}
	}
	return strings.Join(lines, "")
}

// runKamalConfig merges sections into minimalDeploy and runs Kamal's own
// validation on it.
func runKamalConfig(t *testing.T, kamal string, sections ...string) (string, error) {
	t.Helper()
	var deploy map[string]any
	if err := yaml.Unmarshal([]byte(minimalDeploy), &deploy); err != nil {
		t.Fatal(err)
	}
	for _, section := range sections {
		var extra map[string]any
		if err := yaml.Unmarshal([]byte(section), &extra); err != nil {
			t.Fatal(err)
		}
		mergeMaps(deploy, extra)
	}
	data, err := yaml.Marshal(deploy)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "config"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config", "deploy.yml"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(kamal, "config", "-c", "config/deploy.yml", "--version", "test")
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func mergeMaps(dst, src map[string]any) {
	for k, v := range src {
		if dm, ok := dst[k].(map[string]any); ok {
			if sm, ok := v.(map[string]any); ok {
				mergeMaps(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}
