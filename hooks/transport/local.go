package transport

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Local runs the steps on this machine: the accessory's commands as local
// processes, app commands in the app's directory, server scripts with sh.
// Paths as the containers see them are mapped to local ones by prefix
// (/rails/storage -> the directory that plays the app's volume).
type Local struct {
	// Map maps path prefixes as the containers/server see them to local
	// directories or files. Unmapped paths are used as they are.
	Map map[string]string
	// Programs maps a command name (argv[0]: "litestream") to a local
	// executable.
	Programs map[string]string
	// AppDir is where App commands run (a Rails app: bin/rails).
	AppDir string
	// Env is added to the environment of every command.
	Env []string
	// Version is what RunningVersion reports ("" unknown).
	Version string
	// Home is the directory relative paths of Upload are in: the home
	// directory of the user Kamal connects as (default: this user's).
	Home string
}

// Name implements Transport.
func (l *Local) Name() string { return "local" }

// LocalPath implements Transport.
func (l *Local) LocalPath(p string) (string, bool) { return l.mapPath(p), true }

func (l *Local) mapPath(p string) string {
	if !strings.HasPrefix(p, "/") {
		return p
	}
	// Longest prefix first.
	keys := make([]string, 0, len(l.Map))
	for k := range l.Map {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return len(keys[i]) > len(keys[j]) })
	clean := path.Clean(p)
	for _, k := range keys {
		kc := path.Clean(k)
		if clean == kc {
			return l.Map[k]
		}
		if strings.HasPrefix(clean, kc+"/") {
			return filepath.Join(l.Map[k], filepath.FromSlash(strings.TrimPrefix(clean, kc+"/")))
		}
	}
	return p
}

// mapArg maps a path argument, also inside -flag=PATH.
func (l *Local) mapArg(a string) string {
	if k, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(k, "-") {
		return k + "=" + l.mapPath(v)
	}
	return l.mapPath(a)
}

func (l *Local) env() []string {
	return append(os.Environ(), l.Env...)
}

// Accessory implements Transport: argv runs here, with paths mapped.
func (l *Local) Accessory(ctx context.Context, accessory string, argv []string) (string, error) {
	if len(argv) == 0 {
		return "", fmt.Errorf("accessory %s: empty command", accessory)
	}
	m := make([]string, len(argv))
	for i, a := range argv {
		m[i] = l.mapArg(a)
	}
	if p, ok := l.Programs[argv[0]]; ok {
		m[0] = p
	}
	return run(ctx, "", l.env(), m, Join(m))
}

// AccessoryEach implements Transport: each command runs here in turn.
func (l *Local) AccessoryEach(ctx context.Context, accessory string, argvs [][]string) ([]Output, error) {
	res := make([]Output, len(argvs))
	for i, argv := range argvs {
		res[i].Text, res[i].Err = l.Accessory(ctx, accessory, argv)
		if errors.Is(res[i].Err, ErrTimeout) {
			return nil, res[i].Err
		}
	}
	return res, nil
}

// App implements Transport: the command runs with sh in AppDir, with
// KAMAL_VERSION set to version.
func (l *Local) App(ctx context.Context, version, command string) (string, error) {
	env := append(l.env(), "KAMAL_VERSION="+version, "BERTH_APP_VERSION="+version)
	return run(ctx, l.AppDir, env, []string{"sh", "-c", command}, command)
}

// Server implements Transport.
func (l *Local) Server(ctx context.Context, script string) (string, error) {
	return run(ctx, "", l.env(), []string{"sh", "-c", script}, "sh -c <berth server script>")
}

// Upload implements Transport: the file is written here (a relative path
// under the home directory, as on the server), mode 0600.
func (l *Local) Upload(_ context.Context, file string, content []byte) error {
	p := l.mapPath(file)
	if !filepath.IsAbs(p) {
		home := l.Home
		if home == "" {
			var err error
			if home, err = os.UserHomeDir(); err != nil {
				return fmt.Errorf("write %s: %w", file, err)
			}
		}
		p = filepath.Join(home, p)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	tmp := p + ".berth-upload"
	if err := os.WriteFile(tmp, content, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	if err := os.Rename(tmp, p); err != nil {
		return fmt.Errorf("write %s: %w", file, err)
	}
	return nil
}

// RunningVersion implements Transport.
func (l *Local) RunningVersion(context.Context) (string, error) { return l.Version, nil }
