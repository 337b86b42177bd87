// Package config holds berth's per-app manifest (config/berth.yml): its Go
// types, defaults, strict loading and validation, and the cross-app checks for
// several apps sharing one server. The generators live in sub-packages
// (traefik, kamal, litestream) and only read a validated *Manifest, so every
// rule about what a good manifest is lives here, in one place.
package config

import (
	"path"

	"gopkg.in/yaml.v3"
)

// Paths and names fixed by the Rails 8 image and by how berth wires things.
const (
	// StorageMount is where Rails 8's Dockerfile keeps SQLite files and
	// Active Storage uploads; the app's volume is mounted here (docs/rails.md#the-app-image).
	StorageMount = "/rails/storage"
	// ContainerPort is the port Thruster listens on in the Rails 8 image.
	ContainerPort = 80

	DefaultHealthPath         = "/up"
	DefaultDatabase           = "production.sqlite3"
	DefaultTraefikVersion     = "v3.6.12"
	DefaultStateDir           = "/var/lib/berth/state"
	DefaultLitestreamImage    = "litestream/litestream:0.5.18"
	DefaultAccessKeyIDSecret  = "LITESTREAM_ACCESS_KEY_ID"
	DefaultSecretKeySecret    = "LITESTREAM_SECRET_ACCESS_KEY"
	DefaultCertificateMinDays = 14
	DefaultRegistryPassword   = "KAMAL_REGISTRY_PASSWORD"

	// Container health check (docker run --health-*), see docs/kamal.md#kamal-2-without-kamal-proxy: Kamal
	// waits for "healthy" when the container has a health check.
	DefaultContainerInterval    = "1s"
	DefaultContainerTimeout     = "5s"
	DefaultContainerRetries     = 3
	DefaultContainerStartPeriod = "30s"

	// Traefik retry middleware: retries only unreachable servers (docs/traefik.md#traefik-as-berth-uses-it),
	// which is exactly the window where a container has just gone away. Six
	// attempts from 500 ms (Traefik grows the interval to 2x over the
	// attempts, randomised ±50 %) keep retrying for at least ~1.7 s: longer
	// than the plugin's 1 s probe interval, so a request refused before berth
	// notices an outage is retried into berth's hold (measured in
	// e2e/traefik TestBackendRestartUnderLoad).
	DefaultRetryAttempts        = 6
	DefaultRetryInitialInterval = "500ms"

	// Passive health check: a server is taken out after this many
	// consecutive failures (>= 500 or unreachable) for the failure window.
	// Traefik's own default is 1 failure; with a single container one
	// buggy page answering 500 would then take the whole app out, so berth
	// waits for a short run of failures instead.
	DefaultPassiveFailureWindow     = "5s"
	DefaultPassiveMaxFailedAttempts = 3
)

// Redirect modes between an apex domain and its www twin.
const (
	RedirectWWWToApex = "www-to-apex"
	RedirectApexToWWW = "apex-to-www"
	RedirectNone      = "none"
)

// Maintenance policies the deploy hooks follow.
const (
	PolicyAlways                = "always"
	PolicyWhenMigrationsPending = "when-migrations-pending"
	PolicyNever                 = "never"
)

// ACME challenge types. Only HTTP-01 is rendered: under Traefik v3.6 a
// TLS-ALPN-01 challenge pushes a dynamic configuration, which makes Traefik
// order again for every name still without a certificate, so one name that
// fails validation is re-ordered about once a second. ChallengeTLS is known
// only to refuse it with that explanation (validate.go).
const (
	ChallengeTLS  = "tls"
	ChallengeHTTP = "http"
)

// Plugin sources.
const (
	PluginLocal   = "local"
	PluginCatalog = "catalog"
)

