package dockerhost

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/wombatworkouts/berth/e2e/internal/pluginsrc"
)

// BaseTarball returns the cached Debian base root file system, building it
// with e2e/scripts/build-debian-base.sh when it is missing (about 2 minutes).
func BaseTarball(t testing.TB) string {
	t.Helper()
	root, err := pluginsrc.RepoRoot()
	if err != nil {
		t.Fatalf("dockerhost: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(root, "e2e", "scripts", "build-debian-base.sh"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dockerhost: build-debian-base.sh: %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out))
}

// ImportBase imports the Debian base into the engine (once per engine; the
// tag is the tarball's name) and returns its image reference.
func ImportBase(t testing.TB, e *Engine) string {
	t.Helper()
	tarball := BaseTarball(t)
	sum := sha256.Sum256([]byte(filepath.Base(tarball)))
	ref := "berth/debian-base:" + hex.EncodeToString(sum[:6])
	ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
	defer cancel()
	if _, err := e.Docker(ctx, nil, "image", "inspect", ref); err == nil {
		return ref
	}
	start := time.Now()
	if _, err := e.Docker(ctx, nil, "import", tarball, ref); err != nil {
		t.Fatalf("dockerhost: %v", err)
	}
	t.Logf("dockerhost: imported %s as %s in %s", filepath.Base(tarball), ref, time.Since(start).Round(10*time.Millisecond))
	return ref
}

// RailsImage describes the stand-in Rails app image to build.
type RailsImage struct {
	// Repository is REGISTRY/OWNER/NAME, without a tag.
	Repository string
	// Service is Kamal's service name, written as the label service=...
	Service string
	// Migrations is a directory of <version>_<name>.sql files for
	// /rails/db/migrate (default: e2e/testdata/railsapp/migrations-v1).
	Migrations string
	// Tags are the tags to make, each with its own environment on top of
	// the image's (STANDIN_BOOT_DELAY, STANDIN_UNHEALTHY_FILE, ...).
	Tags map[string]map[string]string
}

// Ref is Repository:tag.
func (r RailsImage) Ref(tag string) string { return r.Repository + ":" + tag }

// railsUID is the Rails 8 image's user (docs/rails.md#the-app-image).
const railsUID = 1000

// BuildRailsImage makes one image per tag: the base plus the stand-in
// Rails app laid out like a Rails 8 image (see the package documentation).
// The images are local to the engine; push them to deploy.
func BuildRailsImage(t testing.TB, e *Engine, base string, img RailsImage) {
	t.Helper()
	root, err := pluginsrc.RepoRoot()
	if err != nil {
		t.Fatalf("dockerhost: %v", err)
	}
	if img.Migrations == "" {
		img.Migrations = filepath.Join(root, "e2e", "testdata", "railsapp", "migrations-v1")
	}
	bin := filepath.Join(t.TempDir(), "rails")
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./cmd/standin-rails")
	build.Dir = filepath.Join(root, "e2e")
	// Static: the image has Debian's libc, but the binary must not care.
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("dockerhost: building the stand-in Rails app: %v\n%s", err, out)
	}
	layer, err := railsLayer(bin, img.Migrations)
	if err != nil {
		t.Fatalf("dockerhost: %v", err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), dockerTimeout)
	defer cancel()
	name := fmt.Sprintf("berth-build-%d", time.Now().UnixNano())
	if _, err := e.Docker(ctx, nil, "create", "--name", name, "--network", "none", base, "/bin/true"); err != nil {
		t.Fatalf("dockerhost: %v", err)
	}
	defer func() { _, _ = e.Docker(context.Background(), nil, "rm", "-f", name) }()
	// -a keeps the tar's owners: /rails/storage belongs to the app's user,
	// so the volume Kamal mounts there is writable by it.
	if _, err := e.Docker(ctx, bytes.NewReader(layer), "cp", "-a", "-", name+":/"); err != nil {
		t.Fatalf("dockerhost: %v", err)
	}
	tags := make([]string, 0, len(img.Tags))
	for tag := range img.Tags {
		tags = append(tags, tag)
	}
	sort.Strings(tags)
	for _, tag := range tags {
		args := []string{"commit"}
		for _, change := range imageConfig(img.Service, img.Tags[tag]) {
			args = append(args, "--change", change)
		}
		args = append(args, name, img.Ref(tag))
		if _, err := e.Docker(ctx, nil, args...); err != nil {
			t.Fatalf("dockerhost: %v", err)
		}
	}
}

// imageConfig is the Dockerfile instructions of a Rails 8 image, with the
// stand-in's settings and the tag's environment.
func imageConfig(service string, env map[string]string) []string {
	vars := map[string]string{
		// Thruster on port 80 (Docker lets a container's non-root user
		// bind it), db:prepare before it listens like bin/docker-entrypoint.
		"STANDIN_LISTEN":     "0.0.0.0:80",
		"STANDIN_PREPARE":    "true",
		"STANDIN_DB":         "/rails/storage/production.sqlite3",
		"STANDIN_MIGRATIONS": "/rails/db/migrate",
		"RAILS_ENV":          "production",
	}
	for k, v := range env {
		vars[k] = v
	}
	keys := make([]string, 0, len(vars))
	for k := range vars {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var changes []string
	for _, k := range keys {
		changes = append(changes, "ENV "+k+"="+vars[k])
	}
	cmd, _ := json.Marshal([]string{"bin/rails", "server"})
	return append(changes,
		"LABEL service="+service,
		"WORKDIR /rails",
		fmt.Sprintf("USER %d:%d", railsUID, railsUID),
		"EXPOSE 80",
		"CMD "+string(cmd),
	)
}

// railsLayer is a tar of /rails: bin/rails (the stand-in), db/migrate/*.sql
// and an empty storage/ owned by the app's user.
func railsLayer(bin, migrations string) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dir := func(name string, uid int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, Uid: uid, Gid: uid, ModTime: time.Now()})
	}
	file := func(name, src string, mode int64) error {
		data, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: time.Now()}); err != nil {
			return err
		}
		_, err = tw.Write(data)
		return err
	}
	for _, d := range []string{"rails", "rails/bin", "rails/db", "rails/db/migrate"} {
		if err := dir(d, 0); err != nil {
			return nil, err
		}
	}
	if err := dir("rails/storage", railsUID); err != nil {
		return nil, err
	}
	if err := file("rails/bin/rails", bin, 0o755); err != nil {
		return nil, fmt.Errorf("adding the app: %w", err)
	}
	sqls, err := filepath.Glob(filepath.Join(migrations, "*.sql"))
	if err != nil || len(sqls) == 0 {
		return nil, fmt.Errorf("no migrations (*.sql) in %s", migrations)
	}
	for _, m := range sqls {
		if err := file("rails/db/migrate/"+filepath.Base(m), m, 0o644); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
