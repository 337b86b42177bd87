// Package cli is the berth program's command line for the hooks and the
// operator commands: it reads the manifest, the KAMAL_* and BERTH_*
// environment, picks the transport, wires redaction into every output, and
// hands over to the packages that do the work. hooks/cmd/berth only
// dispatches here.
package cli

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/wombatworkouts/berth/config"
	"github.com/wombatworkouts/berth/config/kamal"
	cfglitestream "github.com/wombatworkouts/berth/config/litestream"
	"github.com/wombatworkouts/berth/hooks/deploy"
	"github.com/wombatworkouts/berth/hooks/output"
	"github.com/wombatworkouts/berth/hooks/smoke"
	"github.com/wombatworkouts/berth/hooks/transport"
)

// Environ and LookupEnv are the process environment (tests replace them).
var (
	Environ   = os.Environ
	LookupEnv = os.LookupEnv
	Now       = time.Now
)

// session is one run of a command.
type session struct {
	dir     string
	stdout  *output.Redactor
	stderr  *output.Redactor
	printer *output.Printer
	secrets *output.Secrets
	m       *config.Manifest
	t       transport.Transport
	deps    deploy.Deps
}

// newSession sets up redaction first (nothing is printed before it), then
// loads the manifest and the BERTH_* settings. caller names the hook or
// command, for the kamal calls it makes (transport.NestedEnv).
func newSession(dir string, stdout, stderr io.Writer, destination, caller string) (*session, error) {
	secrets := output.FromEnvironment(Environ(), dir)
	s := &session{
		dir:     dir,
		secrets: secrets,
		stdout:  output.NewRedactor(stdout, secrets),
		stderr:  output.NewRedactor(stderr, secrets),
	}
	s.printer = output.New(s.stdout)
	// The Litestream library logs through slog's default logger; berth
	// prints its own lines instead.
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	m, err := config.LoadFrom(dir, config.DefaultPath)
	if err != nil {
		return s, fmt.Errorf("%w\n(berth reads the app's manifest %s in %s; `berth config init` writes one)", err, config.DefaultPath, dir)
	}
	s.m = m
	for _, n := range []string{m.Litestream.Secrets.AccessKeyID, m.Litestream.Secrets.SecretAccessKey, config.DefaultRegistryPassword} {
		if v, ok := LookupEnv(n); ok {
			secrets.Add(v)
		}
	}
	t, err := pickTransport(dir, destination, caller)
	if err != nil {
		return s, err
	}
	s.t = t
	d := deploy.Deps{Manifest: m, Transport: t, Printer: s.printer, AppDir: dir, Lookup: LookupEnv, Now: Now}
	if d.Check, err = envBool("BERTH_RESTORE_CHECK"); err != nil {
		return s, err
	}
	if d.StateTTL, err = envDuration("BERTH_STATE_TTL"); err != nil {
		return s, err
	}
	if d.Timeouts, err = envTimeouts(); err != nil {
		return s, err
	}
	d.WorkDir, _ = LookupEnv("BERTH_WORK_DIR")
	if d.Smoke, err = envSmoke(); err != nil {
		return s, err
	}
	s.deps = d
	return s, nil
}

func (s *session) close() {
	_ = s.stdout.Flush()
	_ = s.stderr.Flush()
}

// fail prints err (a deploy.Failure in full) on stderr and returns 1.
func (s *session) fail(err error) int {
	var f *deploy.Failure
	if errors.As(err, &f) {
		f.Report(s.stderr)
	} else {
		fmt.Fprintf(s.stderr, "berth: %v\n", err)
	}
	s.close()
	return 1
}

