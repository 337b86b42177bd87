package envfile

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// The expected lines were printed by Kamal 2.12's own Kamal::EnvFile (Ruby)
// for the same values; e2e/kamal compares whole files with what the real
// Kamal uploads.
func TestEscapeAsKamal(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{`a"b`, `a"b`},
		{`\#x`, `\#x`},
		{`\"q`, `\\"q`},
		{`x#{y}`, `x#{y}`},
		{`#$z`, `#$z`},
		{`#@w`, `#@w`},
		{"tab\tnl\nend", `tab\tnl\nend`},
		{"\x1b\x01\x7f", `\e\x01\x7F`},
		{"naïve ü", "naïve ü"},
		{`mix\#{é}"`, `mix\\#{é}"`},
		{"", ""},
		{`back\slash`, `back\\slash`},
		{"\a\b\f\v\r", `\a\b\f\v\r`},
	}
	for _, tt := range tests {
		if got := escape(tt.in); got != tt.want {
			t.Errorf("escape(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func writeApp(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, "config", name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestSecretKeys(t *testing.T) {
	const base = `
service: shop
servers:
  web:
    hosts:
      - 10.0.0.1
      - 10.0.0.2: [eu, big]
    env:
      secret: [WEB_ONLY, RAILS_MASTER_KEY]
  job:
    hosts: [10.0.0.3]
    env:
      secret: [JOB_ONLY]
env:
  clear: {A: 1}
  secret: [RAILS_MASTER_KEY, DB_PASSWORD:MAIN_DB_PASSWORD]
  tags:
    eu:
      secret: [EU_KEY]
    big:
      clear: {THREADS: 9}
`
	tests := []struct {
		name        string
		files       map[string]string
		dest        string
		role, host  string
		want        []string
		wantPath    string
		wantErrText string
	}{
		{"web on the primary", map[string]string{"deploy.yml": base}, "", "web", "10.0.0.1",
			[]string{"RAILS_MASTER_KEY", "DB_PASSWORD:MAIN_DB_PASSWORD", "WEB_ONLY"}, ".kamal/apps/shop/env/roles/web.env", ""},
		{"tags of the host", map[string]string{"deploy.yml": base}, "", "web", "10.0.0.2",
			[]string{"RAILS_MASTER_KEY", "DB_PASSWORD:MAIN_DB_PASSWORD", "WEB_ONLY", "EU_KEY"}, ".kamal/apps/shop/env/roles/web.env", ""},
		{"another role", map[string]string{"deploy.yml": base}, "", "job", "10.0.0.3",
			[]string{"RAILS_MASTER_KEY", "DB_PASSWORD:MAIN_DB_PASSWORD", "JOB_ONLY"}, ".kamal/apps/shop/env/roles/job.env", ""},
		{"destination file merged over", map[string]string{"deploy.yml": base, "deploy.staging.yml": "env:\n  secret: [STAGING_KEY]\n"}, "staging", "web", "10.0.0.1",
			[]string{"STAGING_KEY", "WEB_ONLY", "RAILS_MASTER_KEY"}, ".kamal/apps/shop-staging/env/roles/web.env", ""},
		{"servers as a list", map[string]string{"deploy.yml": "service: s\nservers: [1.2.3.4]\nenv:\n  secret: [K]\n"}, "", "web", "1.2.3.4",
			[]string{"K"}, ".kamal/apps/s/env/roles/web.env", ""},
		{"clear-only shorthand", map[string]string{"deploy.yml": "service: s\nservers: [1.2.3.4]\nenv:\n  A: b\n"}, "", "web", "1.2.3.4",
			nil, ".kamal/apps/s/env/roles/web.env", ""},
		{"ERB", map[string]string{"deploy.yml": "service: s\nservers: [<%= ENV['H'] %>]\n"}, "", "web", "h", nil, "", "uses ERB"},
		{"no service", map[string]string{"deploy.yml": "servers: [h]\n"}, "", "web", "h", nil, "", "no service: key"},
		{"missing destination file", map[string]string{"deploy.yml": base}, "prod", "web", "h", nil, "", "deploy.prod.yml"},
		{"secret not a list", map[string]string{"deploy.yml": "service: s\nenv:\n  secret: K\n"}, "", "web", "h", nil, "", "env.secret should be a list"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := writeApp(t, tt.files)
			d, err := Load(dir, tt.dest)
			var keys []string
			if err == nil {
				keys, err = d.SecretKeys(tt.role, tt.host)
			}
			if tt.wantErrText != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErrText) {
					t.Fatalf("err = %v, want one containing %q", err, tt.wantErrText)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(keys, tt.want) {
				t.Fatalf("keys = %q, want %q", keys, tt.want)
			}
			if p := d.Path(tt.role); p != tt.wantPath {
				t.Fatalf("path = %q, want %q", p, tt.wantPath)
			}
		})
	}
}

func TestRender(t *testing.T) {
	env := map[string]string{"RAILS_MASTER_KEY": "k\"1", "MAIN_DB_PASSWORD": "p\nw"}
	lookup := func(k string) (string, bool) { v, ok := env[k]; return v, ok }
	got, err := Render([]string{"RAILS_MASTER_KEY", "DB_PASSWORD:MAIN_DB_PASSWORD"}, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if want := "RAILS_MASTER_KEY=k\"1\nDB_PASSWORD=p\\nw\n"; string(got) != want {
		t.Fatalf("%q, want %q", got, want)
	}
	if got, _ := Render(nil, lookup); string(got) != "\n" {
		t.Fatalf("empty file %q, want a single newline as Kamal writes", got)
	}
	_, err = Render([]string{"RAILS_MASTER_KEY", "NEW_SECRET", "X:OTHER"}, lookup)
	if !errors.Is(err, ErrMissingSecret) || !strings.Contains(err.Error(), "NEW_SECRET, OTHER") || strings.Contains(err.Error(), "k\"1") {
		t.Fatalf("missing secrets: %v", err)
	}
}
