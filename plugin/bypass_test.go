package plugin

import (
	"crypto/tls"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func mustCIDRs(t testing.TB, values ...string) []*net.IPNet {
	t.Helper()
	nets, err := parseCIDRs("test", values)
	if err != nil {
		t.Fatal(err)
	}
	return nets
}

func TestClientIP(t *testing.T) {
	trusted := mustCIDRs(t, "10.0.0.0/8", "172.16.0.0/12", "fd00::/8")
	cases := []struct {
		name    string
		remote  string
		xff     []string // one entry per header line
		trusted []*net.IPNet
		want    string // "" for nil
	}{
		{"peer only", "198.51.100.7:4321", nil, trusted, "198.51.100.7"},
		{"no trusted proxies: header ignored", "10.0.0.2:80", []string{"203.0.113.9"}, nil, "10.0.0.2"},
		{"untrusted peer: spoofed header ignored", "198.51.100.7:4321", []string{"203.0.113.9"}, trusted, "198.51.100.7"},
		{"untrusted peer claiming a trusted hop", "198.51.100.7:4321", []string{"203.0.113.9, 10.0.0.3"}, trusted, "198.51.100.7"},
		{"trusted peer, one hop", "10.0.0.2:80", []string{"203.0.113.9"}, trusted, "203.0.113.9"},
		{"trusted peer, no header", "10.0.0.2:80", nil, trusted, "10.0.0.2"},
		{"trusted peer, empty header", "10.0.0.2:80", []string{""}, trusted, "10.0.0.2"},
		{"rightmost untrusted wins over a forged left part", "10.0.0.2:80", []string{"1.1.1.1, 203.0.113.9"}, trusted, "203.0.113.9"},
		{"trusted hops are skipped", "10.0.0.2:80", []string{"1.1.1.1, 203.0.113.9, 10.1.1.1, 172.16.5.5"}, trusted, "203.0.113.9"},
		{"several header lines read in order", "10.0.0.2:80", []string{"1.1.1.1", "203.0.113.9, 10.1.1.1"}, trusted, "203.0.113.9"},
		{"all hops trusted: the leftmost", "10.0.0.2:80", []string{"10.9.9.9, 10.1.1.1"}, trusted, "10.9.9.9"},
		{"garbage hop: nothing vouched for", "10.0.0.2:80", []string{"1.1.1.1, not-an-ip, 10.1.1.1"}, trusted, ""},
		{"garbage left of the client is not read", "10.0.0.2:80", []string{"junk, 203.0.113.9"}, trusted, "203.0.113.9"},
		{"empty hops skipped", "10.0.0.2:80", []string{" , 203.0.113.9 ,, "}, trusted, "203.0.113.9"},
		{"hop with a port", "10.0.0.2:80", []string{"203.0.113.9:5555"}, trusted, "203.0.113.9"},
		{"IPv6 hop", "10.0.0.2:80", []string{"2001:db8::5"}, trusted, "2001:db8::5"},
		{"bracketed IPv6 hop with port", "10.0.0.2:80", []string{"[2001:db8::5]:443"}, trusted, "2001:db8::5"},
		{"unclosed bracket", "10.0.0.2:80", []string{"[2001:db8::5"}, trusted, ""},
		{"IPv6 peer trusted", "[fd00::1]:443", []string{"203.0.113.9"}, trusted, "203.0.113.9"},
		{"IPv6 peer untrusted", "[2001:db8::1]:443", []string{"203.0.113.9"}, trusted, "2001:db8::1"},
		{"IPv4-mapped IPv6 peer in a v4 range", "[::ffff:10.0.0.2]:80", []string{"203.0.113.9"}, trusted, "203.0.113.9"},
		{"peer without port", "10.0.0.2", []string{"203.0.113.9"}, trusted, "203.0.113.9"},
		{"unparsable peer", "somewhere", []string{"203.0.113.9"}, trusted, ""},
		{"empty peer", "", []string{"203.0.113.9"}, trusted, ""},
		{"peer with zone", "[fe80::1%eth0]:80", nil, trusted, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			got := clientIP(r, tc.trusted)
			if tc.want == "" {
				if got != nil {
					t.Errorf("clientIP = %v, want none", got)
				}
				return
			}
			if got == nil || !got.Equal(net.ParseIP(tc.want)) {
				t.Errorf("clientIP = %v, want %s", got, tc.want)
			}
		})
	}
}

