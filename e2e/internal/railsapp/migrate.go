package railsapp

import (
	"bufio"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Migration is one numbered SQL file: 20261127000001_create_workouts.sql.
type Migration struct {
	Version string // the digits, as written in the file name
	Name    string // create_workouts
	File    string // the base name
	Path    string
}

// ClassName is the name Rails prints while migrating (CreateWorkouts).
func (m Migration) ClassName() string {
	var b strings.Builder
	for _, w := range strings.Split(m.Name, "_") {
		if w == "" {
			continue
		}
		b.WriteString(strings.ToUpper(w[:1]) + w[1:])
	}
	return b.String()
}

// Humanized is the name db:migrate:status prints (Create workouts).
func (m Migration) Humanized() string { return humanize(m.Name) }

func humanize(snake string) string {
	s := strings.TrimSpace(strings.ReplaceAll(snake, "_", " "))
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

var migrationFileRe = regexp.MustCompile(`^([0-9]+)_([a-z0-9_]+)\.sql$`)

// LoadMigrations lists the migrations in dir in version order. Files that do
// not end in .sql are ignored; a .sql file with another name, or two files
// with one version, is an error naming them.
func LoadMigrations(dir string) ([]Migration, error) {
	if dir == "" {
		return nil, fmt.Errorf("migrations directory is empty (set -migrations or STANDIN_MIGRATIONS)")
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("migrations directory: %w", err)
	}
	var ms []Migration
	seen := map[string]string{}
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		m := migrationFileRe.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("migrations directory %s: %s is not named <version>_<snake_case_name>.sql", dir, e.Name())
		}
		key := normVersion(m[1])
		if other, dup := seen[key]; dup {
			return nil, fmt.Errorf("migrations directory %s: multiple migrations have the version number %s (%s and %s)", dir, m[1], other, e.Name())
		}
		seen[key] = e.Name()
		ms = append(ms, Migration{Version: m[1], Name: m[2], File: e.Name(), Path: filepath.Join(dir, e.Name())})
	}
	sort.Slice(ms, func(i, j int) bool { return versionLess(ms[i].Version, ms[j].Version) })
	return ms, nil
}

// normVersion drops leading zeros: Rails compares versions as integers.
func normVersion(v string) string {
	v = strings.TrimLeft(v, "0")
	if v == "" {
		return "0"
	}
	return v
}

