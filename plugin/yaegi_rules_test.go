package plugin

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Traefik runs the plugin in Yaegi v0.16.1 with the Go 1.22 standard library
// (docs/yaegi.md#traefik-plugins-under-yaegi). Some Go that compiles fine makes Traefik panic at start, is
// silently ignored, or kills the process later. TestYaegiRules checks the
// plugin's non-test sources for those constructs with go/parser, go/ast and
// go/types; TestYaegiRulesCatchViolations proves each rule fires.

// yaegiForbiddenImports cannot be used under Yaegi.
var yaegiForbiddenImports = map[string]string{
	"os/exec":     "Yaegi has no os/exec",
	"unsafe":      "Yaegi has no unsafe",
	"syscall":     "Yaegi has no syscall",
	"embed":       "Yaegi has no embed (//go:embed)",
	"iter":        "iter is Go 1.23; Yaegi has the Go 1.22 library",
	"plugin":      "Yaegi has no plugin",
	"runtime/cgo": "Yaegi has no cgo",
	"C":           "Yaegi has no cgo",
}

// yaegiMissingSymbols exist in Go 1.22 but not in Yaegi's symbol tables
// (generic functions and types it cannot instantiate from compiled code).
var yaegiMissingSymbols = map[string]bool{
	"slices.Sort": true, "slices.SortFunc": true, "slices.SortStableFunc": true,
	"slices.Min": true, "slices.MinFunc": true, "slices.Max": true, "slices.MaxFunc": true,
	"slices.BinarySearch": true, "slices.BinarySearchFunc": true,
	"sync/atomic.Pointer": true,
	"sync.OnceFunc":       true, "sync.OnceValue": true, "sync.OnceValues": true,
}

// yaegiMissingBuiltins are Go 1.21 builtins Yaegi v0.16 does not know.
var yaegiMissingBuiltins = map[string]bool{"min": true, "max": true, "clear": true}

// goAPI holds what $GOROOT/api says each Go release after 1.22 added, and
// which standard packages existed in 1.22.
type goAPI struct {
	newer   map[string]string // "net/http.Request.CookiesNamed" -> "go1.23"
	pkgs122 map[string]bool
	loaded  bool
}

var (
	apiOnce sync.Once
	apiData goAPI
)

// goroot is the Go installation whose api/ files list each release's
// additions (`go env GOROOT`; runtime.GOROOT is deprecated).
func goroot() string {
	out, err := exec.Command("go", "env", "GOROOT").Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

func loadGoAPI() goAPI {
	apiOnce.Do(func() {
		apiData = goAPI{newer: map[string]string{}, pkgs122: map[string]bool{}}
		files, _ := filepath.Glob(filepath.Join(goroot(), "api", "go1*.txt"))
		for _, file := range files {
			base := strings.TrimSuffix(filepath.Base(file), ".txt")
			minor := 0
			if base != "go1" {
				m, err := strconv.Atoi(strings.TrimPrefix(base, "go1."))
				if err != nil {
					continue
				}
				minor = m
			}
			fh, err := os.Open(file)
			if err != nil {
				continue
			}
			sc := bufio.NewScanner(fh)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				pkg, key, ok := parseAPILine(sc.Text())
				if !ok {
					continue
				}
				if minor <= 22 {
					apiData.pkgs122[pkg] = true
				} else if key != "" {
					if _, seen := apiData.newer[key]; !seen {
						apiData.newer[key] = base
					}
				}
			}
			fh.Close()
			if minor > 22 {
				apiData.loaded = true
			}
		}
	})
	return apiData
}

