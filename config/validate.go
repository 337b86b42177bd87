package config

import (
	"fmt"
	"html/template"
	"os"
	"path/filepath"
	"strings"
	"time"
	"unicode/utf8"
)

// maxTemplateSize bounds the maintenance page: it is inlined into Traefik's
// dynamic configuration.
const maxTemplateSize = 64 << 10

type validator struct {
	m    *Manifest
	errs ErrorList
}

// bad records a problem with a key; the line comes from the decoder, or from
// the nearest parent key present in the file (for defaults and missing keys).
func (v *validator) bad(key, msg string) {
	v.errs = append(v.errs, &Error{File: v.m.Path, Line: v.line(key), Key: key, Msg: msg})
}

func (v *validator) check(key, msg string) {
	if msg != "" {
		v.bad(key, msg)
	}
}

func (v *validator) line(key string) int {
	for k := key; k != ""; k = parentKey(k) {
		if l, ok := v.m.lines[k]; ok {
			return l
		}
	}
	return 0
}

func parentKey(k string) string {
	if i := strings.LastIndexAny(k, ".["); i >= 0 {
		return k[:i]
	}
	return ""
}

func (v *validator) validate() {
	m := v.m
	v.check("app", checkAppName(m.App))
	v.check("image", checkImage(m.Image))
	v.check("registry.username", checkRegistryUser(m.Registry.Username))
	v.validateHosts()
	v.validateDomains()
	v.validateHealth()
	v.validateStorage()
	v.validateLitestream()
	v.validateMaintenance()
	v.validateTraffic()
	v.validateSmoke()
	v.validateServer()
	v.validateKamal()
	v.validateDeployTimeout()
}

func (v *validator) validateHosts() {
	m := v.m
	if len(m.Hosts) == 0 {
		v.bad("hosts", "missing; list the server the app runs on (e.g. - 203.0.113.10)")
		return
	}
	seen := map[string]bool{}
	for i, h := range m.Hosts {
		key := fmt.Sprintf("hosts[%d]", i)
		v.check(key, checkServerHost(h))
		if seen[h] {
			v.bad(key, fmt.Sprintf("%q is listed twice", h))
		}
		seen[h] = true
	}
	if len(m.Hosts) > 1 {
		// Each host would run its own SQLite database and its own
		// Litestream, and two Litestreams writing one replica corrupt it
		// silently (docs/litestream.md#litestream-as-berth-uses-it).
		v.bad("hosts", fmt.Sprintf("lists %d hosts, but a SQLite app has one primary: each host would have its own database "+
			"and both Litestream accessories would write the same replica. Keep one host (see config/README.md, "+
			"\"Going beyond one server\")", len(m.Hosts)))
	}
}

func (v *validator) validateDomains() {
	m := v.m
	if len(m.Domains) == 0 {
		v.bad("domains", "missing; list the host names the app answers on (e.g. - wombatworkouts.com)")
		return
	}
	seen := map[string]bool{}
	for i, d := range m.Domains {
		key := fmt.Sprintf("domains[%d]", i)
		v.check(key, checkDomain(d))
		if seen[d] {
			v.bad(key, fmt.Sprintf("%q is listed twice", d))
		}
		seen[d] = true
	}
	routers := map[string]string{}
	for i, d := range m.Domains {
		// Router names replace dots with dashes; two domains must not
		// collapse into one name.
		name := strings.ReplaceAll(d, ".", "-")
		if other, dup := routers[name]; dup && other != d {
			v.bad(fmt.Sprintf("domains[%d]", i), fmt.Sprintf("%q and %q would get the same Traefik router name", other, d))
		}
		routers[name] = d
	}
	switch m.Redirect {
	case RedirectNone:
	case RedirectWWWToApex, RedirectApexToWWW:
		if len(domainPairs(m.Domains)) == 0 {
			v.bad("redirect", fmt.Sprintf("%q needs a pair in domains: both example.com and www.example.com", m.Redirect))
		}
	default:
		v.bad("redirect", fmt.Sprintf("%q must be one of %s, %s, %s", m.Redirect, RedirectWWWToApex, RedirectApexToWWW, RedirectNone))
	}
}

