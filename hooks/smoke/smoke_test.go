package smoke_test

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/wombatworkouts/berth/hooks/hookstest/testapp"
	"github.com/wombatworkouts/berth/hooks/internal/testcerts"
	"github.com/wombatworkouts/berth/hooks/smoke"
)

var names = []string{"shop.example.org", "www.shop.example.org"}

// site is a local stand-in for Traefik: https on one port, http (redirect
// to https) on another.
func site(t *testing.T, cert tls.Certificate, handler http.HandlerFunc, httpHandler http.HandlerFunc) (string, string) {
	t.Helper()
	s := httptest.NewUnstartedServer(handler)
	s.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	s.Config.ErrorLog = log.New(io.Discard, "", 0)
	s.StartTLS()
	t.Cleanup(s.Close)
	if httpHandler == nil {
		httpHandler = func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://"+r.Host+r.URL.RequestURI(), http.StatusMovedPermanently)
		}
	}
	h := httptest.NewServer(httpHandler)
	t.Cleanup(h.Close)
	return strings.TrimPrefix(s.URL, "https://"), strings.TrimPrefix(h.URL, "http://")
}

func app(w http.ResponseWriter, r *http.Request) {
	if r.Host == "www.shop.example.org" {
		http.Redirect(w, r, "https://shop.example.org"+r.URL.RequestURI(), http.StatusMovedPermanently)
		return
	}
	switch r.URL.Path {
	case "/up":
		fmt.Fprint(w, "ok")
	case "/":
		fmt.Fprint(w, "<h1>Welcome to the Shop</h1>")
	case "/admin":
		http.Redirect(w, r, "/login", http.StatusFound)
	default:
		http.NotFound(w, r)
	}
}

func TestSmoke(t *testing.T) {
	now := time.Now()
	ca := testcerts.NewCA(t, now)
	day := 24 * time.Hour
	good := ca.Leaf(t, names, now.Add(-day), now.Add(80*day), false)
	extra := "smoke:\n  checks:\n    - path: /up\n    - path: /\n      contains: Welcome to the Shop\n    - path: /admin\n      status: 302\n"
	a := testapp.New(t, testapp.Options{Extra: extra})

	tests := []struct {
		name     string
		cert     tls.Certificate
		handler  http.HandlerFunc
		http     http.HandlerFunc
		wantFail map[string]string // check name prefix -> detail fragment
	}{
		{"all good", good, app, nil, nil},
		{"expired certificate", ca.Leaf(t, names, now.Add(-100*day), now.Add(-day), false), app, nil,
			map[string]string{"https+certificate shop.example.org": "expired on"}},
		{"self-signed certificate", ca.Leaf(t, names, now.Add(-day), now.Add(80*day), true), app, nil,
			map[string]string{"https+certificate shop.example.org": "not trusted"}},
		{"certificate for another name", ca.Leaf(t, []string{"other.example.org"}, now.Add(-day), now.Add(80*day), false), app, nil,
			map[string]string{"https+certificate shop.example.org": "not valid for shop.example.org"}},
		{"expiring within 14 days", ca.Leaf(t, names, now.Add(-day), now.Add(5*day), false), app, nil,
			map[string]string{"https+certificate shop.example.org": "fewer than smoke.certificate_min_days=14"}},
		{"no http redirect", good, app, func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "plain") },
			map[string]string{"http->https ": "want a redirect"}},
		{"page broken", good, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/" && r.Host == "shop.example.org" {
				http.Error(w, "We're sorry, but something went wrong", 500)
				return
			}
			app(w, r)
		}, nil, map[string]string{`GET shop.example.org/ -> 200`: "answered 500"}},
		{"text missing", good, func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/" && r.Host == "shop.example.org" {
				fmt.Fprint(w, "a different page")
				return
			}
			app(w, r)
		}, nil, map[string]string{`GET shop.example.org/ -> 200`: "does not contain"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			httpsAddr, httpAddr := site(t, tc.cert, tc.handler, tc.http)
			rs := smoke.Run(context.Background(), smoke.Options{Manifest: a.Manifest, HTTPSAddr: httpsAddr, HTTPAddr: httpAddr,
				RootCAs: ca.Pool, Attempts: 2, Interval: 10 * time.Millisecond, Timeout: 2 * time.Second})
			if len(rs) != 7 {
				t.Fatalf("%d checks: %+v", len(rs), rs)
			}
			failed := 0
			for _, r := range rs {
				if r.OK {
					continue
				}
				failed++
				matched := false
				for prefix, frag := range tc.wantFail {
					if strings.HasPrefix(r.Name, prefix) && strings.Contains(r.Detail, frag) {
						matched = true
					}
				}
				if !matched && tc.wantFail != nil {
					// Certificate problems fail every https check;
					// they must say so too.
					if strings.Contains(tc.name, "certificate") || strings.Contains(tc.name, "expir") {
						continue
					}
				}
				if !matched {
					t.Errorf("unexpected failure %s: %s", r.Name, r.Detail)
				}
				if r.Attempts != 2 {
					t.Errorf("%s: %d attempts", r.Name, r.Attempts)
				}
			}
			for prefix, frag := range tc.wantFail {
				found := false
				for _, r := range rs {
					if !r.OK && strings.HasPrefix(r.Name, prefix) && strings.Contains(r.Detail, frag) {
						found = true
					}
				}
				if !found {
					t.Errorf("no failure %q with %q in %+v", prefix, frag, rs)
				}
			}
			if (failed == 0) != (tc.wantFail == nil) || smoke.Failed(rs) != (tc.wantFail != nil) {
				t.Errorf("failed=%d for %+v", failed, rs)
			}
		})
	}
}