func versionLess(a, b string) bool {
	a, b = normVersion(a), normVersion(b)
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

// MigrationError is a migration that failed: its transaction was rolled
// back, the ones before it stay applied, the ones after it did not run.
type MigrationError struct {
	File string
	Err  error
}

func (e *MigrationError) Error() string { return e.File + ": " + e.Err.Error() }
func (e *MigrationError) Unwrap() error { return e.Err }

// ErrNoSchemaTable is db:migrate:status on a database that was never
// migrated (Rails aborts with this message).
//
//lint:ignore ST1005 Rails' own words, which berth's status parser reads
var ErrNoSchemaTable = errors.New("Schema migrations table does not exist yet.")

const (
	createSchemaMigrations = `CREATE TABLE IF NOT EXISTS "schema_migrations" ("version" varchar NOT NULL PRIMARY KEY)`
	createInternalMetadata = `CREATE TABLE IF NOT EXISTS "ar_internal_metadata" ("key" varchar NOT NULL PRIMARY KEY, "value" varchar, "created_at" datetime(6) NOT NULL, "updated_at" datetime(6) NOT NULL)`
)

func appliedVersions(q interface {
	Query(string, ...any) (*sql.Rows, error)
}) (map[string]string, error) {
	rows, err := q.Query(`SELECT version FROM schema_migrations`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	got := map[string]string{}
	for rows.Next() {
		var v string
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		got[normVersion(v)] = v
	}
	return got, rows.Err()
}

// Migrate applies the pending migrations in dir to the database at dbPath
// (creating it), each in its own transaction, and prints what it does the way
// `rails db:migrate` does. It stops at the first failure with a
// *MigrationError.
func Migrate(dbPath, dir string, out io.Writer) error {
	ms, err := LoadMigrations(dir)
	if err != nil {
		return err
	}
	db, err := OpenDB(dbPath, 1)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := ensureInternalTables(db); err != nil {
		return fmt.Errorf("database %s: %w", dbPath, err)
	}
	applied, err := appliedVersions(db)
	if err != nil {
		return fmt.Errorf("database %s: reading schema_migrations: %w", dbPath, err)
	}
	for _, m := range ms {
		if _, ok := applied[normVersion(m.Version)]; ok {
			continue
		}
		if err := applyOne(db, m, out); err != nil {
			return err
		}
	}
	return nil
}

func ensureInternalTables(db *sql.DB) error {
	tx, err := db.Begin()
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.Exec(createSchemaMigrations); err != nil {
		return err
	}
	if _, err := tx.Exec(createInternalMetadata); err != nil {
		return err
	}
	now := time.Now().UTC().Format("2006-01-02 15:04:05.000000")
	if _, err := tx.Exec(`INSERT OR IGNORE INTO ar_internal_metadata (key, value, created_at, updated_at) VALUES ('environment', 'production', ?, ?)`, now, now); err != nil {
		return err
	}
	return tx.Commit()
}

// directives reads `-- standin:sleep DUR` lines.
func directives(m Migration, sqlText string) (sleep time.Duration, err error) {
	sc := bufio.NewScanner(strings.NewReader(sqlText))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		rest, ok := strings.CutPrefix(line, "-- standin:")
		if !ok {
			continue
		}
		name, arg, _ := strings.Cut(strings.TrimSpace(rest), " ")
		switch name {
		case "sleep":
			d, err := time.ParseDuration(strings.TrimSpace(arg))
			if err != nil || d < 0 {
				return 0, fmt.Errorf("%s: `-- standin:sleep %s`: want a duration such as 2s", m.File, strings.TrimSpace(arg))
			}
			sleep += d
		default:
			return 0, fmt.Errorf("%s: unknown directive `-- standin:%s` (known: sleep)", m.File, name)
		}
	}
	return sleep, nil
}

// onlyComments reports whether sqlText has no statement at all.
func onlyComments(sqlText string) bool {
	for _, line := range strings.Split(sqlText, "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "--") {
			return false
		}
	}
	return true
}

func announce(out io.Writer, m Migration, msg string) {
	text := m.Version + " " + m.ClassName() + ": " + msg
	fmt.Fprintf(out, "== %s %s\n", text, strings.Repeat("=", max(0, 75-len(text))))
}

func applyOne(db *sql.DB, m Migration, out io.Writer) error {
	body, err := os.ReadFile(m.Path)
	if err != nil {
		return &MigrationError{File: m.File, Err: err}
	}
	sqlText := string(body)
	sleep, err := directives(m, sqlText)
	if err != nil {
		return &MigrationError{File: m.File, Err: errors.New(strings.TrimPrefix(err.Error(), m.File+": "))}
	}
	start := time.Now()
	tx, err := db.Begin() // BEGIN IMMEDIATE: waits busy_timeout for the write lock
	if err != nil {
		return &MigrationError{File: m.File, Err: err}
	}
	defer tx.Rollback()
	// Another migrator may have applied it since we looked.
	var n int
	if err := tx.QueryRow(`SELECT count(*) FROM schema_migrations WHERE version = ?`, m.Version).Scan(&n); err != nil {
		return &MigrationError{File: m.File, Err: err}
	}
	if n > 0 {
		return nil
	}
	announce(out, m, "migrating")
	fmt.Fprintf(out, "-- execute(%q)\n", m.File)
	if !onlyComments(sqlText) {
		if _, err := tx.Exec(sqlText); err != nil {
			return &MigrationError{File: m.File, Err: err}
		}
	}
	if sleep > 0 {
		time.Sleep(sleep)
	}
	if _, err := tx.Exec(`INSERT INTO schema_migrations (version) VALUES (?)`, m.Version); err != nil {
		return &MigrationError{File: m.File, Err: err}
	}
	if err := tx.Commit(); err != nil {
		return &MigrationError{File: m.File, Err: err}
	}
	took := time.Since(start).Seconds()
	fmt.Fprintf(out, "   -> %.4fs\n", took)
	announce(out, m, fmt.Sprintf("migrated (%.4fs)", took))
	fmt.Fprintln(out)
	return nil
}