func (v *validator) validateHealth() {
	h := v.m.Health
	v.check("health.path", checkHTTPPath(h.Path))
	v.duration("health.container.interval", h.Container.Interval)
	v.duration("health.container.timeout", h.Container.Timeout)
	v.duration("health.container.start_period", h.Container.StartPeriod)
	v.intRange("health.container.retries", h.Container.Retries, 1, 100)
	p := h.Probe
	if p.URL != "" {
		if !strings.HasPrefix(p.URL, "http://") && !strings.HasPrefix(p.URL, "https://") {
			v.bad("health.probe.url", fmt.Sprintf("%q must be an http:// or https:// URL", p.URL))
		}
	}
	// Ranges the berth plugin enforces; outside them it refuses the
	// config and Traefik drops the app's routers.
	v.optDurationRange("health.probe.interval", p.Interval, 100*time.Millisecond, time.Hour)
	v.optDurationRange("health.probe.timeout", p.Timeout, 10*time.Millisecond, time.Minute)
	v.optIntRange("health.probe.healthy_threshold", p.HealthyThreshold, 1, 100)
	v.optIntRange("health.probe.unhealthy_threshold", p.UnhealthyThreshold, 1, 100)
}

func (v *validator) validateStorage() {
	s := v.m.Storage
	if s.Volume != "" { // empty only when app is invalid, reported there
		v.check("storage.volume", checkVolume(s.Volume))
	}
	v.check("storage.database", checkDatabaseFile(s.Database))
	if s.QueueDatabase != "" {
		v.check("storage.queue_database", checkDatabaseFile(s.QueueDatabase))
		if s.QueueDatabase == s.Database {
			v.bad("storage.queue_database", "is the same file as storage.database")
		}
	}
}

func (v *validator) validateLitestream() {
	l := v.m.Litestream
	if msg := checkReplica(l.Replica); msg != "" {
		v.bad("litestream.replica", msg)
		return
	}
	v.check("litestream.image", checkLitestreamImage(l.Image))
	if !v.m.ReplicaIsS3() {
		for _, kv := range [][2]string{
			{"litestream.endpoint", l.Endpoint},
			{"litestream.region", l.Region},
			{"litestream.secrets.access_key_id", l.Secrets.AccessKeyID},
			{"litestream.secrets.secret_access_key", l.Secrets.SecretAccessKey},
		} {
			if kv[1] != "" {
				v.bad(kv[0], "only applies to s3:// replicas")
			}
		}
		return
	}
	if l.Endpoint != "" {
		v.check("litestream.endpoint", checkEndpoint(l.Endpoint))
	}
	if l.Region == "" {
		v.bad("litestream.region", "missing; S3 requests are signed for a region (Hetzner: fsn1, nbg1 or hel1)")
	} else {
		v.check("litestream.region", checkRegion(l.Region))
	}
	v.check("litestream.secrets.access_key_id", checkSecretName(l.Secrets.AccessKeyID))
	v.check("litestream.secrets.secret_access_key", checkSecretName(l.Secrets.SecretAccessKey))
	if l.Secrets.AccessKeyID == l.Secrets.SecretAccessKey {
		v.bad("litestream.secrets.secret_access_key", "names the same secret as access_key_id")
	}
}

