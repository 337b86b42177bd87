package transport

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path"
	"regexp"
	"strings"
)

// Kamal runs remote steps through the `kamal` command, with -d when the
// deploy has a destination (it is not inherited, docs/kamal.md#hooks). The deploy lock
// is inherited through KAMAL_LOCK in the environment.
//
// Kamal 2.12 ignores -H after a subcommand (kamal issue 1752), so every call
// still runs the app's pre-connect hook. berth passes -H anyway (a Kamal that
// honours it skips the hook) and marks each call with NestedEnv in the
// environment, which berth's own hooks and a user's pre-connect can test.
type Kamal struct {
	// Bin is the kamal executable ("kamal", or bin/kamal from a bundle).
	Bin string
	// Dir is the app's directory (where config/deploy.yml is).
	Dir string
	// Destination is KAMAL_DESTINATION, "" for none.
	Destination string
	// Role is the role whose containers App commands run in: the one that
	// serves the app (config/kamal.Role). Without it Kamal runs a command
	// once per role.
	Role string
	// Caller names what berth is doing ("pre-deploy", "maintenance"); it
	// is the value of NestedEnv in every kamal call.
	Caller string
	// Env is the environment of the kamal process; nil inherits berth's.
	Env []string
}

// NestedEnv is set in the environment of every kamal command berth runs, to
// what berth was doing (Kamal.Caller). Hooks of a nested kamal call see it.
const NestedEnv = "BERTH_NESTED"

// Name implements Transport.
func (k *Kamal) Name() string { return "kamal" }

func (k *Kamal) bin() string {
	if k.Bin == "" {
		return "kamal"
	}
	return k.Bin
}

// common returns the flags every kamal call gets.
func (k *Kamal) common() []string {
	f := []string{"-H"}
	if k.Destination != "" {
		f = append(f, "-d", k.Destination)
	}
	return f
}

func (k *Kamal) run(ctx context.Context, args []string) (string, error) {
	argv := append([]string{k.bin()}, args...)
	out, err := run(ctx, k.Dir, k.env(), argv, displayKamal(args))
	if err != nil && notRunning(out) {
		return out, fmt.Errorf("%w: %w", ErrNotRunning, err)
	}
	return out, err
}

func (k *Kamal) env() []string {
	env := k.Env
	if env == nil {
		env = os.Environ()
	}
	caller := k.Caller
	if caller == "" {
		caller = "berth"
	}
	return append(env[:len(env):len(env)], NestedEnv+"="+caller)
}

// displayKamal shortens the base64 payload of server scripts in messages.
func displayKamal(args []string) string {
	d := make([]string, len(args))
	for i, a := range args {
		if len(a) > 120 && strings.HasPrefix(a, "echo ") {
			a = a[:60] + "..."
		}
		d[i] = a
	}
	return "kamal " + Join(d)
}

var notRunningRe = regexp.MustCompile(`(?i)(no such container|is not running|container .* not found)`)

func notRunning(out string) bool { return notRunningRe.MatchString(out) }

// Accessory implements Transport.
func (k *Kamal) Accessory(ctx context.Context, accessory string, argv []string) (string, error) {
	args := append([]string{"accessory", "exec", accessory, "--reuse"}, k.common()...)
	args = append(args, Join(argv))
	return k.run(ctx, args)
}

// AccessoryEach implements Transport with one `kamal accessory exec`: a
// shell script runs the commands in turn, each framed with its exit status.
func (k *Kamal) AccessoryEach(ctx context.Context, accessory string, argvs [][]string) ([]Output, error) {
	frames := make([]Frame, len(argvs))
	parts := make([]string, len(argvs))
	for i, argv := range argvs {
		frames[i] = NewFrame()
		parts[i] = frames[i].Section(Join(argv) + " 2>&1")
	}
	out, err := k.Accessory(ctx, accessory, []string{"sh", "-c", strings.Join(parts, "; ")})
	if err != nil {
		return nil, err
	}
	res := make([]Output, len(argvs))
	for i, f := range frames {
		text, rc, ok := f.Result(out)
		display := "kamal accessory exec " + accessory + " " + Quote(Join(argvs[i]))
		switch {
		case !ok:
			res[i].Err = &CommandError{Command: display, Output: out, Err: fmt.Errorf("no answer for this command in the accessory's output")}
		case rc != 0:
			res[i] = Output{Text: text, Err: &CommandError{Command: display, ExitCode: rc, Output: text, Err: fmt.Errorf("exit status %d", rc)}}
		default:
			res[i].Text = text
		}
	}
	return res, nil
}

