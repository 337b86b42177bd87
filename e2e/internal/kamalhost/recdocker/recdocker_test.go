package recdocker

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// These tests call Main directly (no SSH, no shell): what Kamal's command
// lines do around the calls is covered by the kamalhost package's tests
// with the real Kamal.

type fake struct {
	t   *testing.T
	dir string
}

func newFake(t *testing.T, cfg Config) *fake {
	t.Helper()
	dir := t.TempDir()
	if err := WriteConfig(dir, cfg); err != nil {
		t.Fatal(err)
	}
	return &fake{t: t, dir: dir}
}

type answer struct {
	out, err string
	code     int
}

func (f *fake) docker(args ...string) answer {
	return f.dockerIn("", args...)
}

func (f *fake) dockerIn(stdin string, args ...string) answer {
	var out, errOut bytes.Buffer
	code := Main(f.dir, args, strings.NewReader(stdin), &out, &errOut)
	return answer{out.String(), errOut.String(), code}
}

// must runs a call that has to succeed and returns its stdout.
func (f *fake) must(args ...string) string {
	f.t.Helper()
	a := f.docker(args...)
	if a.code != 0 {
		f.t.Fatalf("docker %s: exit %d, stderr %q", strings.Join(args, " "), a.code, a.err)
	}
	return a.out
}

func (f *fake) lines(args ...string) []string {
	f.t.Helper()
	return strings.Fields(f.must(args...))
}

func (f *fake) calls() []Call {
	f.t.Helper()
	calls, err := ReadCalls(f.dir)
	if err != nil {
		f.t.Fatal(err)
	}
	return calls
}

const app = "127.0.0.1:5000/kamalhost/app"

func appConfig() Config {
	return Config{Images: map[string]map[string]string{app: {"service": "app"}}}
}

// boot starts a Kamal-style app container for version, as Kamal's run line
// does (labels, health check, restart policy).
func (f *fake) boot(version string, extra ...string) string {
	f.t.Helper()
	f.must("pull", app+":"+version)
	args := append([]string{"run", "--detach", "--restart", "unless-stopped", "--name", "app-web-" + version,
		"--network", "kamal", "--env", "KAMAL_VERSION=" + version, "--label", "service=app", "--label", "role=web",
		"--label", "destination", "--health-cmd", "curl -f http://localhost/up"}, extra...)
	args = append(args, app+":"+version)
	return strings.TrimSpace(f.must(args...))
}

func TestParseFlags(t *testing.T) {
	tests := []struct {
		name  string
		argv  []string
		spec  flagSpec
		flags map[string][]string
		args  []string
		err   string
	}{
		{"run stops at the image", []string{"--detach", "--name", "a", "-it", "img", "--not-a-flag", "x"}, runFlags,
			map[string][]string{"detach": {""}, "name": {"a"}, "interactive": {""}, "tty": {""}},
			[]string{"img", "--not-a-flag", "x"}, ""},
		{"unknown long flags take a value", []string{"--health-cmd", "curl -f x", "--cpus=2", "img"}, runFlags,
			map[string][]string{"health-cmd": {"curl -f x"}, "cpus": {"2"}}, []string{"img"}, ""},
		{"repeated flags keep every value", []string{"--env", "A=1", "-e", "B=2", "img"}, runFlags,
			map[string][]string{"env": {"A=1", "B=2"}}, []string{"img"}, ""},
		{"short flag with its value attached", []string{"-t30", "c1", "c2"}, stopFlags,
			map[string][]string{"time": {"30"}}, []string{"c1", "c2"}, ""},
		{"ps flags anywhere", []string{"-q", "--filter", "label=a=b", "-a"}, psFlags,
			map[string][]string{"quiet": {""}, "filter": {"label=a=b"}, "all": {""}}, nil, ""},
		{"a value flag at the end", []string{"--name"}, runFlags, nil, nil, "flag needs an argument: --name"},
		{"unknown shorthand", []string{"-Z"}, psFlags, nil, nil, "unknown shorthand flag"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := parseFlags(tc.argv, tc.spec)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(p.flags, tc.flags) || !reflect.DeepEqual(p.args, tc.args) {
				t.Fatalf("got flags %v args %q, want %v %q", p.flags, p.args, tc.flags, tc.args)
			}
		})
	}
}

