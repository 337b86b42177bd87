package kamalschema

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/wombatworkouts/berth/config/internal/golden"
)

// referenceDir is Kamal 2.12's configuration reference next to the
// repository (or BERTH_KAMAL_REFERENCE), or "" when it is not there.
func referenceDir(t *testing.T) string {
	dir := os.Getenv("BERTH_KAMAL_REFERENCE")
	if dir == "" {
		dir = filepath.Join(golden.ModuleRoot(t), "..", "shared", "kamal-config")
	}
	if _, err := os.Stat(filepath.Join(dir, "configuration.yml")); err != nil {
		return ""
	}
	return dir
}

// The committed table is exactly what the generator makes of the reference.
func TestTableMatchesReference(t *testing.T) {
	dir := referenceDir(t)
	if dir == "" {
		t.Skip("Kamal's configuration reference is not at ../shared/kamal-config (set BERTH_KAMAL_REFERENCE); " +
			"table.go is used as committed and not compared")
	}
	gen, err := Generate(dir)
	if err != nil {
		t.Fatal(err)
	}
	src, err := Source(gen)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("table.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(src, committed) {
		for p, s := range gen {
			if table[p] != s {
				t.Errorf("%s: reference says %s, table.go has %s", p, s, table[p])
			}
		}
		for p := range table {
			if _, ok := gen[p]; !ok {
				t.Errorf("%s: in table.go but not in the reference", p)
			}
		}
		t.Errorf("table.go is out of date with %s: run `go generate ./config/internal/kamalschema`", dir)
	}
}

func TestLookup(t *testing.T) {
	for _, tc := range []struct {
		path string
		want Shape
		ok   bool
	}{
		{"ssh.user", Scalar, true},
		{"ssh.usr", 0, false},
		{"builder.arch", Scalar | List, true},
		{"servers", List | Names, true},
		{"servers.*", List | Map, true},
		{"servers.*.options", Free, true},
		{"servers.*.env", Map | Free, true},
		{"servers.*.env.tags", 0, false}, // tags only in the top-level env
		{"env.tags.*.clear", Free, true},
		{"accessories.*.port", Scalar, true},
		{"accessories.*.command", 0, false},
		{"aliases.*", Scalar, true},
		{"traefik", 0, false}, // Kamal 1's key
		{"healthcheck", 0, false},
		{"ssh.proxy", Scalar, true}, // a jump host, not kamal-proxy
		{"servers.*.proxy", Scalar | Map, true},
	} {
		got, ok := Lookup(tc.path)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Lookup(%q) = %s, %v; want %s, %v", tc.path, got, ok, tc.want, tc.ok)
		}
	}
}

func TestChildren(t *testing.T) {
	got := Children("ssh")
	want := []string{"config", "forward_agent", "key_data", "keys", "keys_only", "log_level", "port", "proxy", "proxy_command", "user"}
	if len(got) != len(want) {
		t.Fatalf("Children(ssh) = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("Children(ssh) = %v, want %v", got, want)
		}
	}
	if c := Children("servers"); len(c) != 0 {
		t.Errorf("Children(servers) = %v: role names are the user's", c)
	}
	if c := Children(""); len(c) < 20 {
		t.Errorf("top level has %d keys, want Kamal's 20+", len(c))
	}
}

// The generator must notice what the reference changes, or the table test
// above proves nothing: a reference with one key more or less differs.
func TestGenerateFollowsTheReference(t *testing.T) {
	dir := referenceDir(t)
	if dir == "" {
		t.Skip("Kamal's configuration reference is not at ../shared/kamal-config (set BERTH_KAMAL_REFERENCE)")
	}
	tmp := t.TempDir()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if e.Name() == "ssh.yml" {
			data = bytes.Replace(data, []byte("  user: app\n"), []byte("  user: app\n  login: app\n"), 1)
		}
		if err := os.WriteFile(filepath.Join(tmp, e.Name()), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gen, err := Generate(tmp)
	if err != nil {
		t.Fatal(err)
	}
	if gen["ssh.login"] != Scalar {
		t.Errorf("a key added to ssh.yml is not in the generated table: %v", gen["ssh.login"])
	}
	if err := os.Remove(filepath.Join(tmp, "role.yml")); err != nil {
		t.Fatal(err)
	}
	if _, err := Generate(tmp); err == nil {
		t.Error("a reference without role.yml generated a table")
	}
}
