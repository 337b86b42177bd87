package cli

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/wombatworkouts/berth/hooks/transport"
	"github.com/wombatworkouts/berth/plugin"
)

// minBypassSecret is the plugin's own minimum for the signing key.
const minBypassSecret = 32

// BypassToken is `berth bypass-token [--for D] [--secret-file PATH] [-d
// DEST]`: a token that lets its bearer past this app's maintenance, pause
// and unavailable pages until it expires, signed with the key the plugin
// reads (maintenance.bypass.secret_file, read on the server through the
// transport unless --secret-file names a local copy). The token goes to
// stdout once; how to use it goes to stderr; the key is never printed.
func BypassToken(args []string, dir string, stdout, stderr io.Writer) int {
	fs := newFlags("bypass-token", stderr)
	forD := fs.Duration("for", time.Hour, "how long the token is valid (at most 7 days)")
	secretFile := fs.String("secret-file", "", "a local copy of the signing key (default: read maintenance.bypass.secret_file on the server)")
	dest := fs.String("d", "", "Kamal destination")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "berth bypass-token: unexpected %q\n", fs.Arg(0))
		return 2
	}
	if *forD <= 0 || *forD > 7*24*time.Hour {
		fmt.Fprintln(stderr, "berth bypass-token: --for must be between 1s and 168h (a bypass token cannot be revoked before it expires, short ones are safer)")
		return 2
	}
	s, err := newSession(dir, stdout, stderr, *dest, "bypass-token")
	if err != nil {
		return s.fail(err)
	}
	ctx, cancel := signalContext()
	defer cancel()
	ctx, cancel2 := context.WithTimeout(ctx, s.deps.Timeouts.State)
	defer cancel2()
	secret, where, err := bypassSecret(ctx, s, *secretFile)
	if err != nil {
		return s.fail(err)
	}
	s.secrets.Add(secret)
	expires := Now().Add(*forD).Truncate(time.Second)
	token := plugin.SignBypassToken([]byte(secret), s.m.App, expires)
	fmt.Fprintln(stdout, token)
	header, cookie := s.m.Maintenance.Bypass.Header, s.m.Maintenance.Bypass.Cookie
	if header == "" {
		header = "X-Berth-Bypass"
	}
	if cookie == "" {
		cookie = "berth_bypass"
	}
	fmt.Fprintf(stderr, "berth: bypass token for %s, valid until %s, signed with the key in %s.\n", s.m.App, expires.UTC().Format(time.RFC3339), where)
	fmt.Fprintf(stderr, "  send it as the header %s: <token>, or the cookie %s=<token>,\n", header, cookie)
	if len(s.m.Domains) > 0 {
		fmt.Fprintf(stderr, "  or open https://%s/?berth_bypass=<token> once in a browser (it becomes the cookie).\n", s.m.Domains[0])
	}
	fmt.Fprintln(stderr, "  It cannot be revoked before it expires except by changing the key (and reloading Traefik).")
	s.close()
	return 0
}

// bypassSecret reads the signing key: from a local file, or from the
// manifest's secret_file on the server (through Kamal's output, which berth
// keeps to itself).
func bypassSecret(ctx context.Context, s *session, local string) (secret, where string, err error) {
	var raw []byte
	switch {
	case local != "":
		raw, err = os.ReadFile(local)
		if err != nil {
			return "", "", fmt.Errorf("--secret-file: %w", err)
		}
		where = local
	case s.m.Maintenance.Bypass.SecretFile == "":
		return "", "", fmt.Errorf("%s sets no maintenance.bypass.secret_file, so the plugin accepts no bypass token; set it (config/README.md) or give --secret-file", s.m.Path)
	default:
		f := s.m.Maintenance.Bypass.SecretFile
		where = f + " on the server"
		frame := transport.NewFrame()
		out, err := s.t.Server(ctx, frame.Wrap("base64 < "+transport.Quote(f)))
		if err != nil {
			return "", "", fmt.Errorf("read the bypass key %s on the server: %w", f, err)
		}
		body, ok := frame.Extract(out)
		if !ok {
			return "", "", fmt.Errorf("read the bypass key %s on the server: no answer", f)
		}
		if raw, err = base64.StdEncoding.DecodeString(strings.Join(strings.Fields(body), "")); err != nil {
			return "", "", fmt.Errorf("read the bypass key %s on the server: %w", f, err)
		}
	}
	// The plugin trims the file the same way.
	secret = strings.TrimSpace(string(raw))
	if len(secret) < minBypassSecret {
		return "", "", fmt.Errorf("the bypass key in %s is shorter than %d characters, so the plugin refuses it; write a new one (`openssl rand -hex 32`)", where, minBypassSecret)
	}
	return secret, where, nil
}
