package config_test

import (
	"encoding/json"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	ptypes "github.com/traefik/paerser/types"
	"github.com/traefik/traefik/v3/pkg/config/dynamic"
	"github.com/traefik/traefik/v3/pkg/config/label"
	"gopkg.in/yaml.v3"

	"github.com/wombatworkouts/berth/config/render"
)

// intendedApp is what an example app's docker labels must mean to Traefik,
// written out by hand from the example manifests and the design (one router
// per domain on websecure with the Let's Encrypt resolver, an explicitly
// named service on Thruster's port 80 with a passive health check, the
// middleware chain from the app's file-provider config), not computed by
// the generators under test.
type intendedApp struct {
	app           string
	routers       map[string]intendedRouter
	failureWindow time.Duration
	maxFailed     int
}

type intendedRouter struct {
	host        string
	middlewares []string
}

var intended = map[string]intendedApp{
	"wombatworkouts": {
		app: "wombat_workouts",
		routers: map[string]intendedRouter{
			"wombat_workouts-wombatworkouts-com": {
				host: "wombatworkouts.com",
				middlewares: []string{
					"wombat_workouts-headers@file", "wombat_workouts-retry@file", "wombat_workouts-berth@file",
				},
			},
			"wombat_workouts-www-wombatworkouts-com": {
				host: "www.wombatworkouts.com",
				// The security headers first, so the redirect carries
				// HSTS; then the redirect, before anything that holds
				// or retries.
				middlewares: []string{
					"wombat_workouts-headers@file", "wombat_workouts-www-redirect@file",
					"wombat_workouts-retry@file", "wombat_workouts-berth@file",
				},
			},
		},
		failureWindow: 5 * time.Second,
		maxFailed:     3,
	},
	"lists": {
		app: "lists",
		routers: map[string]intendedRouter{
			"lists-lists-example-org": {
				host:        "lists.example.org",
				middlewares: []string{"lists-headers@file", "lists-retry@file", "lists-berth@file"},
			},
		},
		failureWindow: 5 * time.Second,
		maxFailed:     3,
	},
}

// expectedConfig is the intended app as the configuration Traefik's label
// decoder must produce: nothing more, nothing less. The load balancer
// carries Traefik's own defaults, which the decoder applies to any service
// it creates, and no server: the docker provider adds the container's
// address and the port its image exposes (Thruster's 80) when the container
// runs, and nothing for a stopped or starting one (a labelled server.port
// would stay behind as a server without an address).
func (a intendedApp) expectedConfig() *dynamic.Configuration {
	routers := map[string]*dynamic.Router{}
	for name, r := range a.routers {
		routers[name] = &dynamic.Router{
			EntryPoints: []string{"websecure"},
			Middlewares: r.middlewares,
			Service:     a.app,
			Rule:        "Host(`" + r.host + "`)",
			TLS:         &dynamic.RouterTLSConfig{CertResolver: "letsencrypt"},
		}
	}
	lb := &dynamic.ServersLoadBalancer{}
	lb.SetDefaults()
	lb.PassiveHealthCheck = &dynamic.PassiveServerHealthCheck{
		FailureWindow:     ptypes.Duration(a.failureWindow),
		MaxFailedAttempts: a.maxFailed,
	}
	return &dynamic.Configuration{
		HTTP: &dynamic.HTTPConfiguration{
			Routers:  routers,
			Services: map[string]*dynamic.Service{a.app: {LoadBalancer: lb}},
		},
		TCP: &dynamic.TCPConfiguration{},
		UDP: &dynamic.UDPConfiguration{},
		TLS: &dynamic.TLSConfiguration{},
	}
}

// deployLabels reads servers.web.labels from a rendered deploy.yml, as the
// strings Kamal passes to `docker run --label` (a YAML scalar's text).
func deployLabels(t *testing.T, ex example) map[string]string {
	t.Helper()
	var doc struct {
		Servers struct {
			Web struct {
				Labels yaml.Node `yaml:"labels"`
			} `yaml:"web"`
		} `yaml:"servers"`
	}
	if err := yaml.Unmarshal(ex.file(t, render.DeployPath), &doc); err != nil {
		t.Fatalf("%s: rendered deploy.yml: %v", ex.name, err)
	}
	n := doc.Servers.Web.Labels
	if n.Kind != yaml.MappingNode {
		t.Fatalf("%s: deploy.yml has no servers.web.labels mapping", ex.name)
	}
	labels := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if v.Kind != yaml.ScalarNode {
			t.Fatalf("%s: label %s is not a scalar", ex.name, k.Value)
		}
		if _, dup := labels[k.Value]; dup {
			t.Fatalf("%s: label %s appears twice", ex.name, k.Value)
		}
		labels[k.Value] = v.Value
	}
	return labels
}

// decodeLabels is Traefik's docker provider's view of the app's routing:
// label.DecodeConfiguration is the call the provider makes on every
// container's labels.
func decodeLabels(t *testing.T, ex example) *dynamic.Configuration {
	t.Helper()
	conf, err := label.DecodeConfiguration(deployLabels(t, ex))
	if err != nil {
		t.Fatalf("%s: Traefik's label decoder rejects the rendered labels: %v", ex.name, err)
	}
	return conf
}

