package migrate

import (
	"strings"
	"testing"
)

func TestParseStatus(t *testing.T) {
	tests := []struct {
		name    string
		out     string
		pending int
		noTable bool
		wantErr bool
	}{
		{"none pending", "App Host: 1.2.3.4\n\ndatabase: storage/production.sqlite3\n\n Status   Migration ID    Migration Name\n--------------------------------------------------\n   up     20240101000000  Create users\n", 0, false, false},
		{"two pending over two databases", "database: storage/production.sqlite3\n\n Status   Migration ID    Migration Name\n------\n   up     20240101000000  Create users\n  down    20250101000000  Add email to users\n\ndatabase: storage/production_queue.sqlite3\n\n Status   Migration ID    Migration Name\n-----\n  down    20250202000000  Create queue\n", 2, false, false},
		{"no table yet", "Schema migrations table does not exist yet.\n", 0, true, false},
		{"an error instead of a table", "App Host: 1.2.3.4\nrails aborted!\nActiveRecord::ConnectionNotEstablished\n", 0, false, true},
		{"NO FILE rows are not pending", " Status   Migration ID    Migration Name\n   up     20240101000000  ********** NO FILE **********\n", 0, false, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := ParseStatus(tc.out)
			if (err != nil) != tc.wantErr {
				t.Fatalf("err %v", err)
			}
			if len(s.Pending) != tc.pending || s.NoTable != tc.noTable {
				t.Fatalf("%+v", s)
			}
			if tc.pending == 2 && (s.Pending[0].ID != "20250101000000" || s.Pending[0].Name != "Add email to users" || !strings.Contains(s.String(), "2 pending")) {
				t.Fatalf("%+v %s", s.Pending, s)
			}
		})
	}
}
