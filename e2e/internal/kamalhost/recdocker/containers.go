package recdocker

import (
	"encoding/json"
	"errors"
	"fmt"
	osexec "os/exec"
	"regexp"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

func (d *docker) run(argv []string) int {
	p, err := parseFlags(argv, runFlags)
	if err != nil {
		return d.fail(125, "%v\nSee 'docker run --help'.", err)
	}
	if len(p.args) == 0 {
		return d.fail(125, "\"docker run\" requires at least 1 argument.\nSee 'docker run --help'.")
	}
	for _, f := range d.call.EnvFiles {
		if f.Error != "" {
			return d.fail(125, "docker: %s.", f.Error)
		}
	}
	name := p.last("name")
	if name == "" {
		name = "recdocker_" + newContainerID()[:8]
	}
	if c := d.state.findContainer(name); c != nil && c.Name == name {
		return d.fail(125, "docker: Error response from daemon: Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name.", name, c.ID)
	}
	image := p.args[0]
	im := d.state.findImage(image)
	if im == nil {
		fmt.Fprintf(d.stderr, "Unable to find image '%s' locally\n", NormalRef(image))
		im = d.pullImage(image)
	}
	labels := map[string]string{}
	for _, l := range p.flags["label"] {
		k, v, _ := strings.Cut(l, "=")
		labels[k] = v
	}
	d.state.Creations++
	c := &Container{
		ID: newContainerID(), Name: name, Image: image, ImageID: im.ID, Labels: labels,
		Env: p.flags["env"], Command: p.args[1:], Restart: p.last("restart"),
		Status: "running", Created: d.state.Creations, Started: time.Now().UTC(),
	}
	switch {
	case d.rule != nil && d.rule.Health != "":
		c.Health, c.HealthyAfter = d.rule.Health, d.rule.HealthyAfter
	case p.has("health-cmd") && !p.bool("no-healthcheck"):
		c.Health = "healthy"
	}
	if p.bool("detach") {
		d.state.Containers = append(d.state.Containers, c)
		fmt.Fprintln(d.stdout, c.ID)
		return 0
	}
	// A command in a new container: it ran (its output is the rule's, or
	// its own with Run) and exited; --rm leaves nothing behind.
	if !p.bool("rm") {
		c.Status = "exited"
		d.state.Containers = append(d.state.Containers, c)
	}
	return d.runCommand(p.args[1:])
}

// runCommand runs a container's command here when the rule says Run.
func (d *docker) runCommand(command []string) int {
	if d.rule == nil || !d.rule.Run || len(command) == 0 {
		return 0
	}
	cmd := osexec.Command(command[0], command[1:]...)
	cmd.Stdout, cmd.Stderr = d.stdout, d.stderr
	if err := cmd.Run(); err != nil {
		var ee *osexec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		return d.fail(127, "%v", err)
	}
	return 0
}

func (d *docker) exec(argv []string) int {
	p, err := parseFlags(argv, execFlags)
	if err != nil {
		return d.fail(125, "%v", err)
	}
	if len(p.args) < 2 {
		return d.fail(1, "\"docker exec\" requires at least 2 arguments.")
	}
	for _, f := range d.call.EnvFiles {
		if f.Error != "" {
			return d.fail(125, "%s", f.Error)
		}
	}
	c := d.state.findContainer(p.args[0])
	if c == nil {
		return d.fail(1, "Error: No such container: %s", p.args[0])
	}
	if !c.Running() {
		return d.fail(1, "Error response from daemon: Container %s is not running", c.ID)
	}
	return d.runCommand(p.args[1:])
}

// containerFilter is docker ps's --filter: values of one key are OR'd
// (status=running --filter status=restarting), except label filters, which
// must all match, as in the daemon; different keys are AND'd.
type containerFilter map[string][]string

var validStatus = map[string]bool{"created": true, "restarting": true, "running": true, "removing": true,
	"paused": true, "exited": true, "dead": true}

func parseContainerFilter(values []string) (containerFilter, error) {
	f := containerFilter{}
	for _, v := range values {
		k, val, ok := strings.Cut(v, "=")
		if !ok {
			return nil, fmt.Errorf("bad format of filter (expected name=value)")
		}
		switch k {
		case "label", "name", "ancestor", "id", "health", "network":
		case "status":
			if !validStatus[val] {
				//lint:ignore ST1005 Docker's own words, which Kamal sees
				return nil, fmt.Errorf("Error response from daemon: invalid filter 'status=%s'", val)
			}
		default:
			//lint:ignore ST1005 Docker's own words, which Kamal sees
			return nil, fmt.Errorf("Error response from daemon: invalid filter '%s'", k)
		}
		f[k] = append(f[k], val)
	}
	return f, nil
}

func (f containerFilter) match(s *State, c *Container) bool {
	for key, vals := range f {
		matched := 0
		for _, v := range vals {
			if f.matchOne(s, c, key, v) {
				matched++
			}
		}
		if matched == 0 || (key == "label" && matched != len(vals)) {
			return false
		}
	}
	return true
}

func (f containerFilter) matchOne(s *State, c *Container, key, v string) bool {
	switch key {
	case "label":
		k, val, hasVal := strings.Cut(v, "=")
		got, ok := c.Labels[k]
		return ok && (!hasVal || got == val)
	case "status":
		return c.Status == v
	case "name":
		re, err := regexp.Compile(v)
		return err == nil && (re.MatchString(c.Name) || re.MatchString("/"+c.Name))
	case "ancestor":
		im := s.findImage(v)
		return v != "" && im != nil && im.ID == c.ImageID
	case "id":
		return strings.HasPrefix(c.ID, v)
	case "health":
		h := c.Health
		if h == "" {
			h = "none"
		}
		return h == v
	case "network":
		return v == "kamal"
	}
	return false
}

func (d *docker) ps(argv []string) int {
	p, err := parseFlags(argv, psFlags)
	if err != nil {
		return d.fail(125, "%v", err)
	}
	filter, err := parseContainerFilter(p.flags["filter"])
	if err != nil {
		return d.fail(1, "%v", err)
	}
	limit := -1
	if p.bool("latest") {
		limit = 1
	}
	if n := p.last("last"); n != "" {
		if limit, err = strconv.Atoi(n); err != nil {
			return d.fail(125, "invalid argument %q for \"-n, --last\" flag", n)
		}
	}
	// As the daemon does: a status filter or a limit includes stopped
	// containers even without --all.
	all := p.bool("all") || limit > 0 || len(filter["status"]) > 0
	var rows []*Container
	for _, c := range d.state.newestFirst() {
		if !all && !c.Running() {
			continue
		}
		if !filter.match(d.state, c) {
			continue
		}
		rows = append(rows, c)
		if limit > 0 && len(rows) == limit {
			break
		}
	}
	noTrunc := p.bool("no-trunc")
	switch format := p.last("format"); {
	case p.bool("quiet"):
		for _, c := range rows {
			if noTrunc {
				fmt.Fprintln(d.stdout, c.ID)
			} else {
				fmt.Fprintln(d.stdout, c.ShortID())
			}
		}
	case format != "" && !strings.HasPrefix(format, "table"):
		for _, c := range rows {
			s, err := render(format, psRow(c, noTrunc))
			if err != nil {
				return d.fail(1, "%v", err)
			}
			fmt.Fprintln(d.stdout, s)
		}
	default:
		tw := tabwriter.NewWriter(d.stdout, 0, 0, 3, ' ', 0)
		fmt.Fprintln(tw, "CONTAINER ID\tIMAGE\tCOMMAND\tCREATED\tSTATUS\tPORTS\tNAMES")
		for _, c := range rows {
			r := psRow(c, noTrunc)
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t\t%s\n", r["ID"], r["Image"], r["Command"], "About a minute ago", r["Status"], r["Names"])
		}
		tw.Flush()
	}
	return 0
}

func (d *docker) stop(argv []string) int {
	p, err := parseFlags(argv, stopFlags)
	if err != nil {
		return d.fail(125, "%v", err)
	}
	if len(p.args) == 0 {
		return d.fail(1, "\"docker stop\" requires at least 1 argument.")
	}
	code := 0
	for _, a := range p.args {
		c := d.state.findContainer(a)
		if c == nil {
			fmt.Fprintf(d.stderr, "Error response from daemon: No such container: %s\n", a)
			code = 1
			continue
		}
		if c.Running() {
			c.Status = "exited"
		}
		c.StopTimeout = p.last("time")
		fmt.Fprintln(d.stdout, a)
	}
	return code
}

func (d *docker) start(argv []string) int {
	p, err := parseFlags(argv, plainFlags)
	if err != nil {
		return d.fail(125, "%v", err)
	}
	code := 0
	for _, a := range p.args {
		c := d.state.findContainer(a)
		if c == nil {
			fmt.Fprintf(d.stderr, "Error response from daemon: No such container: %s\n", a)
			code = 1
			continue
		}
		if !c.Running() {
			c.Status, c.Started, c.Inspections = "running", time.Now().UTC(), 0
		}
		fmt.Fprintln(d.stdout, a)
	}
	return code
}

func (d *docker) rm(argv []string) int {
	p, err := parseFlags(argv, rmFlags)
	if err != nil {
		return d.fail(125, "%v", err)
	}
	code := 0
	for _, a := range p.args {
		c := d.state.findContainer(a)
		switch {
		case c == nil:
			fmt.Fprintf(d.stderr, "Error: No such container: %s\n", a)
			code = 1
		case c.Running() && !p.bool("force"):
			fmt.Fprintf(d.stderr, "Error response from daemon: You cannot remove a running container %s. Stop the container before attempting removal or force remove\n", c.ID)
			code = 1
		default:
			d.state.removeContainer(c)
			fmt.Fprintln(d.stdout, a)
		}
	}
	return code
}

func (d *docker) rename(argv []string) int {
	if len(argv) != 2 {
		return d.fail(1, "\"docker rename\" requires exactly 2 arguments.")
	}
	c := d.state.findContainer(argv[0])
	if c == nil {
		return d.fail(1, "Error response from daemon: No such container: %s", argv[0])
	}
	if other := d.state.findContainer(argv[1]); other != nil && other.Name == argv[1] {
		return d.fail(1, "Error response from daemon: Conflict. The container name \"/%s\" is already in use by container \"%s\". You have to remove (or rename) that container to be able to reuse that name.", argv[1], other.ID)
	}
	c.Name = argv[1]
	return 0
}

func (d *docker) containerPrune(argv []string) int {
	p, err := parseFlags(argv, pruneFlags)
	if err != nil {
		return d.fail(125, "%v", err)
	}
	filter, err := parseContainerFilter(p.flags["filter"])
	if err != nil {
		return d.fail(1, "%v", err)
	}
	fmt.Fprintln(d.stdout, "Deleted Containers:")
	for _, c := range d.state.newestFirst() {
		if !c.Running() && filter.match(d.state, c) {
			d.state.removeContainer(c)
			fmt.Fprintln(d.stdout, c.ID)
		}
	}
	fmt.Fprintln(d.stdout, "\nTotal reclaimed space: 0B")
	return 0
}

func (d *docker) logs(argv []string) int {
	p, err := parseFlags(argv, logsFlags)
	if err != nil {
		return d.fail(125, "%v", err)
	}
	if len(p.args) != 1 {
		return d.fail(1, "\"docker logs\" requires exactly 1 argument.")
	}
	if d.state.findContainer(p.args[0]) == nil {
		return d.fail(1, "Error: No such container: %s", p.args[0])
	}
	return 0 // the fake's containers print nothing; a rule can
}

func (d *docker) inspect(argv []string) int {
	p, err := parseFlags(argv, inspectFlags)
	if err != nil {
		return d.fail(125, "%v", err)
	}
	if len(p.args) == 0 {
		return d.fail(1, "\"docker inspect\" requires at least 1 argument.")
	}
	kind := p.last("type")
	code := 0
	var objs []any
	for _, a := range p.args {
		var obj any
		if c := d.state.findContainer(a); c != nil && kind != "image" {
			obj = inspectContainer(c)
		} else if im := d.state.findImage(a); im != nil && kind != "container" {
			obj = inspectImage(im)
		} else {
			fmt.Fprintf(d.stderr, "Error: No such object: %s\n", a)
			code = 1
			continue
		}
		objs = append(objs, obj)
	}
	if format := p.last("format"); format != "" {
		for _, obj := range objs {
			s, err := render(format, obj)
			if err != nil {
				return d.fail(1, "%v", err)
			}
			fmt.Fprintln(d.stdout, s)
		}
		return code
	}
	if objs == nil {
		objs = []any{}
	}
	b, _ := json.MarshalIndent(objs, "", "    ")
	fmt.Fprintln(d.stdout, string(b))
	return code
}

func (d *docker) networkCreate(argv []string) int {
	p, err := parseFlags(argv, flagSpec{short: map[byte]string{'d': "driver"}})
	if err != nil {
		return d.fail(125, "%v", err)
	}
	if len(p.args) != 1 {
		return d.fail(1, "\"docker network create\" requires exactly 1 argument.")
	}
	for _, n := range d.state.Networks {
		if n == p.args[0] {
			return d.fail(1, "Error response from daemon: network with name %s already exists", n)
		}
	}
	d.state.Networks = append(d.state.Networks, p.args[0])
	fmt.Fprintln(d.stdout, newContainerID())
	return 0
}