// Manifest is one app's config/berth.yml.
type Manifest struct {
	// App is the Kamal service name; it prefixes container, volume, router
	// and middleware names.
	App string `yaml:"app"`
	// Image is ghcr.io/OWNER/NAME, without a tag (Kamal tags each version).
	Image    string   `yaml:"image"`
	Registry Registry `yaml:"registry"`
	// Hosts are the servers the app runs on (SSH names or addresses).
	Hosts []string `yaml:"hosts"`
	// Domains the app answers on; each gets its own Traefik router and
	// Let's Encrypt certificate.
	Domains []string `yaml:"domains"`
	// Redirect says which of a domain pair (example.com and
	// www.example.com) redirects to the other.
	Redirect    string      `yaml:"redirect"`
	Health      Health      `yaml:"health"`
	Storage     Storage     `yaml:"storage"`
	Litestream  Litestream  `yaml:"litestream"`
	Maintenance Maintenance `yaml:"maintenance"`
	Traffic     Traffic     `yaml:"traffic"`
	Smoke       Smoke       `yaml:"smoke"`
	Server      Server      `yaml:"server"`
	// Kamal is extra deploy.yml content (ssh, more env, builder, another
	// role, ...) merged into what berth writes, so an app with needs beyond
	// berth's still renders its whole deploy.yml. Keys berth depends on
	// cannot be changed here (see KamalOwned).
	Kamal yaml.Node `yaml:"kamal"`

	// Path is the file the manifest was read from (for messages).
	Path string `yaml:"-"`
	// KamalVersion is the major and minor version of Kamal the app pins
	// in its Gemfile.lock, zero when unknown.
	KamalVersion [2]int `yaml:"-"`
	// Template is the content of maintenance.template_file, read by Load
	// so that generators stay free of file I/O.
	Template string `yaml:"-"`

	// lines maps key paths ("domains[1]") to their YAML line.
	lines map[string]int
}

// Registry is the container registry login. The server is always ghcr.io and
// the password is always the KAMAL_REGISTRY_PASSWORD secret.
type Registry struct {
	// Username defaults to the image's OWNER.
	Username string `yaml:"username"`
}

// Health configures how the app's health is checked, by Docker inside the
// container and by the berth plugin in front of it.
type Health struct {
	Path      string          `yaml:"path"`
	Container ContainerHealth `yaml:"container"`
	Probe     Probe           `yaml:"probe"`
}

// ContainerHealth becomes docker run --health-* options. Kamal gates the
// switch-over on the container turning healthy.
type ContainerHealth struct {
	Interval    string `yaml:"interval"`
	Timeout     string `yaml:"timeout"`
	Retries     int    `yaml:"retries"`
	StartPeriod string `yaml:"start_period"`
}

// Probe is the berth plugin's own health probe. Unset fields keep the
// plugin's defaults and are not written.
type Probe struct {
	Enabled            *bool  `yaml:"enabled"`
	URL                string `yaml:"url"`
	Interval           string `yaml:"interval"`
	Timeout            string `yaml:"timeout"`
	HealthyThreshold   int    `yaml:"healthy_threshold"`
	UnhealthyThreshold int    `yaml:"unhealthy_threshold"`
}

// Storage is the app's Docker volume and the SQLite files in it.
type Storage struct {
	// Volume defaults to <app>_storage, mounted at /rails/storage.
	Volume string `yaml:"volume"`
	// Database is the primary SQLite file name inside the volume.
	Database string `yaml:"database"`
	// QueueDatabase, when set, is replicated too (Solid Queue). Cache and
	// cable databases are never replicated: Rails rebuilds them.
	QueueDatabase string `yaml:"queue_database"`
}

// Litestream is where the databases are replicated to.
type Litestream struct {
	// Replica is s3://BUCKET/PATH or an absolute path on the server
	// (/srv/backups/app or file:///srv/backups/app). Each database goes to
	// Replica/<file name>.
	Replica  string `yaml:"replica"`
	Endpoint string `yaml:"endpoint"`
	Region   string `yaml:"region"`
	// Secrets are names of entries in .kamal/secrets, never values.
	Secrets LitestreamSecrets `yaml:"secrets"`
	Image   string            `yaml:"image"`
}

