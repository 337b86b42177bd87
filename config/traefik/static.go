// Package traefik writes what Traefik needs for berth: the server's static
// configuration, each app's dynamic configuration (file provider) and the
// docker labels that route a domain to an app's containers. Router, service
// and middleware names are decided here and nowhere else, so the labels and
// the dynamic files always agree.
package traefik

import (
	"bytes"
	"fmt"

	"gopkg.in/yaml.v3"

	"github.com/wombatworkouts/berth/config"
)

// Names and places shared by the static config, the labels and the server
// setup (docker-setup hook).
const (
	EntryPointWeb     = "web"
	EntryPointSecure  = "websecure"
	EntryPointTraefik = "traefik" // ping only; not published by the hook
	CertResolver      = "letsencrypt"
	DockerNetwork     = "kamal" // Kamal 2 puts apps and accessories here (docs/kamal.md#kamal-2-without-kamal-proxy)
	DynamicDir        = "/etc/traefik/dynamic"
	DockerEndpoint    = "unix:///var/run/docker.sock"
	PluginAlias       = "berth"
	PluginModule      = "github.com/wombatworkouts/berth"
)

// Static is Traefik's static configuration (traefik.yml). It is our own
// small type rather than Traefik's, because the root module must not depend
// on Traefik; the e2e module loads the rendered file into the real thing.
// Fields are exported so tests and the e2e rehearsal can adjust a rendered
// config (e.g. the Docker endpoint) before marshalling.
type Static struct {
	Global                Global                          `yaml:"global"`
	Log                   Log                             `yaml:"log"`
	AccessLog             struct{}                        `yaml:"accessLog"`
	API                   API                             `yaml:"api"`
	Ping                  Ping                            `yaml:"ping"`
	EntryPoints           map[string]*EntryPoint          `yaml:"entryPoints"`
	CertificatesResolvers map[string]CertificatesResolver `yaml:"certificatesResolvers"`
	Providers             Providers                       `yaml:"providers"`
	Experimental          Experimental                    `yaml:"experimental"`
}

// The types below mirror the parts of Traefik's static configuration berth
// sets; field names follow Traefik's YAML keys.

// Global turns off Traefik's phoning home.
type Global struct {
	CheckNewVersion    bool `yaml:"checkNewVersion"`
	SendAnonymousUsage bool `yaml:"sendAnonymousUsage"`
}

// Log is Traefik's own log.
type Log struct {
	Level string `yaml:"level"`
}

// API keeps the API and dashboard off any open port: insecure false means
// they are only reachable through a router someone adds on purpose.
type API struct {
	Dashboard bool `yaml:"dashboard"`
	Insecure  bool `yaml:"insecure"`
}

// Ping serves /ping on the internal entry point for `traefik healthcheck`.
type Ping struct {
	EntryPoint string `yaml:"entryPoint"`
}

// EntryPoint is one listening address.
type EntryPoint struct {
	Address          Quoted            `yaml:"address"`
	ForwardedHeaders *ForwardedHeaders `yaml:"forwardedHeaders,omitempty"`
	HTTP             *EntryPointHTTP   `yaml:"http,omitempty"`
}

// ForwardedHeaders lists the peers whose X-Forwarded-* headers Traefik
// keeps; from anyone else it drops them before any middleware runs.
type ForwardedHeaders struct {
	TrustedIPs []string `yaml:"trustedIPs"`
}

// EntryPointHTTP holds an entry point's HTTP settings.
type EntryPointHTTP struct {
	Redirections *Redirections `yaml:"redirections,omitempty"`
}

// Redirections redirects a whole entry point (http to https).
type Redirections struct {
	EntryPoint RedirectEntryPoint `yaml:"entryPoint"`
}

// RedirectEntryPoint is the redirect target.
type RedirectEntryPoint struct {
	To        string `yaml:"to"`
	Scheme    string `yaml:"scheme"`
	Permanent bool   `yaml:"permanent"`
}

// CertificatesResolver is a named certificate resolver.
type CertificatesResolver struct {
	ACME ACME `yaml:"acme"`
}

// ACME is Let's Encrypt's configuration (NewACME, acme.go).
type ACME struct {
	Email         string         `yaml:"email"`
	Storage       string         `yaml:"storage"`
	CAServer      string         `yaml:"caServer,omitempty"`
	HTTPChallenge *HTTPChallenge `yaml:"httpChallenge"`
}

// HTTPChallenge answers HTTP-01 on an entry point.
type HTTPChallenge struct {
	EntryPoint string `yaml:"entryPoint"`
}

