// Package testapp writes a small app directory with a berth manifest for
// the hooks' tests.
package testapp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/wombatworkouts/berth/config"
	"github.com/wombatworkouts/berth/config/kamal"
)

// Options shape the manifest.
type Options struct {
	// Replica is litestream.replica (default: a file replica under the
	// app directory).
	Replica  string
	Endpoint string
	Policy   string
	StateDir string
	// Extra is appended to the manifest verbatim.
	Extra string
	// ExtraMaintenance is appended inside maintenance: (indented keys).
	ExtraMaintenance string
	// Queue adds storage.queue_database.
	Queue bool
}

// App is an app directory.
type App struct {
	Dir      string
	StateDir string
	Replica  string
	Manifest *config.Manifest
}

// New writes dir/config/berth.yml and loads it.
func New(t testing.TB, o Options) *App {
	t.Helper()
	dir := t.TempDir()
	if o.StateDir == "" {
		o.StateDir = filepath.Join(dir, "server", "state")
	}
	if o.Replica == "" {
		o.Replica = filepath.Join(dir, "server", "backups", "shop")
	}
	if o.Policy == "" {
		o.Policy = config.PolicyWhenMigrationsPending
	}
	var b strings.Builder
	b.WriteString("app: shop\nimage: ghcr.io/example/shop\nhosts: [203.0.113.10]\ndomains: [shop.example.org, www.shop.example.org]\n")
	b.WriteString("litestream:\n  replica: " + o.Replica + "\n")
	if o.Endpoint != "" {
		b.WriteString("  endpoint: " + o.Endpoint + "\n  region: us-east-1\n")
	} else if strings.HasPrefix(o.Replica, "s3://") {
		b.WriteString("  region: us-east-1\n")
	}
	if o.Queue {
		b.WriteString("storage:\n  queue_database: production_queue.sqlite3\n")
	}
	b.WriteString("maintenance:\n  policy: " + o.Policy + "\n  message: Back soon.\n" + o.ExtraMaintenance)
	b.WriteString("server:\n  acme:\n    email: ops@shop-example.net\n  state_dir: " + o.StateDir + "\n")
	b.WriteString(o.Extra)
	if err := os.MkdirAll(filepath.Join(dir, "config"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config", "berth.yml"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := config.LoadFrom(dir, config.DefaultPath)
	if err != nil {
		t.Fatalf("test manifest: %v\n%s", err, b.String())
	}
	// config/deploy.yml as `berth config render` writes it (pre-deploy
	// reads it for the app's env file).
	deployYML, err := kamal.Render(m)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "config", "deploy.yml"), deployYML, 0o644); err != nil {
		t.Fatal(err)
	}
	// Kamal requires the destination's file for -d production, which the
	// tests use.
	if err := os.WriteFile(filepath.Join(dir, "config", "deploy.production.yml"), []byte("# production: nothing differs\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return &App{Dir: dir, StateDir: o.StateDir, Replica: o.Replica, Manifest: m}
}
