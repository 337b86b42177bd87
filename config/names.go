package config

import (
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"unicode"
)

// Each check returns "" when the value is fine, or a message that completes
// "<key>: ...". Messages say what is wrong and what to write instead.

var (
	// Kamal's own rule for `service:` (Kamal::Configuration, /^[a-z0-9_-]+$/i).
	kamalServiceRe = regexp.MustCompile(`^[a-zA-Z0-9_-]+$`)
	// GitHub user/organisation names; ghcr.io wants them lowercase.
	ghOwnerRe = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9]|-[a-z0-9]){0,38}$`)
	// OCI repository path component.
	imageNameRe = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$`)
	// Docker volume names.
	volumeRe = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]*$`)
	// A plain file name inside the storage volume.
	fileNameRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
	semverRe   = regexp.MustCompile(`^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$`)
	regionRe   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]*$`)
	bucketRe   = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)
	// What the berth plugin accepts for its bypass cookie and header.
	httpTokenRe = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
)

func checkAppName(s string) string {
	switch {
	case s == "":
		return "missing; set it to the Kamal service name (e.g. wombat_workouts)"
	case !kamalServiceRe.MatchString(s):
		return fmt.Sprintf("%q can only include letters, digits, hyphens and underscores (Kamal's rule for service names)", s)
	case strings.ToLower(s) != s:
		// Kamal allows uppercase, but the berth plugin and Docker volume
		// conventions do not; a name the plugin refuses would drop the
		// app's routers (404) at run time.
		return fmt.Sprintf("%q must be lowercase (berth names state files and Traefik middlewares after it)", s)
	case !isAlnum(rune(s[0])):
		return fmt.Sprintf("%q must start with a letter or digit: it names the Docker volume %s_storage", s, s)
	case len(s) > 63:
		return "is longer than 63 characters; Docker and Traefik names are built from it"
	}
	return ""
}

func isAlnum(r rune) bool { return r < 128 && (unicode.IsLetter(r) || unicode.IsDigit(r)) }

// splitImage splits ghcr.io/OWNER/NAME; it returns empty strings when the
// shape is wrong (checkImage explains why).
func splitImage(s string) (owner, name string) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 || parts[0] != "ghcr.io" {
		return "", ""
	}
	return parts[1], parts[2]
}

func checkImage(s string) string {
	if s == "" {
		return "missing; set it to ghcr.io/OWNER/NAME (e.g. ghcr.io/wombatworkouts/wombat_workouts)"
	}
	if strings.Contains(s, "@") {
		return fmt.Sprintf("%q: drop the @digest; Kamal tags each version itself", s)
	}
	last := s[strings.LastIndex(s, "/")+1:]
	if i := strings.Index(last, ":"); i >= 0 {
		return fmt.Sprintf("%q: drop the tag %q; Kamal tags each version itself", s, last[i:])
	}
	parts := strings.Split(s, "/")
	if parts[0] != "ghcr.io" {
		return fmt.Sprintf("%q must be on GitHub's registry: ghcr.io/OWNER/NAME", s)
	}
	if len(parts) != 3 {
		return fmt.Sprintf("%q must have the form ghcr.io/OWNER/NAME", s)
	}
	if strings.ToLower(s) != s {
		return fmt.Sprintf("%q must be lowercase (ghcr.io rejects uppercase image names)", s)
	}
	if !ghOwnerRe.MatchString(parts[1]) {
		return fmt.Sprintf("%q: %q is not a GitHub user or organisation name", s, parts[1])
	}
	if !imageNameRe.MatchString(parts[2]) {
		return fmt.Sprintf("%q: %q is not a valid image name (lowercase letters, digits, '.', '_', '-')", s, parts[2])
	}
	return ""
}

func checkRegistryUser(s string) string {
	if s == "" || ghOwnerRe.MatchString(strings.ToLower(s)) {
		return ""
	}
	return fmt.Sprintf("%q is not a GitHub user name", s)
}

// checkDomain accepts a fully qualified DNS name that Let's Encrypt can issue
// a certificate for with the TLS-ALPN or HTTP challenge.
func checkDomain(s string) string {
	bad := func(why string) string { return fmt.Sprintf("%q is not a valid host name: %s", s, why) }
	switch {
	case s == "":
		return "is empty"
	case strings.Contains(s, "://"):
		return bad("write the host only, without a scheme")
	case net.ParseIP(s) != nil:
		return bad("an IP address; use a domain name")
	case strings.ContainsAny(s, "/?#"):
		return bad("write the host only, without a path")
	case strings.Contains(s, ":"):
		return bad("write the host only, without a port")
	case strings.HasPrefix(s, "*."):
		return bad("wildcards need a DNS challenge, which berth does not set up; list each name")
	case strings.ToLower(s) != s:
		return fmt.Sprintf("%q must be lowercase", s)
	case strings.HasSuffix(s, "."):
		return bad("drop the trailing dot")
	case len(s) > 253:
		return bad("longer than 253 characters")
	}
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return bad("needs at least two labels, like example.com")
	}
	for _, l := range labels {
		if why := checkLabel(l); why != "" {
			return bad(why)
		}
	}
	if _, err := strconv.Atoi(labels[len(labels)-1]); err == nil {
		return bad("the last label cannot be all digits")
	}
	return ""
}