func TestBypassTokens(t *testing.T) {
	secret := []byte(strings.Repeat("0123456789abcdef", 2))
	now := time.Date(2026, 12, 1, 2, 0, 0, 0, time.UTC)
	exp := now.Add(time.Hour)
	tok := SignBypassToken(secret, "web", exp)
	if !strings.HasPrefix(tok, "b1."+strconv.FormatInt(exp.Unix(), 10)+".") || len(tok) > 100 {
		t.Fatalf("token format: %q", tok)
	}
	if SignBypassToken(secret, "web", exp) != tok {
		t.Fatalf("signing is not deterministic")
	}
	parts := strings.Split(tok, ".")
	flip := func(s string) string {
		b := []byte(s)
		if b[0] == 'A' {
			b[0] = 'B'
		} else {
			b[0] = 'A'
		}
		return string(b)
	}
	nonNumeric := "b1.soon." + tokenSignature(secret, "web", "soon")

	cases := []struct {
		name   string
		secret []byte
		app    string
		token  string
		now    time.Time
		ok     bool
	}{
		{"valid", secret, "web", tok, now, true},
		{"valid until the last second", secret, "web", tok, exp.Add(-time.Nanosecond), true},
		{"expired at the second", secret, "web", tok, exp, false},
		{"expired", secret, "web", tok, exp.Add(time.Minute), false},
		{"other app", secret, "api", tok, now, false},
		{"other secret", []byte(strings.Repeat("x", 32)), "web", tok, now, false},
		{"no secret configured", nil, "web", tok, now, false},
		{"forged signature", secret, "web", parts[0] + "." + parts[1] + "." + flip(parts[2]), now, false},
		{"extended expiry", secret, "web", parts[0] + "." + strconv.FormatInt(exp.Unix()+86400, 10) + "." + parts[2], now, false},
		{"truncated signature", secret, "web", tok[:len(tok)-1], now, false},
		{"two parts", secret, "web", parts[0] + "." + parts[1], now, false},
		{"four parts", secret, "web", tok + ".x", now, false},
		{"other version", secret, "web", "b2." + parts[1] + "." + parts[2], now, false},
		{"empty", secret, "web", "", now, false},
		{"huge", secret, "web", tok + strings.Repeat("A", 10000), now, false},
		{"signed but not a number", secret, "web", nonNumeric, now, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gotExp, ok := verifyBypassToken(tc.secret, tc.app, tc.token, tc.now)
			if ok != tc.ok {
				t.Fatalf("verify = %v, want %v", ok, tc.ok)
			}
			if ok && !gotExp.Equal(exp) {
				t.Errorf("expiry = %v, want %v", gotExp, exp)
			}
			if !ok && !gotExp.IsZero() {
				t.Errorf("a rejected token returned expiry %v", gotExp)
			}
		})
	}
}

func TestPathAlwaysPasses(t *testing.T) {
	patterns := []string{"/up", "/assets/*", "/exact/"}
	cases := map[string]bool{
		"/up":            true,
		"/up/":           false,
		"/upload":        false,
		"/UP":            false,
		"/assets/":       true,
		"/assets/app.js": true,
		"/assets":        false,
		"/exact/":        true,
		"/exact":         false,
		"/":              false,
		"":               false,
	}
	for path, want := range cases {
		if got := pathAlwaysPasses(patterns, path); got != want {
			t.Errorf("pathAlwaysPasses(%q) = %v, want %v", path, got, want)
		}
	}
	if !pathAlwaysPasses([]string{"/*"}, "/anything") {
		t.Errorf("/* should match everything")
	}
	if pathAlwaysPasses(nil, "/up") {
		t.Errorf("no patterns matched")
	}
}

func bypassSettings(t *testing.T, edit func(*Config)) *settings {
	t.Helper()
	cfg := validConfig()
	cfg.BypassSecret = strings.Repeat("b", 32)
	if edit != nil {
		edit(cfg)
	}
	s, err := compile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestOperatorAndBypassed(t *testing.T) {
	now := time.Now()
	s := bypassSettings(t, func(c *Config) {
		c.AllowCIDRs = []string{"203.0.113.0/24"}
		c.TrustedProxies = []string{"10.0.0.0/8"}
		c.AlwaysPass = []string{"/up", "/public/*"}
	})
	tok := SignBypassToken(s.bypassSecret, "web", now.Add(time.Minute))
	expired := SignBypassToken(s.bypassSecret, "web", now.Add(-time.Minute))
	cases := []struct {
		name     string
		path     string
		remote   string
		xff      string
		header   string
		cookie   string
		operator bool
		bypassed bool
	}{
		{"stranger", "/", "198.51.100.1:1", "", "", "", false, false},
		{"stranger on /up", "/up", "198.51.100.1:1", "", "", "", false, true},
		{"stranger on a public prefix", "/public/x.css", "198.51.100.1:1", "", "", "", false, true},
		{"allowed peer", "/", "203.0.113.5:1", "", "", "", true, true},
		{"allowed client behind a trusted proxy", "/", "10.0.0.9:1", "203.0.113.5", "", "", true, true},
		{"spoofed allowed address from an untrusted peer", "/", "198.51.100.1:1", "203.0.113.5", "", "", false, false},
		{"allowed address left of a stranger", "/", "10.0.0.9:1", "203.0.113.5, 198.51.100.1", "", "", false, false},
		{"header token", "/", "198.51.100.1:1", "", tok, "", true, true},
		{"cookie token", "/", "198.51.100.1:1", "", "", tok, true, true},
		{"bad header, good cookie", "/", "198.51.100.1:1", "", "junk", tok, true, true},
		{"expired cookie", "/", "198.51.100.1:1", "", "", expired, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, tc.path, nil)
			r.RemoteAddr = tc.remote
			if tc.xff != "" {
				r.Header.Set("X-Forwarded-For", tc.xff)
			}
			if tc.header != "" {
				r.Header.Set("X-Berth-Bypass", tc.header)
			}
			if tc.cookie != "" {
				r.AddCookie(&http.Cookie{Name: "berth_bypass", Value: tc.cookie})
			}
			if got := s.operator(r, now); got != tc.operator {
				t.Errorf("operator = %v, want %v", got, tc.operator)
			}
			if got := s.bypassed(r); got != tc.bypassed {
				t.Errorf("bypassed = %v, want %v", got, tc.bypassed)
			}
		})
	}

	// Without a secret, tokens mean nothing.
	plain := bypassSettings(t, func(c *Config) { c.BypassSecret = "" })
	r := httptest.NewRequest(http.MethodGet, "/", nil)
	r.Header.Set("X-Berth-Bypass", tok)
	if plain.operator(r, now) {
		t.Errorf("a token passed with no secret configured")
	}
}

