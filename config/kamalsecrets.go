package config

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// The kamal: section is committed with the manifest and copied into
// deploy.yml (also committed), so a secret written into it is a leaked
// secret. Kamal's way is names: env.secret, builder.secrets and
// ssh.key_data list entries of .kamal/secrets, and a registry password is a
// one-item list naming one. Messages never repeat a value that looks secret.

// envValueParents are the mappings whose keys are environment variables
// (or build arguments) and whose values are written in clear.
var envValueParents = map[string]string{
	"env.clear":               "env.secret",
	"env.tags.*.clear":        "the tag's secret:",
	"servers.*.env.clear":     "the role's env.secret",
	"accessories.*.env.clear": "the accessory's env.secret",
	"builder.args":            "builder.secrets",
}

// envFreeForms are env mappings that may hold NAME: value pairs directly.
var envFreeForms = map[string]string{
	"env.tags.*":        "the tag's secret:",
	"servers.*.env":     "the role's env.secret",
	"accessories.*.env": "the accessory's env.secret",
}

// secretNameLists hold names of entries in .kamal/secrets.
var secretNameLists = map[string]bool{
	"env.secret": true, "env.tags.*.secret": true, "servers.*.env.secret": true,
	"accessories.*.env.secret": true, "builder.secrets": true, "ssh.key_data": true,
}

