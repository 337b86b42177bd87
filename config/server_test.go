package config_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/wombatworkouts/berth/config"
	"github.com/wombatworkouts/berth/config/internal/golden"
)

// app builds a valid manifest for a second app by editing base.
func app(t *testing.T, name string, replacements ...string) *config.Manifest {
	t.Helper()
	src := base
	for i := 0; i+1 < len(replacements); i += 2 {
		if !strings.Contains(src, replacements[i]) {
			t.Fatalf("test bug: %q not in manifest", replacements[i])
		}
		src = strings.Replace(src, replacements[i], replacements[i+1], 1)
	}
	m, err := config.Parse([]byte(src), name)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestCheckServer(t *testing.T) {
	wombat := func(t *testing.T) *config.Manifest { return app(t, "wombat/config/berth.yml") }
	lists := func(t *testing.T, extra ...string) *config.Manifest {
		r := append([]string{
			"app: wombat_workouts", "app: lists",
			"  - wombatworkouts.com\n  - www.wombatworkouts.com\n", "  - lists.example.org\n",
			"s3://wombat-backups/wombat_workouts", "s3://wombat-backups/lists",
		}, extra...)
		return app(t, "lists/config/berth.yml", r...)
	}
	for _, tc := range []struct {
		name string
		ms   func(t *testing.T) []*config.Manifest
		want []string // empty: no error
	}{
		{"two distinct apps", func(t *testing.T) []*config.Manifest { return []*config.Manifest{wombat(t), lists(t)} }, nil},
		{"nil entries are skipped", func(t *testing.T) []*config.Manifest { return []*config.Manifest{nil, wombat(t)} }, nil},
		{"same app name", func(t *testing.T) []*config.Manifest {
			return []*config.Manifest{wombat(t), lists(t, "app: lists", "app: wombat_workouts")}
		}, []string{`lists/config/berth.yml:1: app: "wombat_workouts" is also the app name in wombat/config/berth.yml`}},
		{"domain claimed twice", func(t *testing.T) []*config.Manifest {
			return []*config.Manifest{wombat(t), lists(t, "  - lists.example.org\n", "  - lists.example.org\n  - www.wombatworkouts.com\n")}
		}, []string{`lists/config/berth.yml:7: domains[1]: "www.wombatworkouts.com" is claimed by two apps: ` +
			`wombat_workouts (wombat/config/berth.yml:7) and lists (lists/config/berth.yml:7)`}},
		{"shared volume", func(t *testing.T) []*config.Manifest {
			return []*config.Manifest{wombat(t), lists(t, "server:", "storage:\n  volume: wombat_workouts_storage\nserver:")}
		}, []string{`lists/config/berth.yml:12: storage.volume: "wombat_workouts_storage" is also the volume of wombat_workouts`}},
		{"same replica", func(t *testing.T) []*config.Manifest {
			return []*config.Manifest{wombat(t), lists(t, "s3://wombat-backups/lists", "s3://wombat-backups/wombat_workouts")}
		}, []string{"lists/config/berth.yml:8: litestream.replica: overlaps the replica of wombat_workouts"}},
		{"nested replica", func(t *testing.T) []*config.Manifest {
			return []*config.Manifest{wombat(t), lists(t, "s3://wombat-backups/lists", "s3://wombat-backups/wombat_workouts/lists")}
		}, []string{"litestream.replica: overlaps"}},
		{"replica prefix that is not a parent", func(t *testing.T) []*config.Manifest {
			return []*config.Manifest{wombat(t), lists(t, "s3://wombat-backups/lists", "s3://wombat-backups/wombat_workouts2")}
		}, nil},
		{"same path on another object store", func(t *testing.T) []*config.Manifest {
			return []*config.Manifest{wombat(t), lists(t, "s3://wombat-backups/lists", "s3://wombat-backups/wombat_workouts",
				"fsn1.your-objectstorage.com", "nbg1.your-objectstorage.com")}
		}, nil},
		{"server sections differ", func(t *testing.T) []*config.Manifest {
			return []*config.Manifest{wombat(t), lists(t, "ops@wombatworkouts.com", "admin@lists.org")}
		}, []string{`lists/config/berth.yml:13: server.acme.email: is "admin@lists.org" here but "ops@wombatworkouts.com" in wombat_workouts`}},
		{"server sections on different hosts may differ", func(t *testing.T) []*config.Manifest {
			return []*config.Manifest{wombat(t), lists(t, "ops@wombatworkouts.com", "admin@lists.org", "203.0.113.10", "203.0.113.20")}
		}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := config.CheckServer(tc.ms(t))
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

// The committed examples share one server and must pass together.
func TestExamplesShareAServer(t *testing.T) {
	var ms []*config.Manifest
	for _, dir := range golden.Examples(t) {
		m, err := config.Load(filepath.Join(dir, "berth.yml"))
		if err != nil {
			t.Fatal(err)
		}
		ms = append(ms, m)
	}
	if err := config.CheckServer(ms); err != nil {
		t.Fatal(err)
	}
}