// parseAPILine turns "pkg net/http, method (*Request) CookiesNamed(string) []*Cookie #61472"
// into ("net/http", "net/http.Request.CookiesNamed").
func parseAPILine(line string) (pkg, key string, ok bool) {
	if !strings.HasPrefix(line, "pkg ") {
		return "", "", false
	}
	line = strings.TrimPrefix(line, "pkg ")
	comma := strings.Index(line, ", ")
	if comma < 0 {
		return "", "", false
	}
	pkg, rest := line[:comma], line[comma+2:]
	if sp := strings.Index(pkg, " ("); sp >= 0 { // "syscall (linux-386)"
		pkg = pkg[:sp]
	}
	name := func(s string) string {
		end := strings.IndexAny(s, "([ ,=")
		if end < 0 {
			return s
		}
		return s[:end]
	}
	switch {
	case strings.HasPrefix(rest, "func "):
		return pkg, pkg + "." + name(rest[5:]), true
	case strings.HasPrefix(rest, "method ("):
		rest = rest[len("method ("):]
		end := strings.Index(rest, ") ")
		if end < 0 {
			return pkg, "", true
		}
		recv := strings.TrimPrefix(rest[:end], "*")
		if i := strings.Index(recv, "["); i >= 0 {
			recv = recv[:i]
		}
		return pkg, pkg + "." + recv + "." + name(rest[end+2:]), true
	case strings.HasPrefix(rest, "type "):
		rest = rest[5:]
		typ := name(rest)
		if i := strings.Index(rest, " struct, "); i >= 0 {
			return pkg, pkg + "." + typ + "." + name(rest[i+len(" struct, "):]), true
		}
		if i := strings.Index(rest, " interface, "); i >= 0 {
			return pkg, pkg + "." + typ + "." + name(rest[i+len(" interface, "):]), true
		}
		return pkg, pkg + "." + typ, true
	case strings.HasPrefix(rest, "var "), strings.HasPrefix(rest, "const "):
		rest = rest[strings.Index(rest, " ")+1:]
		return pkg, pkg + "." + name(rest), true
	}
	return pkg, "", true
}

func isStdPath(path string) bool {
	first := path
	if i := strings.Index(path, "/"); i >= 0 {
		first = path[:i]
	}
	return !strings.Contains(first, ".")
}

// yaegiChecker collects problems in one package.
type yaegiChecker struct {
	fset     *token.FileSet
	files    []*ast.File
	info     *types.Info
	api      goAPI
	decls    map[types.Object]*ast.FuncDecl
	problems []string
	goStmts  int
}

func (c *yaegiChecker) add(pos token.Pos, format string, args ...interface{}) {
	p := c.fset.Position(pos)
	c.problems = append(c.problems, fmt.Sprintf("%s:%d: %s", filepath.Base(p.Filename), p.Line, fmt.Sprintf(format, args...)))
}

// checkYaegiSources parses and type-checks sources (file name -> content)
// as one package and returns what Yaegi could not run, plus type errors.
func checkYaegiSources(sources map[string]string) (problems, typeErrors []string, goStmts int) {
	fset := token.NewFileSet()
	names := make([]string, 0, len(sources))
	for name := range sources {
		names = append(names, name)
	}
	sort.Strings(names)
	var files []*ast.File
	for _, name := range names {
		f, err := parser.ParseFile(fset, name, sources[name], parser.ParseComments)
		if err != nil {
			typeErrors = append(typeErrors, err.Error())
			continue
		}
		files = append(files, f)
	}
	info := &types.Info{
		Types:      map[ast.Expr]types.TypeAndValue{},
		Defs:       map[*ast.Ident]types.Object{},
		Uses:       map[*ast.Ident]types.Object{},
		Selections: map[*ast.SelectorExpr]*types.Selection{},
	}
	std := stdImporter()
	conf := types.Config{
		GoVersion: "go1.22",
		Importer: importerFunc(func(path string) (*types.Package, error) {
			if !isStdPath(path) {
				return nil, fmt.Errorf("not in the standard library")
			}
			return std.Import(path)
		}),
		Error: func(err error) { typeErrors = append(typeErrors, err.Error()) },
	}
	_, _ = conf.Check("plugin", fset, files, info)

	c := &yaegiChecker{fset: fset, files: files, info: info, api: loadGoAPI(), decls: map[types.Object]*ast.FuncDecl{}}
	for _, f := range files {
		for _, d := range f.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok {
				if obj := info.Defs[fd.Name]; obj != nil {
					c.decls[obj] = fd
				}
			}
		}
	}
	for _, f := range files {
		c.checkBuildTags(f)
		c.checkImports(f)
		c.checkNodes(f)
	}
	return c.problems, typeErrors, c.goStmts
}

var (
	stdImporterOnce sync.Once
	stdImp          types.Importer
)

// stdImporter is shared so the standard library's export data is read once.
func stdImporter() types.Importer {
	stdImporterOnce.Do(func() { stdImp = importer.Default() })
	return stdImp
}

