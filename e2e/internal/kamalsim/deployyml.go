package kamalsim

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// DeployConfig is the part of a rendered config/deploy.yml that decides what
// Kamal does on a server with `proxy: false`: the service, the web role's
// labels and docker options (health check, restart policy), the volumes and
// the clear env.
type DeployConfig struct {
	Service string
	Labels  map[string]string
	Options map[string]string
	Volumes []string
	Env     map[string]string
	// Health is parsed from the health-* options.
	Health HealthOptions
	// DrainTimeout, DeployTimeout and ReadinessDelay are Kamal's defaults
	// (30 s, 30 s, 7 s) unless deploy.yml sets them.
	DrainTimeout, DeployTimeout, ReadinessDelay time.Duration
}

// HealthOptions are docker run's --health-* flags.
type HealthOptions struct {
	Cmd         string
	Interval    time.Duration
	Timeout     time.Duration
	Retries     int
	StartPeriod time.Duration
}

type deployYML struct {
	Service string `yaml:"service"`
	Servers struct {
		Web struct {
			Proxy   *bool             `yaml:"proxy"`
			Labels  map[string]string `yaml:"labels"`
			Options map[string]any    `yaml:"options"`
		} `yaml:"web"`
	} `yaml:"servers"`
	Volumes        []string `yaml:"volumes"`
	DrainTimeout   int      `yaml:"drain_timeout"`
	DeployTimeout  int      `yaml:"deploy_timeout"`
	ReadinessDelay *int     `yaml:"readiness_delay"`
	Env            struct {
		Clear map[string]any `yaml:"clear"`
	} `yaml:"env"`
}

// LoadDeployConfig reads a rendered deploy.yml. It insists on what this
// stand-in relies on: a web role with `proxy: false`.
func LoadDeployConfig(path string) (*DeployConfig, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var d deployYML
	if err := yaml.Unmarshal(raw, &d); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if d.Service == "" {
		return nil, fmt.Errorf("%s: no service", path)
	}
	if d.Servers.Web.Proxy == nil || *d.Servers.Web.Proxy {
		return nil, fmt.Errorf("%s: servers.web.proxy must be false (Traefik routes, not kamal-proxy)", path)
	}
	c := &DeployConfig{
		Service:        d.Service,
		Labels:         d.Servers.Web.Labels,
		Options:        map[string]string{},
		Volumes:        d.Volumes,
		Env:            map[string]string{},
		DrainTimeout:   secondsOr(d.DrainTimeout, 30),
		DeployTimeout:  secondsOr(d.DeployTimeout, 30),
		ReadinessDelay: 7 * time.Second,
	}
	if d.ReadinessDelay != nil {
		c.ReadinessDelay = time.Duration(*d.ReadinessDelay) * time.Second
	}
	for k, v := range d.Servers.Web.Options {
		c.Options[k] = fmt.Sprint(v)
	}
	for k, v := range d.Env.Clear {
		c.Env[k] = fmt.Sprint(v)
	}
	if c.Health, err = parseHealth(c.Options); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

func secondsOr(v, def int) time.Duration {
	if v <= 0 {
		v = def
	}
	return time.Duration(v) * time.Second
}

func parseHealth(opts map[string]string) (HealthOptions, error) {
	h := HealthOptions{Cmd: opts["health-cmd"], Interval: 30 * time.Second, Timeout: 30 * time.Second, Retries: 3}
	for key, dst := range map[string]*time.Duration{"health-interval": &h.Interval, "health-timeout": &h.Timeout, "health-start-period": &h.StartPeriod} {
		if v, ok := opts[key]; ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				return h, fmt.Errorf("servers.web.options.%s: %q is not a duration", key, v)
			}
			*dst = d
		}
	}
	if v, ok := opts["health-retries"]; ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return h, fmt.Errorf("servers.web.options.health-retries: %q is not a number", v)
		}
		h.Retries = n
	}
	return h, nil
}

// HealthPath is the path the health command curls (/up by default).
func (h HealthOptions) HealthPath() string {
	for _, f := range strings.Fields(h.Cmd) {
		if strings.HasPrefix(f, "http://") {
			rest := strings.TrimPrefix(f, "http://")
			if i := strings.Index(rest, "/"); i >= 0 {
				return rest[i:]
			}
		}
	}
	return "/up"
}
