package plugin

import (
	"fmt"
	"net"
	"os"
	"regexp"
	"strings"
	"sync/atomic"
	"time"
)

// Config is the middleware configuration. Traefik hands the user's options
// over in Options (its decoder sees no other field, see options.go); New
// checks them and applies them over the defaults CreateConfig set. Durations
// are strings such as "500ms" or "10s" so that they read the same in YAML,
// TOML and labels.
type Config struct {
	// App names the hosted app (the Kamal service). It names the state file
	// apps/<app>.json and appears on the page and in the status endpoint.
	App string `mapstructure:"-"`

	// Enabled forces maintenance from static configuration.
	Enabled bool `mapstructure:"-"`
	// Message is shown during maintenance; UnavailableMessage when the app is
	// down (health probe failing) or a hold timed out.
	Message            string `mapstructure:"-"`
	UnavailableMessage string `mapstructure:"-"`

	// StateDir holds server.json and apps/<app>.json, written by `berth
	// maintenance`. Empty disables run-time state files.
	StateDir string `mapstructure:"-"`
	// PollInterval is how often the state files are looked at: a stat,
	// and a read only when the file changed (or a second has passed), so
	// it can be short. 100ms puts a `berth maintenance on` in front of
	// visitors within about 50ms on average.
	PollInterval string `mapstructure:"-"`

	// Windows are scheduled maintenance windows.
	Windows []Window `mapstructure:"-"`

	// Status is the HTTP status of the page; RetryAfter is used when neither
	// a window nor the state file says when the app will be back.
	Status       int    `mapstructure:"-"`
	RetryAfter   string `mapstructure:"-"`
	Template     string `mapstructure:"-"`
	TemplateFile string `mapstructure:"-"`

	// Operator bypass.
	AllowCIDRs       []string `mapstructure:"-"`
	TrustedProxies   []string `mapstructure:"-"`
	BypassSecret     string   `mapstructure:"-"`
	BypassSecretFile string   `mapstructure:"-"`
	BypassCookie     string   `mapstructure:"-"`
	BypassHeader     string   `mapstructure:"-"`
	AlwaysPass       []string `mapstructure:"-"`
	StatusPath       string   `mapstructure:"-"`

	Health HealthConfig `mapstructure:"-"`

	// HoldTimeout bounds how long a request is held (paused, unavailable) or
	// retried (deploying) before the page is served; MaxHeld bounds how many
	// requests may wait at once.
	HoldTimeout string `mapstructure:"-"`
	MaxHeld     int    `mapstructure:"-"`

	// Fallback marks an instance on a router that only gets requests while
	// no container of the app runs (a file-provider router at the lowest
	// priority, whose service goes nowhere): every visitor gets the
	// unavailable page, or the maintenance page when one applies, and
	// nothing is forwarded or probed.
	Fallback bool `mapstructure:"-"`

	// Options receives every option as Traefik decoded it (see options.go):
	// New applies them over the fields above, refusing unknown keys and
	// values of the wrong type in berth's words. Go callers leave it nil.
	Options map[string]interface{} `mapstructure:",remain" json:"-"`
}

// Window is a scheduled maintenance window; Start and End are RFC 3339.
type Window struct {
	Start   string
	End     string
	Message string
}

// HealthConfig configures the app's health probe.
type HealthConfig struct {
	Enabled bool
	// Path is probed through the next handler (the router's service), so it
	// reaches containers Traefik discovered by label. URL, when set, is
	// probed directly instead.
	Path               string
	URL                string
	Host               string
	Interval           string
	Timeout            string
	HealthyThreshold   int
	UnhealthyThreshold int
}

// CreateConfig returns the defaults; Traefik decodes the user's options over it.
func CreateConfig() *Config {
	return &Config{
		Message:            "We are making some improvements and will be back shortly.",
		UnavailableMessage: "The app is temporarily unavailable. Please try again in a moment.",
		PollInterval:       "100ms",
		Status:             503,
		RetryAfter:         "30s",
		BypassCookie:       "berth_bypass",
		BypassHeader:       "X-Berth-Bypass",
		AlwaysPass:         []string{"/up"},
		StatusPath:         "/_berth/status",
		Health: HealthConfig{
			Enabled:            true,
			Path:               "/up",
			Interval:           "1s",
			Timeout:            "5s",
			HealthyThreshold:   1,
			UnhealthyThreshold: 1,
		},
		HoldTimeout: "10s",
		MaxHeld:     1000,
	}
}