type importerFunc func(path string) (*types.Package, error)

func (f importerFunc) Import(path string) (*types.Package, error) { return f(path) }

func (c *yaegiChecker) checkBuildTags(f *ast.File) {
	hasGoBuild, hasPlusBuild := token.NoPos, false
	for _, cg := range f.Comments {
		if cg.Pos() > f.Package {
			break
		}
		for _, cm := range cg.List {
			switch {
			case strings.HasPrefix(cm.Text, "//go:build"):
				hasGoBuild = cm.Pos()
			case strings.HasPrefix(cm.Text, "// +build"):
				hasPlusBuild = true
			}
		}
	}
	if hasGoBuild.IsValid() && !hasPlusBuild {
		c.add(hasGoBuild, "//go:build without a matching // +build line: Yaegi ignores //go:build")
	}
}

func (c *yaegiChecker) checkImports(f *ast.File) {
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		if why, bad := yaegiForbiddenImports[path]; bad {
			c.add(imp.Pos(), "import %q: %s", path, why)
			continue
		}
		if !isStdPath(path) {
			c.add(imp.Pos(), "import %q: not standard library (the plugin must be stdlib-only)", path)
			continue
		}
		if len(c.api.pkgs122) > 0 && !c.api.pkgs122[path] {
			c.add(imp.Pos(), "import %q: not in the Go 1.22 standard library", path)
		}
	}
}

func (c *yaegiChecker) checkNodes(f *ast.File) {
	var loops []ast.Node // enclosing for/range statements
	var walk func(n ast.Node) bool
	walk = func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.RangeStmt:
			c.checkRange(n)
			loops = append(loops, n)
			ast.Inspect(n.Body, walk)
			loops = loops[:len(loops)-1]
			if n.X != nil {
				ast.Inspect(n.X, walk)
			}
			return false
		case *ast.ForStmt:
			loops = append(loops, n)
			ast.Inspect(n.Body, walk)
			loops = loops[:len(loops)-1]
			return false
		case *ast.GoStmt:
			c.goStmts++
			c.checkGoroutine(n.Call.Fun, n.Pos(), "go statement")
			c.checkCapture(n.Call, loops)
		case *ast.DeferStmt:
			c.checkCapture(n.Call, loops)
		case *ast.CallExpr:
			if c.isFunc(n.Fun, "time", "AfterFunc") && len(n.Args) == 2 {
				c.goStmts++
				c.checkGoroutine(n.Args[1], n.Pos(), "time.AfterFunc callback")
				c.checkCapture(n.Args[1], loops)
			}
		case *ast.Ident:
			c.checkUse(n)
		case *ast.SelectorExpr:
			c.checkSelection(n)
		case *ast.CompositeLit:
			c.checkCompositeFields(n)
		}
		return true
	}
	ast.Inspect(f, walk)
}

func (c *yaegiChecker) checkRange(n *ast.RangeStmt) {
	tv, ok := c.info.Types[n.X]
	if !ok || tv.Type == nil {
		return
	}
	switch u := tv.Type.Underlying().(type) {
	case *types.Basic:
		if u.Info()&types.IsInteger != 0 {
			c.add(n.Pos(), "range over an integer: Traefik panics at start under Yaegi; use a classic for loop")
		}
	case *types.Signature:
		c.add(n.Pos(), "range over a function (Go 1.23 iterators): not in Yaegi")
	}
}

// isFunc reports whether fun names pkgPath.name.
func (c *yaegiChecker) isFunc(fun ast.Expr, pkgPath, name string) bool {
	sel, ok := fun.(*ast.SelectorExpr)
	if !ok {
		return false
	}
	obj := c.info.Uses[sel.Sel]
	return obj != nil && obj.Pkg() != nil && obj.Pkg().Path() == pkgPath && obj.Name() == name
}

// funcBody finds the body a goroutine runs: a literal, or a function or
// method of this package.
func (c *yaegiChecker) funcBody(fun ast.Expr) *ast.BlockStmt {
	switch f := fun.(type) {
	case *ast.FuncLit:
		return f.Body
	case *ast.ParenExpr:
		return c.funcBody(f.X)
	case *ast.Ident:
		if fd := c.decls[c.info.Uses[f]]; fd != nil {
			return fd.Body
		}
	case *ast.SelectorExpr:
		if fd := c.decls[c.info.Uses[f.Sel]]; fd != nil {
			return fd.Body
		}
	}
	return nil
}

