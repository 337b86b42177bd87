package localserver

import (
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/wombatworkouts/berth/config"
	berthtraefik "github.com/wombatworkouts/berth/config/traefik"
)

const manifest = `app: shop
image: ghcr.io/example/shop
hosts: [203.0.113.10]
domains: [shop.example.net]
litestream:
  replica: s3://bucket/shop
  region: fsn1
server:
  acme:
    email: ops@shop.example.net
`

func rendered(t *testing.T, staging bool) []byte {
	t.Helper()
	src := manifest
	if staging {
		src += "    staging: true\n"
	}
	m, err := config.Parse([]byte(src), "berth.yml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := berthtraefik.NewStatic(m.Server).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// The stand-in CA follows the rendered caServer, and the storage file keeps
// the rendered name on the stand-in volume: staging and production stay
// apart as on a server.
func TestAdaptACME(t *testing.T) {
	vol := t.TempDir()
	s := Settings{DockerEndpoint: "unix:///x.sock", DynamicDir: "/d", ACMEDir: vol,
		ProductionCA: "https://127.0.0.1:1/dir", StagingCA: "https://127.0.0.1:2/dir"}
	for _, tc := range []struct {
		name           string
		staging        bool
		wantCA, wantTo string
	}{
		{"production", false, s.ProductionCA, filepath.Join(vol, "acme.json")},
		{"staging", true, s.StagingCA, filepath.Join(vol, "acme-staging.json")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := AdaptStatic(rendered(t, tc.staging), s)
			if err != nil {
				t.Fatal(err)
			}
			var st struct {
				CertificatesResolvers map[string]struct {
					ACME map[string]any `yaml:"acme"`
				} `yaml:"certificatesResolvers"`
			}
			if err := yaml.Unmarshal(a.YAML, &st); err != nil {
				t.Fatal(err)
			}
			acme := st.CertificatesResolvers[berthtraefik.CertResolver].ACME
			if acme["caServer"] != tc.wantCA || acme["storage"] != tc.wantTo {
				t.Errorf("caServer %v storage %v, want %s %s", acme["caServer"], acme["storage"], tc.wantCA, tc.wantTo)
			}
			if hc, _ := acme["httpChallenge"].(map[string]any); hc["entryPoint"] != berthtraefik.EntryPointWeb {
				t.Errorf("httpChallenge not kept as rendered: %v", acme)
			}
		})
	}
}

// Without a stand-in for the CA the rendering names, nothing is adapted:
// a test can never reach Let's Encrypt.
func TestAdaptACMERefusesAMissingCA(t *testing.T) {
	base := Settings{DockerEndpoint: "unix:///x.sock", DynamicDir: "/d", ACMEDir: t.TempDir()}
	prodOnly, stagingOnly := base, base
	prodOnly.ProductionCA = "https://127.0.0.1:1/dir"
	stagingOnly.StagingCA = "https://127.0.0.1:2/dir"
	for _, tc := range []struct {
		name    string
		staging bool
		s       Settings
		want    string
	}{
		{"production without ProductionCA", false, stagingOnly, "ProductionCA is empty"},
		{"staging without StagingCA", true, prodOnly, "StagingCA is empty"},
		{"no volume", false, Settings{DockerEndpoint: "unix:///x.sock", DynamicDir: "/d", ProductionCA: "https://127.0.0.1:1/dir"}, "ACMEDir is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := AdaptStatic(rendered(t, tc.staging), tc.s)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want %q", err, tc.want)
			}
		})
	}
}