func TestTokenFromQuery(t *testing.T) {
	s := bypassSettings(t, nil)
	exp := time.Now().Add(2 * time.Hour).Truncate(time.Second)
	tok := SignBypassToken(s.bypassSecret, "web", exp)
	handled := make(chan bool, 1)
	srv := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ok := s.tokenFromQuery(w, r, time.Now())
		handled <- ok
		if !ok {
			_, _ = w.Write([]byte("not handled"))
		}
	}))

	cases := []struct {
		name     string
		method   string
		target   string
		header   [2]string
		handled  bool
		location string
		secure   bool
	}{
		{"only the token", "GET", "/admin?berth_bypass=" + tok, [2]string{}, true, "/admin", false},
		{"other parameters kept", "GET", "/admin/users?page=2&berth_bypass=" + tok + "&q=a+b", [2]string{}, true, "/admin/users?page=2&q=a+b", false},
		{"repeated parameter kept", "GET", "/?tag=a&berth_bypass=" + tok + "&tag=b", [2]string{}, true, "/?tag=a&tag=b", false},
		{"escaped path kept escaped", "GET", "/files/a%20b%3Fc?berth_bypass=" + tok, [2]string{}, true, "/files/a%20b%3Fc", false},
		{"behind TLS termination", "GET", "/?berth_bypass=" + tok, [2]string{"X-Forwarded-Proto", "https"}, true, "/", true},
		{"forged token", "GET", "/?berth_bypass=" + tok[:len(tok)-3] + "abc", [2]string{}, false, "", false},
		{"no token", "GET", "/?x=1", [2]string{}, false, "", false},
		{"POST never", "POST", "/?berth_bypass=" + tok, [2]string{}, false, "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, srv.URL+tc.target, nil)
			if tc.header[0] != "" {
				req.Header.Set(tc.header[0], tc.header[1])
			}
			resp, body := do(t, nil, req)
			if got := <-handled; got != tc.handled {
				t.Fatalf("handled = %v, want %v", got, tc.handled)
			}
			if !tc.handled {
				if resp.StatusCode != 200 || body != "not handled" || len(resp.Cookies()) != 0 {
					t.Errorf("an unhandled request got %d %q %v", resp.StatusCode, body, resp.Cookies())
				}
				return
			}
			if resp.StatusCode != http.StatusSeeOther {
				t.Errorf("status = %d, want 303", resp.StatusCode)
			}
			if got := resp.Header.Get("Location"); got != tc.location {
				t.Errorf("Location = %q, want %q", got, tc.location)
			}
			if loc, err := url.Parse(resp.Header.Get("Location")); err != nil || loc.Query().Has(bypassQueryParam) || loc.Host != "" {
				t.Errorf("Location %q still carries the token or leaves the site", resp.Header.Get("Location"))
			}
			if resp.Header.Get("Cache-Control") != "no-store" {
				t.Errorf("Cache-Control = %q", resp.Header.Get("Cache-Control"))
			}
			cookies := resp.Cookies()
			if len(cookies) != 1 {
				t.Fatalf("cookies = %v", cookies)
			}
			c := cookies[0]
			raw := resp.Header.Get("Set-Cookie")
			if c.Name != "berth_bypass" || c.Value != tok || c.Path != "/" || !c.HttpOnly ||
				!strings.Contains(raw, "SameSite=Lax") || !c.Expires.Equal(exp) || c.Secure != tc.secure {
				t.Errorf("cookie = %q (secure want %v)", raw, tc.secure)
			}
		})
	}

	// A TLS request (Traefik terminating TLS in the same process) gets a
	// Secure cookie too.
	r := httptest.NewRequest(http.MethodGet, "/?berth_bypass="+tok, nil)
	r.TLS = &tls.ConnectionState{}
	rec := httptest.NewRecorder()
	if !s.tokenFromQuery(rec, r, time.Now()) || !strings.Contains(rec.Header().Get("Set-Cookie"), "Secure") {
		t.Errorf("TLS request: Set-Cookie = %q", rec.Header().Get("Set-Cookie"))
	}
}