// callsRecover reports whether body calls the builtin recover itself (not
// in a nested function literal, where it would not stop the panic).
func (c *yaegiChecker) callsRecover(body *ast.BlockStmt) bool {
	found := false
	ast.Inspect(body, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.FuncLit:
			return false
		case *ast.CallExpr:
			if id, ok := n.Fun.(*ast.Ident); ok && id.Name == "recover" {
				if _, builtin := c.info.Uses[id].(*types.Builtin); builtin {
					found = true
				}
			}
		}
		return !found
	})
	return found
}

func (c *yaegiChecker) checkGoroutine(fun ast.Expr, pos token.Pos, what string) {
	body := c.funcBody(fun)
	if body == nil {
		c.add(pos, "%s runs a function that is not declared in the plugin, so it cannot start with a recovering defer", what)
		return
	}
	if len(body.List) > 0 {
		if d, ok := body.List[0].(*ast.DeferStmt); ok {
			if deferred := c.funcBody(d.Call.Fun); deferred != nil && c.callsRecover(deferred) {
				return
			}
		}
	}
	c.add(pos, "%s: its function must start with a defer that recovers (a panic in a plugin goroutine kills Traefik)", what)
}

// checkCapture flags a function literal run later (go, defer, AfterFunc)
// inside a loop that uses the loop's own variables: Yaegi shares one
// variable across iterations (pre-Go 1.22 semantics).
func (c *yaegiChecker) checkCapture(n ast.Node, loops []ast.Node) {
	if len(loops) == 0 {
		return
	}
	loopVars := map[types.Object]bool{}
	for _, l := range loops {
		var idents []ast.Expr
		switch l := l.(type) {
		case *ast.RangeStmt:
			if l.Tok == token.DEFINE {
				idents = append(idents, l.Key, l.Value)
			}
		case *ast.ForStmt:
			if as, ok := l.Init.(*ast.AssignStmt); ok && as.Tok == token.DEFINE {
				idents = append(idents, as.Lhs...)
			}
		}
		for _, e := range idents {
			if id, ok := e.(*ast.Ident); ok && id != nil {
				if obj := c.info.Defs[id]; obj != nil {
					loopVars[obj] = true
				}
			}
		}
	}
	ast.Inspect(n, func(m ast.Node) bool {
		lit, ok := m.(*ast.FuncLit)
		if !ok {
			return true
		}
		ast.Inspect(lit.Body, func(k ast.Node) bool {
			if id, ok := k.(*ast.Ident); ok && loopVars[c.info.Uses[id]] {
				c.add(id.Pos(), "closure run later captures loop variable %s: Yaegi shares it across iterations; copy it first", id.Name)
			}
			return true
		})
		return false
	})
}

func (c *yaegiChecker) checkUse(id *ast.Ident) {
	obj := c.info.Uses[id]
	if obj == nil {
		return
	}
	if b, ok := obj.(*types.Builtin); ok {
		if yaegiMissingBuiltins[b.Name()] {
			c.add(id.Pos(), "builtin %s() (Go 1.21) is not in Yaegi v0.16", b.Name())
		}
		return
	}
	if obj.Pkg() == nil || !isStdPath(obj.Pkg().Path()) || obj.Pkg().Path() == "plugin" {
		return
	}
	key := obj.Pkg().Path() + "." + obj.Name()
	if obj.Parent() == obj.Pkg().Scope() {
		if yaegiMissingSymbols[key] {
			c.add(id.Pos(), "%s is not available under Yaegi", key)
		}
		if v, newer := c.api.newer[key]; newer {
			c.add(id.Pos(), "%s is %s API; Yaegi has the Go 1.22 library", key, v)
		}
	}
}

func namedOf(t types.Type) *types.Named {
	if p, ok := t.(*types.Pointer); ok {
		t = p.Elem()
	}
	n, _ := t.(*types.Named)
	return n
}

