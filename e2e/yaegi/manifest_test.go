package yaegi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/wombatworkouts/berth/e2e/internal/pluginsrc"
)

// The plugin catalog loads the plugin with the manifest's testData and calls
// New under a 10 s timeout; the manifest must also name the import Traefik
// uses and carry the catalog's required fields.
func TestManifestTestDataLoads(t *testing.T) {
	root, err := pluginsrc.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join(root, ".traefik.yml"))
	if err != nil {
		t.Fatal(err)
	}
	var manifest struct {
		DisplayName string         `yaml:"displayName"`
		Type        string         `yaml:"type"`
		Import      string         `yaml:"import"`
		Summary     string         `yaml:"summary"`
		IconPath    string         `yaml:"iconPath"`
		TestData    map[string]any `yaml:"testData"`
	}
	if err := yaml.Unmarshal(raw, &manifest); err != nil {
		t.Fatalf(".traefik.yml: %v", err)
	}
	if manifest.DisplayName == "" || manifest.Type != "middleware" || manifest.Summary == "" || len(manifest.TestData) == 0 {
		t.Errorf(".traefik.yml lacks a required field: %+v", manifest)
	}
	if manifest.Import != pluginsrc.ModuleName+"/plugin" {
		t.Errorf("import = %q, want %s/plugin", manifest.Import, pluginsrc.ModuleName)
	}
	if _, err := os.Stat(filepath.Join(root, manifest.IconPath)); err != nil {
		t.Errorf("iconPath: %v", err)
	}

	build := interpreted(t)
	start := time.Now()
	h, err := build(context.Background(), http.NotFoundHandler(), manifest.TestData, "catalog-test")
	if err != nil {
		t.Fatalf("New with testData: %v", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("New took %s, over the catalog's 10 s", d)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	if rec.Code != http.StatusNotFound {
		t.Errorf("testData instance answered %d, want the next handler's 404 (live)", rec.Code)
	}
}

// The root go.mod must not require yaegi or traefik: the catalog rejects it.
func TestRootModuleHasNoCatalogForbiddenRequirement(t *testing.T) {
	root, err := pluginsrc.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	mod, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	for _, forbidden := range []string{"github.com/traefik/yaegi", "github.com/traefik/traefik"} {
		if strings.Contains(string(mod), forbidden) {
			t.Errorf("root go.mod requires %s; the plugin catalog rejects that", forbidden)
		}
	}
}
