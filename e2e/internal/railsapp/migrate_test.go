package railsapp_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/wombatworkouts/berth/hooks/migrate"
)

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func versions(t *testing.T, dbPath string) []string {
	t.Helper()
	return queryStrings(t, openDB(t, dbPath), `SELECT version FROM schema_migrations ORDER BY version`)
}

// migrate applies and records each migration once; status reports what is
// pending in the format berth's hooks parse (hooks/migrate.ParseStatus).
func TestMigrateAppliesRecordsAndIsIdempotent(t *testing.T) {
	dbPath := newDBPath(t)
	db := []string{"-db", dbPath}

	code, _, stderr := run(t, nil, append([]string{"migrate", "status", "-migrations", migrationsV1}, db...)...)
	if code != 1 || strings.TrimSpace(stderr) != "Schema migrations table does not exist yet." {
		t.Errorf("status before any migration: exit %d, stderr %q; want 1 and Rails' message", code, stderr)
	}
	if _, err := os.Stat(dbPath); !os.IsNotExist(err) {
		t.Errorf("status created the database: %v", err)
	}

	code, stdout, stderr := run(t, nil, append([]string{"migrate", "-migrations", migrationsV1}, db...)...)
	if code != 0 {
		t.Fatalf("migrate v1: exit %d\n%s%s", code, stdout, stderr)
	}
	for _, want := range []string{
		"== 20261127000001 CreateWorkouts: migrating ===",
		"== 20261127000001 CreateWorkouts: migrated (",
		"== 20261127000002 CreateVisits: migrated (",
	} {
		if !strings.Contains(stdout, want) {
			t.Errorf("migrate output lacks %q:\n%s", want, stdout)
		}
	}
	v1 := []string{"20261127000001", "20261127000002"}
	if got := versions(t, dbPath); !reflect.DeepEqual(got, v1) {
		t.Errorf("schema_migrations %v, want %v", got, v1)
	}
	if env := queryStrings(t, openDB(t, dbPath), `SELECT value FROM ar_internal_metadata WHERE key = 'environment'`); len(env) != 1 || env[0] != "production" {
		t.Errorf("ar_internal_metadata environment: %v", env)
	}

	code, stdout, _ = run(t, nil, append([]string{"db:migrate", "-migrations", migrationsV1}, db...)...)
	if code != 0 || stdout != "" {
		t.Errorf("migrate v1 again: exit %d, output %q; want 0 and nothing", code, stdout)
	}
	if got := versions(t, dbPath); !reflect.DeepEqual(got, v1) {
		t.Errorf("schema_migrations after a second run %v", got)
	}

	code, stdout, _ = run(t, nil, append([]string{"migrate", "status", "-migrations", migrationsV2}, db...)...)
	if code != 0 {
		t.Fatalf("status v2: exit %d", code)
	}
	if !strings.Contains(stdout, "\ndatabase: "+dbPath+"\n\n Status   Migration ID    Migration Name\n"+strings.Repeat("-", 50)+"\n") ||
		!strings.Contains(stdout, "   up     20261127000001  Create workouts\n") ||
		!strings.Contains(stdout, "  down    20261204000001  Add duration to workouts\n") {
		t.Errorf("status is not in Rails' format:\n%s", stdout)
	}
	st, err := migrate.ParseStatus(stdout)
	if err != nil {
		t.Fatal(err)
	}
	if want := []migrate.Migration{{ID: "20261204000001", Name: "Add duration to workouts"}}; !reflect.DeepEqual(st.Pending, want) || st.NoTable {
		t.Errorf("berth parses pending %+v (no table %v), want %+v", st.Pending, st.NoTable, want)
	}
	code, stdout2, _ := run(t, nil, append([]string{"db:migrate:status", "-exit-pending", "-migrations", migrationsV2}, db...)...)
	if code != 3 || stdout2 != stdout {
		t.Errorf("db:migrate:status -exit-pending with one pending: exit %d, want 3 and the same table", code)
	}

	code, stdout, _ = run(t, nil, append([]string{"migrate", "-migrations", migrationsV2}, db...)...)
	if code != 0 || strings.Contains(stdout, "CreateWorkouts") || !strings.Contains(stdout, "AddDurationToWorkouts: migrated") {
		t.Errorf("migrate v2: exit %d, want only the new migration:\n%s", code, stdout)
	}
	if got := versions(t, dbPath); !reflect.DeepEqual(got, append(v1, "20261204000001")) {
		t.Errorf("schema_migrations after v2: %v", got)
	}
	code, stdout, _ = run(t, nil, append([]string{"migrate", "status", "-exit-pending", "-migrations", migrationsV2}, db...)...)
	if st, err := migrate.ParseStatus(stdout); code != 0 || err != nil || st.Any() {
		t.Errorf("status after v2: exit %d, %+v %v; want nothing pending", code, st, err)
	}
	// The old image's status: the newer migration has no file there.
	_, stdout, _ = run(t, nil, append([]string{"migrate", "status", "-migrations", migrationsV1}, db...)...)
	if !strings.Contains(stdout, "   up     20261204000001  ********** NO FILE **********\n") {
		t.Errorf("status with the v1 files on a v2 database:\n%s", stdout)
	}
}

