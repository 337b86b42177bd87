package traefik

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"regexp"
	"strings"
	"text/template"

	"github.com/traefik/genconf/dynamic"
	"github.com/traefik/genconf/dynamic/tls"
	"github.com/traefik/genconf/dynamic/types"
	sigsyaml "sigs.k8s.io/yaml"

	"github.com/wombatworkouts/berth/config"
)

// Security headers every app gets. HSTS for a year with subdomains is the
// usual production choice once HTTPS works; berth only serves HTTPS.
const (
	hstsSeconds    = 31536000
	referrerPolicy = "strict-origin-when-cross-origin"
	minTLSVersion  = "VersionTLS12"
)

// Dynamic is one app's dynamic configuration: its middlewares, and a
// fallback router. The app's routers and service come from the container
// labels (Labels), so they follow the containers Kamal starts and stops;
// while no container runs there are none, and the fallback router (lowest
// priority, every domain, a service that goes nowhere) gives visitors
// berth's unavailable page with Retry-After instead of Traefik's 404.
func Dynamic(m *config.Manifest) *dynamic.Configuration {
	app := m.App
	fallback := PluginOptions(m)
	fallback["fallback"] = true
	fallback["retryAfter"] = fallbackRetryAfter
	mws := map[string]*dynamic.Middleware{
		MiddlewareName(app, KindBerth): {
			Plugin: map[string]dynamic.PluginConf{PluginAlias: dynamic.PluginConf(PluginOptions(m))},
		},
		MiddlewareName(app, KindFallback): {
			Plugin: map[string]dynamic.PluginConf{PluginAlias: dynamic.PluginConf(fallback)},
		},
		MiddlewareName(app, KindHeaders): {
			Headers: &dynamic.Headers{
				STSSeconds:           hstsSeconds,
				STSIncludeSubdomains: true,
				ContentTypeNosniff:   true,
				FrameDeny:            true,
				ReferrerPolicy:       referrerPolicy,
			},
		},
		MiddlewareName(app, KindRetry): {
			Retry: &dynamic.Retry{
				Attempts:        m.Traffic.Retry.Attempts,
				InitialInterval: m.Traffic.Retry.InitialInterval,
			},
		},
	}
	if rr := wwwRedirect(m); rr != nil {
		mws[MiddlewareName(app, KindWWWRedirect)] = &dynamic.Middleware{RedirectRegex: rr}
	}
	var hosts []string
	for _, d := range m.Domains {
		hosts = append(hosts, "Host(`"+d+"`)")
	}
	routers := map[string]*dynamic.Router{
		MiddlewareName(app, KindFallback): {
			EntryPoints: []string{EntryPointSecure},
			Rule:        strings.Join(hosts, " || "),
			// Any label-defined router for these hosts outranks it.
			Priority:    1,
			Middlewares: []string{MiddlewareName(app, KindHeaders), MiddlewareName(app, KindFallback)},
			Service:     "noop@internal",
			TLS:         &dynamic.RouterTLSConfig{CertResolver: CertResolver, Domains: CertificateDomains(m)},
		},
	}
	return &dynamic.Configuration{HTTP: &dynamic.HTTPConfiguration{Routers: routers, Middlewares: mws}}
}

// CertificateDomains lists the app's names one per entry, so that Traefik
// orders one certificate per name. Without it Traefik takes the names from
// the fallback router's rule and orders one certificate for all of them, and
// while one name does not validate yet (its DNS is not pointing here) the
// others get none either. The label routers name one host each and need no
// list.
func CertificateDomains(m *config.Manifest) []types.Domain {
	out := make([]types.Domain, 0, len(m.Domains))
	for _, d := range m.Domains {
		out = append(out, types.Domain{Main: d})
	}
	return out
}

// fallbackRetryAfter is short: Docker's restart policy brings a crashed
// container back within seconds.
const fallbackRetryAfter = "10s"

// ServerDynamic is the dynamic configuration shared by all apps: the default
// TLS options, which every router uses unless it names others.
func ServerDynamic() *dynamic.Configuration {
	return &dynamic.Configuration{TLS: &dynamic.TLSConfiguration{
		Options: map[string]tls.Options{"default": {MinVersion: minTLSVersion}},
	}}
}

// wwwRedirect builds the apex<->www redirect for every redirected pair. It
// is attached only to the routers of the redirecting domains, and matches
// their names exactly, so it can never loop.
func wwwRedirect(m *config.Manifest) *dynamic.RedirectRegex {
	var names []string
	for _, src := range m.RedirectSources() {
		apex := src
		if m.Redirect == config.RedirectWWWToApex {
			apex = strings.TrimPrefix(src, "www.")
		}
		names = append(names, regexp.QuoteMeta(apex))
	}
	if len(names) == 0 {
		return nil
	}
	alt := "(" + strings.Join(names, "|") + ")"
	// Traefik matches against scheme://host[:port]/request-uri.
	rr := &dynamic.RedirectRegex{Permanent: true}
	if m.Redirect == config.RedirectWWWToApex {
		rr.Regex = `^https?://www\.` + alt + `(?::[0-9]+)?(/.*)?$`
		rr.Replacement = "https://${1}${2}"
	} else {
		rr.Regex = `^https?://` + alt + `(?::[0-9]+)?(/.*)?$`
		rr.Replacement = "https://www.${1}${2}"
	}
	return rr
}

