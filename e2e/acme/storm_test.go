package acme_test

import (
	"testing"
	"time"

	"gopkg.in/yaml.v3"

	berthtraefik "github.com/wombatworkouts/berth/config/traefik"
	"github.com/wombatworkouts/berth/e2e/internal/pebble"
)

// stormWindow and minStormOrders: what the same server does with the
// TLS-ALPN challenge berth no longer renders (server.acme.challenge: tls is
// refused), measured the same way as the rendered HTTP-01 in
// TestFirstDeployWithANameThatDoesNotResolve. It shows the measurement sees
// a re-order storm when there is one (issue 13 saw 49-54 orders a minute).
const (
	stormWindow    = 20 * time.Second
	minStormOrders = 10
)

// With tlsChallenge instead of the rendered httpChallenge, every challenge
// pushes a dynamic configuration, and each push starts a new order for the
// name that does not resolve: a storm, where the rendered configuration
// orders it at most twice a minute.
func TestTLSALPNWouldReorderAFailingNameInALoop(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ca := r.startCA("letsencrypt")
	roots, _, err := ca.Roots()
	if err != nil {
		t.Fatal(err)
	}
	r.resolve(apex) // www does not resolve
	m, files := example(t)
	r.serve(m, files, ca, nil, func(static string) string { return withTLSALPN(t, static) })
	if _, err := r.waitIssued(apex, roots, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	from := time.Now()
	time.Sleep(stormWindow)
	to := time.Now()
	n := len(pebble.Between(ca.Validations(), from, to, www))
	t.Logf("TLS-ALPN-01 (not rendered): %d orders for %s in %.0f s (%.0f a minute), against at most %d a minute rendered",
		n, www, to.Sub(from).Seconds(), float64(n)/to.Sub(from).Minutes(), maxOrdersInWindow)
	if n < minStormOrders {
		t.Errorf("%d orders for %s in %s with TLS-ALPN: the storm that made berth drop TLS-ALPN is gone (Traefik changed?); "+
			"re-check config/traefik/acme.go's reasoning", n, www, stormWindow)
	}
}

// withTLSALPN swaps the adapted static configuration's HTTP-01 challenge for
// TLS-ALPN-01 (Traefik's tlsChallenge), failing if the rendering has no
// httpChallenge to swap.
func withTLSALPN(t *testing.T, static string) string {
	t.Helper()
	var st map[string]any
	if err := yaml.Unmarshal([]byte(static), &st); err != nil {
		t.Fatal(err)
	}
	resolvers, _ := st["certificatesResolvers"].(map[string]any)
	resolver, _ := resolvers[berthtraefik.CertResolver].(map[string]any)
	acme, _ := resolver["acme"].(map[string]any)
	if _, ok := acme["httpChallenge"]; !ok {
		t.Fatalf("the rendered resolver has no httpChallenge:\n%s", static)
	}
	delete(acme, "httpChallenge")
	acme["tlsChallenge"] = map[string]any{}
	out, err := yaml.Marshal(st)
	if err != nil {
		t.Fatal(err)
	}
	return string(out)
}