// The rendered labels, decoded by Traefik's own label decoder, are exactly
// the intended routers, service and middleware references.
func TestLabelsDecodeAsIntended(t *testing.T) {
	for _, name := range examples {
		t.Run(name, func(t *testing.T) {
			ex := loadExample(t, name)
			want, ok := intended[name]
			if !ok {
				t.Fatalf("no intended routing written down for example %s", name)
			}
			labels := deployLabels(t, ex)
			for k := range labels {
				// Anything else under traefik.* is ignored by Traefik
				// without a word (a typo would silently do nothing).
				if k != "traefik.enable" && !strings.HasPrefix(k, "traefik.http.") && !strings.HasPrefix(k, "traefik.docker.") {
					t.Errorf("label %s: not a label Traefik's docker provider reads", k)
				}
			}
			got := decodeLabels(t, ex)

			// Specific checks first, for readable failures.
			if names := sortedKeys(got.HTTP.Routers); !reflect.DeepEqual(names, sortedKeys(want.expectedConfig().HTTP.Routers)) {
				t.Errorf("routers = %v, want %v", names, sortedKeys(want.expectedConfig().HTTP.Routers))
			}
			for rname, wr := range want.routers {
				r := got.HTTP.Routers[rname]
				if r == nil {
					continue
				}
				if r.Rule != "Host(`"+wr.host+"`)" {
					t.Errorf("router %s: rule %q", rname, r.Rule)
				}
				if !reflect.DeepEqual(r.Middlewares, wr.middlewares) {
					t.Errorf("router %s: middlewares %v, want %v (in this order)", rname, r.Middlewares, wr.middlewares)
				}
				if r.Service != want.app {
					t.Errorf("router %s: service %q, want the explicitly named %q", rname, r.Service, want.app)
				}
				if r.TLS == nil || r.TLS.CertResolver != "letsencrypt" {
					t.Errorf("router %s: tls %+v, want certResolver letsencrypt", rname, r.TLS)
				}
				if !reflect.DeepEqual(r.EntryPoints, []string{"websecure"}) {
					t.Errorf("router %s: entryPoints %v, want [websecure]", rname, r.EntryPoints)
				}
			}
			svc := got.HTTP.Services[want.app]
			switch {
			case len(got.HTTP.Services) != 1 || svc == nil || svc.LoadBalancer == nil:
				t.Errorf("services = %v, want exactly a load balancer named %s", sortedKeys(got.HTTP.Services), want.app)
			default:
				lb := svc.LoadBalancer
				if len(lb.Servers) != 0 {
					t.Errorf("service %s: labelled servers %+v; a container that is not running would get a server "+
						"without an address, so the port must come from the image", want.app, lb.Servers)
				}
				phc := lb.PassiveHealthCheck
				if phc == nil || time.Duration(phc.FailureWindow) != want.failureWindow || phc.MaxFailedAttempts != want.maxFailed {
					t.Errorf("service %s: passiveHealthCheck %+v, want failureWindow %s, maxFailedAttempts %d",
						want.app, phc, want.failureWindow, want.maxFailed)
				}
			}
			if len(got.HTTP.Middlewares) != 0 {
				t.Errorf("labels define middlewares %v; they belong in the file provider", sortedKeys(got.HTTP.Middlewares))
			}

			// Then the whole configuration: nothing else was decoded.
			if exp := want.expectedConfig(); !reflect.DeepEqual(got, exp) {
				t.Errorf("decoded configuration differs from the intended one\n got: %s\nwant: %s", show(got), show(exp))
			}

			// The provider's own labels. They are not dynamic
			// configuration, so check the strings Docker will carry, and
			// decode them the way the docker provider does (label.Decode
			// into its shape: traefik.enable, traefik.docker.*), which
			// also refuses a misspelt traefik.docker key.
			for k, v := range map[string]string{
				"traefik.enable":         "true",
				"traefik.docker.network": "kamal",
			} {
				if labels[k] != v {
					t.Errorf("label %s = %q, want %q", k, labels[k], v)
				}
			}
			var provider struct {
				Enable bool
				Docker *struct {
					Network         *string
					LBSwarm         bool
					AllowNonRunning bool
				}
			}
			if err := label.Decode(labels, &provider, "traefik.docker.", "traefik.enable"); err != nil {
				t.Fatalf("docker provider labels: %v", err)
			}
			if !provider.Enable || provider.Docker == nil || provider.Docker.Network == nil ||
				*provider.Docker.Network != "kamal" || provider.Docker.AllowNonRunning || provider.Docker.LBSwarm {
				t.Errorf("docker provider labels decode to %s, want enable, network kamal and no allowNonRunning", show(provider))
			}
		})
	}
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// show prints a configuration for a failure message. dynamic.Server's
// Port is not in its JSON, so servers are listed separately.
func show(v any) string {
	b, err := json.MarshalIndent(v, "      ", "  ")
	if err != nil {
		return err.Error()
	}
	s := string(b)
	if c, ok := v.(*dynamic.Configuration); ok && c.HTTP != nil {
		for name, svc := range c.HTTP.Services {
			if svc.LoadBalancer != nil {
				s += "\n      servers of " + name + ": "
				for _, srv := range svc.LoadBalancer.Servers {
					s += "{port " + srv.Port + " scheme " + srv.Scheme + " url " + srv.URL + "} "
				}
			}
		}
	}
	return s
}
