package kamal_test

import (
	"testing"

	"github.com/wombatworkouts/berth/config/internal/golden"
	"github.com/wombatworkouts/berth/config/kamal"
)

// FuzzCompare feeds arbitrary deploy.yml files to Compare (render and init
// read whatever the user has there): an error or a comparison, never a
// panic, and a carried section that always encodes.
//
//	go test ./config/kamal -run '^$' -fuzz FuzzCompare -fuzztime 30s
func FuzzCompare(f *testing.F) {
	f.Add([]byte(usersDeploy))
	for _, d := range golden.RailsDeploys(f) {
		f.Add(d)
	}
	f.Add([]byte("servers: [a]\nenv: {A: 1}\nx-a: &a {b: 1}\nssh: *a\n"))
	f.Add([]byte("env:\n  clear:\n    <% if true %>\n    A: <%= 1 %>\n"))
	f.Add([]byte("a: &a [*a]\n"))
	f.Add([]byte("servers:\n  web: [h]\nvolumes: [x:/rails/storage, 'y:/z']\ndeploy_timeout: 3\n"))
	m := wombatFor(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := kamal.Compare(data, m)
		if err != nil {
			return
		}
		_ = c.Snippet()
		for _, s := range append(c.Lost, c.Replaced...) {
			if len(s.Keys) == 0 || s.Value == nil {
				t.Fatalf("setting without path or value: %#v", s)
			}
			_ = s.Shown()
		}
	})
}
