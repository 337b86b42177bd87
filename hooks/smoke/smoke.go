// Package smoke checks a deployed app from the deployer's machine, the way
// visitors reach it: every domain answers HTTPS with a certificate valid for
// that name and not about to expire, plain http redirects to https, and the
// configured paths answer what they should. Checks run in parallel, each
// with a deadline and a few short retries (a certificate can take seconds
// to appear after a first setup). Under server.acme.staging the
// certificate's chain ends at a staging root no system trusts; everything
// else about it is checked and the result says the chain is staging.
package smoke

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/wombatworkouts/berth/config"
)

// Options for Run.
type Options struct {
	Manifest *config.Manifest
	// HTTPSAddr and HTTPAddr, when set, replace DNS: every https (http)
	// request connects there, with the domain still in SNI and Host (the
	// rehearsal, or testing a server before DNS points at it).
	HTTPSAddr string
	HTTPAddr  string
	// RootCAs replaces the system's trusted roots ("" = system).
	RootCAs *x509.CertPool
	Now     func() time.Time
	// Attempts per check (default 3), Interval between them (default
	// 2s), Timeout per attempt (default 10s).
	Attempts int
	Interval time.Duration
	Timeout  time.Duration
}

// Result is one check's outcome.
type Result struct {
	Name     string
	URL      string
	OK       bool
	Detail   string
	Attempts int
	Duration time.Duration
}

type check struct {
	name string
	url  string
	run  func(ctx context.Context) (string, error)
}

