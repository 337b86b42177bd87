package config_test

import (
	"strings"
	"testing"
)

// checkKamal appends a kamal: section (its first line is line 15 of the
// manifest) to base and checks the errors: each want is a substring of the
// error, usually "file:line: key: ...".
func checkKamal(t *testing.T, name, section string, want []string) {
	t.Helper()
	_, err := parse(t, base+section)
	if len(want) == 0 {
		if err != nil {
			t.Errorf("%s: refused:\n%v", name, err)
		}
		return
	}
	if err == nil {
		t.Errorf("%s: accepted, want an error with %q", name, want)
		return
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%s: error lacks %q:\n%v", name, w, err)
		}
	}
}

// The kamal: section is checked against Kamal 2.12's own keys.
func TestKamalSectionSchema(t *testing.T) {
	for _, tc := range []struct {
		name, section string
		want          []string
	}{
		{"typo in ssh", "kamal:\n  ssh:\n    usr: deploy\n",
			[]string{`config/berth.yml:17: kamal.ssh.usr: unknown key "usr": Kamal 2.12 has no such setting under ssh:`, `(did you mean "user"?)`}},
		{"unknown top-level key", "kamal:\n  healthcheck:\n    path: /up\n",
			[]string{`:16: kamal.healthcheck: unknown key "healthcheck": Kamal 2.12 has no such setting at the top of deploy.yml`}},
		{"top-level typo", "kamal:\n  retain_container: 3\n", []string{`:16: kamal.retain_container: unknown key`, `(did you mean "retain_containers"?)`}},
		{"unknown role key", "kamal:\n  servers:\n    job:\n      hosts: [203.0.113.10]\n      command: bin/jobs\n",
			[]string{`:19: kamal.servers.job.command: unknown key "command": Kamal 2.12 has no such setting under servers.<name>:`, "it accepts: asset_path, cmd, env,"}},
		{"unknown accessory key", "kamal:\n  accessories:\n    redis:\n      image: valkey/valkey:8\n      host: 203.0.113.10\n      volume: [data:/data]\n",
			[]string{`:20: kamal.accessories.redis.volume: unknown key`, `(did you mean "volumes"?)`}},
		{"env tags only at the top", "kamal:\n  servers:\n    job:\n      hosts: [203.0.113.10]\n      env:\n        tags:\n          a: {}\n",
			[]string{`:20: kamal.servers.job.env.tags: unknown key`, "env tags are allowed only in the top-level env:"}},
		{"a variable beside clear", "kamal:\n  env:\n    clear:\n      A: 1\n    WEB_CONCURRENCY: 2\n",
			[]string{`:19: kamal.env.WEB_CONCURRENCY: unknown key`, "environment variables go under env.clear"}},
		{"plain env pairs", "kamal:\n  env:\n    WEB_CONCURRENCY: 2\n",
			[]string{`:16: kamal.env: berth writes env: with clear: and secret:`}},
		{"scalar for a mapping", "kamal:\n  ssh: deploy\n", []string{`:16: kamal.ssh: should be a mapping, not "deploy"`}},
		{"mapping for a scalar", "kamal:\n  ssh:\n    user:\n      name: deploy\n", []string{`:17: kamal.ssh.user: should be a single value, not a mapping`}},
		{"list for a scalar", "kamal:\n  builder:\n    remote: [a, b]\n", []string{`:17: kamal.builder.remote: should be a single value, not a list`}},
		{"scalar for a list", "kamal:\n  volumes: data:/data\n", []string{`:16: kamal.volumes: should be a list, not "data:/data"`}},
		{"empty value", "kamal:\n  builder:\n", []string{`:16: kamal.builder: is empty`}},
		{"duplicate key", "kamal:\n  ssh:\n    user: a\n    user: b\n", []string{`:18: kamal.ssh.user: duplicate key (first set on line 17)`}},
		{"merge key", "kamal:\n  ssh:\n    <<: {user: a}\n", []string{`:17: kamal.ssh.<<: YAML merge keys (<<) are not supported here`}},
		{"servers as a list", "kamal:\n  servers: [203.0.113.11]\n", []string{`:16: kamal.servers: berth writes servers as a mapping`}},
		{"web role as a list", "kamal:\n  servers:\n    web: [203.0.113.11]\n", []string{`:17: kamal.servers.web: berth writes servers.web as a mapping`}},
		{"a role of the wrong shape", "kamal:\n  servers:\n    job: bin/jobs\n", []string{`:17: kamal.servers.job: should be a list or a mapping, not "bin/jobs"`}},
		{"Kamal 1 healthcheck in a role", "kamal:\n  servers:\n    web:\n      healthcheck:\n        path: /up\n",
			[]string{`:18: kamal.servers.web.healthcheck: unknown key`}},
		{"proxy settings typo inside a role", "kamal:\n  servers:\n    job:\n      hosts: [203.0.113.10]\n      logging:\n        drivr: json-file\n",
			[]string{`:20: kamal.servers.job.logging.drivr: unknown key`, `(did you mean "driver"?)`}},
	} {
		checkKamal(t, tc.name, tc.section, tc.want)
	}
}

