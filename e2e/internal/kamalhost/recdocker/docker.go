package recdocker

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// DockerVersion is what `docker -v`, `docker version` and `docker info`
// claim: the Docker that Debian 12 ships.
const DockerVersion = "20.10.24+dfsg1"

// Main answers one docker call: argv are the words after `docker`, dir the
// fake's directory. It returns the exit code.
func Main(dir string, argv []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if dir == "" {
		fmt.Fprintf(stderr, "recdocker: %s is not set: the harness sets it for remote commands (this docker is a test stand-in)\n", DirEnv)
		return 125
	}
	cwd, _ := os.Getwd()
	call := Call{Start: time.Now().UTC(), Argv: redact(argv), Cwd: cwd, Rule: -1}

	cfg, err := ReadConfig(dir)
	if err != nil {
		fmt.Fprintf(stderr, "recdocker: %v\n", err)
		return 125
	}
	if cfg.RecordStdin && interactive(argv) {
		b, _ := io.ReadAll(stdin)
		s := string(b)
		call.Stdin = &s
	}
	// Env files are read before the delay and the state change, as the
	// docker client reads them before it talks to the daemon.
	call.EnvFiles = readEnvFiles(argv)

	// Phase 1: pick the rule and count its use.
	var rule *Rule
	err = UpdateState(dir, func(s *State) error {
		s.Seq++
		call.Seq = s.Seq
		for i := range cfg.Rules {
			r := cfg.Rules[i]
			if !r.Matches(argv) || (r.Times > 0 && s.RuleHits[i] >= r.Times) {
				continue
			}
			if s.RuleHits == nil {
				s.RuleHits = map[int]int{}
			}
			s.RuleHits[i]++
			rule, call.Rule = &r, i
			break
		}
		return nil
	})
	if err != nil {
		fmt.Fprintf(stderr, "recdocker: %v\n", err)
		return 125
	}
	if rule != nil && rule.DelayMS > 0 {
		time.Sleep(time.Duration(rule.DelayMS) * time.Millisecond)
	}

	// Phase 2: answer.
	var out, errOut bytes.Buffer
	if rule != nil && rule.Exit != 0 {
		out.WriteString(rule.Stdout)
		errOut.WriteString(rule.Stderr)
		call.Exit = rule.Exit
	} else {
		err = UpdateState(dir, func(s *State) error {
			d := &docker{state: s, cfg: cfg, rule: rule, call: &call, stdout: &out, stderr: &errOut}
			call.Exit = d.dispatch(argv)
			return nil
		})
		if err != nil {
			fmt.Fprintf(stderr, "recdocker: %v\n", err)
			return 125
		}
		if rule != nil && call.Exit == 0 && (rule.Stdout != "" || rule.Stderr != "") {
			out.Reset()
			errOut.Reset()
			out.WriteString(rule.Stdout)
			errOut.WriteString(rule.Stderr)
		}
	}
	call.Stdout, call.Stderr = out.String(), errOut.String()

	st, err := lockStore(dir)
	if err == nil {
		err = appendCall(dir, call)
		st.unlock()
	}
	if err != nil {
		fmt.Fprintf(stderr, "recdocker: log: %v\n", err)
		return 125
	}
	stdout.Write(out.Bytes())
	stderr.Write(errOut.Bytes())
	return call.Exit
}

// redact hides a `docker login -p` password; it stays out of the log (the
// test knows what it passed).
func redact(argv []string) []string {
	out := append([]string(nil), argv...)
	if len(out) == 0 || out[0] != "login" {
		return out
	}
	for i := 1; i < len(out); i++ {
		switch {
		case (out[i] == "-p" || out[i] == "--password") && i+1 < len(out):
			out[i+1] = "[REDACTED]"
			i++
		case strings.HasPrefix(out[i], "--password="):
			out[i] = "--password=[REDACTED]"
		}
	}
	return out
}

// interactive is a docker run or exec with -i.
func interactive(argv []string) bool {
	sub, rest := subcommand(argv)
	if sub != "run" && sub != "exec" {
		return false
	}
	spec := runFlags
	if sub == "exec" {
		spec = execFlags
	}
	p, err := parseFlags(rest, spec)
	return err == nil && p.bool("interactive")
}

func readEnvFiles(argv []string) []EnvFile {
	sub, rest := subcommand(argv)
	if sub != "run" && sub != "exec" {
		return nil
	}
	spec := runFlags
	if sub == "exec" {
		spec = execFlags
	}
	p, err := parseFlags(rest, spec)
	if err != nil {
		return nil
	}
	var files []EnvFile
	for _, path := range p.flags["env-file"] {
		f := EnvFile{Path: path}
		b, err := os.ReadFile(path)
		if err != nil {
			f.Error = err.Error()
		}
		f.Content = string(b)
		files = append(files, f)
	}
	return files
}