// LitestreamSecrets names the secrets that hold the S3 credentials.
type LitestreamSecrets struct {
	AccessKeyID     string `yaml:"access_key_id"`
	SecretAccessKey string `yaml:"secret_access_key"`
}

// Maintenance covers when the deploy hooks switch maintenance on and what the
// plugin shows meanwhile.
type Maintenance struct {
	Policy string `yaml:"policy"`
	// Enabled forces the maintenance page on (plugin "enabled").
	Enabled            *bool    `yaml:"enabled"`
	Message            string   `yaml:"message"`
	UnavailableMessage string   `yaml:"unavailable_message"`
	TemplateFile       string   `yaml:"template_file"`
	Status             int      `yaml:"status"`
	RetryAfter         string   `yaml:"retry_after"`
	Windows            []Window `yaml:"windows"`
	AllowCIDRs         []string `yaml:"allow_cidrs"`
	// TrustedProxies moved to server.trusted_proxies; kept so that an
	// old manifest gets an error saying so rather than "unknown key".
	TrustedProxies []string `yaml:"trusted_proxies"`
	Bypass         Bypass   `yaml:"bypass"`
	AlwaysPass     []string `yaml:"always_pass"`
	StatusPath     string   `yaml:"status_path"`
	PollInterval   string   `yaml:"poll_interval"`
}

// Window is a scheduled maintenance window (RFC 3339 times).
type Window struct {
	Start   string `yaml:"start"`
	End     string `yaml:"end"`
	Message string `yaml:"message"`
}

// Bypass lets operators through the maintenance page.
type Bypass struct {
	// SecretFile is a path on the server, as Traefik sees it, holding the
	// HMAC key. The key itself never appears in the manifest.
	SecretFile string `yaml:"secret_file"`
	Cookie     string `yaml:"cookie"`
	Header     string `yaml:"header"`
}

// Traffic tunes how requests are held and retried around restarts.
type Traffic struct {
	HoldTimeout        string             `yaml:"hold_timeout"`
	MaxHeld            int                `yaml:"max_held"`
	Retry              Retry              `yaml:"retry"`
	PassiveHealthCheck PassiveHealthCheck `yaml:"passive_health_check"`
}

// Retry is Traefik's retry middleware for this app.
type Retry struct {
	Attempts        int    `yaml:"attempts"`
	InitialInterval string `yaml:"initial_interval"`
}

// PassiveHealthCheck is Traefik v3.6's loadBalancer.passiveHealthCheck.
type PassiveHealthCheck struct {
	Enabled           *bool  `yaml:"enabled"`
	FailureWindow     string `yaml:"failure_window"`
	MaxFailedAttempts int    `yaml:"max_failed_attempts"`
}

// Smoke lists the post-deploy checks run from the deployer's machine.
type Smoke struct {
	Checks             []SmokeCheck `yaml:"checks"`
	CertificateMinDays int          `yaml:"certificate_min_days"`
}

// SmokeCheck is one HTTPS request and what it must answer.
type SmokeCheck struct {
	Path     string `yaml:"path"`
	Host     string `yaml:"host"`
	Status   int    `yaml:"status"`
	Contains string `yaml:"contains"`
}

// Server is shared by every app on the server; all manifests for the same
// host must agree on it (CheckServer).
type Server struct {
	ACME           ACME   `yaml:"acme"`
	TraefikVersion string `yaml:"traefik_version"`
	Plugin         Plugin `yaml:"plugin"`
	StateDir       string `yaml:"state_dir"`
	// TrustedProxies are the proxies or load balancers in front of
	// Traefik (e.g. a Hetzner Load Balancer's private address). Traefik's
	// entry points keep X-Forwarded-For only from these
	// (forwardedHeaders.trustedIPs), and berth's plugin takes the client
	// address from it only when the peer is one of them: both from this
	// one list, since either alone never sees the forwarded address.
	TrustedProxies []string `yaml:"trusted_proxies"`
}

// ACME is the Let's Encrypt resolver.
type ACME struct {
	Email     string `yaml:"email"`
	Staging   bool   `yaml:"staging"`
	Challenge string `yaml:"challenge"`
}

