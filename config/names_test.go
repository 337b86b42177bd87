package config

import (
	"strings"
	"testing"
)

func TestCheckDomain(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"wombatworkouts.com", ""},
		{"www.wombatworkouts.com", ""},
		{"lists.example.org", ""},
		{"xn--bcher-kva.example", ""},
		{"a-b.co.uk", ""},
		{"wombat..com", "empty label"},
		{".wombat.com", "empty label"},
		{"wombat.com.", "trailing dot"},
		{"-wombat.com", "starts or ends with a hyphen"},
		{"wombat-.com", "starts or ends with a hyphen"},
		{"wom_bat.com", `has '_'`},
		{"wömbat.com", "punycode"},
		{"wombat.123", "all digits"},
		{"wombat", "two labels"},
		{strings.Repeat("a", 64) + ".com", "longer than 63"},
		{strings.Repeat("a.", 127) + "com", "longer than 253"},
		{"wombat.com:443", "without a port"},
		{"wombat.com/shop", "without a path"},
		{"http://wombat.com", "without a scheme"},
		{"::1", "IP address"},
		{"", "is empty"},
	} {
		got := checkDomain(tc.in)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("checkDomain(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCheckServerHost(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"203.0.113.10", ""},
		{"2001:db8::1", ""},
		{"wombat-prod", ""},
		{"server1.wombatworkouts.com", ""},
		{"root@203.0.113.10", "SSH user"},
		{"203.0.113.10:22", "SSH port"},
		{"bad host", "not a valid host"},
	} {
		got := checkServerHost(tc.in)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("checkServerHost(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCheckImage(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"ghcr.io/wombatworkouts/wombat_workouts", ""},
		{"ghcr.io/a-b/c.d-e", ""},
		{"ghcr.io/-bad/x", "not a GitHub user"},
		{"ghcr.io/owner/Name", "lowercase"},
		{"ghcr.io/owner/x@sha256:abc", "digest"},
		{"ghcr.io/owner/x:v1", "drop the tag"},
		{"docker.io/owner/x", "GitHub's registry"},
		{"ghcr.io/owner", "ghcr.io/OWNER/NAME"},
		{"ghcr.io/owner/x__", "not a valid image name"},
	} {
		got := checkImage(tc.in)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("checkImage(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCheckReplica(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"s3://wombat-backups/wombat_workouts", ""},
		{"s3://wombat-backups/apps/wombat", ""},
		{"/srv/backups/wombat", ""},
		{"file:///srv/backups/wombat", ""},
		{"s3://Wombat/x", "not a valid bucket"},
		{"s3://wombat-backups/a/../b", "clean"},
		{"s3://wombat-backups/x?region=fsn1", "own keys"},
		{"/srv/backups/wombat/", "clean path"},
		{"/srv/back ups", "spaces"},
		{"sftp://host/x", "s3://"},
	} {
		got := checkReplica(tc.in)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("checkReplica(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCheckTraefikVersion(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{"v3.6.12", true}, {"v3.6.1", true}, {"v3.7.0", true}, {"v3.6.0", false}, {"v3.5.9", false},
		{"v2.11.0", false}, {"v4.0.0", false}, {"3.6.12", false}, {"v3.6", false}, {"latest", false},
	} {
		if got := checkTraefikVersion(tc.in) == ""; got != tc.ok {
			t.Errorf("checkTraefikVersion(%q) ok = %v, want %v", tc.in, got, tc.ok)
		}
	}
}

func TestLooksLikeSecretValue(t *testing.T) {
	for _, tc := range []struct {
		in     string
		secret bool
	}{
		{"LITESTREAM_ACCESS_KEY_ID", false},
		{"LITESTREAM_SECRET_ACCESS_KEY", false},
		{"S3_KEY", false},
		{"HETZNER_S3_ACCESS_KEY_2", false},
		{"BACKUPKEY", false},
		{"AKIAIOSFODNN7EXAMPLE", true},
		{"K7PQ2X9ZJ4M1B8T6C3VD", true},
		{"wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", true},
		{"ghp_16C7e42F292c6912E7710c838347Ae178B4a", true},
		{"x4Tb8sKq2VfLm9wRzN3p", true},
		{"c2VjcmV0LXZhbHVlLWhlcmU=", true},
	} {
		if got := looksLikeSecretValue(tc.in); got != tc.secret {
			t.Errorf("looksLikeSecretValue(%q) = %v, want %v", tc.in, got, tc.secret)
		}
	}
}

func TestEditDistanceSuggestions(t *testing.T) {
	fields := map[string]int{"policy": 0, "message": 1, "status": 2}
	for _, tc := range []struct{ in, want string }{
		{"polcy", "policy"}, {"Policy", "policy"}, {"mesage", "message"}, {"xyz", ""}, {"statuses", "status"},
	} {
		if got := closest(tc.in, fields); got != tc.want {
			t.Errorf("closest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