// subcommand folds `docker container run` into "run", `docker image ls`
// into "images" and so on; rest is what follows.
func subcommand(argv []string) (string, []string) {
	if len(argv) == 0 {
		return "", nil
	}
	if len(argv) > 1 {
		if m, ok := managementVerbs[argv[0]]; ok {
			if sub, ok := m[argv[1]]; ok {
				return sub, argv[2:]
			}
			return argv[0] + " " + argv[1], argv[2:]
		}
	}
	return argv[0], argv[1:]
}

var managementVerbs = map[string]map[string]string{
	"container": {"ls": "ps", "list": "ps", "ps": "ps", "run": "run", "exec": "exec", "inspect": "inspect",
		"start": "start", "stop": "stop", "rm": "rm", "rename": "rename", "logs": "logs", "prune": "container prune",
		"create": "create"},
	"image": {"ls": "images", "list": "images", "rm": "rmi", "pull": "pull", "tag": "tag", "inspect": "inspect",
		"prune": "image prune"},
	"network": {"create": "network create", "ls": "network ls", "inspect": "network inspect", "rm": "network rm"},
}

// docker answers one call against the state.
type docker struct {
	state  *State
	cfg    Config
	rule   *Rule
	call   *Call
	stdout io.Writer
	stderr io.Writer
}

func (d *docker) fail(code int, format string, args ...any) int {
	fmt.Fprintf(d.stderr, format+"\n", args...)
	return code
}

func (d *docker) dispatch(argv []string) int {
	if len(argv) == 0 {
		return d.fail(1, "recdocker: no docker command given")
	}
	switch argv[0] {
	case "-v", "--version":
		fmt.Fprintf(d.stdout, "Docker version %s, build 297e128\n", DockerVersion)
		return 0
	}
	sub, rest := subcommand(argv)
	switch sub {
	case "version":
		fmt.Fprintf(d.stdout, "Client:\n Version:           %s\n\nServer:\n Engine:\n  Version:          %s\n", DockerVersion, DockerVersion)
		return 0
	case "info":
		return d.info(rest)
	case "login":
		return d.login(rest)
	case "logout":
		fmt.Fprintf(d.stdout, "Removing login credentials for %s\n", strings.Join(rest, " "))
		return 0
	case "pull":
		return d.pull(rest)
	case "images":
		return d.images(rest)
	case "tag":
		return d.tag(rest)
	case "rmi":
		return d.rmi(rest)
	case "image prune":
		return d.imagePrune(rest)
	case "inspect":
		return d.inspect(rest)
	case "run":
		return d.run(rest)
	case "exec":
		return d.exec(rest)
	case "ps":
		return d.ps(rest)
	case "stop":
		return d.stop(rest)
	case "start":
		return d.start(rest)
	case "rm":
		return d.rm(rest)
	case "rename":
		return d.rename(rest)
	case "container prune":
		return d.containerPrune(rest)
	case "logs":
		return d.logs(rest)
	case "network create":
		return d.networkCreate(rest)
	case "network ls":
		for _, n := range d.state.Networks {
			fmt.Fprintln(d.stdout, n)
		}
		return 0
	}
	if d.rule != nil {
		return 0 // a rule with exit 0 answers a command the fake does not know
	}
	return d.fail(127, "recdocker: no rule and no built-in answer for `docker %s`: add a kamalhost rule for it", strings.Join(argv, " "))
}

func (d *docker) info(argv []string) int {
	p, err := parseFlags(argv, infoFlags)
	if err != nil {
		return d.fail(125, "%v", err)
	}
	format := p.last("format")
	if format == "" {
		fmt.Fprintf(d.stdout, "Server Version: %s\n", DockerVersion)
		return 0
	}
	s, err := render(format, info())
	if err != nil {
		return d.fail(1, "%v", err)
	}
	fmt.Fprintln(d.stdout, s)
	return 0
}

func (d *docker) login(argv []string) int {
	p, err := parseFlags(argv, loginFlags)
	if err != nil {
		return d.fail(125, "%v", err)
	}
	if len(p.args) != 1 {
		return d.fail(1, "\"docker login\" requires at most 1 argument.")
	}
	if p.last("username") == "" || (p.last("password") == "" && !p.bool("password-stdin")) {
		return d.fail(1, "Error: Cannot perform an interactive login from a non TTY device")
	}
	fmt.Fprintln(d.stdout, "Login Succeeded")
	return 0
}
