package traefik

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/wombatworkouts/berth/config"
)

// Label is one docker label. Labels are kept in a slice, not a map, so the
// rendered deploy.yml lists them in a readable order.
type Label struct {
	Key, Value string
}

// Labels routes the app's domains to its containers. They go on the web
// role's containers (servers.web.labels), so Traefik's docker provider
// follows exactly the containers Kamal runs.
func Labels(m *config.Manifest) []Label {
	app := m.App
	svc := "traefik.http.services." + ServiceName(app) + ".loadbalancer."
	ls := []Label{
		{"traefik.enable", "true"},
		{"traefik.docker.network", DockerNetwork},
		// No traefik.docker.allownonrunning: with it, the stopped
		// containers Kamal keeps for rollback stay in Traefik's view with
		// their old labels, and once a label changes between releases
		// Traefik drops the router and service defined twice with
		// different settings: every domain of the app answers 404 until
		// Kamal prunes the old containers (measured, e2e/config). Without
		// it, Traefik forgets a container when it stops.
		//
		// Names the service without a server.port label: a running
		// container is reached on the port its image exposes, Thruster's
		// 80 (Rails 8's Dockerfile has EXPOSE 80, config.ContainerPort),
		// and a container that is starting never gets a server without an
		// address (which Traefik answers with 500). passhostheader is
		// Traefik's default; it is written so that the service exists by
		// this name even without the passive health check labels.
		{svc + "passhostheader", "true"},
	}
	if phc := m.Traffic.PassiveHealthCheck; phc.Enabled != nil && *phc.Enabled {
		// genconf (Traefik v2.11 types) has no passiveHealthCheck, so it
		// is set here; a draining container answering 502 is taken out
		// of rotation (docs/traefik.md#traefik-as-berth-uses-it, docs/measurements.md#baselines-before-berth).
		ls = append(ls,
			Label{svc + "passivehealthcheck.failurewindow", phc.FailureWindow},
			Label{svc + "passivehealthcheck.maxfailedattempts", strconv.Itoa(phc.MaxFailedAttempts)},
		)
	}
	for _, d := range m.Domains {
		r := "traefik.http.routers." + RouterName(app, d) + "."
		ls = append(ls,
			Label{r + "rule", fmt.Sprintf("Host(`%s`)", d)},
			Label{r + "entrypoints", EntryPointSecure},
			Label{r + "tls.certresolver", CertResolver},
			Label{r + "service", ServiceName(app)},
			Label{r + "middlewares", strings.Join(Middlewares(m, d), ",")},
		)
	}
	return ls
}

// Middlewares is the chain for one domain's router. The security headers
// come first, so every answer carries them: the www redirect (HSTS on the
// name a visitor typed is what keeps the next visit on https) and berth's
// own pages. A redirecting domain redirects next (no need to hold or retry
// a redirect); then retry, then the berth plugin closest to the app.
func Middlewares(m *config.Manifest, domain string) []string {
	chain := []string{FileRef(m.App, KindHeaders)}
	if _, ok := m.RedirectTarget(domain); ok {
		chain = append(chain, FileRef(m.App, KindWWWRedirect))
	}
	// Retry before berth, so a request refused in the moment before
	// berth's probe notices an outage is retried into berth's hold instead
	// of failing.
	return append(chain,
		FileRef(m.App, KindRetry),
		FileRef(m.App, KindBerth),
	)
}
