package config

import (
	"regexp"
	"strings"
)

// Secrets in berth.yml are always *names* of entries in .kamal/secrets
// (LITESTREAM_ACCESS_KEY_ID), which Kamal hands to the containers. The
// manifest is committed to git, so a value that looks like the secret itself
// is refused, and the message never repeats it.

var secretNameRe = regexp.MustCompile(`^[A-Z_][A-Z0-9_]*$`)

// knownTokenPrefixes are prefixes of real credentials people paste by mistake.
var knownTokenPrefixes = []string{"AKIA", "ASIA", "ghp_", "gho_", "ghs_", "github_pat_", "glpat-", "sk-", "xox"}

// checkSecretName returns "" for a valid secret name, otherwise a message
// that does not include the value.
func checkSecretName(s string) string {
	if looksLikeSecretValue(s) {
		return "this looks like an actual secret, not a name: put the value in .kamal/secrets " +
			"(e.g. LITESTREAM_SECRET_ACCESS_KEY=...), keep that file out of git, and write the name here. " +
			"If this value was ever committed, rotate it"
	}
	if !secretNameRe.MatchString(s) {
		return "must be the name of an entry in .kamal/secrets: uppercase letters, digits and '_' (e.g. LITESTREAM_ACCESS_KEY_ID)"
	}
	return ""
}

// looksLikeSecretValue is a heuristic. Names like LITESTREAM_ACCESS_KEY_ID
// have underscores and words; keys look random: long, mixed with digits,
// often with '/', '+' or '='. Access key ids are uppercase and digits with no
// underscore, so those are caught by the digit-and-no-underscore rule.
func looksLikeSecretValue(s string) bool {
	for _, p := range knownTokenPrefixes {
		if strings.HasPrefix(s, p) && len(s) >= len(p)+8 {
			return true
		}
	}
	if strings.ContainsAny(s, "/+=") && len(s) >= 16 {
		return true
	}
	if len(s) < 16 {
		return false
	}
	var lower, upper, digit, underscore int
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z':
			lower++
		case r >= 'A' && r <= 'Z':
			upper++
		case r >= '0' && r <= '9':
			digit++
		case r == '_':
			underscore++
		}
	}
	if digit > 0 && underscore == 0 {
		return true
	}
	// Mixed case with digits is how random tokens look; env names are not
	// mixed case.
	return lower > 0 && upper > 0 && digit > 0
}
