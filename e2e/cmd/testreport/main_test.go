package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
)

const run = `{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"pass","Package":"p","Test":"TestA"}
{"Action":"run","Package":"p","Test":"TestB"}
{"Action":"output","Package":"p","Test":"TestB","Output":"=== RUN   TestB\n"}
{"Action":"output","Package":"p","Test":"TestB","Output":"    b_test.go:9: needs root\n"}
{"Action":"output","Package":"p","Test":"TestB","Output":"--- SKIP: TestB (0.00s)\n"}
{"Action":"skip","Package":"p","Test":"TestB"}
{"Action":"output","Package":"p","Output":"ok  \tp\t0.1s\n"}
{"Action":"pass","Package":"p"}
`

func TestReport(t *testing.T) {
	tests := []struct {
		name     string
		in       string
		allow    *regexp.Regexp
		wantCode int
		want     []string
	}{
		{"a skip fails the run", run, nil, 1, []string{"SKIP TestB (p): b_test.go:9: needs root", "1 passed, 0 failed, 1 skipped", "every test must run", "ok  \tp"}},
		{"an allowed skip", run, regexp.MustCompile(`^p\.TestB$`), 0, []string{"[allowed]", "1 passed, 0 failed, 1 skipped"}},
		{"a failure", `{"Action":"run","Package":"p","Test":"TestC"}
{"Action":"output","Package":"p","Test":"TestC","Output":"    c_test.go:3: boom\n"}
{"Action":"fail","Package":"p","Test":"TestC"}
{"Action":"fail","Package":"p"}
`, nil, 1, []string{"--- FAIL TestC (p)", "boom", "0 passed, 1 failed, 0 skipped"}},
		{"a build error", "# p\n./x.go:1: syntax error\n", nil, 1, []string{"syntax error"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			code := report(strings.NewReader(tt.in), &out, tt.allow)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d\n%s", code, tt.wantCode, out.String())
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
}