// Marshal renders a genconf configuration the way Traefik's file provider
// accepts it (docs/traefik.md#genconf): through the json tags (sigs.k8s.io/yaml), with
// empty objects pruned, and with "{{" and "}}" escaped, because the file
// provider runs every file through text/template before parsing it. The
// result is checked by doing exactly that and comparing with the input.
func Marshal(c *dynamic.Configuration, header string) ([]byte, error) {
	raw, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("encoding dynamic config: %w", err)
	}
	tree, err := decodeJSON(raw)
	if err != nil {
		return nil, err
	}
	tree = prune(tree)
	out, err := sigsyaml.Marshal(tree)
	if err != nil {
		return nil, fmt.Errorf("rendering dynamic config: %w", err)
	}
	out = append([]byte(header), escapeTemplate(out)...)
	if err := verifyAsTraefik(out, tree); err != nil {
		return nil, err
	}
	return out, nil
}

func decodeJSON(raw []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var tree any
	if err := dec.Decode(&tree); err != nil {
		return nil, fmt.Errorf("decoding dynamic config: %w", err)
	}
	return tree, nil
}

// prune drops empty objects and lists, which genconf emits for non-pointer
// struct fields (tls.Options.ClientAuth) and Traefik rejects.
func prune(v any) any {
	switch t := v.(type) {
	case map[string]any:
		for k, child := range t {
			child = prune(child)
			if isEmpty(child) {
				delete(t, k)
				continue
			}
			t[k] = child
		}
		return t
	case []any:
		for i := range t {
			t[i] = prune(t[i])
		}
		return t
	}
	return v
}

func isEmpty(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(t) == 0
	case []any:
		return len(t) == 0
	}
	return false
}

// templateEscaper turns literal delimiters into template actions that print
// them; raw-string quotes survive any YAML quoting style.
var templateEscaper = strings.NewReplacer("{{", "{{`{{`}}", "}}", "{{`}}`}}")

func escapeTemplate(b []byte) []byte { return []byte(templateEscaper.Replace(string(b))) }

// verifyAsTraefik renders the file as Traefik's file provider does
// (text/template, then YAML) and checks that it means exactly `want`.
func verifyAsTraefik(out []byte, want any) error {
	tmpl, err := template.New("dynamic").Parse(string(out))
	if err != nil {
		return fmt.Errorf("rendered dynamic config is not a valid template for Traefik's file provider: %w", err)
	}
	var rendered bytes.Buffer
	if err := tmpl.Execute(&rendered, false); err != nil {
		return fmt.Errorf("rendered dynamic config does not execute as a template: %w", err)
	}
	asJSON, err := sigsyaml.YAMLToJSON(rendered.Bytes())
	if err != nil {
		return fmt.Errorf("rendered dynamic config is not valid YAML: %w", err)
	}
	got, err := decodeJSON(asJSON)
	if err != nil {
		return err
	}
	wantJSON, err := json.Marshal(want)
	if err != nil {
		return fmt.Errorf("encoding dynamic config: %w", err)
	}
	wantTree, err := decodeJSON(wantJSON)
	if err != nil {
		return err
	}
	if !reflect.DeepEqual(got, wantTree) {
		return fmt.Errorf("rendered dynamic config does not read back as written (template escaping?)")
	}
	return nil
}

// Header comments for the rendered files.
func appHeader(app string) string {
	return fmt.Sprintf(`# Traefik dynamic configuration for %s, written by berth (berth config render).
# Do not edit: change config/berth.yml and render again. The app's routers and
# service come from its containers' labels (config/deploy.yml); the fallback
# router here only answers while no container of the app runs.
`, app)
}

const serverHeader = `# Traefik dynamic configuration shared by every app on this server,
# written by berth (berth config render).
`

// RenderApp renders the app's dynamic file (dynamic/<app>.yml).
func RenderApp(m *config.Manifest) ([]byte, error) {
	out, err := Marshal(Dynamic(m), appHeader(m.App))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", DynamicFile(m.App), err)
	}
	return out, nil
}

// RenderServer renders the shared dynamic file (dynamic/_server.yml).
func RenderServer() ([]byte, error) {
	out, err := Marshal(ServerDynamic(), serverHeader)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ServerFile, err)
	}
	return out, nil
}