func TestRuleMatches(t *testing.T) {
	argv := strings.Fields("run --rm --name app-web-exec-v2-abc --network kamal img:v2 bin/rails db:migrate")
	tests := []struct {
		args []string
		want bool
	}{
		{[]string{"run"}, true},
		{[]string{"run", "db:migrate"}, true},
		{[]string{"run", "app-web-exec-v2-*", "img:v2"}, true},
		{[]string{"db:migrate", "run"}, false}, // order matters
		{[]string{"exec"}, false},
		{[]string{"run", "app-web-exec-v3-*"}, false},
	}
	for _, tc := range tests {
		if got := (Rule{Args: tc.args}).Matches(argv); got != tc.want {
			t.Errorf("Rule%q.Matches = %v, want %v", tc.args, got, tc.want)
		}
	}
}

func TestSplitRef(t *testing.T) {
	tests := []struct{ ref, repo, tag string }{
		{"app", "app", "latest"},
		{"app:v1", "app", "v1"},
		{"127.0.0.1:5000/kamalhost/app", "127.0.0.1:5000/kamalhost/app", "latest"},
		{"127.0.0.1:5000/kamalhost/app:v1", "127.0.0.1:5000/kamalhost/app", "v1"},
	}
	for _, tc := range tests {
		if repo, tag := SplitRef(tc.ref); repo != tc.repo || tag != tc.tag {
			t.Errorf("SplitRef(%q) = %q, %q; want %q, %q", tc.ref, repo, tag, tc.repo, tc.tag)
		}
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		rule Rule
		err  string
	}{
		{Rule{}, "rules[0].args is empty"},
		{Rule{Args: []string{"run"}, Health: "sick"}, `rules[0].health "sick"`},
		{Rule{Args: []string{"run"}, Exit: 256}, "exit must be 0..255"},
		{Rule{Args: []string{"run"}, Health: "starting", HealthyAfter: 2, Times: 1}, ""},
	}
	for _, tc := range tests {
		err := WriteConfig(t.TempDir(), Config{Rules: []Rule{tc.rule}})
		if (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("WriteConfig(%+v) = %v, want %q", tc.rule, err, tc.err)
		}
	}
}