func pickTransport(dir, destination, caller string) (transport.Transport, error) {
	kind, _ := LookupEnv("BERTH_TRANSPORT")
	switch kind {
	case "", "kamal":
		bin, _ := LookupEnv("BERTH_KAMAL")
		if bin == "" {
			// Rails 8 apps have a bundler binstub; prefer it (the
			// Kamal version the app pins).
			if st, err := os.Stat(filepath.Join(dir, "bin", "kamal")); err == nil && st.Mode()&0o111 != 0 {
				bin = filepath.Join(dir, "bin", "kamal")
			} else {
				bin = "kamal"
			}
		}
		return &transport.Kamal{Bin: bin, Dir: dir, Destination: destination, Role: kamal.Role, Caller: caller}, nil
	case "local":
		storage, _ := LookupEnv("BERTH_LOCAL_STORAGE")
		if storage == "" || !filepath.IsAbs(storage) {
			return nil, fmt.Errorf("BERTH_TRANSPORT=local needs BERTH_LOCAL_STORAGE: the absolute local directory that plays the app's volume (%s)", config.StorageMount)
		}
		l := &transport.Local{Map: map[string]string{config.StorageMount: storage}, Programs: map[string]string{}, AppDir: dir}
		if c, _ := LookupEnv("BERTH_LITESTREAM_CONFIG"); c != "" {
			l.Map[cfglitestream.ConfigPath] = c
		}
		if b, _ := LookupEnv("BERTH_LITESTREAM"); b != "" {
			l.Programs["litestream"] = b
		}
		if a, _ := LookupEnv("BERTH_LOCAL_APP_DIR"); a != "" {
			l.AppDir = a
		}
		if mp, _ := LookupEnv("BERTH_LOCAL_MAP"); mp != "" {
			for _, pair := range strings.Split(mp, ",") {
				from, to, ok := strings.Cut(strings.TrimSpace(pair), "=")
				if !ok || !filepath.IsAbs(from) || !filepath.IsAbs(to) {
					return nil, fmt.Errorf("BERTH_LOCAL_MAP: %q is not SERVER_PATH=LOCAL_PATH with two absolute paths", pair)
				}
				l.Map[from] = to
			}
		}
		l.Version, _ = LookupEnv("BERTH_PREVIOUS_VERSION")
		l.Home, _ = LookupEnv("BERTH_LOCAL_HOME")
		return l, nil
	}
	return nil, fmt.Errorf("BERTH_TRANSPORT=%q: want kamal (the default) or local", kind)
}

func envBool(name string) (bool, error) {
	v, _ := LookupEnv(name)
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "0", "false", "no", "off":
		return false, nil
	case "1", "true", "yes", "on", "full":
		return true, nil
	}
	return false, fmt.Errorf("%s=%q: want 1 or 0", name, v)
}

func envDuration(name string) (time.Duration, error) {
	v, _ := LookupEnv(name)
	if v == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%s=%q: want a positive duration such as 30m", name, v)
	}
	return d, nil
}

// envTimeouts reads BERTH_TIMEOUTS="sync=2m,confirm=1m,check=15m,
// state=1m,version=1m,status=5m,migrate=30m,smoke=2m".
func envTimeouts() (deploy.Timeouts, error) {
	t := deploy.DefaultTimeouts
	v, _ := LookupEnv("BERTH_TIMEOUTS")
	if v == "" {
		return t, nil
	}
	for _, pair := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(pair), "=")
		d, err := time.ParseDuration(val)
		if !ok || err != nil || d <= 0 {
			return t, fmt.Errorf("BERTH_TIMEOUTS: %q is not NAME=DURATION (e.g. sync=2m)", pair)
		}
		switch k {
		case "sync":
			t.RestorePoint.Sync = d
		case "confirm":
			t.RestorePoint.Confirm = d
		case "check":
			t.RestorePoint.Check = d
		case "state":
			t.State = d
		case "version":
			t.RunningVersion = d
		case "status":
			t.MigrateStatus = d
		case "migrate":
			t.Migrate = d
		case "smoke":
			t.Smoke = d
		default:
			return t, fmt.Errorf("BERTH_TIMEOUTS: unknown step %q (sync, confirm, check, state, version, status, migrate, smoke)", k)
		}
	}
	return t, nil
}

func envSmoke() (smoke.Options, error) {
	var o smoke.Options
	o.HTTPSAddr, _ = LookupEnv("BERTH_SMOKE_HTTPS_ADDR")
	o.HTTPAddr, _ = LookupEnv("BERTH_SMOKE_HTTP_ADDR")
	if ca, _ := LookupEnv("BERTH_SMOKE_CA"); ca != "" {
		pool, err := loadCA(ca)
		if err != nil {
			return o, fmt.Errorf("BERTH_SMOKE_CA: %w", err)
		}
		o.RootCAs = pool
	}
	if v, _ := LookupEnv("BERTH_SMOKE_ATTEMPTS"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 20 {
			return o, fmt.Errorf("BERTH_SMOKE_ATTEMPTS=%q: want 1 to 20", v)
		}
		o.Attempts = n
	}
	var err error
	if o.Interval, err = envDuration("BERTH_SMOKE_INTERVAL"); err != nil {
		return o, err
	}
	return o, nil
}

func loadCA(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}
