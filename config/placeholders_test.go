package config_test

import (
	"strings"
	"testing"
)

func TestPlaceholders(t *testing.T) {
	// base's host is a documentation address itself; the cases start
	// from a real one.
	real := strings.Replace(base, "  - 203.0.113.10\n", "  - 95.217.1.10\n", 1)
	for _, tc := range []struct {
		name, old, new string
		want           []string
	}{
		{"a real manifest", "", "", nil},
		{"rails host", "  - 95.217.1.10\n", "  - 192.168.0.1\n", []string{"config/berth.yml:4: hosts[0]: 192.168.0.1 is the placeholder `rails new` writes: put your server's address"}},
		{"documentation address", "  - 95.217.1.10\n", "  - 203.0.113.10\n", []string{"config/berth.yml:4: hosts[0]: 203.0.113.10 is an address reserved for documentation (203.0.113.0/24), a placeholder"}},
		{"documentation IPv6", "  - 95.217.1.10\n", "  - 2001:db8::10\n", []string{"hosts[0]: 2001:db8::10 is an address reserved for documentation (2001:db8::/32)"}},
		{"example host name", "  - 95.217.1.10\n", "  - server.example.net\n", []string{"hosts[0]: server.example.net is under example.net, a name reserved for examples"}},
		{"example domain", "  - www.wombatworkouts.com\n", "  - wombat-workouts.example.com\n",
			[]string{"config/berth.yml:7: domains[1]: wombat-workouts.example.com is under example.com, a name reserved for examples, and Let's Encrypt issues no certificate for it"}},
		{"test domain", "  - www.wombatworkouts.com\n", "  - shop.test\n", []string{"domains[1]: shop.test is under test"}},
		{"image owner", "image: ghcr.io/wombatworkouts/wombat_workouts\n", "image: ghcr.io/your-github-user/wombat_workouts\n",
			[]string{"config/berth.yml:2: image: ghcr.io/your-github-user/wombat_workouts is a placeholder from `berth config init`"}},
		{"ACME e-mail under a reserved name", "    email: ops@wombatworkouts.com\n", "    email: ops@wombat-workouts.example.com\n",
			[]string{"config/berth.yml:14: server.acme.email: ops@wombat-workouts.example.com is an address under example.com"}},
		{"a private address is real", "  - 95.217.1.10\n", "  - 10.0.0.5\n", nil},
		{"an SSH name is real", "  - 95.217.1.10\n", "  - wombat-prod\n", nil},
	} {
		src := real
		if tc.old != "" {
			if strings.Count(src, tc.old) != 1 {
				t.Fatalf("test bug: %q occurs %d times", tc.old, strings.Count(src, tc.old))
			}
			src = strings.Replace(src, tc.old, tc.new, 1)
		}
		m, err := parse(t, src)
		if err != nil {
			t.Fatalf("%s: placeholders must load (they are warnings): %v", tc.name, err)
		}
		got := m.Placeholders()
		if len(got) != len(tc.want) {
			t.Errorf("%s: %d placeholders, want %d:\n%v", tc.name, len(got), len(tc.want), got)
			continue
		}
		for i, w := range tc.want {
			if !strings.Contains(got[i].Error(), w) {
				t.Errorf("%s: %q lacks %q", tc.name, got[i].Error(), w)
			}
		}
	}
}
