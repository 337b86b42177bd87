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
		// Keep the routers (and the middleware chain, hence the berth
		// page) when no container is running, instead of a bare 404
		// (FACTS §6, Traefik v3.6).
		{"traefik.docker.allownonrunning", "true"},
		// Names the service without a server.port label. With
		// allownonrunning, a stopped container (Kamal keeps the old ones
		// for rollback) or one still starting keeps its labelled servers
		// without an address, so a server.port label would put a server
		// with an empty URL into the pool next to the running container:
		// Traefik answers 500 ("unsupported protocol scheme") for the
		// requests sent to it (measured, e2e/config). Without the label,
		// such a container adds no server, and a running one is reached
		// on the port its image exposes: Thruster's 80 (Rails 8's
		// Dockerfile has EXPOSE 80, config.ContainerPort). passhostheader
		// is Traefik's default; it is written so that the service exists
		// by this name even without the passive health check labels.
		{svc + "passhostheader", "true"},
	}
	if phc := m.Traffic.PassiveHealthCheck; phc.Enabled != nil && *phc.Enabled {
		// genconf (Traefik v2.11 types) has no passiveHealthCheck, so it
		// is set here; a draining container answering 502 is taken out
		// of rotation (FACTS §6, §9).
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

// Middlewares is the chain for one domain's router. A redirecting domain
// redirects first (no need to hold or retry a redirect); the security
// headers come next so berth's own pages carry them; then retry, then the
// berth plugin closest to the app.
func Middlewares(m *config.Manifest, domain string) []string {
	var chain []string
	if _, ok := m.RedirectTarget(domain); ok {
		chain = append(chain, FileRef(m.App, KindWWWRedirect))
	}
	// Headers first, so berth's own pages carry them too; retry before
	// berth, so a request refused in the moment before berth's probe notices
	// an outage is retried into berth's hold instead of failing.
	return append(chain,
		FileRef(m.App, KindHeaders),
		FileRef(m.App, KindRetry),
		FileRef(m.App, KindBerth),
	)
}