// A failing migration exits 1 naming the file and the SQL error; the ones
// before it stay applied, it is rolled back entirely (also its statements
// that worked), later ones do not run, and fixing it resumes from there.
func TestMigrateFailureRollsBackOnlyTheFailingMigration(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "migrate")
	copyDir(t, migrationsV1, dir)
	writeFile(t, filepath.Join(dir, "20261201000001_create_goals.sql"), `CREATE TABLE goals (id integer PRIMARY KEY);`)
	broken := filepath.Join(dir, "20261201000002_create_badges.sql")
	writeFile(t, broken, "CREATE TABLE badges (id integer PRIMARY KEY);\nINSERT INTO no_such_table VALUES (1);\n")
	writeFile(t, filepath.Join(dir, "20261201000003_create_streaks.sql"), `CREATE TABLE streaks (id integer PRIMARY KEY);`)
	dbPath := newDBPath(t)

	code, stdout, stderr := run(t, nil, "migrate", "-db", dbPath, "-migrations", dir)
	if code != 1 {
		t.Fatalf("migrate with a broken migration: exit %d, want 1\n%s%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "20261201000002_create_badges.sql: ") || !strings.Contains(stderr, "no such table: no_such_table") {
		t.Errorf("stderr does not name the file and the SQL error:\n%s", stderr)
	}
	want := []string{"20261127000001", "20261127000002", "20261201000001"}
	if got := versions(t, dbPath); !reflect.DeepEqual(got, want) {
		t.Errorf("schema_migrations %v, want %v", got, want)
	}
	tables := queryStrings(t, openDB(t, dbPath), `SELECT name FROM sqlite_master WHERE type = 'table' AND name IN ('goals', 'badges', 'streaks') ORDER BY name`)
	if !reflect.DeepEqual(tables, []string{"goals"}) {
		t.Errorf("tables %v, want only goals (badges rolled back, streaks never run)", tables)
	}
	_, stdout, _ = run(t, nil, "migrate", "status", "-db", dbPath, "-migrations", dir)
	st, err := migrate.ParseStatus(stdout)
	if err != nil || len(st.Pending) != 2 || st.Pending[0].ID != "20261201000002" || st.Pending[1].ID != "20261201000003" {
		t.Errorf("pending after the failure: %+v %v", st.Pending, err)
	}

	writeFile(t, broken, "CREATE TABLE badges (id integer PRIMARY KEY);\n")
	if code, stdout, stderr := run(t, nil, "migrate", "-db", dbPath, "-migrations", dir); code != 0 {
		t.Fatalf("migrate after fixing: exit %d\n%s%s", code, stdout, stderr)
	}
	if got := versions(t, dbPath); len(got) != 5 {
		t.Errorf("schema_migrations after fixing: %v", got)
	}
}