func checkLabel(l string) string {
	switch {
	case l == "":
		return "empty label between dots"
	case len(l) > 63:
		return fmt.Sprintf("label %q is longer than 63 characters", l)
	case l[0] == '-' || l[len(l)-1] == '-':
		return fmt.Sprintf("label %q starts or ends with a hyphen", l)
	}
	for _, r := range l {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return fmt.Sprintf("label %q has %q (only a-z, 0-9 and '-'; use punycode for other scripts)", l, r)
		}
	}
	return ""
}

// checkServerHost accepts what Kamal accepts as a host: an IP address or a
// name (single-label SSH aliases included). SSH ports belong in ssh config.
func checkServerHost(s string) string {
	if s == "" {
		return "is empty"
	}
	if net.ParseIP(s) != nil {
		return ""
	}
	if strings.Contains(s, "@") {
		return fmt.Sprintf("%q: write the host only; the SSH user is set in Kamal's ssh: section", s)
	}
	if strings.Contains(s, ":") {
		return fmt.Sprintf("%q: write the host only; an SSH port is set in Kamal's ssh: section", s)
	}
	for _, l := range strings.Split(strings.ToLower(s), ".") {
		if why := checkLabel(l); why != "" {
			return fmt.Sprintf("%q is not a valid host: %s", s, why)
		}
	}
	return ""
}

func checkHTTPPath(s string) string {
	switch {
	case s == "":
		return "is empty"
	case !strings.HasPrefix(s, "/"):
		return fmt.Sprintf("%q must start with /", s)
	case strings.ContainsAny(s, " \t\r\n#"):
		return fmt.Sprintf("%q must not contain spaces or '#'", s)
	}
	return ""
}

func checkVolume(s string) string {
	if !volumeRe.MatchString(s) {
		return fmt.Sprintf("%q is not a valid Docker volume name (letters, digits, '_', '.', '-'; starting with a letter or digit)", s)
	}
	return ""
}

func checkDatabaseFile(s string) string {
	switch {
	case strings.Contains(s, "/"):
		return fmt.Sprintf("%q: give the file name inside %s, without directories", s, StorageMount)
	case !fileNameRe.MatchString(s):
		return fmt.Sprintf("%q is not a plain file name", s)
	case strings.Contains(s, "_cache.") || strings.Contains(s, "_cable."):
		return fmt.Sprintf("%q: the cache and cable databases are rebuilt by Rails and are never replicated", s)
	}
	return ""
}

// isS3URL reports whether a replica setting is an S3 URL.
func isS3URL(s string) bool { return strings.HasPrefix(s, "s3://") }

func checkReplica(s string) string {
	switch {
	case s == "":
		return "missing; set an S3 URL (s3://BUCKET/PATH) or an absolute directory on the server"
	case isS3URL(s):
		u, err := url.Parse(s)
		if err != nil {
			return fmt.Sprintf("%q is not a valid URL", s)
		}
		if u.User != nil {
			return "has credentials in the URL; put them in .kamal/secrets and name them under litestream.secrets"
		}
		if u.RawQuery != "" || u.Fragment != "" {
			return fmt.Sprintf("%q: set endpoint and region as their own keys, not as URL parameters", s)
		}
		if !bucketRe.MatchString(u.Host) {
			return fmt.Sprintf("%q: %q is not a valid bucket name", s, u.Host)
		}
		p := strings.Trim(u.Path, "/")
		if p == "" {
			return fmt.Sprintf("%q needs a path after the bucket (e.g. s3://%s/APP), so apps can share a bucket", s, u.Host)
		}
		if path.Clean("/"+p) != "/"+p {
			return fmt.Sprintf("%q: the path must be clean (no '..', '//' or '.')", s)
		}
		return ""
	case strings.Contains(s, "://") && !strings.HasPrefix(s, "file://"):
		return fmt.Sprintf("%q: berth supports s3:// replicas (any S3-compatible store) and file paths", s)
	}
	dir := strings.TrimPrefix(s, "file://")
	if !path.IsAbs(dir) {
		return fmt.Sprintf("%q: a file replica must be an absolute directory on the server", s)
	}
	if path.Clean(dir) != dir {
		return fmt.Sprintf("%q: write a clean path (no '..', '//' or trailing '/')", s)
	}
	if dir == StorageMount || strings.HasPrefix(dir, StorageMount+"/") {
		return fmt.Sprintf("%q is inside the app's own volume; a backup must live elsewhere", s)
	}
	if strings.ContainsAny(dir, " :,") {
		return fmt.Sprintf("%q must not contain spaces, ':' or ','", s)
	}
	return ""
}

