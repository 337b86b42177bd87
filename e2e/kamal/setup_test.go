// Package kamal_test runs berth's installed hooks under the real Kamal 2.12
// (e2e/internal/kamalhost: real SSH to this machine, whose `docker` is the
// recording stand-in), as `kamal deploy`, `kamal app boot` and the rest run
// them, and checks what berth does there: the secrets its migration sees,
// how often it migrates, the nested kamal calls it makes, the rollback hint
// it records, and the framing of remote output at every Kamal verbosity.
package kamal_test

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/wombatworkouts/berth/e2e/internal/kamalhost"
	"github.com/wombatworkouts/berth/e2e/internal/kamalhost/recdocker"
	"github.com/wombatworkouts/berth/e2e/internal/pluginsrc"
)

func TestMain(m *testing.M) { kamalhost.Main(m) }

var (
	berthOnce sync.Once
	berthBin  string
	berthErr  error
)

// berth builds the berth program once, as `make hooks` does.
func berth(t *testing.T) string {
	t.Helper()
	berthOnce.Do(func() {
		root, err := pluginsrc.RepoRoot()
		if err != nil {
			berthErr = err
			return
		}
		dir, err := os.MkdirTemp("", "berth-kamal-e2e-")
		if err != nil {
			berthErr = err
			return
		}
		berthBin = filepath.Join(dir, "berth")
		cmd := exec.Command("go", "build", "-o", berthBin, "./hooks/cmd/berth")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			berthErr = fmt.Errorf("go build ./hooks/cmd/berth: %v\n%s", err, out)
		}
	})
	if berthErr != nil {
		t.Fatal(berthErr)
	}
	return berthBin
}

// berthApp is an app directory as a berth user has it: config/berth.yml,
// the files `berth config render config` writes (deploy.yml changed only in
// registry.server and ssh, which point at the test's registry and sshd),
// berth's hooks installed by `berth install-hooks`, and a pre-connect hook
// of the user's own that logs each of its runs.
type berthApp struct {
	*kamalhost.App
	srv      *kamalhost.Server
	stateDir string
	// env is what every kamal run gets: the smoke checks sent to a local
	// HTTPS server that plays Traefik.
	env map[string]string
}

const secretsV1 = "KAMAL_REGISTRY_PASSWORD=test-registry-password\nRAILS_MASTER_KEY=master-key-v1\nSTRIPE_KEY=sk_test_stripe_1\n"

func newBerthApp(t *testing.T, service string) *berthApp {
	t.Helper()
	bin := berth(t)
	srv := kamalhost.StartServer(t, kamalhost.ServerOptions{})
	app := kamalhost.NewApp(t, srv, kamalhost.AppOptions{Service: service,
		Secrets: map[string]string{"KAMAL_REGISTRY_PASSWORD": "test-registry-password", "RAILS_MASTER_KEY": "master-key-v1", "STRIPE_KEY": "sk_test_stripe_1"}})
	a := &berthApp{App: app, srv: srv, stateDir: t.TempDir()}

	harness := readYAML(t, filepath.Join(app.Dir, "config", "deploy.yml"))
	manifest := fmt.Sprintf(`app: %s
image: ghcr.io/kamalhost/%s
hosts: [%s]
domains: [example.com]
litestream:
  replica: /srv/backups/%s
maintenance:
  policy: when-migrations-pending
  message: Back in a minute.
server:
  acme:
    email: ops@wombatworkouts.com
  state_dir: %s
kamal:
  env:
    secret: [STRIPE_KEY]
  servers:
    job:
      hosts: [%s]
      cmd: bin/jobs
`, service, service, kamalhost.Host, service, a.stateDir, kamalhost.Host)
	writeFile(t, filepath.Join(app.Dir, "config", "berth.yml"), manifest, 0o644)
	// A Rails app pins its Kamal; berth renders hooks_output for 2.11+.
	writeFile(t, filepath.Join(app.Dir, "Gemfile.lock"), "GEM\n  remote: https://rubygems.org/\n  specs:\n    kamal (2.12.0)\n", 0o644)
	// The harness's deploy.yml only points Kamal at the test server (ssh,
	// registry), which is spliced back below: render from scratch rather
	// than have berth refuse to drop its ssh: section.
	if err := os.Remove(filepath.Join(app.Dir, "config", "deploy.yml")); err != nil {
		t.Fatal(err)
	}
	run(t, app.Dir, bin, "config", "render", "config", "--allow-placeholders")
	rendered := readYAML(t, filepath.Join(app.Dir, "config", "deploy.yml"))
	rendered["registry"].(map[string]any)["server"] = harness["registry"].(map[string]any)["server"]
	rendered["ssh"] = harness["ssh"]
	out, err := yaml.Marshal(rendered)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(app.Dir, "config", "deploy.yml"), string(out), 0o644)
	run(t, app.Dir, bin, "install-hooks", app.Dir)
	writeFile(t, filepath.Join(app.Dir, ".kamal", "hooks", "pre-connect"),
		"#!/bin/sh\necho \"${BERTH_NESTED:-kamal} $KAMAL_COMMAND\" >> "+filepath.Join(app.Dir, "pre-connect.log")+"\n", 0o755)
	t.Cleanup(func() { os.RemoveAll(filepath.Join(srv.RemoteHome, service+"-litestream")) })

	// The accessory's litestream, run by the recording docker's `docker
	// exec` (Run): every sync is caught up at TXID 5.
	writeFile(t, filepath.Join(srv.BinDir, "litestream"), `#!/bin/sh
case "$1" in
  sync) eval db=\${$#}; echo "{\"db_path\":\"$db\",\"txid\":5,\"replica_txid\":5}";;
  ltx) echo '[{"level":0,"min_txid":"0000000000000005","max_txid":"0000000000000005","timestamp":"2026-12-01T00:00:00Z"}]';;
  *) echo "stand-in litestream: $*" >&2; exit 1;;
esac
`, 0o755)
	srv.AddRule(t,
		recdocker.Rule{Args: []string{"exec", service + "-litestream"}, Run: true},
		recdocker.Rule{Args: []string{"run", "--rm", "db:migrate:status"}, Stdout: " Status   Migration ID    Migration Name\n--------------------------------------------------\n   up     20240101000000  Create users\n  down    20261201000000  Add plans\n"},
		recdocker.Rule{Args: []string{"run", "--rm", "db:migrate"}, Stdout: "== 20261201000000 AddPlans: migrated\n"},
	)
	a.env = smokeTarget(t)
	return a
}