func (v *validator) validateMaintenance() {
	mt := v.m.Maintenance
	switch mt.Policy {
	case PolicyAlways, PolicyWhenMigrationsPending, PolicyNever:
	default:
		v.bad("maintenance.policy", fmt.Sprintf("%q must be one of %s, %s, %s", mt.Policy, PolicyAlways, PolicyWhenMigrationsPending, PolicyNever))
	}
	v.optIntRange("maintenance.status", mt.Status, 400, 599)
	v.optDurationRange("maintenance.retry_after", mt.RetryAfter, time.Second, 7*24*time.Hour)
	v.optDurationRange("maintenance.poll_interval", mt.PollInterval, 50*time.Millisecond, time.Minute)
	if mt.StatusPath != "" {
		v.check("maintenance.status_path", checkHTTPPath(mt.StatusPath))
	}
	for i, w := range mt.Windows {
		key := fmt.Sprintf("maintenance.windows[%d]", i)
		start, errStart := time.Parse(time.RFC3339, w.Start)
		end, errEnd := time.Parse(time.RFC3339, w.End)
		if errStart != nil {
			v.bad(key+".start", fmt.Sprintf("%q is not an RFC 3339 time like 2026-01-10T02:00:00Z", w.Start))
		}
		if errEnd != nil {
			v.bad(key+".end", fmt.Sprintf("%q is not an RFC 3339 time like 2026-01-10T02:30:00Z", w.End))
		}
		if errStart == nil && errEnd == nil && !end.After(start) {
			v.bad(key+".end", "must be after start")
		}
	}
	for i, c := range mt.AllowCIDRs {
		v.check(fmt.Sprintf("maintenance.allow_cidrs[%d]", i), checkCIDR(c))
	}
	if len(mt.TrustedProxies) > 0 {
		v.bad("maintenance.trusted_proxies", "moved to server.trusted_proxies: Traefik's entry points drop X-Forwarded-For "+
			"from peers they do not trust before berth sees it, so berth renders both from the one server-wide list")
	}
	if f := mt.Bypass.SecretFile; f != "" {
		switch {
		case looksLikeSecretValue(f) && !strings.HasPrefix(f, "/"):
			v.bad("maintenance.bypass.secret_file", "this looks like the key itself: write it to a file on the server "+
				"and give that file's path here (as Traefik sees it)")
		case !filepath.IsAbs(f) || !strings.HasPrefix(f, "/"):
			v.bad("maintenance.bypass.secret_file", fmt.Sprintf("%q must be an absolute path on the server, as Traefik sees it", f))
		}
	}
	if mt.Bypass.Cookie != "" {
		v.check("maintenance.bypass.cookie", checkToken(mt.Bypass.Cookie, "cookie"))
	}
	if mt.Bypass.Header != "" {
		v.check("maintenance.bypass.header", checkToken(mt.Bypass.Header, "header"))
	}
	if (mt.Bypass.Cookie != "" || mt.Bypass.Header != "") && mt.Bypass.SecretFile == "" {
		v.bad("maintenance.bypass.secret_file", "missing; the bypass cookie and header are signed with the key in this file")
	}
	for i, p := range mt.AlwaysPass {
		v.check(fmt.Sprintf("maintenance.always_pass[%d]", i), checkHTTPPath(p))
	}
}

// readTemplate loads maintenance.template_file relative to the manifest and
// parses it the way the plugin will (html/template), so a broken page is
// found now rather than by Traefik at run time.
func (v *validator) readTemplate(baseDir string) {
	f := v.m.Maintenance.TemplateFile
	if f == "" {
		return
	}
	const key = "maintenance.template_file"
	p := f
	if !filepath.IsAbs(p) {
		p = filepath.Join(baseDir, p)
	}
	info, err := os.Stat(p)
	if err != nil {
		v.bad(key, fmt.Sprintf("cannot read %q (paths are relative to the manifest's directory): %v", f, err))
		return
	}
	if info.IsDir() || info.Size() > maxTemplateSize {
		v.bad(key, fmt.Sprintf("%q must be a file of at most 64 KiB", f))
		return
	}
	data, err := os.ReadFile(p)
	if err != nil {
		v.bad(key, fmt.Sprintf("cannot read %q: %v", f, err))
		return
	}
	if !utf8.Valid(data) {
		v.bad(key, fmt.Sprintf("%q is not UTF-8 text", f))
		return
	}
	if _, err := template.New("maintenance").Parse(string(data)); err != nil {
		v.bad(key, fmt.Sprintf("%q is not a valid Go html/template: %v", f, err))
		return
	}
	v.m.Template = string(data)
}

func (v *validator) validateTraffic() {
	t := v.m.Traffic
	if t.HoldTimeout != "" { // 0s is allowed: never hold, answer at once
		if d, err := time.ParseDuration(t.HoldTimeout); err != nil || d < 0 || d > 10*time.Minute {
			v.bad("traffic.hold_timeout", fmt.Sprintf("%q must be a duration from 0s to 10m", t.HoldTimeout))
		}
	}
	v.optIntRange("traffic.max_held", t.MaxHeld, 1, 1000000)
	v.intRange("traffic.retry.attempts", t.Retry.Attempts, 1, 10)
	v.duration("traffic.retry.initial_interval", t.Retry.InitialInterval)
	v.duration("traffic.passive_health_check.failure_window", t.PassiveHealthCheck.FailureWindow)
	v.intRange("traffic.passive_health_check.max_failed_attempts", t.PassiveHealthCheck.MaxFailedAttempts, 1, 1000)
}