// settings is the validated, compiled form of Config that the middleware uses.
type settings struct {
	app                string
	enabled            bool
	message            string
	unavailableMessage string
	stateDir           string
	pollInterval       time.Duration
	windows            []window
	status             int
	retryAfter         time.Duration
	page               *pageRenderer
	allow              []*net.IPNet
	trusted            []*net.IPNet
	bypassSecret       []byte
	bypassCookie       string
	bypassHeader       string
	alwaysPass         []string
	statusPath         string
	health             healthSettings
	holdTimeout        time.Duration
	maxHeld            int
	fallback           bool

	accept atomic.Value // *acceptMemo
}

type window struct {
	start, end time.Time
	message    string
}

type healthSettings struct {
	enabled            bool
	path               string
	url                string
	host               string
	interval           time.Duration
	timeout            time.Duration
	healthyThreshold   int
	unhealthyThreshold int
}

// appNamePattern accepts Kamal service names; they become file names, so no
// path separators or dots.
var appNamePattern = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// minSecretLen is the shortest bypass secret accepted: HMAC-SHA256 keys
// shorter than 32 bytes weaken the signature.
const minSecretLen = 32

func compile(cfg *Config) (*settings, error) {
	if cfg == nil {
		return nil, fmt.Errorf("berth: no configuration given")
	}
	s := &settings{
		app:                cfg.App,
		enabled:            cfg.Enabled,
		message:            cfg.Message,
		unavailableMessage: cfg.UnavailableMessage,
		stateDir:           cfg.StateDir,
		status:             cfg.Status,
		bypassCookie:       cfg.BypassCookie,
		bypassHeader:       cfg.BypassHeader,
		statusPath:         cfg.StatusPath,
		maxHeld:            cfg.MaxHeld,
		fallback:           cfg.Fallback,
	}
	var err error

	if !appNamePattern.MatchString(cfg.App) {
		return nil, fieldError("app", cfg.App, "a Kamal service name: lowercase letters, digits, '-' and '_', starting with a letter or digit")
	}
	if s.pollInterval, err = parseDuration("pollInterval", cfg.PollInterval, 50*time.Millisecond, time.Minute); err != nil {
		return nil, err
	}
	if s.stateDir != "" && !strings.HasPrefix(s.stateDir, "/") {
		return nil, fieldError("stateDir", cfg.StateDir, "an absolute directory path, or empty to disable state files")
	}
	for i, w := range cfg.Windows {
		cw, err := compileWindow(i, w)
		if err != nil {
			return nil, err
		}
		s.windows = append(s.windows, cw)
	}
	if cfg.Status < 400 || cfg.Status > 599 {
		return nil, fieldError("status", fmt.Sprint(cfg.Status), "an HTTP status from 400 to 599 (503 is what search engines and monitors expect)")
	}
	if s.retryAfter, err = parseDuration("retryAfter", cfg.RetryAfter, time.Second, 7*24*time.Hour); err != nil {
		return nil, err
	}
	if s.page, err = newPageRenderer(cfg.Template, cfg.TemplateFile); err != nil {
		return nil, err
	}
	if s.allow, err = parseCIDRs("allowCIDRs", cfg.AllowCIDRs); err != nil {
		return nil, err
	}
	if s.trusted, err = parseCIDRs("trustedProxies", cfg.TrustedProxies); err != nil {
		return nil, err
	}
	if s.bypassSecret, err = loadSecret(cfg.BypassSecret, cfg.BypassSecretFile); err != nil {
		return nil, err
	}
	if s.bypassSecret != nil {
		if !validCookieName(cfg.BypassCookie) {
			return nil, fieldError("bypassCookie", cfg.BypassCookie, "a cookie name of letters, digits, '-' and '_'")
		}
		if !validCookieName(cfg.BypassHeader) {
			return nil, fieldError("bypassHeader", cfg.BypassHeader, "a header name of letters, digits, '-' and '_'")
		}
	}
	for i, p := range cfg.AlwaysPass {
		if !strings.HasPrefix(p, "/") {
			return nil, fieldError(fmt.Sprintf("alwaysPass[%d]", i), p, "a path starting with '/' (a trailing '*' matches a prefix)")
		}
		s.alwaysPass = append(s.alwaysPass, p)
	}
	if s.statusPath != "" && !strings.HasPrefix(s.statusPath, "/") {
		return nil, fieldError("statusPath", cfg.StatusPath, "a path starting with '/', or empty to disable the status endpoint")
	}
	if s.health, err = compileHealth(cfg.Health); err != nil {
		return nil, err
	}
	if s.fallback {
		// Nothing to probe: the router's service is not the app.
		s.health.enabled = false
	}
	if s.holdTimeout, err = parseDuration("holdTimeout", cfg.HoldTimeout, 0, 10*time.Minute); err != nil {
		return nil, err
	}
	if cfg.MaxHeld < 0 || cfg.MaxHeld > 1000000 {
		return nil, fieldError("maxHeld", fmt.Sprint(cfg.MaxHeld), "a number of requests from 0 to 1000000 (0 answers at once, never holds)")
	}
	return s, nil
}