// Run runs every check in parallel and returns the results in a stable
// order.
func Run(ctx context.Context, o Options) []Result {
	if o.Attempts <= 0 {
		o.Attempts = 3
	}
	if o.Interval <= 0 {
		o.Interval = 2 * time.Second
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	checks := plan(o)
	results := make([]Result, len(checks))
	var wg sync.WaitGroup
	for i, c := range checks {
		wg.Add(1)
		go func(i int, c check) {
			defer wg.Done()
			results[i] = runCheck(ctx, o, c)
		}(i, c)
	}
	wg.Wait()
	return results
}

// Failed reports whether any result failed.
func Failed(rs []Result) bool {
	for _, r := range rs {
		if !r.OK {
			return true
		}
	}
	return false
}

func runCheck(ctx context.Context, o Options, c check) Result {
	start := time.Now()
	r := Result{Name: c.name, URL: c.url}
	for attempt := 1; attempt <= o.Attempts; attempt++ {
		r.Attempts = attempt
		actx, cancel := context.WithTimeout(ctx, o.Timeout)
		detail, err := c.run(actx)
		cancel()
		if err == nil {
			r.OK, r.Detail = true, detail
			break
		}
		r.Detail = err.Error()
		if attempt == o.Attempts || ctx.Err() != nil {
			break
		}
		select {
		case <-ctx.Done():
		case <-time.After(o.Interval):
		}
	}
	r.Duration = time.Since(start)
	return r
}

func plan(o Options) []check {
	m := o.Manifest
	var cs []check
	health := m.Health.Path
	if health == "" {
		health = config.DefaultHealthPath
	}
	for _, d := range m.Domains {
		d := d
		target, redirects := m.RedirectTarget(d)
		u := "https://" + d + health
		if redirects {
			cs = append(cs, check{name: "https+certificate " + d, url: u, run: func(ctx context.Context) (string, error) {
				return redirectCheck(ctx, o, d, u, "https://"+target)
			}})
		} else {
			cs = append(cs, check{name: "https+certificate " + d, url: u, run: func(ctx context.Context) (string, error) {
				return get(ctx, o, d, u, 200, "")
			}})
		}
		hu := "http://" + d + health
		cs = append(cs, check{name: "http->https " + d, url: hu, run: func(ctx context.Context) (string, error) {
			return redirectCheck(ctx, o, d, hu, "https://")
		}})
	}
	for _, sc := range m.Smoke.Checks {
		host := sc.Host
		if host == "" {
			host = m.CanonicalDomain()
		}
		status := sc.Status
		if status == 0 {
			status = 200
		}
		p := sc.Path
		if !strings.HasPrefix(p, "/") {
			p = "/" + p
		}
		u := "https://" + host + p
		contains := sc.Contains
		name := fmt.Sprintf("GET %s%s -> %d", host, p, status)
		if contains != "" {
			name += fmt.Sprintf(" containing %q", contains)
		}
		cs = append(cs, check{name: name, url: u, run: func(ctx context.Context) (string, error) {
			return get(ctx, o, host, u, status, contains)
		}})
	}
	return cs
}

// client builds an HTTP client for one request to host: no redirects
// followed, the connection sent to the override address if any, and the
// certificate checked by berth itself so that the message says what is
// wrong (expired, not trusted, wrong name, expiring soon).
func client(o Options, host string, certDetail *string) *http.Client {
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	tr := &http.Transport{
		Proxy: nil,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if _, port, err := net.SplitHostPort(addr); err == nil {
				if port == "443" && o.HTTPSAddr != "" {
					addr = o.HTTPSAddr
				}
				if port == "80" && o.HTTPAddr != "" {
					addr = o.HTTPAddr
				}
			}
			return dialer.DialContext(ctx, network, addr)
		},
		TLSClientConfig: &tls.Config{
			ServerName: host,
			// Verification happens in VerifyConnection, below.
			InsecureSkipVerify: true, //nolint:gosec // verified by verifyCert
			VerifyConnection: func(cs tls.ConnectionState) error {
				d, err := verifyCert(cs, host, o)
				if certDetail != nil {
					*certDetail = d
				}
				return err
			},
		},
		DisableKeepAlives:     true,
		ResponseHeaderTimeout: o.Timeout,
	}
	return &http.Client{
		Transport: tr,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// ErrCertificate is wrapped by certificate problems.
var ErrCertificate = errors.New("certificate")

func verifyCert(cs tls.ConnectionState, host string, o Options) (string, error) {
	if len(cs.PeerCertificates) == 0 {
		return "", fmt.Errorf("%w: the server sent none for %s", ErrCertificate, host)
	}
	leaf := cs.PeerCertificates[0]
	now := o.Now()
	if now.After(leaf.NotAfter) {
		return "", fmt.Errorf("%w for %s expired on %s (Traefik/Let's Encrypt did not renew it: check Traefik's log and the ACME storage)", ErrCertificate, host, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(leaf.NotBefore) {
		return "", fmt.Errorf("%w for %s is not valid before %s", ErrCertificate, host, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if traefikDefault(leaf) {
		return "", fmt.Errorf("%w for %s is Traefik's default certificate: the CA has not issued one for this name yet "+
			"(does its DNS record point at the server? Traefik's log says why the order failed; a name that failed is "+
			"ordered again at the next deploy or Traefik restart)", ErrCertificate, host)
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	staging := o.Manifest.Server.ACME.Staging
	chain := ""
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: host, Roots: o.RootCAs, Intermediates: inter, CurrentTime: now}); err != nil {
		var ua x509.UnknownAuthorityError
		var hn x509.HostnameError
		switch {
		case errors.As(err, &ua) && staging && o.RootCAs == nil:
			// Let's Encrypt's staging roots are in no trust store: check
			// everything else and say so.
			if chain, err = verifyStaging(cs.PeerCertificates, host); err != nil {
				return "", err
			}
		case errors.As(err, &ua):
			return "", fmt.Errorf("%w for %s is not trusted (%s; self-signed, or Traefik's default certificate: Let's Encrypt has not issued one yet; check DNS and Traefik's log): %v", ErrCertificate, host, issuedBy(leaf), err)
		case errors.As(err, &hn):
			return "", fmt.Errorf("%w is not valid for %s (it is for %s)", ErrCertificate, host, strings.Join(leaf.DNSNames, ", "))
		default:
			return "", fmt.Errorf("%w for %s: %v", ErrCertificate, host, err)
		}
	} else if staging {
		chain = "trusted chain, although server.acme.staging is true"
		if o.RootCAs != nil {
			chain = "staging chain, verified against BERTH_SMOKE_CA"
		}
	}
	days := int(leaf.NotAfter.Sub(now).Hours() / 24)
	min := o.Manifest.Smoke.CertificateMinDays
	if min <= 0 {
		min = config.DefaultCertificateMinDays
	}
	if days < min {
		return "", fmt.Errorf("%w for %s expires in %d days (on %s), fewer than smoke.certificate_min_days=%d: renewal is failing (Traefik renews 30 days ahead)",
			ErrCertificate, host, days, leaf.NotAfter.UTC().Format("2006-01-02"), min)
	}
	if chain != "" {
		return fmt.Sprintf("certificate valid %d more days (%s)", days, chain), nil
	}
	return fmt.Sprintf("certificate valid %d more days", days), nil
}

// verifyStaging checks a certificate from Let's Encrypt's staging CA as far
// as that can be done without trusting its roots: it is for host (checked
// by the caller: dates), it is not self-signed (Traefik's default
// certificate is), and the issuer certificate the server sent signed it,
// each link of the chain up to the last one sent. Only the chain's anchor is
// left unchecked, which the detail says.
func verifyStaging(chain []*x509.Certificate, host string) (string, error) {
	leaf := chain[0]
	if err := leaf.VerifyHostname(host); err != nil {
		return "", fmt.Errorf("%w is not valid for %s (it is for %s)", ErrCertificate, host, strings.Join(leaf.DNSNames, ", "))
	}
	if bytes.Equal(leaf.RawIssuer, leaf.RawSubject) {
		return "", fmt.Errorf("%w for %s is self-signed (%s): Traefik's default certificate, so the staging CA has not issued one yet; check DNS and Traefik's log", ErrCertificate, host, issuedBy(leaf))
	}
	if len(chain) < 2 {
		return "", fmt.Errorf("%w for %s came without its issuer's certificate (%s), so not even the staging chain can be checked", ErrCertificate, host, issuedBy(leaf))
	}
	for i := 0; i+1 < len(chain); i++ {
		if err := chain[i].CheckSignatureFrom(chain[i+1]); err != nil {
			return "", fmt.Errorf("%w for %s: %q, sent as its issuer, did not sign %q: %v", ErrCertificate, host, chain[i+1].Subject.CommonName, chain[i].Subject.CommonName, err)
		}
	}
	return fmt.Sprintf("staging chain: %s, not checked against trusted roots (server.acme.staging is true)", issuedBy(leaf)), nil
}

// traefikDefault recognises the certificate Traefik serves for a name it
// has no certificate for: self-signed, "TRAEFIK DEFAULT CERT", for a
// random name under .traefik.default (Traefik v3).
func traefikDefault(c *x509.Certificate) bool {
	if c.Subject.CommonName == "TRAEFIK DEFAULT CERT" {
		return true
	}
	for _, n := range c.DNSNames {
		if strings.HasSuffix(n, ".traefik.default") {
			return true
		}
	}
	return false
}

// issuedBy names a certificate's issuer the way an operator recognises it.
func issuedBy(c *x509.Certificate) string {
	name := c.Issuer.CommonName
	if name == "" {
		name = c.Issuer.String()
	}
	if len(c.Issuer.Organization) > 0 && !strings.Contains(name, c.Issuer.Organization[0]) {
		name += ", " + c.Issuer.Organization[0]
	}
	return "issued by " + name
}

func do(ctx context.Context, o Options, host, rawURL string) (*http.Response, []byte, string, error) {
	var certDetail string
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, rawURL, nil)
	if err != nil {
		return nil, nil, "", err
	}
	req.Header.Set("User-Agent", "berth-smoke/1")
	resp, err := client(o, host, &certDetail).Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, nil, certDetail, fmt.Errorf("GET %s: %w", rawURL, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp, body, certDetail, nil
}

func get(ctx context.Context, o Options, host, u string, want int, contains string) (string, error) {
	resp, body, cert, err := do(ctx, o, host, u)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != want {
		loc := ""
		if l := resp.Header.Get("Location"); l != "" {
			loc = " (Location: " + l + ")"
		}
		return "", fmt.Errorf("GET %s answered %d, want %d%s", u, resp.StatusCode, want, loc)
	}
	if contains != "" && !strings.Contains(string(body), contains) {
		return "", fmt.Errorf("GET %s answered %d but the body does not contain %q", u, resp.StatusCode, contains)
	}
	d := fmt.Sprintf("%d", resp.StatusCode)
	if cert != "" {
		d += ", " + cert
	}
	return d, nil
}

func redirectCheck(ctx context.Context, o Options, host, u, wantPrefix string) (string, error) {
	resp, _, cert, err := do(ctx, o, host, u)
	if err != nil {
		return "", err
	}
	switch resp.StatusCode {
	case 301, 302, 303, 307, 308:
	default:
		return "", fmt.Errorf("GET %s answered %d, want a redirect to a URL starting %s", u, resp.StatusCode, wantPrefix)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, wantPrefix) {
		return "", fmt.Errorf("GET %s redirects to %q, want a URL starting %s", u, loc, wantPrefix)
	}
	d := fmt.Sprintf("%d -> %s", resp.StatusCode, loc)
	if cert != "" {
		d += ", " + cert
	}
	return d, nil
}
