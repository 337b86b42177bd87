package plugin

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// bypassQueryParam lets an operator open /?berth_bypass=TOKEN in a browser:
// the middleware turns it into a cookie and redirects to the clean URL.
const bypassQueryParam = "berth_bypass"

// tokenPrefix versions the token format so it can change without ambiguity.
const tokenPrefix = "b1"

// SignBypassToken returns a token that lets its bearer past maintenance,
// pause and unavailable pages of app until expires. It is an HMAC-SHA256 over
// the app name and the expiry, so it cannot be moved to another app or
// extended without the secret.
func SignBypassToken(secret []byte, app string, expires time.Time) string {
	exp := strconv.FormatInt(expires.Unix(), 10)
	return tokenPrefix + "." + exp + "." + tokenSignature(secret, app, exp)
}

func tokenSignature(secret []byte, app, exp string) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write([]byte("berth-bypass\n" + app + "\n" + exp))
	return base64.RawURLEncoding.EncodeToString(mac.Sum(nil))
}

// verifyBypassToken checks the signature in constant time, then the expiry.
func verifyBypassToken(secret []byte, app, token string, now time.Time) (time.Time, bool) {
	if len(secret) == 0 || len(token) > 200 {
		return time.Time{}, false
	}
	parts := strings.Split(token, ".")
	if len(parts) != 3 || parts[0] != tokenPrefix {
		return time.Time{}, false
	}
	want := tokenSignature(secret, app, parts[1])
	if subtle.ConstantTimeCompare([]byte(want), []byte(parts[2])) != 1 {
		return time.Time{}, false
	}
	exp, err := strconv.ParseInt(parts[1], 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	expires := time.Unix(exp, 0)
	if !now.Before(expires) {
		return time.Time{}, false
	}
	return expires, true
}

// clientIP returns the address of the client that made the request. The TCP
// peer is trusted as it is; X-Forwarded-For is read only when the peer is a
// trusted proxy, from the right, skipping trusted proxies: the rightmost
// address a trusted proxy did not add is the one nobody could forge.
func clientIP(r *http.Request, trusted []*net.IPNet) net.IP {
	peer := parseHostIP(r.RemoteAddr)
	if peer == nil || len(trusted) == 0 || !containsIP(trusted, peer) {
		return peer
	}
	hops := forwardedHops(r.Header.Values("X-Forwarded-For"))
	if len(hops) == 0 {
		return peer
	}
	client := peer
	for i := len(hops) - 1; i >= 0; i-- {
		ip := net.ParseIP(hops[i])
		if ip == nil {
			// A hop that is not an address was written by someone we do not
			// trust; no address can be vouched for, so none is returned.
			return nil
		}
		client = ip
		if !containsIP(trusted, ip) {
			return ip
		}
	}
	return client
}

func forwardedHops(values []string) []string {
	var hops []string
	for _, v := range values {
		for _, h := range strings.Split(v, ",") {
			h = strings.TrimSpace(h)
			if h != "" {
				hops = append(hops, stripPort(h))
			}
		}
	}
	return hops
}

// stripPort accepts "1.2.3.4", "1.2.3.4:5", "[::1]:5" and "::1".
func stripPort(h string) string {
	if strings.HasPrefix(h, "[") {
		if end := strings.Index(h, "]"); end > 0 {
			return h[1:end]
		}
		return h
	}
	if strings.Count(h, ":") == 1 {
		return h[:strings.Index(h, ":")]
	}
	return h
}

func parseHostIP(addr string) net.IP {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	return net.ParseIP(host)
}

func containsIP(nets []*net.IPNet, ip net.IP) bool {
	for _, n := range nets {
		if n.Contains(ip) {
			return true
		}
	}
	return false
}

// pathAlwaysPasses matches exact paths, or prefixes written with a trailing '*'.
func pathAlwaysPasses(patterns []string, path string) bool {
	for _, p := range patterns {
		if strings.HasSuffix(p, "*") {
			if strings.HasPrefix(path, p[:len(p)-1]) {
				return true
			}
		} else if path == p {
			return true
		}
	}
	return false
}

// bypassed reports whether r may skip the page: an always-pass path, an
// allowed client address, or a valid bypass token in the header or cookie.
func (s *settings) bypassed(r *http.Request) bool {
	return passes(s, r, r.URL.Path)
}

// operator reports whether r comes from an operator: an allowed address or a
// valid token. The status endpoint is only for them.
func (s *settings) operator(r *http.Request, now time.Time) bool {
	if len(s.allow) > 0 {
		if ip := clientIP(r, s.trusted); ip != nil && containsIP(s.allow, ip) {
			return true
		}
	}
	if s.bypassSecret == nil {
		return false
	}
	if tok := r.Header.Get(s.bypassHeader); tok != "" {
		if _, ok := verifyBypassToken(s.bypassSecret, s.app, tok, now); ok {
			return true
		}
	}
	if c, err := r.Cookie(s.bypassCookie); err == nil {
		if _, ok := verifyBypassToken(s.bypassSecret, s.app, c.Value, now); ok {
			return true
		}
	}
	return false
}

// tokenFromQuery handles /path?berth_bypass=TOKEN: a valid token becomes a
// cookie and the browser is sent to the same URL without the parameter, so
// the token does not linger in history or logs further down.
func (s *settings) tokenFromQuery(w http.ResponseWriter, r *http.Request, now time.Time) bool {
	if s.bypassSecret == nil || r.Method != http.MethodGet {
		return false
	}
	q := r.URL.Query()
	tok := q.Get(bypassQueryParam)
	if tok == "" {
		return false
	}
	expires, ok := verifyBypassToken(s.bypassSecret, s.app, tok, now)
	if !ok {
		return false
	}
	http.SetCookie(w, &http.Cookie{
		Name:     s.bypassCookie,
		Value:    tok,
		Path:     "/",
		Expires:  expires,
		HttpOnly: true,
		Secure:   r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https",
		SameSite: http.SameSiteLaxMode,
	})
	q.Del(bypassQueryParam)
	// The escaped path, so "/a%3Fb" stays one segment; and one leading
	// slash, so "//host/x" cannot become a redirect to another site.
	target := "/" + strings.TrimLeft(r.URL.EscapedPath(), "/")
	if enc := q.Encode(); enc != "" {
		target += "?" + enc
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, target, http.StatusSeeOther)
	return true
}
