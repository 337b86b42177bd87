package config_test

import (
	"strings"
	"testing"
)

// Secrets written into the kamal: section are refused, and the message
// never repeats them.
func TestKamalSectionSecrets(t *testing.T) {
	for _, tc := range []struct {
		name, section, secret string
		want                  []string
	}{
		{"password in env.clear", "kamal:\n  env:\n    clear:\n      SMTP_PASSWORD: hunter2\n", "hunter2",
			[]string{":18: kamal.env.clear.SMTP_PASSWORD: SMTP_PASSWORD names a secret", "list SMTP_PASSWORD under env.secret", "rotate it"}},
		{"Stripe key under any name", "kamal:\n  env:\n    clear:\n      STRIPE: sk_live_51H8xYzAbCdEfGhIjKlMnOp\n", "sk_live_51H8xYzAbCdEfGhIjKlMnOp",
			[]string{":18: kamal.env.clear.STRIPE: this looks like an actual secret"}},
		{"token in a role's env", "kamal:\n  servers:\n    job:\n      hosts: [203.0.113.10]\n      env:\n        API_TOKEN: abcdef123456\n", "abcdef123456",
			[]string{":20: kamal.servers.job.env.API_TOKEN: API_TOKEN names a secret", "the role's env.secret"}},
		{"key in an accessory's env", "kamal:\n  accessories:\n    db:\n      image: mysql:8\n      host: 203.0.113.10\n      env:\n        clear:\n          MYSQL_ROOT_PASSWORD: s3cret-pw\n", "s3cret-pw",
			[]string{":22: kamal.accessories.db.env.clear.MYSQL_ROOT_PASSWORD: MYSQL_ROOT_PASSWORD names a secret"}},
		{"build argument", "kamal:\n  builder:\n    args:\n      GITHUB_TOKEN: ghp_abcdefghijklmnopqrstuvwxyz0123456789\n", "ghp_abcdefghijklmnopqrstuvwxyz0123456789",
			[]string{":18: kamal.builder.args.GITHUB_TOKEN:"}},
		{"value in env.secret", "kamal:\n  env:\n    secret:\n      - wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY\n", "wJalrXUtnFEMI",
			[]string{":17: kamal.env.secret: item 1 looks like an actual secret, not the name of one"}},
		{"not a name in env.secret", "kamal:\n  env:\n    secret:\n      - smtp password\n", "",
			[]string{":17: kamal.env.secret: item 1 should be the name of an entry in .kamal/secrets"}},
		{"private key in ssh.key_data", "kamal:\n  ssh:\n    key_data:\n      - \"-----BEGIN OPENSSH PRIVATE KEY----- b3BlbnNzaC1rZXktdjE\"\n", "b3BlbnNzaC1rZXktdjE",
			[]string{":17: kamal.ssh.key_data:", "looks like an actual secret"}},
		{"AWS key id", "kamal:\n  env:\n    clear:\n      AWS_ACCESS_KEY_ID: AKIAIOSFODNN7EXAMPLE\n", "AKIAIOSFODNN7EXAMPLE",
			[]string{":18: kamal.env.clear.AWS_ACCESS_KEY_ID: this looks like an actual secret"}},
		{"password in a URL", "kamal:\n  env:\n    clear:\n      DATABASE_URL: postgres://app:hunter22@db/app\n", "hunter22",
			[]string{":18: kamal.env.clear.DATABASE_URL: this looks like an actual secret"}},
		{"accessory registry password", "kamal:\n  accessories:\n    db:\n      image: mysql:8\n      host: 203.0.113.10\n      registry:\n        server: registry.example.net\n        username: me\n        password: hunter2\n", "hunter2",
			[]string{":23: kamal.accessories.db.registry.password: a password written here is committed", "password: [ACCESSORY_REGISTRY_PASSWORD]"}},
		{"token in a label", "kamal:\n  servers:\n    web:\n      labels:\n        token: glpat-abcdefghij0123456789\n", "glpat-abcdefghij0123456789",
			[]string{":19: kamal.servers.web.labels.token: this looks like an actual secret"}},
	} {
		_, err := parse(t, base+tc.section)
		if err == nil {
			t.Errorf("%s: accepted", tc.name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error lacks %q:\n%v", tc.name, w, err)
			}
		}
		if tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
			t.Errorf("%s: the error repeats the secret:\n%v", tc.name, err)
		}
	}
}

// Values that only look a little like secrets pass: names, paths, hosts,
// image names, flags and ERB.
func TestKamalSectionNotSecrets(t *testing.T) {
	for _, tc := range []struct{ name, section string }{
		{"secret names", "kamal:\n  env:\n    secret: [SMTP_PASSWORD, DB_PASSWORD:MAIN_DB_PASSWORD, STRIPE_SECRET_KEY]\n  builder:\n    secrets: [GITHUB_TOKEN]\n  ssh:\n    key_data: [SSH_PRIVATE_KEY]\n"},
		{"flags under secret-sounding names", "kamal:\n  env:\n    clear:\n      SECRET_KEY_BASE_DUMMY: 1\n      TOKEN_TTL: 3600\n      ROTATE_KEY: false\n"},
		{"ordinary values", "kamal:\n  env:\n    clear:\n      RAILS_LOG_LEVEL: debug\n      DB_HOST: lists-db\n      S3_BUCKET: lists-uploads-2026\n      DATABASE_URL: postgres://app@db/app\n  volumes: [/srv/uploads/lists_2026:/rails/uploads]\n"},
		{"image and host names", "kamal:\n  accessories:\n    redis:\n      image: valkey/valkey:8.1.1-bookworm\n      host: sk-prod-server-01.internal\n"},
		{"ERB", "kamal:\n  env:\n    clear:\n      SMTP_PASSWORD_FILE: /run/secrets/smtp\n  accessories:\n    db:\n      image: mysql:8\n      host: 203.0.113.10\n      registry:\n        server: 123.dkr.ecr.eu-central-1.amazonaws.com\n        username: AWS\n        password: <%= %x(aws ecr get-login-password) %>\n"},
	} {
		checkKamal(t, tc.name, tc.section, nil)
	}
}