// What Kamal accepts passes: the section must not refuse real deploy.yml
// content.
func TestKamalSectionAccepts(t *testing.T) {
	for _, tc := range []struct{ name, section string }{
		{"ssh and builder", "kamal:\n  ssh:\n    user: deploy\n    port: 2222\n    keys: [~/.ssh/id_ed25519]\n  builder:\n    arch: arm64\n    remote: ssh://docker@builder\n    args:\n      RUBY_VERSION: 3.4.7\n    secrets: [GITHUB_TOKEN]\n"},
		{"arch as a list", "kamal:\n  builder:\n    arch: [amd64, arm64]\n"},
		{"env entries", "kamal:\n  env:\n    clear:\n      WEB_CONCURRENCY: 2\n      SECRET_KEY_BASE_DUMMY: 1\n      TOKEN_TTL: 3600\n    secret:\n      - SMTP_PASSWORD\n      - DB_PASSWORD:MAIN_DB_PASSWORD\n"},
		{"env tags", "kamal:\n  env:\n    tags:\n      monitoring:\n        MYSQL_USER: monitoring\n      replica:\n        clear:\n          MYSQL_USER: readonly\n        secret: [READONLY_PASSWORD]\n"},
		{"a job role", "kamal:\n  servers:\n    job:\n      hosts: [203.0.113.10]\n      cmd: bin/jobs\n      options:\n        memory: 2g\n      env:\n        JOB_CONCURRENCY: 3\n      proxy: false\n"},
		{"a role as a list of hosts", "kamal:\n  servers:\n    job:\n      - 203.0.113.10\n"},
		{"an accessory", "kamal:\n  accessories:\n    redis:\n      image: valkey/valkey:8\n      host: 203.0.113.10\n      port: \"127.0.0.1:6379:6379\"\n      directories:\n        - data:/data\n      files:\n        - local: config/redis.conf\n          remote: /etc/redis.conf\n      options:\n        memory: 1g\n      registry:\n        server: registry.example.net\n        username: me\n        password: [REDIS_REGISTRY_PASSWORD]\n"},
		{"web role extras", "kamal:\n  servers:\n    web:\n      labels:\n        app.owner: ops\n      options:\n        memory: 1g\n      env:\n        clear:\n          WEB_CONCURRENCY: 2\n"},
		{"top-level settings", "kamal:\n  retain_containers: 3\n  drain_timeout: 20\n  hooks_output: verbose\n  primary_role: web\n  minimum_version: 2.12.0\n  asset_path: /rails/public/assets\n  volumes: [uploads:/uploads]\n  logging:\n    driver: json-file\n    options:\n      max-size: 50m\n  sshkit:\n    max_concurrent_starts: 5\n  boot:\n    limit: 25%\n"},
		{"an extension block", "kamal:\n  x-defaults:\n    anything: goes\n"},
		{"ERB", "kamal:\n  ssh:\n    user: <%= ENV.fetch(\"DEPLOY_USER\", \"deploy\") %>\n"},
		{"an alias", "kamal:\n  aliases:\n    jobs: app logs -r job -f\n"},
		{"anchors", "kamal:\n  x-opts: &opts\n    memory: 1g\n  servers:\n    job:\n      hosts: [203.0.113.10]\n      options: *opts\n"},
	} {
		checkKamal(t, tc.name, tc.section, nil)
	}
}