func checkEndpoint(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Sprintf("%q must be an https:// URL such as https://fsn1.your-objectstorage.com", s)
	}
	if u.User != nil {
		return "has credentials in the URL; put them in .kamal/secrets and name them under litestream.secrets"
	}
	if u.Path != "" && u.Path != "/" || u.RawQuery != "" {
		return fmt.Sprintf("%q: give only scheme and host; the bucket goes in replica:", s)
	}
	return ""
}

func checkRegion(s string) string {
	if !regionRe.MatchString(s) {
		return fmt.Sprintf("%q is not a region name (e.g. fsn1, eu-central-1)", s)
	}
	return ""
}

// checkLitestreamImage pins the image to a v0.5 tag: berth writes the v0.5
// configuration format, which v0.3 reads differently (docs/litestream.md#litestream-as-berth-uses-it).
func checkLitestreamImage(s string) string {
	i := strings.LastIndex(s, ":")
	if i < 0 || strings.Contains(s[i:], "/") {
		return fmt.Sprintf("%q: pin a version tag, e.g. %s", s, DefaultLitestreamImage)
	}
	tag := s[i+1:]
	if !regexp.MustCompile(`^0\.5\.[0-9]+$`).MatchString(tag) {
		return fmt.Sprintf("%q: berth writes Litestream's v0.5 config; pin a 0.5.x tag such as %s", s, DefaultLitestreamImage)
	}
	return ""
}

func checkEmail(s string) string {
	if s == "" {
		return "missing; Let's Encrypt needs a contact address"
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Address != s || a.Name != "" {
		return fmt.Sprintf("%q is not a plain e-mail address", s)
	}
	domain := strings.ToLower(s[strings.LastIndex(s, "@")+1:])
	switch domain {
	case "example.com", "example.net", "example.org", "localhost":
		return fmt.Sprintf("%q: Let's Encrypt refuses contact addresses at %s; use a real one", s, domain)
	}
	if !strings.Contains(domain, ".") {
		return fmt.Sprintf("%q needs a full domain after the @", s)
	}
	return ""
}

// checkTraefikVersion requires v3.6.1 or newer: allownonrunning and
// passiveHealthCheck are v3.6 features and Docker 29 needs v3.6.1 (docs/traefik.md#traefik-as-berth-uses-it).
func checkTraefikVersion(s string) string {
	m := semverRe.FindStringSubmatch(s)
	if m == nil {
		return fmt.Sprintf("%q is not a version like %s", s, DefaultTraefikVersion)
	}
	major, _ := strconv.Atoi(m[1])
	minor, _ := strconv.Atoi(m[2])
	patch, _ := strconv.Atoi(m[3])
	if major != 3 || minor < 6 || (minor == 6 && patch < 1) {
		return fmt.Sprintf("%q: berth needs Traefik v3.6.1 or newer in the v3 line (allownonrunning, passiveHealthCheck, Docker 29)", s)
	}
	return ""
}

func checkSemver(s string) string {
	if !semverRe.MatchString(s) {
		return fmt.Sprintf("%q is not a version tag like v0.1.0 (the plugin catalog needs semver tags)", s)
	}
	return ""
}

// checkCIDR accepts a.b.c.d/n or an IPv6 prefix; a bare address is refused
// with the exact fix, since the plugin matches prefixes.
func checkCIDR(s string) string {
	if _, _, err := net.ParseCIDR(s); err == nil {
		return ""
	}
	if ip := net.ParseIP(s); ip != nil {
		bits := 32
		if ip.To4() == nil {
			bits = 128
		}
		return fmt.Sprintf("%q is an address, not a range; write %s/%d", s, s, bits)
	}
	return fmt.Sprintf("%q is not an address range like 203.0.113.0/24", s)
}

func checkToken(s, what string) string {
	if !httpTokenRe.MatchString(s) {
		return fmt.Sprintf("%q is not a valid %s name (letters, digits, '-' and '_')", s, what)
	}
	return ""
}

func sortStrings(s []string) { sort.Strings(s) }