// A request whose path begins with "//" must not turn into a redirect to
// another host ("//evil.example/" is a protocol-relative URL).
func TestTokenFromQueryStaysOnSite(t *testing.T) {
	s := bypassSettings(t, nil)
	tok := SignBypassToken(s.bypassSecret, "web", time.Now().Add(time.Hour))
	for _, target := range []string{"//evil.example/x", "/\\evil.example/x", "///evil.example"} {
		r := httptest.NewRequest(http.MethodGet, "http://app.example/?berth_bypass="+tok, nil)
		r.URL.Path = target
		r.URL.RawPath = ""
		rec := httptest.NewRecorder()
		if !s.tokenFromQuery(rec, r, time.Now()) {
			t.Fatalf("%s: not handled", target)
		}
		loc := rec.Header().Get("Location")
		u, err := url.Parse(loc)
		if err != nil || u.Host != "" || strings.HasPrefix(loc, "//") || strings.HasPrefix(loc, "/\\") {
			t.Errorf("path %q redirects to %q, another host", target, loc)
		}
	}
}

// FuzzClientIP checks the forwarding rules against a plain statement of
// them: an untrusted peer is the client whatever the header says; behind a
// trusted peer the client is the rightmost hop that is not a trusted proxy,
// no one if that hop is not an address, and the leftmost hop if all are
// trusted.
func FuzzClientIP(f *testing.F) {
	trusted := mustCIDRs(f, "10.0.0.0/8", "127.0.0.0/8", "::1", "fd00::/8", "192.0.2.0/24")
	seeds := [][2]string{
		{"10.0.0.1:80", "203.0.113.9"},
		{"198.51.100.1:80", "10.0.0.5, 203.0.113.9"},
		{"10.0.0.1:80", "1.1.1.1, junk, 10.1.1.1"},
		{"[::1]:443", "[2001:db8::1]:80, fd00::5"},
		{"[fd00::1]:1", "::ffff:10.0.0.1"},
		{"127.0.0.1:5", "192.0.2.1\n203.0.113.7:99"},
		{"10.0.0.1", ""},
		{"garbage", "10.0.0.1"},
		{"10.0.0.1:80", "[::1"},
		{"10.0.0.1:80", " , ,"},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, remote, xff string) {
		r := &http.Request{RemoteAddr: remote, Header: http.Header{}}
		for _, v := range strings.Split(xff, "\n") {
			r.Header.Add("X-Forwarded-For", v)
		}
		got := clientIP(r, trusted)

		// The peer as net/http gives it.
		host := remote
		if h, _, err := net.SplitHostPort(remote); err == nil {
			host = h
		}
		peer := net.ParseIP(host)
		same := func(a, b net.IP) bool { return (a == nil && b == nil) || (a != nil && b != nil && a.Equal(b)) }
		if peer == nil || !containsIP(trusted, peer) {
			if !same(got, peer) {
				t.Fatalf("untrusted peer %q: got %v, want the peer %v (header %q must be ignored)", remote, got, peer, xff)
			}
			return
		}
		var hops []string
		for _, v := range strings.Split(xff, "\n") {
			for _, h := range strings.Split(v, ",") {
				if h = strings.TrimSpace(h); h != "" {
					hops = append(hops, h)
				}
			}
		}
		parseHop := func(h string) net.IP {
			if ip := net.ParseIP(h); ip != nil {
				return ip
			}
			if hh, _, err := net.SplitHostPort(h); err == nil {
				return net.ParseIP(hh)
			}
			if strings.HasPrefix(h, "[") && strings.Contains(h, "]") {
				return net.ParseIP(h[1:strings.Index(h, "]")])
			}
			return nil
		}
		want := peer
		for i := len(hops) - 1; i >= 0; i-- {
			ip := parseHop(hops[i])
			want = ip
			if ip == nil || !containsIP(trusted, ip) {
				break
			}
		}
		if !same(got, want) {
			t.Fatalf("peer %q, X-Forwarded-For %q: got %v, want %v", remote, xff, got, want)
		}
	})
}