// smokeTarget plays Traefik for post-deploy's smoke checks: HTTPS for
// example.com (httptest's certificate names it), /up, and http redirecting
// to https.
func smokeTarget(t *testing.T) map[string]string {
	t.Helper()
	tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") }))
	t.Cleanup(tls.Close)
	plain := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://"+r.Host+r.URL.Path, http.StatusMovedPermanently)
	}))
	t.Cleanup(plain.Close)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	writeFile(t, ca, string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: tls.Certificate().Raw})), 0o644)
	if _, err := x509.ParseCertificate(tls.Certificate().Raw); err != nil {
		t.Fatal(err)
	}
	return map[string]string{
		"BERTH_SMOKE_HTTPS_ADDR": strings.TrimPrefix(tls.URL, "https://"),
		"BERTH_SMOKE_HTTP_ADDR":  strings.TrimPrefix(plain.URL, "http://"),
		"BERTH_SMOKE_CA":         ca,
		"BERTH_SMOKE_ATTEMPTS":   "2",
		"BERTH_SMOKE_INTERVAL":   "100ms",
	}
}

// kamal runs kamal in the app with the app's environment.
func (a *berthApp) kamal(t *testing.T, args ...string) kamalhost.Result {
	t.Helper()
	r := a.KamalWith(t, kamalhost.RunOptions{Env: a.env}, args...)
	t.Logf("kamal %s: exit %d in %s", strings.Join(args, " "), r.Exit, r.Elapsed.Round(1e6))
	return r
}

func (a *berthApp) mustKamal(t *testing.T, args ...string) kamalhost.Result {
	t.Helper()
	r := a.kamal(t, args...)
	if r.Exit != 0 {
		t.Fatalf("%s", r)
	}
	return r
}

// preConnectRuns reads the user's pre-connect log and resets it.
func (a *berthApp) preConnectRuns(t *testing.T) []string {
	t.Helper()
	p := filepath.Join(a.Dir, "pre-connect.log")
	b, err := os.ReadFile(p)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	os.Remove(p)
	return strings.Fields(strings.ReplaceAll(strings.TrimSpace(string(b)), " ", "|"))
}

func (a *berthApp) setSecrets(t *testing.T, text string) {
	t.Helper()
	writeFile(t, filepath.Join(a.Dir, ".kamal", "secrets"), text, 0o600)
}

func run(t *testing.T, dir, bin string, args ...string) string {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", filepath.Base(bin), strings.Join(args, " "), err, out)
	}
	return string(out)
}

func readYAML(t *testing.T, p string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]any{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func writeFile(t *testing.T, p, content string, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
}

func removeAll(p string) { _ = os.RemoveAll(p) }
