package output

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestRedactorCatchesSecretsAcrossWrites(t *testing.T) {
	s := &Secrets{}
	s.Add("hunter2-secret-value", "short", "AKIAEXAMPLE123456")
	tests := []struct {
		name   string
		writes []string
		want   string
	}{
		{"whole", []string{"token=hunter2-secret-value\n"}, "token=[REDACTED]\n"},
		{"split across writes", []string{"token=hunter2-se", "cret-value done\n"}, "token=[REDACTED] done\n"},
		{"short values are not secrets", []string{"short\n"}, "short\n"},
		{"two secrets one line", []string{"AKIAEXAMPLE123456:hunter2-secret-value\n"}, "[REDACTED]:[REDACTED]\n"},
		{"unterminated line flushed", []string{"x hunter2-secret-value"}, "x [REDACTED]"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			r := NewRedactor(&buf, s)
			for _, w := range tc.writes {
				r.Write([]byte(w))
			}
			r.Flush()
			if buf.String() != tc.want {
				t.Fatalf("got %q, want %q", buf.String(), tc.want)
			}
		})
	}
}

func TestFromEnvironmentFindsSecretsByNameAndFile(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, ".kamal"), 0o755)
	os.WriteFile(filepath.Join(dir, ".kamal", "secrets"), []byte(
		"# comment\nRAILS_MASTER_KEY=$(cat config/master.key)\nSMTP_LOGIN=$SMTP_LOGIN\nLITERAL_THING=\"literal-secret-123\"\n"), 0o600)
	os.WriteFile(filepath.Join(dir, ".kamal", "secrets.staging"), []byte("STAGING_DSN=$STAGING_DSN\n"), 0o600)
	env := []string{
		"RAILS_MASTER_KEY=0123456789abcdef",
		"SMTP_LOGIN=mailer-login-xyz",
		"STAGING_DSN=postgres://u:p@h/db",
		"KAMAL_REGISTRY_PASSWORD=ghp_registrypassword",
		"MY_API_TOKEN=tok-abcdef-123",
		"AWS_SECRET=aws-secret-value",
		"S3_ACCESS_KEY_ID=AKIAEXAMPLEKEYID",
		"HOME=/home/alice-not-secret",
		"CUSTOM_NAME=custom-named-secret",
	}
	s := FromEnvironment(env, dir, "CUSTOM_NAME")
	for _, v := range []string{"0123456789abcdef", "mailer-login-xyz", "postgres://u:p@h/db", "ghp_registrypassword",
		"tok-abcdef-123", "aws-secret-value", "AKIAEXAMPLEKEYID", "literal-secret-123", "custom-named-secret"} {
		if got := s.Redact("x " + v + " y"); strings.Contains(got, v) {
			t.Errorf("%q not redacted: %q", v, got)
		}
	}
	if got := s.Redact("/home/alice-not-secret"); got != "/home/alice-not-secret" {
		t.Errorf("HOME redacted: %q", got)
	}
}

func TestIsSecretName(t *testing.T) {
	for name, want := range map[string]bool{
		"RAILS_MASTER_KEY": true, "KAMAL_REGISTRY_PASSWORD": true, "X_SECRET": true, "GH_TOKEN": true,
		"LITESTREAM_ACCESS_KEY_ID": true, "LITESTREAM_SECRET_ACCESS_KEY": true,
		"HOME": false, "KAMAL_VERSION": false, "KEYBOARD": false, "PATH": false,
	} {
		if IsSecretName(name) != want {
			t.Errorf("IsSecretName(%s) = %v", name, !want)
		}
	}
}

func TestStepLines(t *testing.T) {
	var buf bytes.Buffer
	p := New(&buf)
	clock := time.Unix(0, 0)
	p.SetClock(func() time.Time { clock = clock.Add(600 * time.Millisecond); return clock })
	p.Step("sync", func() (string, error) { return "TXID 5", nil })
	err := p.Step("migrate", func() (string, error) { return "", errors.New("boom") })
	if err == nil || err.Error() != "boom" {
		t.Fatalf("err %v", err)
	}
	p.Skip("db:migrate", "rollback")
	got := buf.String()
	for _, want := range []string{"berth: ok   sync (600ms): TXID 5\n", "berth: FAIL migrate (600ms): boom\n", "berth: skip db:migrate: rollback\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("missing %q in\n%s", want, got)
		}
	}
	if strings.Contains(got, "\x1b[") {
		t.Errorf("colours on a non-terminal: %q", got)
	}
}

func TestTable(t *testing.T) {
	var buf bytes.Buffer
	New(&buf).Table([][]string{{"a", "bb"}, {"ccc", "d"}})
	want := "a    bb\n---  --\nccc  d\n"
	if buf.String() != want {
		t.Fatalf("got %q want %q", buf.String(), want)
	}
}
