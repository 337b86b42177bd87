package traefik

import "strings"

// Middleware kinds; each app gets one of each, named <app>-<kind>, so
// several apps share the dynamic directory without clashing.
const (
	KindBerth       = "berth"
	KindRetry       = "retry"
	KindHeaders     = "headers"
	KindWWWRedirect = "www-redirect"
	KindFallback    = "fallback"
)

// ServerFile is the dynamic file for settings shared by all apps (the
// default TLS options). Its name starts with '_', which app names cannot
// (config.checkAppName), so it never collides with an <app>.yml.
const ServerFile = "_server.yml"

// MiddlewareName is <app>-<kind>, as defined in the app's dynamic file.
func MiddlewareName(app, kind string) string { return app + "-" + kind }

// FileRef refers to a middleware defined by the file provider from a
// docker label.
func FileRef(app, kind string) string { return MiddlewareName(app, kind) + "@file" }

// ServiceName is the app's explicitly named load-balancer service. Without
// it Traefik names the service after the container, which under Kamal
// contains the version and changes on every deploy (docs/traefik.md#traefik-as-berth-uses-it).
func ServiceName(app string) string { return app }

// RouterName is one router per domain: <app>-<domain with dots as dashes>.
func RouterName(app, domain string) string {
	return app + "-" + strings.ReplaceAll(domain, ".", "-")
}

// DynamicFile is the app's file in the dynamic directory.
func DynamicFile(app string) string { return app + ".yml" }
