package config_test

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"gopkg.in/yaml.v3"
	_ "modernc.org/sqlite" // database/sql driver "sqlite", the one Litestream uses

	"github.com/wombatworkouts/berth/config"
	"github.com/wombatworkouts/berth/config/litestream"
	"github.com/wombatworkouts/berth/config/render"
)

// What each example's litestream.yml must mean to Litestream, written out
// from the example manifests: the databases with their replica type, and
// where each replica goes.
type intendedDB struct {
	path    string // in the app's volume, as the accessory sees it
	replica string // Litestream's replica type
	// S3: bucket and key prefix; file: the replica directory.
	bucket, key, region, dir string
}

var intendedLitestream = map[string][]intendedDB{
	"wombatworkouts": {
		{path: "/rails/storage/production.sqlite3", replica: "s3", bucket: "wombat-backups", key: "wombat_workouts/production.sqlite3", region: "fsn1"},
		{path: "/rails/storage/production_queue.sqlite3", replica: "s3", bucket: "wombat-backups", key: "wombat_workouts/production_queue.sqlite3", region: "fsn1"},
	},
	"lists": {
		{path: "/rails/storage/production.sqlite3", replica: "file", dir: "/srv/backups/lists/production.sqlite3"},
	},
}

// Dummy credentials for the secret names; the S3 endpoint is a loopback
// recorder, so they never leave the machine.
const dummyAccessKeyID = "E2EDUMMYACCESSKEY"

// The rendered litestream.yml is read by the real Litestream v0.5.18 CLI:
// `litestream databases` lists exactly the intended databases and replica
// types from the file as rendered; the secret names it expands are the ones
// the Kamal accessory gets; and a `litestream replicate` daemon started on
// it (paths moved into a temporary directory, the S3 endpoint moved to a
// loopback recorder) opens the control socket with the rendered 0660
// permissions, answers `litestream list` on it, and replicates: a file
// replica gets LTX files in the rendered directory, an S3 replica sends
// path-style requests for the rendered bucket and key, signed with the
// access key from the environment variable the file names, for the
// rendered region.
func TestLitestreamReadsRenderedConfig(t *testing.T) {
	bin := litestreamBinary(t)
	for _, name := range examples {
		t.Run(name, func(t *testing.T) {
			ex := loadExample(t, name)
			want, ok := intendedLitestream[name]
			if !ok {
				t.Fatalf("no intended Litestream setup written down for example %s", name)
			}
			rendered := ex.file(t, render.LitestreamPath)
			env := litestreamEnv(t, ex)

			// 1. The file as rendered.
			cfg := filepath.Join(t.TempDir(), "litestream.yml")
			if err := os.WriteFile(cfg, rendered, 0o644); err != nil {
				t.Fatal(err)
			}
			out := runLitestream(t, bin, env, "databases", "-json", "-config", cfg)
			var dbs []struct {
				Path    string `json:"path"`
				Replica string `json:"replica"`
			}
			if err := json.Unmarshal(out, &dbs); err != nil {
				t.Fatalf("litestream databases -json: %v\n%s", err, out)
			}
			var got, exp []string
			for _, d := range dbs {
				got = append(got, d.Path+" "+d.Replica)
			}
			for _, d := range want {
				exp = append(exp, d.path+" "+d.replica)
			}
			if !equalLists(got, exp) {
				t.Errorf("litestream databases lists %q, want %q", got, exp)
			}

			// 2. The secrets the file expands are the ones Kamal gives
			// the accessory (env.secret in deploy.yml).
			if fileVars, accessory := expandedVars(rendered), accessorySecrets(t, ex); !equalSets(fileVars, accessory) {
				t.Errorf("litestream.yml expands %v, the litestream accessory gets the secrets %v", fileVars, accessory)
			}

			// 3. A daemon on it.
			runDaemon(t, bin, env, ex, rendered, want)
		})
	}
}

func litestreamBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("BERTH_LITESTREAM"); p != "" {
		return p
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", filepath.Join(repoRoot(t), "e2e", "scripts", "build-litestream.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("build litestream: %v", err)
	}
	return strings.TrimSpace(string(out))
}

// litestreamEnv is the environment without AWS_* settings of this machine
// (AWS_CA_BUNDLE breaks Litestream's S3 client, docs/litestream.md#litestream-as-berth-uses-it) plus dummy values
// for the manifest's secret names.
func litestreamEnv(t *testing.T, ex example) []string {
	t.Helper()
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	if ex.m.ReplicaIsS3() {
		env = append(env,
			ex.m.Litestream.Secrets.AccessKeyID+"="+dummyAccessKeyID,
			ex.m.Litestream.Secrets.SecretAccessKey+"=e2e-dummy-secret-access-key")
	}
	return env
}

func runLitestream(t *testing.T, bin string, env []string, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("litestream %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr.Bytes())
	}
	return out
}

var envRef = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)

func expandedVars(b []byte) []string {
	seen := map[string]bool{}
	for _, m := range envRef.FindAllSubmatch(b, -1) {
		seen[string(m[1])] = true
	}
	return sortedKeys(seen)
}

func accessorySecrets(t *testing.T, ex example) []string {
	t.Helper()
	var doc struct {
		Accessories map[string]struct {
			Env struct {
				Secret []string `yaml:"secret"`
			} `yaml:"env"`
		} `yaml:"accessories"`
	}
	if err := yaml.Unmarshal(ex.file(t, render.DeployPath), &doc); err != nil {
		t.Fatal(err)
	}
	acc, ok := doc.Accessories["litestream"]
	if !ok {
		t.Fatalf("deploy.yml has no litestream accessory")
	}
	s := append([]string(nil), acc.Env.Secret...)
	sort.Strings(s)
	return s
}

// s3Recorder stands in for the S3 endpoint: it records each request and
// answers 503, so Litestream keeps asking without ever storing anything.
type s3Recorder struct {
	mu   sync.Mutex
	reqs []*http.Request
}

