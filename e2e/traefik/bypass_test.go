package traefik_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/wombatworkouts/berth/plugin"
)

// clientFrom returns a client whose connections leave from the given
// loopback address, so Traefik sees a different peer per client.
func clientFrom(ip string) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}, Timeout: 5 * time.Second}
	return &http.Client{
		Timeout:       10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Transport: &http.Transport{
			DialContext:       func(ctx context.Context, n, a string) (net.Conn, error) { return d.DialContext(ctx, n, a) },
			DisableKeepAlives: true,
		},
	}
}

// Operators get past maintenance by address (allowlist, with
// X-Forwarded-For believed only from trusted proxies) or by a signed token;
// everyone else, including a client that forges X-Forwarded-For, gets the
// page. The web entrypoint keeps X-Forwarded-For from anyone
// (forwardedHeaders.insecure) so that berth's own checks are what is tested.
func TestOperatorBypass(t *testing.T) {
	app := startBackend(t, "bypass")
	secretFile := filepath.Join(t.TempDir(), "bypass.secret")
	secret := strings.Repeat("k3y", 16)
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	apply(t, shared, "bypass.yml", dynamicFile(
		[]route{{name: "bypass", middlewares: []string{"bypass-berth"}, servers: []string{app.URL()}}},
		map[string]string{"bypass-berth": berthMiddleware(fmt.Sprintf(`app: bypass
enabled: true
allowCIDRs: ["127.0.0.2/32", "198.51.100.0/24"]
trustedProxies: ["127.0.0.3"]
bypassSecretFile: %s
statusPath: /bypass/_status
health:
  enabled: false`, secretFile))},
	), "bypass")

	valid := plugin.SignBypassToken([]byte(secret), "bypass", time.Now().Add(time.Hour))
	expired := plugin.SignBypassToken([]byte(secret), "bypass", time.Now().Add(-time.Minute))
	forged := plugin.SignBypassToken([]byte(strings.Repeat("x", 48)), "bypass", time.Now().Add(time.Hour))
	otherApp := plugin.SignBypassToken([]byte(secret), "another-app", time.Now().Add(time.Hour))

	cases := []struct {
		name   string
		from   string
		header http.Header
		want   int
	}{
		{"stranger", "127.0.0.1", nil, 503},
		{"allowed address", "127.0.0.2", nil, 200},
		{"spoofed X-Forwarded-For from an untrusted peer", "127.0.0.1", http.Header{"X-Forwarded-For": {"198.51.100.7"}}, 503},
		{"allowed client behind a trusted proxy", "127.0.0.3", http.Header{"X-Forwarded-For": {"198.51.100.7"}}, 200},
		{"stranger behind a trusted proxy", "127.0.0.3", http.Header{"X-Forwarded-For": {"203.0.113.9"}}, 503},
		{"forged left part behind a trusted proxy", "127.0.0.3", http.Header{"X-Forwarded-For": {"198.51.100.7, 203.0.113.9"}}, 503},
		{"trusted proxy itself, no header", "127.0.0.3", nil, 503},
		{"valid token header", "127.0.0.1", http.Header{"X-Berth-Bypass": {valid}}, 200},
		{"valid token cookie", "127.0.0.1", http.Header{"Cookie": {"berth_bypass=" + valid}}, 200},
		{"expired token", "127.0.0.1", http.Header{"X-Berth-Bypass": {expired}}, 503},
		{"forged token", "127.0.0.1", http.Header{"X-Berth-Bypass": {forged}}, 503},
		{"token for another app", "127.0.0.1", http.Header{"Cookie": {"berth_bypass=" + otherApp}}, 503},
		{"garbage token", "127.0.0.1", http.Header{"X-Berth-Bypass": {"b1.99999999999.AAAA"}}, 503},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodGet, shared.WebURL+"/bypass", nil)
			for k, v := range tc.header {
				req.Header[k] = v
			}
			resp, err := clientFrom(tc.from).Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}

	t.Run("token in the URL becomes a cookie", func(t *testing.T) {
		resp, err := clientFrom("127.0.0.1").Get(shared.WebURL + "/bypass/page?x=1&berth_bypass=" + valid)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/bypass/page?x=1" {
			t.Fatalf("status %d Location %q, want 303 to /bypass/page?x=1", resp.StatusCode, resp.Header.Get("Location"))
		}
		c := resp.Header.Get("Set-Cookie")
		if !strings.Contains(c, "berth_bypass="+valid) || !strings.Contains(c, "HttpOnly") || !strings.Contains(c, "SameSite=Lax") {
			t.Errorf("Set-Cookie = %q", c)
		}
	})

	t.Run("status endpoint for operators only", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, shared.WebURL+"/bypass/_status", nil)
		req.Header.Set("X-Berth-Bypass", valid)
		resp, err := clientFrom("127.0.0.1").Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var st struct {
			App  string `json:"app"`
			Mode string `json:"mode"`
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || st.App != "bypass" || st.Mode != "maintenance" {
			t.Errorf("operator status: %d %+v %v", resp.StatusCode, st, err)
		}
		resp, err = clientFrom("127.0.0.1").Get(shared.WebURL + "/bypass/_status")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 503 {
			t.Errorf("stranger on the status path: %d, want the maintenance page", resp.StatusCode)
		}
	})
}
