// Package kamalenv reads and checks the KAMAL_* variables Kamal sets for
// every hook (docs/kamal.md#hooks), so a hook run by hand, by an older Kamal or for the
// wrong app stops with a message naming the variable, before it changes
// anything.
package kamalenv

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Env is what Kamal tells a hook.
type Env struct {
	RecordedAt     string
	Performer      string
	Service        string
	Version        string
	ServiceVersion string
	Hosts          []string
	Destination    string
	Roles          []string
	Lock           string
	Command        string
	Subcommand     string
	// Runtime is KAMAL_RUNTIME (post-deploy only), in seconds.
	Runtime string
}

// Hook names berth implements.
const (
	PreDeploy   = "pre-deploy"
	PostDeploy  = "post-deploy"
	DockerSetup = "docker-setup"
	PreAppBoot  = "pre-app-boot"
	PostAppBoot = "post-app-boot"
)

// Kamal's top-level commands that matter to the hooks.
const (
	CommandDeploy   = "deploy"
	CommandRedeploy = "redeploy"
	CommandRollback = "rollback"
	CommandSetup    = "setup"
)

// IsRollback reports whether this is `kamal rollback VERSION`: the restore
// point is taken, forward migrations are not run.
func (e *Env) IsRollback() bool { return e.Command == CommandRollback }

// CoveredByPreDeploy reports whether the command ran berth's pre-deploy
// hook, whose deploying or maintenance state already covers the boot.
func (e *Env) CoveredByPreDeploy() bool {
	switch e.Command {
	case CommandDeploy, CommandRedeploy, CommandRollback, CommandSetup:
		return true
	}
	return false
}

// IsSetup reports whether this is `kamal setup`, where the Litestream
// accessory and the database may not exist yet during pre-deploy.
func (e *Env) IsSetup() bool { return e.Command == CommandSetup }

// Primary is the first of KAMAL_HOSTS.
func (e *Env) Primary() string {
	if len(e.Hosts) == 0 {
		return ""
	}
	return e.Hosts[0]
}

// ErrMissing is wrapped by errors about variables that are not set.
var ErrMissing = errors.New("not set")

var (
	serviceRe = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)
	// Kamal versions are git SHAs or any docker tag.
	versionRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	destRe    = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	hostRe    = regexp.MustCompile(`^[A-Za-z0-9_.:@\[\]-]+$`)
	commandRe = regexp.MustCompile(`^[a-z_]+$`)
)

// firedBy lists the KAMAL_COMMAND (and, for a subcommand class, its
// KAMAL_SUBCOMMAND) values with which Kamal 2.12 runs each hook berth
// implements (cli/main.rb, cli/app.rb, cli/server.rb). Anything else is a
// hook run by hand with made-up variables, or a Kamal berth does not know.
var firedBy = map[string][]string{
	PreDeploy:   {"deploy", "redeploy", "rollback", "setup"},
	PostDeploy:  {"deploy", "redeploy", "rollback", "setup"},
	PreAppBoot:  {"deploy", "redeploy", "rollback", "setup", "app boot"},
	PostAppBoot: {"deploy", "redeploy", "rollback", "setup", "app boot"},
	DockerSetup: {"setup", "server bootstrap"},
}

func firedByCommand(hook, command, subcommand string) bool {
	for _, c := range firedBy[hook] {
		name, sub, hasSub := strings.Cut(c, " ")
		// Some Thor versions (Debian's 1.2.1) leave KAMAL_SUBCOMMAND
		// empty for `kamal app boot`: an empty one is not a mismatch.
		if name == command && (!hasSub || subcommand == "" || sub == subcommand) {
			return true
		}
	}
	return false
}

// required lists what each hook needs.
var required = map[string][]string{
	PreDeploy:   {"KAMAL_SERVICE", "KAMAL_VERSION", "KAMAL_HOSTS", "KAMAL_COMMAND"},
	PostDeploy:  {"KAMAL_SERVICE", "KAMAL_VERSION", "KAMAL_HOSTS", "KAMAL_COMMAND"},
	DockerSetup: {"KAMAL_SERVICE", "KAMAL_HOSTS"},
	PreAppBoot:  {"KAMAL_SERVICE", "KAMAL_VERSION", "KAMAL_HOSTS", "KAMAL_COMMAND"},
	PostAppBoot: {"KAMAL_SERVICE", "KAMAL_VERSION", "KAMAL_HOSTS", "KAMAL_COMMAND"},
}

