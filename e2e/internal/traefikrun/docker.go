package traefikrun

import (
	"fmt"
	"strings"
)

// DockerProvider is Traefik's providers.docker section for
// StartWithDocker.
type DockerProvider struct {
	// Endpoint is the Docker host, e.g. unix:///tmp/x/docker.sock (the
	// stand-in of internal/dockerapi). Required.
	Endpoint string
	// Network is providers.docker.network; default "kamal".
	Network string
	// ExposedByDefault is providers.docker.exposedByDefault (Traefik's own
	// default is true; berth and these tests want false).
	ExposedByDefault bool
	// AllowEmptyServices is providers.docker.allowEmptyServices.
	AllowEmptyServices bool
	// DefaultRule is providers.docker.defaultRule when set.
	DefaultRule string
}

// StartWithDocker launches Traefik in dir like Start (same entry points,
// API, file provider and local berth plugin) and adds the docker provider
// (watching events) pointed at docker.Endpoint. Traefik's environment has
// DOCKER_HOST and the other DOCKER_* client variables cleared, since the
// Docker client Traefik uses lets them override the configured endpoint.
func StartWithDocker(dir string, opt Options, docker DockerProvider) (*Traefik, error) {
	if docker.Endpoint == "" {
		return nil, fmt.Errorf("traefikrun: StartWithDocker needs DockerProvider.Endpoint")
	}
	if docker.Network == "" {
		docker.Network = "kamal"
	}
	return start(dir, opt, &docker)
}

// yaml is the providers.docker section.
func (docker *DockerProvider) yaml() string {
	var b strings.Builder
	b.WriteString("  docker:\n")
	fmt.Fprintf(&b, "    endpoint: %q\n", docker.Endpoint)
	fmt.Fprintf(&b, "    exposedByDefault: %t\n", docker.ExposedByDefault)
	fmt.Fprintf(&b, "    network: %q\n", docker.Network)
	b.WriteString("    watch: true\n")
	if docker.AllowEmptyServices {
		b.WriteString("    allowEmptyServices: true\n")
	}
	if docker.DefaultRule != "" {
		fmt.Fprintf(&b, "    defaultRule: %q\n", docker.DefaultRule)
	}
	return b.String()
}