func (s *s3Recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.reqs = append(s.reqs, r.Clone(context.Background()))
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusServiceUnavailable)
	fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>SlowDown</Code><Message>e2e recorder</Message></Error>`)
}

func (s *s3Recorder) requests() []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*http.Request(nil), s.reqs...)
}

func runDaemon(t *testing.T, bin string, env []string, ex example, rendered []byte, want []intendedDB) {
	t.Helper()
	m := ex.m
	dir := shortTempDir(t, "berth-ls-")
	storage := filepath.Join(dir, "storage")
	replicaDir := filepath.Join(dir, "replica")
	for _, d := range []string{storage, replicaDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// Adapt only paths (the volume, the file replica directory) and the S3
	// endpoint, which cannot exist here.
	n := len(m.Databases())
	adapted := replaceAll(t, "litestream.yml", rendered, config.StorageMount+"/", storage+"/", n+1) // + the socket
	var rec *s3Recorder
	var endpoint string
	if m.ReplicaIsS3() {
		rec = &s3Recorder{}
		srv := httptest.NewServer(rec)
		t.Cleanup(srv.Close)
		endpoint = srv.URL
		adapted = replaceAll(t, "litestream.yml", adapted, "endpoint: "+m.Litestream.Endpoint+"\n", "endpoint: "+endpoint+"\n", n)
	} else {
		adapted = replaceAll(t, "litestream.yml", adapted, config.FileReplicaDir(m.Litestream.Replica)+"/", replicaDir+"/", n)
	}
	cfg := filepath.Join(dir, "litestream.yml")
	if err := os.WriteFile(cfg, adapted, 0o644); err != nil {
		t.Fatal(err)
	}

	// The app's primary database, written once (Rails would).
	primary := filepath.Join(storage, m.Storage.Database)
	db, err := sql.Open("sqlite", primary)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		"PRAGMA journal_mode=WAL",
		"CREATE TABLE workouts (id INTEGER PRIMARY KEY, name TEXT)",
		"INSERT INTO workouts (name) VALUES ('squats')",
	} {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	db.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	cmd := exec.CommandContext(ctx, bin, "replicate", "-config", cfg)
	cmd.Env = env
	var logBuf syncBuffer
	cmd.Stdout, cmd.Stderr = &logBuf, &logBuf
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		cancel() // kills the daemon: nothing of it is kept
		<-done
		if t.Failed() {
			t.Logf("adapted litestream.yml:\n%s\nlitestream log:\n%s", adapted, logBuf.String())
		}
	})

	// The control socket, at the rendered path in the volume, with the
	// rendered permissions (0660, read as octal).
	sock := filepath.Join(storage, filepath.Base(litestream.SocketPath))
	var fi os.FileInfo
	if !eventually(20*time.Second, func() bool { fi, err = os.Stat(sock); return err == nil }) {
		t.Fatalf("no control socket at %s: %v", sock, err)
	}
	if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != 0o660 {
		t.Errorf("control socket %s: mode %s, want a socket with permissions 0660", sock, fi.Mode())
	}
	out := string(runLitestream(t, bin, env, "list", "-socket", sock))
	for _, d := range want {
		p := filepath.Join(storage, filepath.Base(d.path))
		if !strings.Contains(out, p+" [replicating]") {
			t.Errorf("litestream list does not show %s replicating:\n%s", p, out)
		}
	}

	// How the daemon understood each replica.
	for _, d := range want {
		var fields []string
		if d.replica == "s3" {
			fields = []string{"type=s3", "bucket=" + d.bucket, "path=" + d.key, "region=" + d.region, "endpoint=" + endpoint}
		} else {
			fields = []string{"type=file", "path=" + filepath.Join(replicaDir, filepath.Base(d.dir))}
		}
		var pathField string
		for _, f := range fields {
			if strings.HasPrefix(f, "path=") {
				pathField = f
			}
		}
		line := findLine(logBuf.String(), `msg="replicating to"`, " "+pathField+" ")
		for _, f := range fields {
			if !strings.Contains(line, " "+f+" ") {
				t.Errorf("litestream's %q line for %s lacks %s: %q", "replicating to", d.path, f, line)
			}
		}
	}

	// And it replicates the primary database.
	if rec == nil {
		target := filepath.Join(replicaDir, m.Storage.Database)
		if !eventually(30*time.Second, func() bool { return countLTX(target) > 0 }) {
			t.Errorf("no LTX file under %s", target)
		}
		return
	}
	var first *http.Request
	if !eventually(30*time.Second, func() bool {
		for _, r := range rec.requests() {
			q, _ := url.QueryUnescape(r.URL.RawQuery)
			if strings.Contains(r.URL.Path+"?"+q, want[0].key) {
				first = r
				return true
			}
		}
		return false
	}) {
		t.Fatalf("no S3 request for %s reached the endpoint; got %d requests", want[0].key, len(rec.requests()))
	}
	if !strings.HasPrefix(first.URL.Path, "/"+want[0].bucket) {
		t.Errorf("S3 request %s %s: not path-style for bucket %s (host %s)", first.Method, first.URL, want[0].bucket, first.Host)
	}
	auth := first.Header.Get("Authorization")
	if !strings.Contains(auth, "Credential="+dummyAccessKeyID+"/") || !strings.Contains(auth, "/"+want[0].region+"/s3/aws4_request") {
		t.Errorf("S3 request not signed with the access key from %s for region %s: %q",
			m.Litestream.Secrets.AccessKeyID, want[0].region, auth)
	}
}

func findLine(log, must1, must2 string) string {
	for _, l := range strings.Split(log, "\n") {
		if l += " "; strings.Contains(l, must1) && strings.Contains(l, must2) {
			return l
		}
	}
	return ""
}

func countLTX(dir string) int {
	n := 0
	_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(p, ".ltx") {
			n++
		}
		return nil
	})
	return n
}

// syncBuffer is a bytes.Buffer safe for the daemon's writes and the test's
// reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