// Plugin says where Traefik gets the berth plugin from.
type Plugin struct {
	Source  string `yaml:"source"`
	Version string `yaml:"version"`
}

// Line returns the YAML line of a key path such as "domains[1]", or 0.
func (m *Manifest) Line(key string) int { return m.lines[key] }

// has reports whether the key path was present in the file.
func (m *Manifest) has(key string) bool { _, ok := m.lines[key]; return ok }

// Owner is the OWNER part of ghcr.io/OWNER/NAME.
func (m *Manifest) Owner() string {
	owner, _ := splitImage(m.Image)
	return owner
}

// Repository is the image without its registry host (OWNER/NAME), which is
// what Kamal wants in `image:` next to `registry.server`.
func (m *Manifest) Repository() string {
	owner, name := splitImage(m.Image)
	return owner + "/" + name
}

// RegistryUsername is registry.username or the image owner.
func (m *Manifest) RegistryUsername() string {
	if m.Registry.Username != "" {
		return m.Registry.Username
	}
	return m.Owner()
}

// CanonicalDomain is the domain the app is served on: the first domain that
// is not redirected elsewhere.
func (m *Manifest) CanonicalDomain() string {
	for _, d := range m.Domains {
		if _, redirected := m.RedirectTarget(d); !redirected {
			return d
		}
	}
	if len(m.Domains) > 0 {
		return m.Domains[0]
	}
	return ""
}

// RedirectTarget returns the domain that d redirects to, if it redirects.
func (m *Manifest) RedirectTarget(d string) (string, bool) {
	switch m.Redirect {
	case RedirectWWWToApex:
		if apex, ok := cutWWW(d); ok && m.hasDomain(apex) {
			return apex, true
		}
	case RedirectApexToWWW:
		if _, isWWW := cutWWW(d); !isWWW && m.hasDomain("www."+d) {
			return "www." + d, true
		}
	}
	return "", false
}

// RedirectSources lists the domains that redirect, in manifest order.
func (m *Manifest) RedirectSources() []string {
	var out []string
	for _, d := range m.Domains {
		if _, ok := m.RedirectTarget(d); ok {
			out = append(out, d)
		}
	}
	return out
}

func (m *Manifest) hasDomain(d string) bool {
	for _, x := range m.Domains {
		if x == d {
			return true
		}
	}
	return false
}

// Databases are the SQLite files Litestream replicates: the primary and, if
// configured, the queue.
func (m *Manifest) Databases() []string {
	dbs := []string{m.Storage.Database}
	if m.Storage.QueueDatabase != "" {
		dbs = append(dbs, m.Storage.QueueDatabase)
	}
	return dbs
}

// DatabasePath is a database file's path inside the containers.
func DatabasePath(file string) string { return path.Join(StorageMount, file) }

// ReplicaIsS3 reports whether the replica is an S3 (or S3-compatible) bucket.
func (m *Manifest) ReplicaIsS3() bool { return isS3URL(m.Litestream.Replica) }

// ReplicaURL is where one database's replica lives: s3://bucket/prefix/<db>
// for S3, or the absolute directory /prefix/<db> for a file replica. The
// hooks use the same function to find restore points.
func (m *Manifest) ReplicaURL(db string) string {
	r := m.Litestream.Replica
	if m.ReplicaIsS3() {
		return stringsTrimRightSlash(r) + "/" + db
	}
	return path.Join(FileReplicaDir(r), db)
}

// FileReplicaDir turns a file replica setting (/dir or file:///dir) into the
// directory path.
func FileReplicaDir(r string) string {
	const scheme = "file://"
	if len(r) >= len(scheme) && r[:len(scheme)] == scheme {
		r = r[len(scheme):]
	}
	return path.Clean(r)
}

func stringsTrimRightSlash(s string) string {
	for len(s) > 0 && s[len(s)-1] == '/' {
		s = s[:len(s)-1]
	}
	return s
}