// Kamal's secret references: NAME, or NAME:ALIAS (env.secret).
var kamalSecretRefRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*(?::[A-Za-z_][A-Za-z0-9_]*)?$`)

// kamalSecret returns why entry e holds a secret it should not, or "".
func kamalSecret(e kamalEntry) string {
	const rotate = " If it was ever committed, rotate it."
	if e.Value.Kind != yaml.MappingNode || e.Schema == "" || !e.Known {
		// A value berth will not look inside: check every scalar in it.
		if secretIn(e.Value) {
			return "this looks like an actual secret (a credential, token or private key), and the manifest is committed: " +
				"put it in .kamal/secrets and name it instead (env.secret, builder.secrets, ssh.key_data)." + rotate
		}
	}
	name := e.Key.Value
	if secretsAt, ok := envValueParents[e.Parent]; ok || (e.UserKey && envFreeForms[e.Parent] != "") {
		if !ok {
			secretsAt = envFreeForms[e.Parent]
		}
		if isSecretName(name) && !harmlessValue(e.Value) {
			return fmt.Sprintf("%s names a secret, and this value would be committed with the manifest and written in clear "+
				"into deploy.yml: put the value in .kamal/secrets and list %s under %s instead.%s", name, name, secretsAt, rotate)
		}
	}
	if secretNameLists[e.Schema] && e.Value.Kind == yaml.SequenceNode {
		for i, item := range e.Value.Content {
			if item.Kind != yaml.ScalarNode {
				continue
			}
			if looksLikeSecretValue(item.Value) || secretIn(item) {
				return fmt.Sprintf("item %d looks like an actual secret, not the name of one: put the value in .kamal/secrets "+
					"and list its name here.%s", i+1, rotate)
			}
			if !kamalSecretRefRe.MatchString(item.Value) && !isERB(item.Value) {
				return fmt.Sprintf("item %d should be the name of an entry in .kamal/secrets (NAME, or NAME:ALIAS for env), "+
					"like SMTP_PASSWORD", i+1)
			}
		}
	}
	if strings.HasSuffix(e.Schema, ".registry.password") && e.Value.Kind == yaml.ScalarNode && !isERB(e.Value.Value) {
		return "a password written here is committed with the manifest: put it in .kamal/secrets and give its name " +
			"as a one-item list, e.g. password: [ACCESSORY_REGISTRY_PASSWORD] (Kamal looks a list item up in the secrets)." + rotate
	}
	return ""
}

// isSecretName says whether an environment variable's name says it holds a
// secret: the hooks redact *_KEY, *_PASSWORD, *_SECRET and *_TOKEN, and a
// few more endings mean the same. SMTP_PASSWORD_FILE or TOKEN_TTL name
// something else.
func isSecretName(name string) bool {
	upper := strings.ToUpper(name)
	words := strings.FieldsFunc(upper, func(r rune) bool { return r == '_' || r == '-' })
	if len(words) == 0 {
		return false
	}
	switch words[len(words)-1] {
	case "PASSWORD", "PASSWD", "PASS", "PWD", "SECRET", "SECRETS", "TOKEN", "CREDENTIALS", "KEY", "APIKEY":
		return true
	}
	return strings.Contains(upper, "SECRET_KEY") || strings.Contains(upper, "PRIVATE_KEY") // SECRET_KEY_BASE
}

// harmlessValue: a flag, a small number or nothing, which a secret-sounding
// name may well hold (SECRET_KEY_BASE_DUMMY: 1, TOKEN_TTL: 3600).
func harmlessValue(n *yaml.Node) bool {
	if n.Kind != yaml.ScalarNode {
		return false
	}
	v := strings.ToLower(n.Value)
	switch v {
	case "", "true", "false", "yes", "no", "on", "off", "0", "1":
		return true
	}
	return len(v) <= 6 && strings.Trim(v, "0123456789") == ""
}

// secretIn reports whether any scalar in n looks like a credential.
func secretIn(n *yaml.Node) bool {
	if n.Kind == yaml.ScalarNode {
		return looksLikeCredential(n.Value)
	}
	for _, c := range n.Content {
		if secretIn(c) {
			return true
		}
	}
	return false
}

// credentialPrefixes start well-known API keys and tokens; a value made
// only of token characters that starts with one and is long enough is a
// credential (Stripe, GitHub, GitLab, Slack, OpenAI, npm, Shopify,
// DigitalOcean, SendGrid-style webhooks).
var credentialPrefixes = []string{
	"sk_live_", "sk_test_", "rk_live_", "rk_test_", "whsec_", "ghp_", "gho_", "ghu_", "ghs_", "ghr_",
	"github_pat_", "glpat-", "xoxb-", "xoxp-", "xoxa-", "xapp-", "sk-", "npm_", "shpat_", "dop_v1_",
}

var (
	tokenCharsRe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	// AWS access key ids and Google API keys have fixed shapes.
	awsKeyIDRe     = regexp.MustCompile(`^(?:AKIA|ASIA)[A-Z0-9]{16}$`)
	googleAPIKeyRe = regexp.MustCompile(`^AIza[A-Za-z0-9_-]{35}$`)
)

// looksLikeCredential is deliberately narrow (it runs over every value of
// the kamal: section, hosts, paths and image names included): known token
// shapes, private keys, and URLs carrying a password.
func looksLikeCredential(s string) bool {
	s = strings.TrimSpace(s)
	if strings.Contains(s, "-----BEGIN") && strings.Contains(s, "PRIVATE KEY") {
		return true
	}
	if awsKeyIDRe.MatchString(s) || googleAPIKeyRe.MatchString(s) {
		return true
	}
	if tokenCharsRe.MatchString(s) {
		for _, p := range credentialPrefixes {
			if strings.HasPrefix(s, p) && len(s) >= len(p)+12 {
				return true
			}
		}
	}
	if i := strings.Index(s, "://"); i > 0 && !strings.ContainsAny(s, " \t\n") {
		if u, err := url.Parse(s); err == nil && u.User != nil {
			if pw, set := u.User.Password(); set && pw != "" && !isERB(pw) {
				return true
			}
		}
	}
	return false
}

// isERB: Kamal evaluates ERB in deploy.yml, so <%= ... %> is not a literal.
func isERB(s string) bool { return strings.Contains(s, "<%") }

// HoldsSecret reports whether a deploy.yml value under key looks like a
// secret written in clear: a secret's name with a value that is more than a
// flag, or a credential-shaped value. Callers hide such values in what they
// print and never copy them into the manifest.
func HoldsSecret(key string, value *yaml.Node) bool {
	return (isSecretName(key) && !harmlessValue(value)) || secretIn(value)
}
