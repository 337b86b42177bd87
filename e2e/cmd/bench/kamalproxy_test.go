package main

import (
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/wombatworkouts/berth/e2e/internal/backend"
)

// The real kamal-proxy v0.9.2: a deployed service reaches its app by Host,
// `stop` (what kamal app maintenance runs) turns it into the 503 page with
// the message, and Close ends the process.
func TestKamalProxyDeployAndMaintenance(t *testing.T) {
	bin, err := kamalProxyBinary()
	if err != nil {
		t.Fatal(err)
	}
	app, err := backend.Start("app-0", "")
	if err != nil {
		t.Fatal(err)
	}
	defer app.Stop()
	kp, err := startKamalProxy(bin, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer kp.Close()
	if err := kp.deploy("app-0", appHost(0), app.Addr); err != nil {
		t.Fatal(err)
	}
	if err := getApp(http.DefaultClient, kp.URL, 0); err != nil {
		t.Fatal(err)
	}
	if err := kp.maintenance("app-0", "Back after the upgrade."); err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, kp.URL+"/", nil)
	req.Host = appHost(0)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), "Back after the upgrade.") {
		t.Fatalf("%s: %.300s", resp.Status, body)
	}
	kp.Close()
	select {
	case <-kp.done:
	default:
		t.Fatal("kamal-proxy still runs after Close")
	}
}