// StatusRow is one line of db:migrate:status.
type StatusRow struct {
	Status  string // "up" or "down"
	Version string
	Name    string // humanized, or "********** NO FILE **********"
}

// MigrationStatus is what db:migrate:status reports.
type MigrationStatus struct {
	Database string
	Rows     []StatusRow
}

// Pending lists the rows that are down.
func (s MigrationStatus) Pending() []StatusRow {
	var p []StatusRow
	for _, r := range s.Rows {
		if r.Status == "down" {
			p = append(p, r)
		}
	}
	return p
}

// Write prints s as `rails db:migrate:status` does.
func (s MigrationStatus) Write(out io.Writer) {
	fmt.Fprintf(out, "\ndatabase: %s\n\n", s.Database)
	fmt.Fprintf(out, "%s  %-14s  Migration Name\n", center("Status", 8), "Migration ID")
	fmt.Fprintln(out, strings.Repeat("-", 50))
	for _, r := range s.Rows {
		fmt.Fprintf(out, "%s  %-14s  %s\n", center(r.Status, 8), r.Version, r.Name)
	}
	fmt.Fprintln(out)
}

// center pads like Ruby's String#center (the extra space goes right).
func center(s string, w int) string {
	pad := w - len(s)
	if pad <= 0 {
		return s
	}
	left := pad / 2
	return strings.Repeat(" ", left) + s + strings.Repeat(" ", pad-left)
}

// Status compares the migrations in dir with the database's
// schema_migrations. A missing database or table is ErrNoSchemaTable (the
// database is not created).
func Status(dbPath, dir string) (MigrationStatus, error) {
	ms, err := LoadMigrations(dir)
	if err != nil {
		return MigrationStatus{}, err
	}
	st := MigrationStatus{Database: dbPath}
	if _, err := os.Stat(dbPath); errors.Is(err, os.ErrNotExist) {
		return st, ErrNoSchemaTable
	} else if err != nil {
		return st, fmt.Errorf("database %s: %w", dbPath, err)
	}
	db, err := OpenDB(dbPath, 1)
	if err != nil {
		return st, err
	}
	defer db.Close()
	ok, err := tableExists(db, "schema_migrations")
	if err != nil {
		return st, fmt.Errorf("database %s: %w", dbPath, err)
	}
	if !ok {
		return st, ErrNoSchemaTable
	}
	applied, err := appliedVersions(db)
	if err != nil {
		return st, fmt.Errorf("database %s: reading schema_migrations: %w", dbPath, err)
	}
	files := map[string]bool{}
	for _, m := range ms {
		files[normVersion(m.Version)] = true
		status := "down"
		if _, ok := applied[normVersion(m.Version)]; ok {
			status = "up"
		}
		st.Rows = append(st.Rows, StatusRow{Status: status, Version: m.Version, Name: m.Humanized()})
	}
	for k, v := range applied {
		if !files[k] {
			st.Rows = append(st.Rows, StatusRow{Status: "up", Version: v, Name: "********** NO FILE **********"})
		}
	}
	sort.SliceStable(st.Rows, func(i, j int) bool { return versionLess(st.Rows[i].Version, st.Rows[j].Version) })
	return st, nil
}

// Prepare is `rails db:prepare` for one SQLite database: create it when it
// is missing (or empty), then apply pending migrations.
func Prepare(dbPath, dir string, out io.Writer) error {
	if _, err := LoadMigrations(dir); err != nil {
		return err
	}
	fi, err := os.Stat(dbPath)
	switch {
	case errors.Is(err, os.ErrNotExist) || err == nil && fi.Size() == 0:
		fmt.Fprintf(out, "Created database '%s'\n", dbPath)
	case err != nil:
		return fmt.Errorf("database %s: %w", dbPath, err)
	}
	return Migrate(dbPath, dir, out)
}
