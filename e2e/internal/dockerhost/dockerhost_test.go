package dockerhost_test

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/wombatworkouts/berth/e2e/internal/dockerhost"
)

// The whole chain on a real engine: the image is built, pushed to the real
// registry, removed and pulled back (as Kamal does on a server), migrates
// with `bin/rails db:migrate`, and runs as a Rails container whose Docker
// health check (the command berth renders) turns healthy only once the app
// has booted. Runs on the engine at DOCKER_HOST or Debian's dockerd
// (BERTH_TEST_DOCKERD picks another, e.g. the built Docker 28).
func TestRailsImageOnRealEngine(t *testing.T) {
	eng := dockerhost.StartEngine(t, dockerhost.EngineOptions{Dockerd: os.Getenv("BERTH_TEST_DOCKERD")})
	reg := dockerhost.StartRegistry(t)
	base := dockerhost.ImportBase(t, eng)
	img := dockerhost.RailsImage{
		Repository: reg.Addr + "/dockerhost/app",
		Service:    "dockerhost_app",
		Tags: map[string]map[string]string{
			"v1":     nil,
			"slow":   {"STANDIN_BOOT_DELAY": "3s"},
			"broken": {"STANDIN_UNHEALTHY_FILE": "/etc/hostname"},
		},
	}
	dockerhost.BuildRailsImage(t, eng, base, img)
	for _, tag := range []string{"v1", "slow", "broken"} {
		eng.MustDocker(t, "push", img.Ref(tag))
		eng.MustDocker(t, "image", "rm", img.Ref(tag))
		eng.MustDocker(t, "pull", img.Ref(tag))
	}
	if got := strings.TrimSpace(eng.MustDocker(t, "inspect", "-f", "{{ .Config.Labels.service }}", img.Ref("v1"))); got != "dockerhost_app" {
		t.Errorf("label service = %q, want dockerhost_app", got)
	}

	eng.MustDocker(t, "network", "create", "dockerhost-test")
	eng.MustDocker(t, "volume", "create", "dockerhost_storage")
	migrate := eng.MustDocker(t, "run", "--rm", "--network", "dockerhost-test", "-v", "dockerhost_storage:/rails/storage", img.Ref("v1"), "bin/rails", "db:migrate")
	if !strings.Contains(migrate, "CreateWorkouts") || !strings.Contains(migrate, "CreateVisits") {
		t.Errorf("bin/rails db:migrate printed %q, want both migrations", migrate)
	}

	health := []string{"--health-cmd", "curl -fsS http://localhost/up", "--health-interval", "1s", "--health-timeout", "5s", "--health-retries", "3"}
	for _, tc := range []struct {
		tag         string
		want        string
		notBefore   time.Duration
		withinAfter time.Duration
	}{
		{"slow", "healthy", 3 * time.Second, 10 * time.Second},
		{"broken", "unhealthy", 3 * time.Second, 15 * time.Second},
	} {
		t.Run(tc.tag, func(t *testing.T) {
			name := "dockerhost-" + tc.tag
			args := append([]string{"run", "-d", "--name", name, "--network", "dockerhost-test", "-v", "dockerhost_storage:/rails/storage"}, health...)
			eng.MustDocker(t, append(args, img.Ref(tc.tag))...)
			t.Cleanup(func() { eng.MustDocker(t, "rm", "-f", name) })
			start := time.Now()
			status := ""
			for time.Since(start) < tc.withinAfter {
				status = strings.TrimSpace(eng.MustDocker(t, "inspect", "-f", "{{ .State.Health.Status }}", name))
				if status != "starting" {
					break
				}
				time.Sleep(200 * time.Millisecond)
			}
			took := time.Since(start)
			t.Logf("%s: %s after %s", tc.tag, status, took.Round(100*time.Millisecond))
			if status != tc.want || took < tc.notBefore {
				t.Errorf("%s: health %q after %s; want %q, not before %s", tc.tag, status, took, tc.want, tc.notBefore)
			}
			if tc.want == "healthy" {
				// The app's user wrote the database in the volume.
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				out, err := eng.Docker(ctx, nil, "exec", name, "curl", "-fsS", "http://localhost/workouts")
				if err != nil || !strings.Contains(out, "[") {
					t.Errorf("GET /workouts in the container: %q, %v", out, err)
				}
				if uid := strings.TrimSpace(eng.MustDocker(t, "exec", name, "stat", "-c", "%u", "/rails/storage/production.sqlite3")); uid != "1000" {
					t.Errorf("database owned by uid %s, want 1000", uid)
				}
			}
		})
	}
}
