// Command testreport reads `go test -json` on stdin and prints what a person
// needs from a whole suite: each package's ok/FAIL line, every failed test's
// output, every skipped test with the reason it gave, and a closing
// "N passed, N failed, N skipped" line. It exits non-zero when a test failed
// or when a test skipped: in `make test` every test must run (a skip that
// is allowed says so with -allow-skip, a regular expression of test names).
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"regexp"
	"sort"
	"strings"
)

type event struct {
	Action  string
	Package string
	Test    string
	Output  string
}

type result struct {
	pkg, test, action string
	output            strings.Builder
}

func main() {
	allow := flag.String("allow-skip", "", "regular expression of Package.Test names that may skip")
	flag.Parse()
	var allowRe *regexp.Regexp
	if *allow != "" {
		allowRe = regexp.MustCompile(*allow)
	}
	os.Exit(report(os.Stdin, os.Stdout, allowRe))
}

func report(in io.Reader, out io.Writer, allow *regexp.Regexp) int {
	tests := map[string]*result{}
	var order []string
	pkgFailed := false
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 16<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			// A build error is printed as plain text.
			fmt.Fprintln(out, sc.Text())
			pkgFailed = true
			continue
		}
		if e.Test == "" {
			if e.Action == "output" && (strings.HasPrefix(e.Output, "ok") || strings.HasPrefix(e.Output, "FAIL") || strings.HasPrefix(e.Output, "?")) {
				fmt.Fprint(out, e.Output)
			}
			if e.Action == "fail" {
				pkgFailed = true
			}
			continue
		}
		key := e.Package + "." + e.Test
		r, ok := tests[key]
		if !ok {
			r = &result{pkg: e.Package, test: e.Test}
			tests[key] = r
			order = append(order, key)
		}
		switch e.Action {
		case "output":
			r.output.WriteString(e.Output)
		case "pass", "fail", "skip":
			r.action = e.Action
		}
	}
	var passed, failed, skipped, badSkips int
	sort.Strings(order)
	for _, key := range order {
		r := tests[key]
		if strings.Contains(r.test, "/") {
			continue // subtests count with their parent
		}
		switch r.action {
		case "pass":
			passed++
		case "fail":
			failed++
			fmt.Fprintf(out, "\n--- FAIL %s (%s)\n%s", r.test, r.pkg, r.output.String())
		case "skip":
			skipped++
			reason := skipReason(r.output.String())
			allowed := allow != nil && allow.MatchString(key)
			if !allowed {
				badSkips++
			}
			fmt.Fprintf(out, "SKIP %s (%s): %s%s\n", r.test, r.pkg, reason, map[bool]string{true: " [allowed]", false: ""}[allowed])
		}
	}
	fmt.Fprintf(out, "\n%d passed, %d failed, %d skipped\n", passed, failed, skipped)
	switch {
	case failed > 0 || pkgFailed:
		return 1
	case badSkips > 0:
		fmt.Fprintf(out, "testreport: %d test(s) skipped; every test must run in make test (install what they need: make setup)\n", badSkips)
		return 1
	}
	return 0
}

// skipReason is what t.Skip said: the lines between "=== RUN" and "--- SKIP".
func skipReason(output string) string {
	var lines []string
	for _, l := range strings.Split(output, "\n") {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		lines = append(lines, t)
	}
	if len(lines) == 0 {
		return "(no reason given)"
	}
	return strings.Join(lines, " ")
}