// Parse reads the variables for hook from lookup (os.LookupEnv) and checks
// them. Every problem is reported at once.
func Parse(hook string, lookup func(string) (string, bool)) (*Env, error) {
	get := func(k string) string {
		v, _ := lookup(k)
		return strings.TrimSpace(v)
	}
	e := &Env{
		RecordedAt:     get("KAMAL_RECORDED_AT"),
		Performer:      get("KAMAL_PERFORMER"),
		Service:        get("KAMAL_SERVICE"),
		Version:        get("KAMAL_VERSION"),
		ServiceVersion: get("KAMAL_SERVICE_VERSION"),
		Destination:    get("KAMAL_DESTINATION"),
		Lock:           get("KAMAL_LOCK"),
		Command:        get("KAMAL_COMMAND"),
		Subcommand:     get("KAMAL_SUBCOMMAND"),
		Runtime:        get("KAMAL_RUNTIME"),
		Hosts:          splitList(get("KAMAL_HOSTS")),
		Roles:          splitList(get("KAMAL_ROLES")),
	}
	var problems []string
	req, ok := required[hook]
	if !ok {
		return nil, fmt.Errorf("unknown hook %q: berth implements pre-deploy, post-deploy and docker-setup", hook)
	}
	var missing []string
	for _, k := range req {
		if get(k) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		problems = append(problems, fmt.Sprintf("%s %s (Kamal sets these for its hooks; run the hook through `kamal deploy`, or use `berth hook %s` with them exported)",
			strings.Join(missing, ", "), plural(len(missing), "is not set", "are not set"), hook))
	}
	if e.Service != "" && !serviceRe.MatchString(e.Service) {
		problems = append(problems, fmt.Sprintf("KAMAL_SERVICE=%q is not a Kamal service name (lowercase letters, digits, '-', '_')", e.Service))
	}
	if e.Version != "" && !versionRe.MatchString(e.Version) {
		problems = append(problems, fmt.Sprintf("KAMAL_VERSION=%q is not a valid image tag (letters, digits, '.', '-', '_', at most 128)", e.Version))
	}
	if e.Destination != "" && !destRe.MatchString(e.Destination) {
		problems = append(problems, fmt.Sprintf("KAMAL_DESTINATION=%q is not a destination name (letters, digits, '-', '_')", e.Destination))
	}
	for _, h := range e.Hosts {
		if !hostRe.MatchString(h) {
			problems = append(problems, fmt.Sprintf("KAMAL_HOSTS contains %q, which is not a host name or address", h))
		}
	}
	if e.Command != "" && !commandRe.MatchString(e.Command) {
		problems = append(problems, fmt.Sprintf("KAMAL_COMMAND=%q is not a Kamal command", e.Command))
	} else if e.Command != "" && !firedByCommand(hook, e.Command, e.Subcommand) {
		cmd := e.Command
		if e.Subcommand != "" {
			cmd += " " + e.Subcommand
		}
		problems = append(problems, fmt.Sprintf("KAMAL_COMMAND=%q: Kamal runs the %s hook only for `kamal %s`, not for `kamal %s`", cmd, hook, strings.Join(firedBy[hook], "`, `kamal "), cmd))
	}
	if e.Lock != "" && e.Lock != "true" && e.Lock != "false" {
		problems = append(problems, fmt.Sprintf("KAMAL_LOCK=%q: want true or false", e.Lock))
	}
	if e.Runtime != "" {
		if _, err := strconv.ParseFloat(e.Runtime, 64); err != nil {
			problems = append(problems, fmt.Sprintf("KAMAL_RUNTIME=%q is not a number of seconds", e.Runtime))
		}
	}
	if len(problems) > 0 {
		err := fmt.Errorf("%s hook: %s", hook, strings.Join(problems, "; "))
		if len(missing) > 0 {
			err = fmt.Errorf("%w: %w", err, ErrMissing)
		}
		return nil, err
	}
	return e, nil
}

// CheckService compares KAMAL_SERVICE with the manifest's app: a hook
// installed in one app but run for another must not touch either.
func (e *Env) CheckService(app, manifestPath string) error {
	if e.Service != app {
		return fmt.Errorf("KAMAL_SERVICE=%q but %s says app: %q; the hooks in this directory belong to %q (is config/deploy.yml's service out of date? run `berth config render config`)",
			e.Service, manifestPath, app, app)
	}
	return nil
}

// CheckHosts compares KAMAL_HOSTS with the manifest's hosts: the primary
// host Kamal names (the first) must be one of them, so a hook never acts on
// a server the manifest does not describe (a stale deploy.yml, another
// app's config).
func (e *Env) CheckHosts(hosts []string, manifestPath string) error {
	p := e.Primary()
	if p == "" {
		return nil
	}
	for _, h := range hosts {
		if h == p {
			return nil
		}
	}
	return fmt.Errorf("KAMAL_HOSTS starts with %s, which is not among the hosts in %s (%s); render config/deploy.yml again (`berth config render config`) so Kamal and berth agree on the servers",
		p, manifestPath, strings.Join(hosts, ", "))
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
