package kamal_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/wombatworkouts/berth/config"
	"github.com/wombatworkouts/berth/config/kamal"
)

// hooks_output is rendered only for a Kamal that accepts it, as the app's
// Gemfile.lock pins it: Kamal 2.0-2.10 refuse the key.
func TestHooksOutputFollowsTheLockedKamal(t *testing.T) {
	example, err := os.ReadFile(filepath.Join("..", "examples", "wombatworkouts", "berth.yml"))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, lock string
		want       bool
	}{
		{"Kamal 2.12", "GEM\n  remote: https://rubygems.org/\n  specs:\n    kamal (2.12.0)\n      activesupport (>= 7.0)\n    rails (8.1.3)\n", true},
		{"Kamal 2.11.1", "GEM\n  specs:\n    kamal (2.11.1)\n", true},
		{"Kamal 2.10.3", "GEM\n  specs:\n    kamal (2.10.3)\n", false},
		{"no kamal in the lock", "GEM\n  specs:\n    rails (8.1.3)\n", false},
		{"no Gemfile.lock", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			app := t.TempDir()
			os.MkdirAll(filepath.Join(app, "config"), 0o755)
			os.WriteFile(filepath.Join(app, "config", "berth.yml"), example, 0o644)
			if tt.lock != "" {
				os.WriteFile(filepath.Join(app, "Gemfile.lock"), []byte(tt.lock), 0o644)
			}
			m, err := config.LoadFrom(app, config.DefaultPath)
			if err != nil {
				t.Fatal(err)
			}
			out, err := kamal.Render(m)
			if err != nil {
				t.Fatal(err)
			}
			has := strings.Contains(string(out), "hooks_output:\n  pre-deploy: verbose\n  post-deploy: verbose\n")
			if has != tt.want {
				t.Fatalf("hooks_output rendered: %v, want %v\n%s", has, tt.want, out)
			}
			var doc yaml.Node
			if err := yaml.Unmarshal(out, &doc); err != nil {
				t.Fatal(err)
			}
			ref := loadReference(t)
			if bad := ref.unknownKeys(doc.Content[0], ref.root, "", ""); len(bad) > 0 {
				t.Fatalf("keys Kamal 2.12's reference does not know: %v", bad)
			}
		})
	}
}
