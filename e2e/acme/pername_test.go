package acme_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/wombatworkouts/berth/config"
	berthtraefik "github.com/wombatworkouts/berth/config/traefik"
	"github.com/wombatworkouts/berth/e2e/internal/pebble"
	"github.com/wombatworkouts/berth/hooks/smoke"
)

// orderWindow is how long the order rate of a name that never validates
// is watched, and maxOrdersInWindow the most orders allowed in it. Let's
// Encrypt allows 5 failed validations per name and hour; the rendered
// configuration orders a failing name only when the configuration changes
// for another reason (here: once more, when the other name's certificate
// arrives).
const (
	orderWindow       = 60 * time.Second
	maxOrdersInWindow = 2
)

// A first deploy whose www record does not exist yet (issue 13, points 1,
// 2 and 5): the apex gets its own certificate within seconds of Traefik's
// start while www fails; over a minute the failing name is not ordered
// again and again; the www -> apex redirect carries HSTS; and once www
// resolves, the next deploy's configuration change gets its certificate.
func TestFirstDeployWithANameThatDoesNotResolve(t *testing.T) {
	t.Parallel()
	r := newRig(t)
	ca := r.startCA("letsencrypt")
	roots, _, err := ca.Roots()
	if err != nil {
		t.Fatal(err)
	}
	r.resolve(apex) // www has no DNS record yet
	m, files := example(t)
	start := time.Now()
	r.serve(m, files, ca, nil, nil)

	cert, err := r.waitIssued(apex, roots, 30*time.Second)
	if err != nil {
		t.Fatalf("one failing name took the others down: %v\n%s", err, tail(traefikLog(r.tr), 20))
	}
	issued := time.Since(start)
	t.Logf("%s: certificate from the CA %.1f s after Traefik started, for %v", apex, issued.Seconds(), cert.DNSNames)
	if strings.Join(cert.DNSNames, ",") != apex {
		t.Errorf("%s's certificate names %v: want one certificate per name", apex, cert.DNSNames)
	}
	// www's first order runs beside the apex's; wait until the CA has
	// tried it, so the window below starts after it.
	for deadline := time.Now().Add(30 * time.Second); len(pebble.Between(ca.Validations(), start, time.Now(), www)) == 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%s was never validated: the test did not exercise a failing name", www)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// The order rate of the name that never validates, watched for a
	// whole window with nothing else changing the configuration (the
	// checks below only send requests).
	from := time.Now()
	checkHSTSOnRedirect(t, r, nil)
	rs := r.smoke(m, roots)
	for _, res := range rs {
		isWWW := strings.Contains(res.URL, "://"+www)
		switch {
		case strings.HasPrefix(res.URL, "https://"+www) && res.OK:
			t.Errorf("%s passed without a certificate for %s: %s", res.Name, www, res.Detail)
		case strings.HasPrefix(res.URL, "https://"+www) && !strings.Contains(res.Detail, "Traefik's default certificate"):
			t.Errorf("%s: %q, want Traefik's default certificate named as such", res.Name, res.Detail)
		case !isWWW && !res.OK:
			t.Errorf("%s failed while only %s lacks a certificate: %s", res.Name, www, res.Detail)
		}
	}
	time.Sleep(time.Until(from.Add(orderWindow)))
	to := time.Now()
	wwwOrders := pebble.Between(ca.Validations(), from, to, www)
	allOrders := pebble.Between(ca.Orders(), from, to, "")
	before := pebble.Between(ca.Validations(), start, from, www)
	t.Logf("%s (does not resolve): %d orders in the %.1f s before the window, %d in the %.0f s window (%.1f a minute); %d orders in the window for any name",
		www, len(before), from.Sub(start).Seconds(), len(wwwOrders), to.Sub(from).Seconds(), float64(len(wwwOrders))/to.Sub(from).Minutes(), len(allOrders))
	if len(wwwOrders) > maxOrdersInWindow || len(allOrders) > maxOrdersInWindow {
		t.Errorf("re-order storm: %d orders for %s (%d in all) in %s, want at most %d", len(wwwOrders), www, len(allOrders), orderWindow, maxOrdersInWindow)
	}

	// The DNS record is added. Nothing orders on its own (that is what
	// keeps a failing name from looping); the next deploy does: Kamal
	// starts the new version's container, Traefik's docker provider
	// reloads, and www is ordered again.
	r.resolve(www)
	deployed := time.Now()
	r.deploy(m, files, "e2e0002")
	if _, err := r.waitIssued(www, roots, 30*time.Second); err != nil {
		t.Fatalf("after the DNS fix and a deploy: %v\n%s", err, tail(traefikLog(r.tr), 20))
	}
	t.Logf("%s: certificate %.1f s after the deploy that followed the DNS fix", www, time.Since(deployed).Seconds())
	checkHSTSOnRedirect(t, r, roots)
	for _, res := range r.smoke(m, roots) {
		if !res.OK {
			t.Errorf("smoke check %s: %s", res.Name, res.Detail)
		}
	}
	for _, name := range m.Domains {
		chain, err := r.served(name)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(chain[0].DNSNames, ",") != name {
			t.Errorf("%s is served a certificate for %v: want one certificate per name", name, chain[0].DNSNames)
		}
	}
}

// smoke runs berth's smoke checks from the deployer's side against this
// server, trusting roots (nil: the system's, as for a real deploy).
func (r *rig) smoke(m *config.Manifest, roots *x509.CertPool) []smoke.Result {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// The example's own checks look for its Rails home page, which the
	// stand-in app does not have: the certificate and redirect checks of
	// every domain stay, plus the health path.
	mm := *m
	mm.Smoke.Checks = []config.SmokeCheck{{Path: m.Health.Path, Host: m.CanonicalDomain(), Status: http.StatusOK}}
	return smoke.Run(ctx, smoke.Options{
		Manifest:  &mm,
		HTTPSAddr: r.ports[berthtraefik.EntryPointSecure],
		HTTPAddr:  r.ports[berthtraefik.EntryPointWeb],
		RootCAs:   roots,
		Attempts:  1,
		Timeout:   5 * time.Second,
	})
}

// checkHSTSOnRedirect asks for https://www... and wants the permanent
// redirect to the apex with the security headers, HSTS above all (issue
// 13, point 5). Before www has its certificate (roots nil) the certificate
// is not checked: the redirect is Traefik's routing either way.
func checkHSTSOnRedirect(t *testing.T, r *rig, roots *x509.CertPool) {
	t.Helper()
	d := &net.Dialer{Timeout: 5 * time.Second}
	c := &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			Proxy: nil,
			DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
				return d.DialContext(ctx, "tcp", r.ports[berthtraefik.EntryPointSecure])
			},
			TLSClientConfig:   &tls.Config{InsecureSkipVerify: roots == nil, RootCAs: roots}, //nolint:gosec // only before www has a certificate
			DisableKeepAlives: true,
		},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := c.Get("https://" + www + "/plans?week=2")
	if err != nil {
		t.Fatalf("GET https://%s/plans: %v", www, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMovedPermanently && resp.StatusCode != http.StatusPermanentRedirect {
		t.Errorf("https://%s: %d, want a permanent redirect", www, resp.StatusCode)
	}
	if loc := resp.Header.Get("Location"); loc != "https://"+apex+"/plans?week=2" {
		t.Errorf("https://%s: Location %q", www, loc)
	}
	if got := resp.Header.Get("Strict-Transport-Security"); got != "max-age=31536000; includeSubDomains" {
		t.Errorf("the www -> apex redirect carries Strict-Transport-Security %q, want max-age=31536000; includeSubDomains", got)
	}
}