func (c *yaegiChecker) checkMember(pos token.Pos, owner types.Type, obj types.Object) {
	n := namedOf(owner)
	if n == nil || n.Obj().Pkg() == nil || !isStdPath(n.Obj().Pkg().Path()) || n.Obj().Pkg().Path() == "plugin" {
		return
	}
	key := n.Obj().Pkg().Path() + "." + n.Obj().Name() + "." + obj.Name()
	if v, newer := c.api.newer[key]; newer {
		c.add(pos, "%s is %s API; Yaegi has the Go 1.22 library", key, v)
	}
}

func (c *yaegiChecker) checkSelection(sel *ast.SelectorExpr) {
	s := c.info.Selections[sel]
	if s == nil {
		return
	}
	// The member is looked up on the type that declares it.
	owner := s.Recv()
	if f, ok := s.Obj().(*types.Func); ok {
		if sig, ok := f.Type().(*types.Signature); ok && sig.Recv() != nil {
			owner = sig.Recv().Type()
		}
	}
	c.checkMember(sel.Sel.Pos(), owner, s.Obj())
}

func (c *yaegiChecker) checkCompositeFields(lit *ast.CompositeLit) {
	tv, ok := c.info.Types[lit]
	if !ok {
		return
	}
	for _, e := range lit.Elts {
		kv, ok := e.(*ast.KeyValueExpr)
		if !ok {
			continue
		}
		if id, ok := kv.Key.(*ast.Ident); ok {
			if obj, ok := c.info.Uses[id].(*types.Var); ok && obj.IsField() {
				c.checkMember(id.Pos(), tv.Type, obj)
			}
		}
	}
}

// pluginSources reads the plugin's non-test Go files, as the plugin is
// shipped to Traefik.
func pluginSources(t *testing.T) map[string]string {
	t.Helper()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	src := map[string]string{}
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		src[name] = string(b)
	}
	if len(src) < 10 {
		t.Fatalf("found only %d plugin source files", len(src))
	}
	return src
}

func TestYaegiRules(t *testing.T) {
	if !loadGoAPI().loaded {
		t.Logf("no $GOROOT/api files after go1.22: the check for newer library API is skipped")
	}
	problems, typeErrors, goStmts := checkYaegiSources(pluginSources(t))
	for _, e := range typeErrors {
		t.Errorf("does not type-check as Go 1.22: %s", e)
	}
	for _, p := range problems {
		t.Errorf("Yaegi: %s", p)
	}
	if goStmts < 4 {
		t.Errorf("found %d goroutine starts; the checker is not seeing the code", goStmts)
	}
}