func (v *validator) validateSmoke() {
	s := v.m.Smoke
	for i, c := range s.Checks {
		key := fmt.Sprintf("smoke.checks[%d]", i)
		v.check(key+".path", checkHTTPPath(c.Path))
		v.intRange(key+".status", c.Status, 100, 599)
		if c.Host != "" && !v.m.hasDomain(c.Host) {
			v.bad(key+".host", fmt.Sprintf("%q is not one of domains", c.Host))
		}
	}
	// Traefik renews Let's Encrypt certificates 30 days before they expire;
	// asking for more would fail every smoke run in the last month.
	v.intRange("smoke.certificate_min_days", s.CertificateMinDays, 1, 30)
}

func (v *validator) validateServer() {
	s := v.m.Server
	v.check("server.acme.email", checkEmail(s.ACME.Email))
	switch s.ACME.Challenge {
	case ChallengeHTTP:
	case ChallengeTLS:
		v.bad("server.acme.challenge", "tls (TLS-ALPN-01) is refused: under Traefik v3.6 each TLS-ALPN challenge reloads "+
			"the configuration, which starts a new order, so a name that fails validation (DNS not pointing here yet) is "+
			"ordered again about once a second and uses up Let's Encrypt's failed-validation limit at once; write http "+
			"(HTTP-01 on port 80, which the http->https redirect keeps open anyway) or remove the key")
	default:
		v.bad("server.acme.challenge", fmt.Sprintf("%q must be %s (HTTP-01 on :80)", s.ACME.Challenge, ChallengeHTTP))
	}
	v.check("server.traefik_version", checkTraefikVersion(s.TraefikVersion))
	switch s.Plugin.Source {
	case PluginLocal:
		if s.Plugin.Version != "" {
			v.bad("server.plugin.version", "only applies to source: catalog (a local plugin is the files on the server)")
		}
	case PluginCatalog:
		if s.Plugin.Version == "" {
			v.bad("server.plugin.version", "missing; the catalog needs the release tag, e.g. v0.1.0")
		} else {
			v.check("server.plugin.version", checkSemver(s.Plugin.Version))
		}
	default:
		v.bad("server.plugin.source", fmt.Sprintf("%q must be %s or %s", s.Plugin.Source, PluginLocal, PluginCatalog))
	}
	for i, c := range s.TrustedProxies {
		v.check(fmt.Sprintf("server.trusted_proxies[%d]", i), checkCIDR(c))
	}
	if !strings.HasPrefix(s.StateDir, "/") || filepath.Clean(s.StateDir) != s.StateDir || s.StateDir == "/" {
		v.bad("server.state_dir", fmt.Sprintf("%q must be a clean absolute directory such as %s", s.StateDir, DefaultStateDir))
	} else if strings.ContainsAny(s.StateDir, " :,") {
		v.bad("server.state_dir", fmt.Sprintf("%q must not contain spaces, ':' or ','", s.StateDir))
	}
}

func (v *validator) duration(key, s string) {
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		v.bad(key, fmt.Sprintf("%q is not a duration like 500ms, 5s or 1m", s))
	case d <= 0:
		v.bad(key, "must be longer than zero")
	}
}

func (v *validator) optDurationRange(key, s string, lo, hi time.Duration) {
	if s == "" {
		return
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		v.bad(key, fmt.Sprintf("%q is not a duration like 500ms, 5s or 1m", s))
	} else if d < lo || d > hi {
		v.bad(key, fmt.Sprintf("%q is out of range (%s to %s)", s, lo, hi))
	}
}

func (v *validator) intRange(key string, n, lo, hi int) {
	if n < lo || n > hi {
		v.bad(key, fmt.Sprintf("%d is out of range (%d to %d)", n, lo, hi))
	}
}

func (v *validator) optIntRange(key string, n, lo, hi int) {
	if n != 0 {
		v.intRange(key, n, lo, hi)
	}
}