// App implements Transport: `kamal app exec -p -r ROLE -H [-d D]
// --version=V CMD`. -p alone still runs once per role on the primary host
// (docs/kamal.md#hooks): -r makes it exactly once, in the role that serves the app.
func (k *Kamal) App(ctx context.Context, version, command string) (string, error) {
	args := []string{"app", "exec", "-p"}
	if k.Role != "" {
		args = append(args, "-r", k.Role)
	}
	args = append(args, k.common()...)
	if version != "" {
		args = append(args, "--version="+version)
	}
	args = append(args, command)
	return k.run(ctx, args)
}

// Server implements Transport. The script travels base64-encoded, so no
// quoting of the remote login shell or of Kamal can change it.
func (k *Kamal) Server(ctx context.Context, script string) (string, error) {
	cmd, err := EncodeScript(script)
	if err != nil {
		return "", err
	}
	args := append([]string{"server", "exec"}, k.common()...)
	args = append(args, cmd)
	return k.run(ctx, args)
}

// Upload implements Transport with `kamal server exec -i`: Kamal runs the
// system ssh client with its own settings (user, port, keys, proxy) on the
// primary host, and the content travels on ssh's stdin. Kamal has no other
// way to copy a file that does not put it on a command line or in its log.
func (k *Kamal) Upload(ctx context.Context, file string, content []byte) error {
	frame := NewFrame()
	dir := path.Dir(file)
	tmp := file + ".berth-upload"
	script := frame.Wrap("umask 077 && mkdir -p " + Quote(dir) + " && cat > " + Quote(tmp) + " && mv -f " + Quote(tmp) + " " + Quote(file) + " && echo uploaded")
	args := append([]string{"server", "exec", "-i"}, k.common()...)
	args = append(args, script)
	out, err := runInput(ctx, k.Dir, k.env(), append([]string{k.bin()}, args...), "kamal server exec -i <write "+file+" from stdin>", content)
	if err != nil {
		return fmt.Errorf("write %s on the primary host: %w", file, err)
	}
	if body, ok := frame.Extract(out); !ok || strings.TrimSpace(body) != "uploaded" {
		return fmt.Errorf("write %s on the primary host: no confirmation in the output of `kamal server exec -i`: %q", file, lastLines(out, 5))
	}
	return nil
}

// RunningVersion implements Transport with `kamal app version`.
func (k *Kamal) RunningVersion(ctx context.Context) (string, error) {
	args := append([]string{"app", "version"}, k.common()...)
	out, err := k.run(ctx, args)
	if err != nil {
		return "", err
	}
	return parseVersion(out), nil
}

// parseVersion picks the version from `kamal app version` output: the
// first line after an "App Host:" line that looks like a tag.
func parseVersion(out string) string {
	lines := strings.Split(out, "\n")
	for i, l := range lines {
		if strings.Contains(l, "App Host:") && i+1 < len(lines) {
			// Any docker tag, "v1" included, right under the host line.
			v := strings.TrimSpace(lines[i+1])
			if tagLike.MatchString(v) {
				return v
			}
		}
	}
	for _, l := range lines {
		if v := strings.TrimSpace(l); versionLike.MatchString(v) {
			return v
		}
	}
	return ""
}

var (
	tagLike = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)
	// versionLike is stricter, for a line found anywhere in the output.
	versionLike = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{2,127}$`)
)

// LocalPath implements Transport: nothing on the server is a local path.
func (k *Kamal) LocalPath(string) (string, bool) { return "", false }

// maxCommand keeps one remote command under Linux's 128 KiB limit for a
// single argument (sshd hands it to the login shell as one).
const maxCommand = 100 << 10

// EncodeScript turns a script into one shell command line: base64, and
// gzip first when it is large (the docker-setup script carries the plugin
// source).
func EncodeScript(script string) (string, error) {
	if len(script) < 8<<10 {
		return "echo " + base64.StdEncoding.EncodeToString([]byte(script)) + " | base64 -d | sh", nil
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	zw.Write([]byte(script))
	zw.Close()
	cmd := "echo " + base64.StdEncoding.EncodeToString(buf.Bytes()) + " | base64 -d | gunzip | sh"
	if len(cmd) > maxCommand {
		return "", fmt.Errorf("server script is %d bytes encoded, more than the %d one remote command can carry", len(cmd), maxCommand)
	}
	return cmd, nil
}
