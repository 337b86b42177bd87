package rehearsal

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"gopkg.in/yaml.v3"
	_ "modernc.org/sqlite"
)

// startLitestream starts the app's Litestream "accessory": the rendered
// litestream.yml with the paths the container would see moved to this
// machine, replicating to the app's local replica directory.
func (r *run) startLitestream(ctx context.Context, a *appEnv) error {
	raw, err := os.ReadFile(filepath.Join(a.dir, "config", "litestream.yml"))
	if err != nil {
		return err
	}
	storage, err := r.host.StorageDir(a.kapp)
	if err != nil {
		return err
	}
	text := strings.ReplaceAll(string(raw), "/rails/storage", storage)
	var check map[string]any
	if err := yaml.Unmarshal([]byte(text), &check); err != nil {
		return fmt.Errorf("adapted litestream.yml: %w", err)
	}
	if err := os.WriteFile(a.lsConfig, []byte(text), 0o644); err != nil {
		return err
	}
	logFile, err := os.Create(filepath.Join(r.ws, a.m.App+"-litestream.log"))
	if err != nil {
		return err
	}
	cmd := exec.Command(r.bin.litestream, "replicate", "-config", a.lsConfig)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start litestream for %s: %w", a.m.App, err)
	}
	r.logf("litestream replicating %s to %s", a.m.App, a.replica)
	r.cleanup = append(r.cleanup, func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
		}
		logFile.Close()
	})
	sock := filepath.Join(storage, ".litestream.sock")
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(sock); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return fmt.Errorf("litestream for %s opened no control socket at %s", a.m.App, sock)
}

// setPreviousVersion tells the local transport which version runs now (a
// Kamal transport asks the server).
func (r *run) setPreviousVersion(a *appEnv) {
	env := a.kapp.HookEnv[:0:0]
	for _, e := range a.kapp.HookEnv {
		if !strings.HasPrefix(e, "BERTH_PREVIOUS_VERSION=") {
			env = append(env, e)
		}
	}
	a.kapp.HookEnv = append(env, "BERTH_PREVIOUS_VERSION="+a.version)
}

// berth runs the berth command line in the app's directory with the hook
// environment (what an operator's shell would have).
func (r *run) berth(ctx context.Context, a *appEnv, args ...string) error {
	cmd := exec.CommandContext(ctx, r.bin.berth, args...)
	cmd.Dir = a.dir
	cmd.Env = append(os.Environ(), a.kapp.HookEnv...)
	cmd.Env = append(cmd.Env, "KAMAL_SERVICE="+a.m.App, "KAMAL_VERSION="+a.version)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	for _, line := range strings.Split(strings.TrimRight(out.String(), "\n"), "\n") {
		if line != "" {
			r.logf("  berth %s | %s", args[0], line)
		}
	}
	if err != nil {
		return fmt.Errorf("berth %s: %v", strings.Join(args, " "), err)
	}
	return nil
}

// maintenanceOn runs `berth maintenance on --all` and measures the time to
// the first 503 a visitor gets through Traefik.
func (r *run) maintenanceOn(ctx context.Context, t *traffic) (time.Duration, error) {
	a := r.apps[wombat]
	start := time.Now()
	if err := r.berth(ctx, a, "maintenance", "on", "--all", "--message", "Server maintenance: back in a few minutes."); err != nil {
		return 0, err
	}
	deadline := start.Add(10 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := t.client.Get(t.url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusServiceUnavailable {
				return time.Since(start), nil
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	return 0, fmt.Errorf("no 503 within 10 s of `berth maintenance on --all`")
}

// restoreCheck restores wombat's replica, at the newest restore point
// berth recorded, into a temporary file, and checks it: integrity and the
// newest schema_migrations version against the live database.
func (r *run) restoreCheck(ctx context.Context, a *appEnv) (string, error) {
	out, err := r.runIn(a.dir, append(a.kapp.HookEnv, "KAMAL_SERVICE="+a.m.App), r.bin.berth, "restore-point")
	r.logf("berth restore-point:\n%s", strings.TrimRight(out, "\n"))
	if err != nil {
		return "", fmt.Errorf("berth restore-point: %v", err)
	}
	txid := ""
	for _, f := range strings.Fields(out) {
		if strings.HasPrefix(f, "-txid") {
			continue
		}
		if len(f) == 16 && isHex(f) {
			txid = f
		}
	}
	storage, _ := r.host.StorageDir(a.kapp)
	target := filepath.Join(r.ws, "restored.sqlite3")
	args := []string{"restore", "-config", a.lsConfig, "-o", target}
	if txid != "" {
		args = append(args, "-txid", txid)
	}
	args = append(args, filepath.Join(storage, "production.sqlite3"))
	if out, err := r.runIn(r.ws, nil, r.bin.litestream, args...); err != nil {
		return "", fmt.Errorf("litestream %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	restored, err := newestMigration(target, true)
	if err != nil {
		return "", err
	}
	live, err := newestMigration(filepath.Join(storage, "production.sqlite3"), false)
	if err != nil {
		return "", err
	}
	msg := fmt.Sprintf("restored TXID %s into a temporary file: integrity ok, newest migration %s (live: %s)", orDash(txid), restored, live)
	return msg, nil
}

func newestMigration(path string, integrity bool) (string, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return "", err
	}
	defer db.Close()
	if integrity {
		var res string
		if err := db.QueryRow("PRAGMA integrity_check").Scan(&res); err != nil || res != "ok" {
			return "", fmt.Errorf("%s: integrity_check %q %v", path, res, err)
		}
	}
	var v string
	if err := db.QueryRow("SELECT MAX(version) FROM schema_migrations").Scan(&v); err != nil {
		return "", fmt.Errorf("%s: schema_migrations: %w", path, err)
	}
	return v, nil
}

func isHex(s string) bool {
	for _, c := range s {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return false
		}
	}
	return true
}

func orDash(s string) string {
	if s == "" {
		return "(newest)"
	}
	return s
}