// Providers are where Traefik finds routers and middlewares.
type Providers struct {
	Docker Docker `yaml:"docker"`
	File   File   `yaml:"file"`
}

// Docker is the docker provider (routers and services from labels).
type Docker struct {
	Endpoint         string `yaml:"endpoint"`
	ExposedByDefault bool   `yaml:"exposedByDefault"`
	Network          string `yaml:"network"`
	Watch            bool   `yaml:"watch"`
}

// File is the file provider (middlewares, one file per app).
type File struct {
	Directory string `yaml:"directory"`
	Watch     bool   `yaml:"watch"`
}

// Experimental loads the berth plugin, from the catalog or locally.
type Experimental struct {
	Plugins      map[string]PluginDescriptor      `yaml:"plugins,omitempty"`
	LocalPlugins map[string]LocalPluginDescriptor `yaml:"localPlugins,omitempty"`
}

// PluginDescriptor is a catalog plugin.
type PluginDescriptor struct {
	ModuleName string `yaml:"moduleName"`
	Version    string `yaml:"version"`
}

// LocalPluginDescriptor is a plugin read from ./plugins-local/src.
type LocalPluginDescriptor struct {
	ModuleName string `yaml:"moduleName"`
}

// Quoted is a string always written in double quotes, for values such as
// ":443" that are valid plain YAML but easy to misread.
type Quoted string

// MarshalYAML implements yaml.Marshaler.
func (q Quoted) MarshalYAML() (any, error) {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: string(q), Style: yaml.DoubleQuotedStyle}, nil
}

// NewStatic builds the static configuration from a manifest's server:
// section. All apps on a server share it (config.CheckServer).
func NewStatic(s config.Server) *Static {
	st := &Static{
		Log: Log{Level: "INFO"},
		API: API{Dashboard: true, Insecure: false},
		// Ping lives on its own entry point so that health checks of
		// Traefik itself never depend on the public ones.
		Ping: Ping{EntryPoint: EntryPointTraefik},
		EntryPoints: map[string]*EntryPoint{
			EntryPointWeb: {
				Address: ":80",
				HTTP: &EntryPointHTTP{Redirections: &Redirections{EntryPoint: RedirectEntryPoint{
					To: EntryPointSecure, Scheme: "https", Permanent: true,
				}}},
			},
			EntryPointSecure:  {Address: ":443"},
			EntryPointTraefik: {Address: ":8080"},
		},
		Providers: Providers{
			Docker: Docker{
				Endpoint: DockerEndpoint,
				// Only containers that opt in with traefik.enable=true
				// are routed: accessories and `kamal app exec`
				// containers share the kamal network.
				ExposedByDefault: false,
				Network:          DockerNetwork,
				Watch:            true,
			},
			File: File{Directory: DynamicDir, Watch: true},
		},
	}
	if len(s.TrustedProxies) > 0 {
		// The public entry points behind a proxy or load balancer: the
		// plugin's trustedProxies is rendered from the same list
		// (pluginconf.go), so the client address it allowlists is the
		// one the proxy forwarded and nobody else can forge it.
		for _, name := range []string{EntryPointWeb, EntryPointSecure} {
			st.EntryPoints[name].ForwardedHeaders = &ForwardedHeaders{TrustedIPs: append([]string(nil), s.TrustedProxies...)}
		}
	}
	st.CertificatesResolvers = map[string]CertificatesResolver{CertResolver: {ACME: NewACME(s.ACME)}}
	if s.Plugin.Source == config.PluginCatalog {
		st.Experimental.Plugins = map[string]PluginDescriptor{PluginAlias: {ModuleName: PluginModule, Version: s.Plugin.Version}}
	} else {
		// Traefik reads ./plugins-local/src/<moduleName>/ relative to its
		// working directory; the docker-setup hook puts the plugin there.
		st.Experimental.LocalPlugins = map[string]LocalPluginDescriptor{PluginAlias: {ModuleName: PluginModule}}
	}
	return st
}

const staticHeader = `# Traefik static configuration, written by berth (berth config render).
# Shared by every app on the server; do not edit: change server: in
# config/berth.yml and render again.
# The TLS 1.2 minimum is dynamic configuration: see dynamic/_server.yml.
`

// Marshal renders the static configuration as YAML.
func (s *Static) Marshal() ([]byte, error) {
	var buf bytes.Buffer
	buf.WriteString(staticHeader)
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(s); err != nil {
		return nil, fmt.Errorf("rendering traefik static config: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("rendering traefik static config: %w", err)
	}
	return buf.Bytes(), nil
}
