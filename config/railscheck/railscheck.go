// Package railscheck reads an app's config/environments/production.rb and
// warns about settings that break behind Traefik's TLS termination. It reads
// the file as text (no Ruby here), which is enough for the lines Rails
// generates and for the common ways people change them.
package railscheck

import (
	"bufio"
	"bytes"
	"fmt"
	"regexp"
	"strings"
)

// Path is where Rails keeps the production configuration.
const Path = "config/environments/production.rb"

// Finding is one warning, with the line it refers to (0 when the setting is
// absent).
type Finding struct {
	Setting string
	Line    int
	Message string
}

func (f Finding) String() string {
	if f.Line > 0 {
		return fmt.Sprintf("%s:%d: %s", Path, f.Line, f.Message)
	}
	return fmt.Sprintf("%s: %s", Path, f.Message)
}

// Why each setting matters behind Traefik.
var why = map[string]string{
	"assume_ssl": "Traefik terminates TLS and talks plain HTTP to the container, so without it Rails believes " +
		"requests are http: wrong URLs in redirects and mails, cookies without Secure, and WebAuthn/passkeys refuse to work",
	"force_ssl": "it makes Rails send Secure cookies and HSTS and redirect any stray http request; Rails 8 generates it " +
		"commented out because kamal-proxy used to decide",
}

var settingRe = regexp.MustCompile(`^\s*(#\s*)?config\.(assume_ssl|force_ssl)\s*=\s*(.*?)\s*(#.*)?$`)

// CheckProduction returns warnings for config.assume_ssl and config.force_ssl
// when they are missing, commented out or false.
func CheckProduction(src []byte) []Finding {
	type state struct {
		line      int
		commented bool
		value     string
	}
	seen := map[string]*state{}
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		m := settingRe.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		name, commented := m[2], m[1] != ""
		// An active line wins over a commented one; otherwise the last
		// occurrence wins, as it would in Ruby.
		if prev := seen[name]; prev != nil && !prev.commented && commented {
			continue
		}
		seen[name] = &state{line: n, commented: commented, value: m[3]}
	}
	var out []Finding
	for _, name := range []string{"assume_ssl", "force_ssl"} {
		s := seen[name]
		fix := fmt.Sprintf("set `config.%s = true`", name)
		switch {
		case s == nil:
			out = append(out, Finding{name, 0, fmt.Sprintf("config.%s is not set (Rails' default is false); %s: %s", name, fix, why[name])})
		case s.commented:
			out = append(out, Finding{name, s.line, fmt.Sprintf("config.%s is commented out; %s: %s", name, fix, why[name])})
		case s.value == "false" || s.value == "nil":
			out = append(out, Finding{name, s.line, fmt.Sprintf("config.%s is %s; %s: %s", name, s.value, fix, why[name])})
		case s.value != "true":
			out = append(out, Finding{name, s.line, fmt.Sprintf("config.%s is set by an expression (%s); make sure it is true in production: %s",
				name, strings.TrimSpace(s.value), why[name])})
		}
	}
	return out
}