func TestSmokeDeadline(t *testing.T) {
	now := time.Now()
	ca := testcerts.NewCA(t, now)
	cert := ca.Leaf(t, names, now.Add(-time.Hour), now.Add(80*24*time.Hour), false)
	block := make(chan struct{})
	httpsAddr, httpAddr := site(t, cert, func(w http.ResponseWriter, r *http.Request) { <-block }, nil)
	// Registered after the servers, so it runs before they close.
	t.Cleanup(func() { close(block) })
	a := testapp.New(t, testapp.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	start := time.Now()
	rs := smoke.Run(ctx, smoke.Options{Manifest: a.Manifest, HTTPSAddr: httpsAddr, HTTPAddr: httpAddr, RootCAs: ca.Pool,
		Attempts: 3, Interval: 10 * time.Millisecond, Timeout: 300 * time.Millisecond})
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("took %s", d)
	}
	if !smoke.Failed(rs) {
		t.Fatal("hanging app passed")
	}
}

// traefikDefaultName is the kind of name Traefik v3 gives the self-signed
// certificate it serves for a name it has none for.
const traefikDefaultName = "3f2a9c0d41b7e6a85d0c1e2f3a4b5c6d.7e8f9a0b1c2d3e4f5a6b7c8d9e0f1a2b.traefik.default"

// withIssuer appends the issuing CA's certificate to the chain the server
// sends, as Traefik sends Let's Encrypt's intermediate.
func withIssuer(leaf tls.Certificate, ca *testcerts.CA) tls.Certificate {
	leaf.Certificate = append(leaf.Certificate, ca.Cert.Raw)
	return leaf
}

// Under server.acme.staging the certificate comes from a CA no system
// trusts (here a test CA, which the system roots do not hold either): the
// smoke checks pass on everything that can be checked (the names, the
// dates, the issuer's signature) and say the chain is staging; they still
// fail Traefik's self-signed default certificate, a certificate for another
// name, one near expiry and one its sent issuer did not sign. With staging
// off, the same certificate is not trusted.
func TestSmokeUnderStaging(t *testing.T) {
	now := time.Now()
	ca := testcerts.NewCA(t, now)
	other := testcerts.NewCA(t, now)
	day := 24 * time.Hour
	good := withIssuer(ca.Leaf(t, names, now.Add(-day), now.Add(80*day), false), ca)

	tests := []struct {
		name    string
		staging bool
		cert    tls.Certificate
		want    string // "" passes; else a fragment of every https check's failure
	}{
		{"staging chain", true, good, ""},
		{"not staging: untrusted", false, good, "is not trusted (issued by berth test CA"},
		{"self-signed", true, ca.Leaf(t, names, now.Add(-day), now.Add(80*day), true), "is self-signed"},
		{"Traefik default certificate under staging", true, ca.Leaf(t, []string{traefikDefaultName}, now.Add(-day), now.Add(365*day), true), "is Traefik's default certificate: the CA has not issued one"},
		{"Traefik default certificate", false, ca.Leaf(t, []string{traefikDefaultName}, now.Add(-day), now.Add(365*day), true), "is Traefik's default certificate: the CA has not issued one"},
		{"issuer not sent", true, ca.Leaf(t, names, now.Add(-day), now.Add(80*day), false), "came without its issuer's certificate"},
		{"another issuer sent", true, withIssuer(ca.Leaf(t, names, now.Add(-day), now.Add(80*day), false), other), "did not sign"},
		{"another name", true, withIssuer(ca.Leaf(t, []string{"other.example.org"}, now.Add(-day), now.Add(80*day), false), ca), "is not valid for"},
		{"expiring", true, withIssuer(ca.Leaf(t, names, now.Add(-day), now.Add(5*day), false), ca), "fewer than smoke.certificate_min_days=14"},
		{"expired", true, withIssuer(ca.Leaf(t, names, now.Add(-100*day), now.Add(-day), false), ca), "expired on"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := testapp.New(t, testapp.Options{})
			a.Manifest.Server.ACME.Staging = tc.staging
			httpsAddr, httpAddr := site(t, tc.cert, app, nil)
			rs := smoke.Run(context.Background(), smoke.Options{Manifest: a.Manifest, HTTPSAddr: httpsAddr, HTTPAddr: httpAddr,
				Attempts: 1, Timeout: 2 * time.Second})
			https := 0
			for _, r := range rs {
				if !strings.HasPrefix(r.URL, "https://") {
					if !r.OK {
						t.Errorf("%s: %s", r.Name, r.Detail)
					}
					continue
				}
				https++
				switch {
				case tc.want == "" && !r.OK:
					t.Errorf("%s failed: %s", r.Name, r.Detail)
				case tc.want == "" && strings.HasPrefix(r.Name, "https+certificate") &&
					!strings.Contains(r.Detail, "staging chain: issued by berth test CA, not checked against trusted roots"):
					t.Errorf("%s: detail %q does not say the chain is staging", r.Name, r.Detail)
				case tc.want != "" && (r.OK || !strings.Contains(r.Detail, tc.want)):
					t.Errorf("%s: ok=%v %q, want a failure with %q", r.Name, r.OK, r.Detail, tc.want)
				}
			}
			if https != 3 {
				t.Errorf("%d https checks in %+v", https, rs)
			}
		})
	}
}
