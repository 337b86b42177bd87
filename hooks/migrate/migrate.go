// Package migrate asks the new image which migrations are pending and runs
// them, once, on the primary host (`kamal app exec -p --version=V`: without
// --version Kamal would use the previous image during pre-deploy, docs/kamal.md#hooks).
package migrate

import (
	"context"
	"fmt"
	"regexp"
	"strings"

	"github.com/wombatworkouts/berth/hooks/transport"
)

// Commands run in the app image.
const (
	StatusCommand  = "bin/rails db:migrate:status"
	MigrateCommand = "bin/rails db:migrate"
)

// Migration is one pending migration.
type Migration struct {
	ID   string
	Name string
}

// Status is what db:migrate:status reported.
type Status struct {
	Pending []Migration
	// NoTable is true when a database has no schema_migrations yet
	// (everything is pending).
	NoTable bool
}

// Any reports whether anything would be migrated.
func (s Status) Any() bool { return s.NoTable || len(s.Pending) > 0 }

func (s Status) String() string {
	if s.NoTable {
		return "schema_migrations does not exist yet: every migration is pending"
	}
	if len(s.Pending) == 0 {
		return "no pending migrations"
	}
	ids := make([]string, len(s.Pending))
	for i, m := range s.Pending {
		ids[i] = m.ID
		if m.Name != "" {
			ids[i] += " " + m.Name
		}
	}
	return fmt.Sprintf("%d pending: %s", len(s.Pending), strings.Join(ids, ", "))
}

var (
	downRe    = regexp.MustCompile(`^\s*down\s+(\d{1,20})\s*(.*?)\s*$`)
	noTableRe = regexp.MustCompile(`(?i)schema migrations table does not exist`)
	headerRe  = regexp.MustCompile(`(?i)^\s*status\s+migration id\s+migration name`)
)

// ParseStatus reads `rails db:migrate:status` output (one table per
// database in a multi-database app). Kamal's own lines around it are
// ignored. It fails when no status table is found at all, so a command
// that printed an error instead never counts as "nothing pending".
func ParseStatus(out string) (Status, error) {
	var s Status
	seen := false
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimRight(line, "\r")
		if noTableRe.MatchString(line) {
			s.NoTable, seen = true, true
			continue
		}
		if headerRe.MatchString(line) {
			seen = true
			continue
		}
		if m := downRe.FindStringSubmatch(line); m != nil {
			s.Pending = append(s.Pending, Migration{ID: m[1], Name: m[2]})
			seen = true
		}
	}
	if !seen {
		return s, fmt.Errorf("`%s` printed no migration status table: %q", StatusCommand, clip(out))
	}
	return s, nil
}

// Pending runs db:migrate:status with the image at version.
func Pending(ctx context.Context, t transport.Transport, version string) (Status, error) {
	out, err := t.App(ctx, version, StatusCommand)
	if err != nil {
		return Status{}, fmt.Errorf("migration status with version %s: %w", version, err)
	}
	return ParseStatus(out)
}

// Run runs db:migrate with the image at version.
func Run(ctx context.Context, t transport.Transport, version string) (string, error) {
	out, err := t.App(ctx, version, MigrateCommand)
	if err != nil {
		return out, fmt.Errorf("db:migrate with version %s: %w", version, err)
	}
	return out, nil
}

func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 300 {
		return "..." + s[len(s)-300:]
	}
	return s
}