func compileWindow(i int, w Window) (window, error) {
	name := fmt.Sprintf("windows[%d]", i)
	start, err := time.Parse(time.RFC3339, w.Start)
	if err != nil {
		return window{}, fieldError(name+".start", w.Start, "an RFC 3339 time such as 2026-12-01T02:00:00Z")
	}
	end, err := time.Parse(time.RFC3339, w.End)
	if err != nil {
		return window{}, fieldError(name+".end", w.End, "an RFC 3339 time such as 2026-12-01T03:00:00Z")
	}
	if !end.After(start) {
		return window{}, fieldError(name+".end", w.End, "a time after "+name+".start")
	}
	return window{start: start, end: end, message: w.Message}, nil
}

func compileHealth(h HealthConfig) (healthSettings, error) {
	hs := healthSettings{
		enabled:            h.Enabled,
		path:               h.Path,
		url:                h.URL,
		host:               h.Host,
		healthyThreshold:   h.HealthyThreshold,
		unhealthyThreshold: h.UnhealthyThreshold,
	}
	if !h.Enabled {
		return hs, nil
	}
	var err error
	if h.URL != "" {
		if !strings.HasPrefix(h.URL, "http://") && !strings.HasPrefix(h.URL, "https://") {
			return hs, fieldError("health.url", h.URL, "an http:// or https:// URL, or empty to probe health.path through the router's service")
		}
	} else if !strings.HasPrefix(h.Path, "/") {
		return hs, fieldError("health.path", h.Path, "a path starting with '/', such as /up")
	}
	if strings.ContainsAny(h.Host, "/ \t\r\n") {
		return hs, fieldError("health.host", h.Host, "a host name (with an optional port) sent as the probe's Host header")
	}
	if hs.interval, err = parseDuration("health.interval", h.Interval, 100*time.Millisecond, time.Hour); err != nil {
		return hs, err
	}
	if hs.timeout, err = parseDuration("health.timeout", h.Timeout, 10*time.Millisecond, time.Minute); err != nil {
		return hs, err
	}
	if h.HealthyThreshold < 1 || h.HealthyThreshold > 100 {
		return hs, fieldError("health.healthyThreshold", fmt.Sprint(h.HealthyThreshold), "a count from 1 to 100")
	}
	if h.UnhealthyThreshold < 1 || h.UnhealthyThreshold > 100 {
		return hs, fieldError("health.unhealthyThreshold", fmt.Sprint(h.UnhealthyThreshold), "a count from 1 to 100")
	}
	return hs, nil
}

func fieldError(field, value, want string) error {
	return fmt.Errorf("berth: invalid %s %q: want %s", field, value, want)
}

func parseDuration(field, value string, lo, hi time.Duration) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(value))
	if err != nil || d < lo || d > hi {
		return 0, fieldError(field, value, fmt.Sprintf("a duration from %s to %s, such as \"500ms\" or \"10s\"", lo, hi))
	}
	return d, nil
}

func parseCIDRs(field string, values []string) ([]*net.IPNet, error) {
	var nets []*net.IPNet
	for i, v := range values {
		v = strings.TrimSpace(v)
		if !strings.Contains(v, "/") {
			// A bare address is a single host.
			if ip := net.ParseIP(v); ip != nil {
				if ip.To4() != nil {
					v += "/32"
				} else {
					v += "/128"
				}
			}
		}
		_, n, err := net.ParseCIDR(v)
		if err != nil {
			return nil, fieldError(fmt.Sprintf("%s[%d]", field, i), values[i], "an IP address or CIDR such as 203.0.113.7 or 10.0.0.0/8")
		}
		nets = append(nets, n)
	}
	return nets, nil
}

func loadSecret(inline, file string) ([]byte, error) {
	if inline != "" && file != "" {
		return nil, fmt.Errorf("berth: set bypassSecret or bypassSecretFile, not both")
	}
	secret := inline
	field := "bypassSecret"
	if file != "" {
		field = "bypassSecretFile"
		b, err := os.ReadFile(file)
		if err != nil {
			// The path is not secret; the error names it so the operator can fix the mount.
			return nil, fmt.Errorf("berth: invalid bypassSecretFile: %v", err)
		}
		secret = strings.TrimSpace(string(b))
	}
	if secret == "" && file == "" {
		return nil, nil
	}
	if len(secret) < minSecretLen {
		// Never echo the secret itself.
		return nil, fmt.Errorf("berth: invalid %s: want at least %d characters (generate one with `openssl rand -hex 32`)", field, minSecretLen)
	}
	return []byte(secret), nil
}

func validCookieName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		ok := c == '-' || c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
		if !ok {
			return false
		}
	}
	return true
}
