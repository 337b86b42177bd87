package config_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/wombatworkouts/berth/config"
	"github.com/wombatworkouts/berth/config/internal/golden"
	"github.com/wombatworkouts/berth/config/render"
)

// FuzzParse feeds arbitrary bytes to the manifest parser: bad input must give
// an error, never a panic, and anything accepted must render.
//
//	go test ./config -run '^$' -fuzz FuzzParse -fuzztime 30s
func FuzzParse(f *testing.F) {
	f.Add([]byte(base))
	f.Add([]byte(base + "redirect: apex-to-www\nmaintenance:\n  windows:\n    - start: 2026-01-10T02:00:00Z\n      end: 2026-01-10T02:30:00Z\n"))
	f.Add([]byte("app: &a x\nimage: *a\n"))
	f.Add([]byte(base + "kamal:\n  ssh: {user: deploy}\n  env:\n    secret: [A, &x B]\n    clear: {C: *x}\n  servers:\n    job: {hosts: [h], cmd: bin/jobs}\n"))
	f.Add([]byte("a: [\n"))
	f.Add([]byte(base + "kamal:\n  accessories:\n    r:\n      image: x\n      host: h\n      port: \"[::1]:80:80/udp\"\n      options: {p: [\"8000-8100:1\", published=443]}\n  env:\n    tags:\n      t: {A: sk_live_0123456789abcdef}\n"))
	for _, dir := range golden.Examples(f) {
		if data, err := os.ReadFile(filepath.Join(dir, "berth.yml")); err == nil {
			f.Add(data)
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := config.Parse(data, "fuzz/berth.yml")
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		if _, err := render.Files(m); err != nil {
			t.Fatalf("valid manifest does not render: %v\n%s", err, data)
		}
		for _, p := range m.Placeholders() {
			if p.Key == "" || p.Msg == "" {
				t.Fatalf("placeholder without key or message: %#v", p)
			}
		}
		if err := config.CheckServer([]*config.Manifest{m, m}); err == nil {
			t.Fatal("a manifest conflicts with itself on one server, but CheckServer said ok")
		}
	})
}
