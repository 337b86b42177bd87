package recdocker

import (
	"fmt"
	"strings"
)

// flagSpec is one docker subcommand's flags: which long names are booleans
// and what its one-letter flags stand for. Every other flag takes a value,
// as in the docker CLI, so role options from deploy.yml (`--cpus 2`,
// `--health-cmd "..."`) parse without being listed here.
type flagSpec struct {
	bools map[string]bool
	short map[byte]string
	// stopAtArg ends flag parsing at the first positional argument (docker
	// run/exec: what follows the image or container is the command).
	stopAtArg bool
}

// parsed is a call's flags (by long name, every value in order) and its
// positional arguments.
type parsed struct {
	flags map[string][]string
	args  []string
}

func (p parsed) has(name string) bool { _, ok := p.flags[name]; return ok }

// bool is a boolean flag's value: present, or present with =true.
func (p parsed) bool(name string) bool {
	vals, ok := p.flags[name]
	if !ok {
		return false
	}
	v := vals[len(vals)-1]
	return v == "" || v == "true"
}

// last is the last value given for name ("" when absent).
func (p parsed) last(name string) string {
	vals := p.flags[name]
	if len(vals) == 0 {
		return ""
	}
	return vals[len(vals)-1]
}

func parseFlags(argv []string, spec flagSpec) (parsed, error) {
	p := parsed{flags: map[string][]string{}}
	for i := 0; i < len(argv); i++ {
		a := argv[i]
		switch {
		case a == "--":
			p.args = append(p.args, argv[i+1:]...)
			return p, nil
		case strings.HasPrefix(a, "--"):
			name, val, hasVal := strings.Cut(a[2:], "=")
			if !hasVal && !spec.bools[name] {
				if i+1 >= len(argv) {
					return p, fmt.Errorf("flag needs an argument: --%s", name)
				}
				i++
				val = argv[i]
			}
			p.flags[name] = append(p.flags[name], val)
		case strings.HasPrefix(a, "-") && len(a) > 1:
			// -t 30, -t=30, -it, -dit: letters are booleans until one
			// takes a value, which is the rest of the word or the next one.
			for j := 1; j < len(a); j++ {
				name, ok := spec.short[a[j]]
				if !ok {
					return p, fmt.Errorf("unknown shorthand flag: %q in %s", a[j], a)
				}
				if spec.bools[name] {
					p.flags[name] = append(p.flags[name], "")
					continue
				}
				val := strings.TrimPrefix(a[j+1:], "=")
				if val == "" {
					if i+1 >= len(argv) {
						return p, fmt.Errorf("flag needs an argument: -%c", a[j])
					}
					i++
					val = argv[i]
				}
				p.flags[name] = append(p.flags[name], val)
				break
			}
		default:
			if spec.stopAtArg {
				p.args = append(p.args, argv[i:]...)
				return p, nil
			}
			p.args = append(p.args, a)
		}
	}
	return p, nil
}

func set(names ...string) map[string]bool {
	m := map[string]bool{}
	for _, n := range names {
		m[n] = true
	}
	return m
}

// The flags of the docker 20.10 CLI subcommands Kamal 2.12 calls.
var (
	runFlags = flagSpec{
		bools: set("detach", "rm", "interactive", "tty", "init", "privileged", "read-only", "publish-all",
			"no-healthcheck", "oom-kill-disable", "disable-content-trust", "quiet", "sig-proxy", "help"),
		short: map[byte]string{'d': "detach", 'i': "interactive", 't': "tty", 'e': "env", 'v': "volume",
			'l': "label", 'p': "publish", 'P': "publish-all", 'w': "workdir", 'u': "user", 'h': "hostname",
			'm': "memory", 'c': "cpu-shares", 'a': "attach", 'q': "quiet"},
		stopAtArg: true,
	}
	execFlags = flagSpec{
		bools:     set("detach", "interactive", "tty", "privileged"),
		short:     map[byte]string{'d': "detach", 'i': "interactive", 't': "tty", 'e': "env", 'u': "user", 'w': "workdir"},
		stopAtArg: true,
	}
	psFlags = flagSpec{
		bools: set("all", "quiet", "latest", "no-trunc", "size"),
		short: map[byte]string{'a': "all", 'q': "quiet", 'l': "latest", 'f': "filter", 'n': "last", 's': "size"},
	}
	imagesFlags = flagSpec{
		bools: set("all", "quiet", "no-trunc", "digests"),
		short: map[byte]string{'a': "all", 'q': "quiet", 'f': "filter"},
	}
	inspectFlags = flagSpec{bools: set("size"), short: map[byte]string{'f': "format", 's': "size"}}
	stopFlags    = flagSpec{short: map[byte]string{'t': "time"}}
	rmFlags      = flagSpec{bools: set("force", "volumes", "link"), short: map[byte]string{'f': "force", 'v': "volumes", 'l': "link"}}
	rmiFlags     = flagSpec{bools: set("force", "no-prune"), short: map[byte]string{'f': "force"}}
	pruneFlags   = flagSpec{bools: set("force", "all"), short: map[byte]string{'f': "force", 'a': "all"}}
	logsFlags    = flagSpec{bools: set("follow", "timestamps", "details"),
		short: map[byte]string{'f': "follow", 'n': "tail", 't': "timestamps"}}
	loginFlags = flagSpec{bools: set("password-stdin"), short: map[byte]string{'u': "username", 'p': "password"}}
	pullFlags  = flagSpec{bools: set("all-tags", "quiet", "disable-content-trust"), short: map[byte]string{'a': "all-tags", 'q': "quiet"}}
	plainFlags = flagSpec{}
	infoFlags  = flagSpec{short: map[byte]string{'f': "format"}}
)
