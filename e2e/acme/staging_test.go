package acme_test

import (
	"crypto/x509"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	berthtraefik "github.com/wombatworkouts/berth/config/traefik"
)

// The runbook's first deploy on staging, then the switch to production
// (issue 13, points 3 and 4), with two Pebbles whose roots differ playing
// Let's Encrypt staging and production:
//   - on staging every name gets a staging certificate, and berth's smoke
//     checks, trusting only the system's roots as on a real deployer's
//     machine, pass and say the chain is staging (the same certificates
//     fail them for a production manifest);
//   - server.acme.staging: false, rendered again, and Traefik restarted on
//     the same volume: every name is served a production certificate at
//     once, ordered from the production CA, and the smoke checks pass
//     against production's root;
//   - the way it was before (one storage file for both CAs) keeps serving
//     the staging certificates and orders nothing from production.
func TestStagingThenProduction(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	staging := r.startCA("staging")
	production := r.startCA("production")
	stagingRoots, _, err := staging.Roots()
	if err != nil {
		t.Fatal(err)
	}
	productionRoots, _, err := production.Roots()
	if err != nil {
		t.Fatal(err)
	}
	r.resolve(apex, www)

	mStaging, filesStaging := example(t, "staging: false", "staging: true")
	start := time.Now()
	r.serve(mStaging, filesStaging, production, staging, nil)
	for _, name := range mStaging.Domains {
		if _, err := r.waitIssued(name, stagingRoots, 30*time.Second); err != nil {
			t.Fatalf("staging: %v", err)
		}
	}
	t.Logf("staging: a certificate for each name %.1f s after Traefik started", time.Since(start).Seconds())
	if n := len(production.Orders()); n != 0 {
		t.Errorf("the production CA got %d orders while the rendering says staging", n)
	}

	// Point 4: the smoke checks of a staging deploy, from a machine that
	// trusts only its system's roots.
	for _, res := range r.smoke(mStaging, nil) {
		switch {
		case !res.OK:
			t.Errorf("staging smoke check %s: %s", res.Name, res.Detail)
		case strings.HasPrefix(res.Name, "https+certificate") && !strings.Contains(res.Detail, "staging chain: issued by Pebble Intermediate"):
			t.Errorf("staging smoke check %s passed without saying the chain is staging: %s", res.Name, res.Detail)
		}
	}
	mProduction, filesProduction := example(t)
	failed := 0
	for _, res := range r.smoke(mProduction, nil) {
		if strings.HasPrefix(res.URL, "https://") && !res.OK {
			failed++
			if !strings.Contains(res.Detail, "is not trusted (issued by Pebble Intermediate") {
				t.Errorf("%s: %q, want the staging certificate refused as not trusted, naming its issuer", res.Name, res.Detail)
			}
		}
	}
	if failed != 3 {
		t.Errorf("%d https checks of a production manifest failed on staging certificates, want all 3", failed)
	}

	// Point 3: switch to production, render again, restart Traefik on the
	// same volume.
	r.stop()
	restarted := time.Now()
	r.serve(mProduction, filesProduction, production, staging, nil)
	for _, name := range mProduction.Domains {
		cert, err := r.waitIssued(name, productionRoots, 30*time.Second)
		if err != nil {
			t.Fatalf("after the switch to production: %v", err)
		}
		if issuedBy([]*x509.Certificate{cert}, name, stagingRoots) == nil {
			t.Errorf("%s: the production certificate verifies against staging's root", name)
		}
	}
	t.Logf("production: a certificate for each name %.1f s after the restart; %d orders at the production CA",
		time.Since(restarted).Seconds(), len(production.Orders()))
	for _, res := range r.smoke(mProduction, productionRoots) {
		if !res.OK || strings.Contains(res.Detail, "staging") {
			t.Errorf("production smoke check %s: ok=%v %s", res.Name, res.OK, res.Detail)
		}
	}
	// Both stores are on the volume, each with its own CA's certificates.
	for file, want := range map[string]int{"acme-staging.json": 2, "acme.json": 2} {
		if n := storedCertificates(t, filepath.Join(r.acmeDir, file)); n != want {
			t.Errorf("%s holds %d certificates, want %d", file, n, want)
		}
	}

	// Before: one storage file for both CAs. Traefik resets the account
	// for the new caServer and keeps serving what the file holds.
	r.stop()
	ordersBefore := len(production.Orders())
	r.serve(mProduction, filesProduction, production, staging, func(static string) string {
		return withStorage(t, static, filepath.Join(r.acmeDir, "acme-staging.json"))
	})
	time.Sleep(10 * time.Second)
	for _, name := range mProduction.Domains {
		chain, err := r.served(name)
		if err != nil {
			t.Fatal(err)
		}
		if issuedBy(chain, name, stagingRoots) != nil {
			t.Errorf("one file for both CAs: %s is not served its staging certificate: the comparison no longer shows the problem", name)
		}
	}
	if n := len(production.Orders()) - ordersBefore; n != 0 {
		t.Errorf("one file for both CAs: %d orders at production, want none (the problem berth's separate files avoid)", n)
	}
	t.Logf("one storage file for both CAs (before): staging certificates still served 10 s after the switch, %d orders at production",
		len(production.Orders())-ordersBefore)
}

// storedCertificates counts the certificates of berth's resolver in a
// Traefik acme.json.
func storedCertificates(t *testing.T, path string) int {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("ACME storage: %v", err)
	}
	var store map[string]struct {
		Certificates []json.RawMessage `json:"Certificates"`
	}
	if err := json.Unmarshal(raw, &store); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return len(store[berthtraefik.CertResolver].Certificates)
}

// withStorage points the adapted static configuration's ACME storage at
// file.
func withStorage(t *testing.T, static, file string) string {
	t.Helper()
	var st map[string]any
	if err := yaml.Unmarshal([]byte(static), &st); err != nil {
		t.Fatal(err)
	}
	resolvers, _ := st["certificatesResolvers"].(map[string]any)
	resolver, _ := resolvers[berthtraefik.CertResolver].(map[string]any)
	acme, _ := resolver["acme"].(map[string]any)
	if acme["storage"] == nil {
		t.Fatalf("no ACME storage in:\n%s", static)
	}
	acme["storage"] = file
	out, err := yaml.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