// The life of a rollout as Kamal drives it: pull, label check, run, health
// poll, the old version stopped, latest tagged, stopped containers pruned.
func TestRolloutState(t *testing.T) {
	f := newFake(t, appConfig())
	if got := f.must("inspect", "-f", "{{ .Config.Labels.service }}", f.pullRef("v1")); got != "app\n" {
		t.Fatalf("service label = %q", got)
	}
	if a := f.docker("network", "create", "kamal"); a.code != 0 {
		t.Fatal(a.err)
	}
	if a := f.docker("network", "create", "kamal"); a.code != 1 || !strings.Contains(a.err, "already exists") {
		t.Fatalf("second network create = %+v, want Docker's 'already exists'", a)
	}
	v1 := f.boot("v1")
	health := "{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}"
	if got := f.must("inspect", "--format", health, v1[:12]); got != "healthy\n" {
		t.Fatalf("v1 health = %q", got)
	}
	f.must("tag", app+":v1", app+":latest")
	v2 := f.boot("v2")

	running := "--filter label=service=app --filter label=destination= --filter label=role=web --filter status=running --filter status=restarting"
	psLatest := append(strings.Fields("ps --latest --format {{.Names}}"), strings.Fields(running)...)
	if got := f.lines(psLatest...); !reflect.DeepEqual(got, []string{"app-web-v2"}) {
		t.Fatalf("latest running = %q, want app-web-v2", got)
	}
	// Kamal's current version prefers containers of the latest image.
	latestID := strings.TrimSpace(f.must("image", "ls", "--filter", "reference="+app+":latest", "--format", "{{.ID}}"))
	if got := f.lines(append(psLatest, "--filter", "ancestor="+latestID)...); !reflect.DeepEqual(got, []string{"app-web-v1"}) {
		t.Fatalf("latest running of the latest image = %q, want app-web-v1", got)
	}
	if got := f.lines("container", "ls", "--all", "--filter", "name=^app-web-v1$", "--quiet"); !reflect.DeepEqual(got, []string{v1[:12]}) {
		t.Fatalf("name filter = %q, want %s", got, v1[:12])
	}
	if got := f.lines("stop", "-t", "30", v1[:12]); !reflect.DeepEqual(got, []string{v1[:12]}) {
		t.Fatalf("stop printed %q", got)
	}
	if got := f.lines(append(strings.Fields("ps --format {{.Names}}"), strings.Fields(running)...)...); !reflect.DeepEqual(got, []string{"app-web-v2"}) {
		t.Fatalf("running after stop = %q", got)
	}
	stopped := f.lines("ps", "-q", "-a", "--filter", "label=service=app", "--filter", "status=created", "--filter", "status=exited", "--filter", "status=dead")
	if !reflect.DeepEqual(stopped, []string{v1[:12]}) {
		t.Fatalf("stopped = %q", stopped)
	}
	if got := f.lines("container", "ls", "-a", "--format", "{{.Image}}", "--filter", "label=service=app"); !reflect.DeepEqual(got, []string{app + ":v2", app + ":v1"}) {
		t.Fatalf("images of containers, newest first = %q", got)
	}
	// v1's image has two tags: rmi of one only untags it.
	if a := f.docker("rmi", app+":v1"); a.code != 0 || a.out != "Untagged: "+app+":v1\n" {
		t.Fatalf("rmi of one of two tags = %+v", a)
	}
	// Its last tag is used by the stopped container: rmi refuses, as Docker does.
	if a := f.docker("rmi", app+":latest"); a.code != 1 || !strings.Contains(a.err, "is using its referenced image") {
		t.Fatalf("rmi of a used image = %+v", a)
	}
	f.must("rm", v1[:12])
	if a := f.docker("rmi", app+":latest"); a.code != 0 || !strings.Contains(a.out, "Deleted:") {
		t.Fatalf("rmi after rm = %+v", a)
	}
	if a := f.docker("rm", v2); a.code != 1 || !strings.Contains(a.err, "cannot remove a running container") {
		t.Fatalf("rm of a running container = %+v", a)
	}

	st, err := ReadState(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	c := st.Container("app-web-v2")
	if c == nil || c.Restart != "unless-stopped" || c.Labels["role"] != "web" || c.Labels["destination"] != "" || !c.Running() {
		t.Fatalf("app-web-v2 = %+v", c)
	}
}

func (f *fake) pullRef(version string) string {
	f.t.Helper()
	ref := app + ":" + version
	f.must("pull", ref)
	return ref
}

// Label filters must all match (a jobs container is not a web one); other
// keys' values are alternatives.
func TestLabelFiltersAllMatch(t *testing.T) {
	f := newFake(t, appConfig())
	f.boot("v1")
	f.must("run", "--detach", "--name", "app-jobs-v1", "--label", "service=app", "--label", "role=jobs", "--label", "destination", app+":v1")
	tests := []struct {
		filters []string
		want    []string
	}{
		{[]string{"label=service=app", "label=role=web"}, []string{"app-web-v1"}},
		{[]string{"label=service=app", "label=role=jobs"}, []string{"app-jobs-v1"}},
		{[]string{"label=service=app", "label=destination="}, []string{"app-jobs-v1", "app-web-v1"}},
		{[]string{"label=service=app", "label=destination=production"}, nil},
		{[]string{"label=role", "name=web", "name=jobs"}, []string{"app-jobs-v1", "app-web-v1"}},
		{[]string{"status=running", "status=exited", "label=role=web"}, []string{"app-web-v1"}},
	}
	for _, tc := range tests {
		args := []string{"ps", "--format", "{{.Names}}"}
		for _, f := range tc.filters {
			args = append(args, "--filter", f)
		}
		if got := f.lines(args...); !reflect.DeepEqual(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
			t.Errorf("filters %q: %q, want %q", tc.filters, got, tc.want)
		}
	}
}

func TestRunNameConflictAndRename(t *testing.T) {
	f := newFake(t, appConfig())
	f.boot("v1")
	a := f.docker("run", "--detach", "--name", "app-web-v1", app+":v1")
	if a.code != 125 || !strings.Contains(a.err, `The container name "/app-web-v1" is already in use`) {
		t.Fatalf("second run with the same name = %+v", a)
	}
	f.must("rename", "app-web-v1", "app-web-v1_replaced_1")
	f.boot("v1")
	names := f.lines("ps", "-a", "--format", "{{.Names}}")
	if !reflect.DeepEqual(names, []string{"app-web-v1", "app-web-v1_replaced_1"}) {
		t.Fatalf("names = %q", names)
	}
}

func TestHealth(t *testing.T) {
	format := "{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}"
	tests := []struct {
		name  string
		rules []Rule
		run   []string
		want  []string // successive inspections
	}{
		{"health check: healthy", nil, []string{"--health-cmd", "true"}, []string{"healthy", "healthy"}},
		{"no health check: running", nil, nil, []string{"running", "running"}},
		{"rule: unhealthy for ever", []Rule{{Args: []string{"run", "app-web-v1"}, Health: "unhealthy"}},
			[]string{"--health-cmd", "true"}, []string{"unhealthy", "unhealthy", "unhealthy"}},
		{"rule: starting, then healthy", []Rule{{Args: []string{"run", "app-web-v1"}, Health: "starting", HealthyAfter: 2}},
			[]string{"--health-cmd", "true"}, []string{"starting", "starting", "healthy"}},
		{"rule for another version", []Rule{{Args: []string{"run", "app-web-v2"}, Health: "unhealthy"}},
			[]string{"--health-cmd", "true"}, []string{"healthy"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := appConfig()
			cfg.Rules = tc.rules
			f := newFake(t, cfg)
			f.must("pull", app+":v1")
			f.must(append(append([]string{"run", "--detach", "--name", "app-web-v1"}, tc.run...), app+":v1")...)
			for i, want := range tc.want {
				if got := strings.TrimSpace(f.must("inspect", "--format", format, "app-web-v1")); got != want {
					t.Fatalf("inspection %d = %q, want %q", i+1, got, want)
				}
			}
		})
	}
}

func TestRules(t *testing.T) {
	f := newFake(t, Config{Rules: []Rule{
		{Args: []string{"run", "--rm", "db:migrate"}, Stdout: "== CreateUsers: migrated\n", Times: 1},
		{Args: []string{"run", "--rm", "db:migrate"}, Stderr: "boom\n", Exit: 3},
		{Args: []string{"buildx", "version"}, Stdout: "github.com/docker/buildx v0.12\n"},
	}})
	run := strings.Fields("run --rm --name app-web-exec-v1-abc --network kamal img:v1 bin/rails db:migrate")
	if a := f.docker(run...); a.code != 0 || a.out != "== CreateUsers: migrated\n" {
		t.Fatalf("first migration = %+v", a)
	}
	if a := f.docker(run...); a.code != 3 || a.err != "boom\n" || a.out != "" {
		t.Fatalf("second migration = %+v (the first rule is used up)", a)
	}
	if a := f.docker("buildx", "version"); a.code != 0 || !strings.Contains(a.out, "buildx") {
		t.Fatalf("a rule answers a command the fake does not know: %+v", a)
	}
	if a := f.docker("compose", "up"); a.code != 127 || !strings.Contains(a.err, "docker compose up") {
		t.Fatalf("unknown command = %+v, want exit 127 naming it", a)
	}
	calls := f.calls()
	var rules []int
	for _, c := range calls {
		rules = append(rules, c.Rule)
	}
	if !reflect.DeepEqual(rules, []int{0, 1, 2, -1}) {
		t.Fatalf("rules recorded = %v", rules)
	}
	// The failed run started nothing; --rm runs leave nothing either.
	if got := f.lines("ps", "-a", "-q"); len(got) != 0 {
		t.Fatalf("containers = %q", got)
	}
}

func TestRuleExitZeroKeepsTheBuiltIn(t *testing.T) {
	f := newFake(t, Config{Rules: []Rule{{Args: []string{"run", "--detach"}, Stdout: "custom\n"}}})
	if got := f.must("run", "--detach", "--name", "x", "img"); got != "custom\n" {
		t.Fatalf("stdout = %q", got)
	}
	if got := f.lines("ps", "--format", "{{.Names}}"); !reflect.DeepEqual(got, []string{"x"}) {
		t.Fatalf("the built-in run still started the container: %q", got)
	}
}

func TestCallRecord(t *testing.T) {
	f := newFake(t, Config{RecordStdin: true})
	env := filepath.Join(t.TempDir(), "web.env")
	if err := os.WriteFile(env, []byte("SECRET_KEY_BASE=one\n# comment\nDATABASE=x=y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	f.must("login", "127.0.0.1:5000", "-u", "kamalhost", "-p", "s3cret")
	if a := f.dockerIn("puts 1\n", "run", "-i", "--rm", "--env-file", env, "img", "bin/rails", "console"); a.code != 0 {
		t.Fatal(a.err)
	}
	if a := f.dockerIn("not read\n", "run", "--rm", "img", "true"); a.code != 0 {
		t.Fatal(a.err)
	}
	missing := filepath.Join(t.TempDir(), "missing.env")
	if a := f.docker("run", "--rm", "--env-file", missing, "img", "true"); a.code != 125 || !strings.Contains(a.err, "no such file") {
		t.Fatalf("missing env file = %+v", a)
	}

	calls := f.calls()
	if len(calls) != 4 {
		t.Fatalf("%d calls", len(calls))
	}
	if got := strings.Join(calls[0].Argv, " "); got != "login 127.0.0.1:5000 -u kamalhost -p [REDACTED]" {
		t.Errorf("login recorded as %q", got)
	}
	for _, c := range calls {
		if strings.Contains(c.Line(), "s3cret") {
			t.Errorf("the password reached the log: %s", c.Line())
		}
	}
	run := calls[1]
	if run.Stdin == nil || *run.Stdin != "puts 1\n" {
		t.Errorf("interactive stdin = %v", run.Stdin)
	}
	if len(run.EnvFiles) != 1 || run.EnvFiles[0].Path != env {
		t.Fatalf("env files = %+v", run.EnvFiles)
	}
	if vars := run.EnvFiles[0].Vars(); !reflect.DeepEqual(vars, map[string]string{"SECRET_KEY_BASE": "one", "DATABASE": "x=y"}) {
		t.Errorf("env file vars = %v", vars)
	}
	if calls[2].Stdin != nil {
		t.Errorf("a non-interactive call read stdin: %q", *calls[2].Stdin)
	}
	if calls[3].Exit != 125 || calls[3].EnvFiles[0].Error == "" {
		t.Errorf("missing env file recorded as %+v", calls[3])
	}
	if calls[0].Sub() != "login" || (Call{Argv: []string{"container", "ls"}}).Sub() != "container ls" {
		t.Errorf("Sub() = %q", calls[0].Sub())
	}
}

func TestExecNeedsARunningContainer(t *testing.T) {
	cfg := appConfig()
	cfg.Rules = []Rule{{Args: []string{"exec", "app-litestream"}, Stdout: "/rails/storage/production.sqlite3\n"}}
	f := newFake(t, cfg)
	// The rule's output is for a successful exec; without the container
	// Docker's error stands.
	if a := f.docker("exec", "app-litestream", "litestream", "databases"); a.code != 1 || a.out != "" || !strings.Contains(a.err, "No such container: app-litestream") {
		t.Fatalf("exec into nothing = %+v", a)
	}
	if err := UpdateState(f.dir, func(s *State) error {
		s.SeedContainer("app-litestream", "litestream/litestream:0.5", map[string]string{"service": "app-litestream"})
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if got := f.must("exec", "app-litestream", "litestream", "databases"); got != "/rails/storage/production.sqlite3\n" {
		t.Fatalf("exec printed %q", got)
	}
	f.must("container", "stop", "app-litestream")
	if a := f.docker("exec", "app-litestream", "true"); a.code != 1 || !strings.Contains(a.err, "is not running") {
		t.Fatalf("exec into a stopped container = %+v", a)
	}
}

func TestPruneAndImages(t *testing.T) {
	f := newFake(t, appConfig())
	for _, v := range []string{"v1", "v2", "v3"} {
		f.boot(v)
	}
	f.must("stop", "app-web-v1", "app-web-v2")
	f.must("tag", app+":v3", app+":latest")
	if got := f.lines("image", "ls", "--filter", "label=service=app", "--format", "{{.Repository}}:{{.Tag}}"); len(got) != 4 {
		t.Fatalf("tagged images = %q", got)
	}
	out := f.must("container", "prune", "--force", "--filter", "label=service=app")
	if !strings.Contains(out, "Total reclaimed space") {
		t.Fatalf("prune printed %q", out)
	}
	if got := f.lines("ps", "-a", "--format", "{{.Names}}"); !reflect.DeepEqual(got, []string{"app-web-v3"}) {
		t.Fatalf("after prune: %q", got)
	}
	f.must("image", "prune", "--all", "--force", "--filter", "label=service=app")
	got := f.lines("images", "--format", "{{.Repository}}:{{.Tag}}")
	if !reflect.DeepEqual(got, []string{app + ":v3", app + ":latest"}) {
		t.Fatalf("after image prune --all: %q (only the running container's image stays)", got)
	}
	if a := f.docker("tag", "nothing:here", "x"); a.code != 1 || !strings.Contains(a.err, "No such image") {
		t.Fatalf("tag of a missing image = %+v", a)
	}
}

func TestVersionAndInfo(t *testing.T) {
	f := newFake(t, Config{})
	if got := f.must("-v"); !strings.HasPrefix(got, "Docker version "+DockerVersion) {
		t.Fatalf("-v = %q", got)
	}
	f.must("version")
	// Kamal asks for the first registry mirror; there is none, and Docker's
	// template fails the same way.
	if a := f.docker("info", "--format", "{{index .RegistryConfig.Mirrors 0}}"); a.code != 1 {
		t.Fatalf("info mirror = %+v", a)
	}
}

func TestMainWithoutDir(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := Main("", []string{"ps"}, strings.NewReader(""), &out, &errOut); code != 125 || !strings.Contains(errOut.String(), DirEnv) {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
}
