package railsapp

import (
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

// BusyTimeoutMS is how long a connection waits for a lock held by another
// connection or process (Rails' `timeout: 5000`, docs/litestream.md#litestream-as-berth-uses-it).
const BusyTimeoutMS = 5000

// Pragmas are run on every new connection, busy_timeout first.
var Pragmas = []string{
	fmt.Sprintf("busy_timeout(%d)", BusyTimeoutMS),
	"journal_mode(WAL)",
	"synchronous(NORMAL)",
	"foreign_keys(ON)",
}

// DSN is the modernc.org/sqlite data source name for path: the pragmas above
// on every connection and BEGIN IMMEDIATE for transactions, so a writer waits
// for the lock (busy_timeout) instead of failing when it upgrades.
func DSN(path string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("database path is empty")
	}
	if strings.ContainsAny(path, "?#") {
		return "", fmt.Errorf("database path %q: '?' and '#' are not supported in the file name", path)
	}
	q := url.Values{}
	for _, p := range Pragmas {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	return path + "?" + q.Encode(), nil
}

// OpenDB opens (and, like the Rails SQLite adapter, creates) the database at
// path, creating its directory if needed. maxConns <= 0 means no limit.
func OpenDB(path string, maxConns int) (*sql.DB, error) {
	dsn, err := DSN(path)
	if err != nil {
		return nil, err
	}
	if dir := filepath.Dir(path); dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("database %s: %w", path, err)
		}
	}
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	if maxConns > 0 {
		db.SetMaxOpenConns(maxConns)
		db.SetMaxIdleConns(maxConns)
	}
	if err := db.Ping(); err != nil {
		db.Close()
		return nil, fmt.Errorf("database %s: %w", path, err)
	}
	return db, nil
}

// tableExists reports whether a table named name exists.
func tableExists(q interface {
	QueryRow(string, ...any) *sql.Row
}, name string) (bool, error) {
	var n int
	err := q.QueryRow(`SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?`, name).Scan(&n)
	return n > 0, err
}