// Migration directories with bad names are refused before anything runs.
func TestMigrationDirectoryErrors(t *testing.T) {
	for name, files := range map[string][]string{
		"Create_Things.sql is not named <version>_<snake_case_name>.sql": {"20261127000001_ok.sql", "Create_Things.sql"},
		"multiple migrations have the version number 20261127000001":     {"20261127000001_one.sql", "20261127000001_two.sql"},
	} {
		dir := t.TempDir()
		for _, f := range files {
			writeFile(t, filepath.Join(dir, f), "SELECT 1;")
		}
		dbPath := newDBPath(t)
		code, _, stderr := run(t, nil, "migrate", "-db", dbPath, "-migrations", dir)
		if code != 1 || !strings.Contains(stderr, name) {
			t.Errorf("%v: exit %d, stderr %q; want 1 and %q", files, code, stderr, name)
		}
		if _, err := os.Stat(dbPath); !os.IsNotExist(err) {
			t.Errorf("%v: the database was created", files)
		}
	}
	code, _, stderr := run(t, nil, "migrate", "-db", newDBPath(t), "-migrations", "/nonexistent/db/migrate")
	if code != 1 || !strings.Contains(stderr, "/nonexistent/db/migrate") {
		t.Errorf("missing directory: exit %d, stderr %q", code, stderr)
	}
}

// A migration run while the app serves: it holds the write lock for its
// `-- standin:sleep`, the app's requests wait for it (busy_timeout) and
// succeed, and the app sees the new column without a restart.
func TestMigrationWhileTheAppServes(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "migrate")
	copyDir(t, migrationsV2, dir)
	writeFile(t, filepath.Join(dir, "20261205000001_slow_backfill.sql"),
		"-- standin:sleep 800ms\nUPDATE workouts SET duration_minutes = 30;\n")
	dbPath := newDBPath(t)
	p := start(t, "-listen", "127.0.0.1:0", "-db", dbPath, "-migrations", migrationsV1, "-prepare")
	waitUp(t, p)
	c := freshClient()
	if r := do(c, "POST", p.url("/workouts"), "", "name=plank"); r.status != 201 {
		t.Fatalf("POST: %d %s", r.status, r.body)
	}

	type result struct {
		code           int
		stdout, stderr string
	}
	done := make(chan result, 1)
	go func() {
		code, stdout, stderr := run(t, nil, "migrate", "-db", dbPath, "-migrations", dir)
		done <- result{code, stdout, stderr}
	}()
	// Wait until the slow migration holds the write lock: the column of
	// the one before it is there and a writer cannot get in.
	db := openDB(t, dbPath)
	deadline := time.Now().Add(10 * time.Second)
	for !(len(queryStrings(t, db, `SELECT name FROM pragma_table_info('workouts') WHERE name = 'duration_minutes'`)) == 1 && writeLockHeld(t, dbPath)) {
		if time.Now().After(deadline) {
			t.Fatal("the slow migration never held the write lock")
		}
		time.Sleep(5 * time.Millisecond)
	}
	r := get(c, p.url("/workouts"))
	res := <-done
	if res.code != 0 {
		t.Fatalf("migrate: exit %d\n%s%s", res.code, res.stdout, res.stderr)
	}
	if r.status != 200 || r.took < 300*time.Millisecond {
		t.Fatalf("GET /workouts during the migration: %d after %s %s; want 200 after waiting for the lock", r.status, r.took, r.body)
	}
	if !regexp.MustCompile(`SlowBackfill: migrated \(0\.[89]\d*s\)`).MatchString(res.stdout) {
		t.Errorf("the slow migration did not take 0.8s:\n%s", res.stdout)
	}
	r = get(c, p.url("/workouts"))
	list, _ := decode(t, r)["workouts"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["duration_minutes"] != float64(30) {
		t.Errorf("GET /workouts after the migration: %s", r.body)
	}
}

// writeLockHeld reports whether another connection holds the write lock
// (BEGIN IMMEDIATE fails at once with busy_timeout 0).
func writeLockHeld(t *testing.T, dbPath string) bool {
	t.Helper()
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `PRAGMA busy_timeout = 0`); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, `BEGIN IMMEDIATE`); err != nil {
		if strings.Contains(err.Error(), "locked") || strings.Contains(err.Error(), "busy") {
			return true
		}
		t.Fatalf("BEGIN IMMEDIATE: %v", err)
	}
	_, _ = conn.ExecContext(ctx, `ROLLBACK`)
	return false
}