// Each rule must fire on code that breaks it, and stay quiet on code that
// follows the plugin's own patterns.
func TestYaegiRulesCatchViolations(t *testing.T) {
	const helper = `
func recoverHere() {
	if r := recover(); r != nil {
		println(r)
	}
}
`
	bad := []struct {
		name, src, want string
	}{
		{"range over an int literal", `package plugin
func f() { for i := range 10 { _ = i } }`, "range over an integer"},
		{"range over an int variable", `package plugin
func f(n int) { for range n {} }`, "range over an integer"},
		{"os/exec", `package plugin
import _ "os/exec"`, `"os/exec"`},
		{"unsafe", `package plugin
import _ "unsafe"`, `"unsafe"`},
		{"syscall", `package plugin
import _ "syscall"`, `"syscall"`},
		{"embed", `package plugin
import _ "embed"`, `"embed"`},
		{"iter", `package plugin
import _ "iter"`, `"iter"`},
		{"a module", `package plugin
import _ "github.com/mitchellh/mapstructure"`, "not standard library"},
		{"a Go 1.23 package", `package plugin
import _ "unique"`, "not in the Go 1.22 standard library"},
		{"go:build alone", `//go:build linux

package plugin`, "//go:build"},
		{"slices.Sort", `package plugin
import "slices"
func f(s []int) { slices.Sort(s) }`, "slices.Sort"},
		{"slices.Max", `package plugin
import "slices"
func f(s []int) int { return slices.Max(s) }`, "slices.Max"},
		{"slices.BinarySearch", `package plugin
import "slices"
func f(s []int) { slices.BinarySearch(s, 1) }`, "slices.BinarySearch"},
		{"atomic.Pointer", `package plugin
import "sync/atomic"
var p atomic.Pointer[int]`, "sync/atomic.Pointer"},
		{"sync.OnceFunc", `package plugin
import "sync"
var f = sync.OnceFunc(func() {})`, "sync.OnceFunc"},
		{"sync.OnceValue", `package plugin
import "sync"
var f = sync.OnceValue(func() int { return 1 })`, "sync.OnceValue"},
		{"min", `package plugin
func f() int { return min(1, 2) }`, "builtin min()"},
		{"max", `package plugin
func f(a, b int) int { return max(a, b) }`, "builtin max()"},
		{"clear", `package plugin
func f(m map[int]int) { clear(m) }`, "builtin clear()"},
		{"go func without defer", `package plugin
func f() { go func() { println() }() }`, "must start with a defer that recovers"},
		{"go func whose defer does not recover", `package plugin
func f() { go func() { defer println(); println() }() }`, "must start with a defer that recovers"},
		{"go func recovering too late", `package plugin
func f() { go func() { println(); defer recoverHere() }() }` + helper, "must start with a defer that recovers"},
		{"recover nested too deep", `package plugin
func f() { go func() { defer func() { func() { recover() }() }() }() }`, "must start with a defer that recovers"},
		{"go on a named function", `package plugin
func g() {}
func f() { go g() }`, "must start with a defer that recovers"},
		{"go on a method", `package plugin
type T struct{}
func (T) loop() {}
func f(t T) { go t.loop() }`, "must start with a defer that recovers"},
		{"go on a library function", `package plugin
import "time"
func f() { go time.Sleep(1) }`, "not declared in the plugin"},
		{"AfterFunc without recover", `package plugin
import "time"
func f() { time.AfterFunc(1, func() { println() }) }`, "time.AfterFunc callback"},
		{"loop variable captured by a goroutine", `package plugin
func f(xs []int) {
	for _, x := range xs {
		go func() {
			defer recoverHere()
			println(x)
		}()
	}
}` + helper, "captures loop variable x"},
		{"loop variable captured by a defer", `package plugin
func f() {
	for i := 0; i < 3; i++ {
		defer func() { println(i) }()
	}
}`, "captures loop variable i"},
		{"Go 1.24 API", `package plugin
import "strings"
var _ = strings.Lines`, "strings.Lines is go1.24 API"},
		{"Go 1.23 method", `package plugin
import "net/http"
func f(r *http.Request) { _ = r.CookiesNamed("x") }`, "net/http.Request.CookiesNamed is go1.23 API"},
		{"Go 1.24 struct field", `package plugin
import "net/http"
var _ = &http.Server{Protocols: nil}`, "net/http.Server.Protocols is go1.24 API"},
	}
	api := loadGoAPI()
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if strings.Contains(tc.want, " API") && !api.loaded {
				t.Skip("no $GOROOT/api files")
			}
			problems, _, _ := checkYaegiSources(map[string]string{"x.go": tc.src})
			for _, p := range problems {
				if strings.Contains(p, tc.want) {
					return
				}
			}
			t.Errorf("no problem mentioning %q; got %q", tc.want, problems)
		})
	}

	good := `// +build !windows
//go:build !windows

package plugin

import (
	"sort"
	"sync/atomic"
	"time"
)

type T struct{ stop chan struct{} }

func (t *T) loop() {
	defer recoverHere()
	<-t.stop
}

func (t *T) start(xs []int) {
	go t.loop()
	go func() {
		defer func() {
			if r := recover(); r != nil {
				println(r)
			}
		}()
	}()
	for _, x := range xs {
		x := x
		go func() {
			defer recoverHere()
			println(x)
		}()
	}
	for i := 0; i < len(xs); i++ {
		sort.Slice(xs, func(a, b int) bool { return xs[a] < xs[b]+i })
	}
	time.AfterFunc(time.Second, func() { defer recoverHere() })
	var n atomic.Int64
	n.Add(1)
}
` + helper
	problems, typeErrors, goStmts := checkYaegiSources(map[string]string{"good.go": good})
	if len(problems) != 0 || len(typeErrors) != 0 {
		t.Errorf("clean code flagged: %q %q", problems, typeErrors)
	}
	if goStmts != 4 {
		t.Errorf("counted %d goroutine starts, want 4", goStmts)
	}
}
