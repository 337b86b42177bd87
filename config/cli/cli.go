// Package cli is `berth config ...`: init, render, check and validate. The
// berth program (hooks/cmd/berth) dispatches to Run; keeping the logic here
// lets it be tested without building the program.
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/wombatworkouts/berth/config"
	"github.com/wombatworkouts/berth/config/kamal"
	"github.com/wombatworkouts/berth/config/litestream"
	"github.com/wombatworkouts/berth/config/railscheck"
	"github.com/wombatworkouts/berth/config/render"
	"github.com/wombatworkouts/berth/config/starter"
)

// Exit codes.
const (
	ExitOK        = 0
	ExitFailed    = 1 // something is wrong with the app's files
	ExitUsage     = 2
	defaultDeploy = "config/deploy.yml"
)

const usage = `usage: berth config <command> [flags]

Commands:
  init [--from config/deploy.yml] [--force] [-f config/berth.yml]
        write a starter manifest, taking what it can from an existing deploy.yml
        (its settings berth does not write itself go into the kamal: section)
  render [-f config/berth.yml] [--force] [--allow-placeholders] DIR
        write traefik/static.yml, traefik/dynamic/<app>.yml, deploy.yml and
        litestream.yml into DIR (usually: berth config render config); refuses
        placeholders such as 203.0.113.10 or app.example.com unless
        --allow-placeholders, and to drop a setting of an existing deploy.yml
        that the manifest does not carry (it names the kamal: entry to add)
  check [-f config/berth.yml] [--deploy config/deploy.yml]
        say exactly what an existing deploy.yml lacks for berth, and check
        config/environments/production.rb for assume_ssl and force_ssl
  validate [MANIFEST...]
        validate manifests of apps that share one server (names, domains,
        volumes, replicas, server: sections)
`

// Run runs `berth config <args>` in the app directory dir.
func Run(args []string, dir string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		fmt.Fprint(stderr, usage)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	c := &cmd{dir: dir, out: stdout, err: stderr}
	switch args[0] {
	case "init":
		return c.init(args[1:])
	case "render":
		return c.render(args[1:])
	case "check":
		return c.check(args[1:])
	case "validate":
		return c.validate(args[1:])
	}
	fmt.Fprintf(stderr, "berth config: unknown command %q\n\n%s", args[0], usage)
	return ExitUsage
}

type cmd struct {
	dir      string
	out, err io.Writer
}

func (c *cmd) path(rel string) string {
	if filepath.IsAbs(rel) {
		return rel
	}
	return filepath.Join(c.dir, rel)
}

func (c *cmd) flags(name string) *flag.FlagSet {
	fs := flag.NewFlagSet("berth config "+name, flag.ContinueOnError)
	fs.SetOutput(c.err)
	fs.Usage = func() { fmt.Fprint(c.err, usage) }
	return fs
}

// parse parses flags allowing them after positional arguments too
// (`render config --force`), which the flag package does not.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func (c *cmd) fail(format string, args ...any) int {
	fmt.Fprintf(c.err, "berth config: "+format+"\n", args...)
	return ExitFailed
}

// --- init -------------------------------------------------------------

func (c *cmd) init(args []string) int {
	set := c.flags("init")
	from := set.String("from", "", "read service, image, hosts and domains from this Kamal deploy.yml (default: config/deploy.yml if present)")
	manifest := set.String("f", config.DefaultPath, "manifest to write")
	force := set.Bool("force", false, "overwrite an existing manifest")
	pos, err := parse(set, args)
	if err != nil {
		return ExitUsage
	}
	if len(pos) > 0 {
		fmt.Fprintf(c.err, "berth config init: unexpected argument %q\n", pos[0])
		return ExitUsage
	}
	target := c.path(*manifest)
	if _, err := os.Stat(target); err == nil && !*force {
		return c.fail("%s already exists; edit it, or pass --force to start over", *manifest)
	}

	var in starter.Inputs
	source := *from
	if source == "" {
		if _, err := os.Stat(c.path(defaultDeploy)); err == nil {
			source = defaultDeploy
		}
	}
	if source != "" {
		data, err := os.ReadFile(c.path(source))
		if err != nil {
			return c.fail("reading %s: %v", source, err)
		}
		if in, err = starter.FromDeploy(data); err != nil {
			return c.fail("%s: %v", source, err)
		}
		fmt.Fprintf(c.out, "read %s\n", source)
		c.carry(&in, data, source, target)
	} else {
		in = fromDirectory(c.dir)
	}
	data := starter.Render(in)
	if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
		return c.fail("%v", err)
	}
	if err := os.WriteFile(target, data, 0o644); err != nil {
		return c.fail("writing %s: %v", *manifest, err)
	}
	fmt.Fprintf(c.out, "wrote %s\n", *manifest)
	// The starter is meant to be valid as written; say so if it is not
	// (e.g. a service name berth cannot use).
	if m, err := config.LoadFrom(c.dir, *manifest); err != nil {
		fmt.Fprintf(c.out, "\nFix these before rendering:\n%s\n", indent(err.Error()))
	} else {
		c.warnPlaceholders(m.Placeholders())
	}
	fmt.Fprintf(c.out, "\nNext: edit the to-do list at the top of %s, then run\n  berth config check        (compare with config/deploy.yml)\n  berth config render config\n", *manifest)
	return ExitOK
}

var nonName = regexp.MustCompile(`[^a-z0-9_-]+`)

// fromDirectory guesses the app name from the directory, as `rails new`
// names the app after it.
func fromDirectory(dir string) starter.Inputs {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	app := strings.Trim(nonName.ReplaceAllString(strings.ToLower(filepath.Base(abs)), "_"), "_-")
	if app == "" {
		app = "app"
	}
	return starter.Inputs{
		App:   app,
		Image: "ghcr.io/your-github-user/" + strings.ReplaceAll(app, "-", "_"),
		Hosts: []string{"203.0.113.10"},
		ToDo: []string{
			"app: guessed from the directory name; it must match Kamal's service:",
			"image: put your GitHub user or organisation",
			"hosts: 203.0.113.10 is a placeholder; put your server's address",
		},
	}
}

// --- render -----------------------------------------------------------

func (c *cmd) render(args []string) int {
	set := c.flags("render")
	manifest := set.String("f", config.DefaultPath, "manifest to read")
	force := set.Bool("force", false, "replace files that were not written by berth (e.g. a hand-written deploy.yml)")
	allowPlaceholders := set.Bool("allow-placeholders", false, "render even when the manifest still has placeholders (to look at the files, not to deploy)")
	pos, err := parse(set, args)
	if err != nil {
		return ExitUsage
	}
	if len(pos) != 1 {
		fmt.Fprintf(c.err, "berth config render: give the output directory, e.g. `berth config render config`\n")
		return ExitUsage
	}
	m, code := c.load(*manifest)
	if m == nil {
		return code
	}
	if ph := m.Placeholders(); len(ph) > 0 {
		if !*allowPlaceholders {
			fmt.Fprintln(c.err, ph)
			return c.fail("%s still has %d placeholder(s), and a deploy with them cannot work: replace them (the to-do "+
				"list at the top of the file says how), or pass --allow-placeholders to render anyway and look at the files",
				*manifest, len(ph))
		}
		c.warnPlaceholders(ph)
	}
	files, err := render.Files(m)
	if err != nil {
		return c.fail("rendering %s: %v", *manifest, err)
	}
	changed, deploy, ok := c.keepDeploy(c.path(pos[0]), m, *manifest, *force)
	if !ok {
		return ExitFailed
	}
	written, err := render.Write(c.path(pos[0]), files, *force)
	for _, p := range written {
		fmt.Fprintf(c.out, "wrote %s\n", c.rel(p))
	}
	if err != nil {
		return c.fail("%v", err)
	}
	c.reportReplaced(deploy, changed)
	if filepath.Clean(pos[0]) != "config" {
		fmt.Fprintf(c.out, "note: deploy.yml uploads %s to the Litestream accessory; render into config/ (or copy litestream.yml there) before deploying\n",
			litestream.LocalConfigPath)
	}
	return ExitOK
}

func (c *cmd) rel(p string) string {
	if r, err := filepath.Rel(c.dir, p); err == nil && !strings.HasPrefix(r, "..") {
		return r
	}
	return p
}

// warnPlaceholders lists placeholders that are fine for now but must be
// replaced before a deploy.
func (c *cmd) warnPlaceholders(ph config.ErrorList) {
	if len(ph) == 0 {
		return
	}
	fmt.Fprintf(c.out, "\nPlaceholders to replace before deploying (berth config render refuses them):\n")
	for _, e := range ph {
		fmt.Fprintf(c.out, "  %s\n", e)
	}
}

// load reads a manifest and prints its problems.
func (c *cmd) load(rel string) (*config.Manifest, int) {
	m, err := config.LoadFrom(c.dir, rel)
	if err != nil {
		fmt.Fprintln(c.err, err)
		return nil, ExitFailed
	}
	return m, ExitOK
}

// --- check ------------------------------------------------------------

func (c *cmd) check(args []string) int {
	set := c.flags("check")
	manifest := set.String("f", config.DefaultPath, "manifest to compare with")
	deploy := set.String("deploy", defaultDeploy, "the app's Kamal deploy.yml")
	pos, err := parse(set, args)
	if err != nil {
		return ExitUsage
	}
	if len(pos) > 0 {
		fmt.Fprintf(c.err, "berth config check: unexpected argument %q\n", pos[0])
		return ExitUsage
	}
	data, err := os.ReadFile(c.path(*deploy))
	if err != nil {
		return c.fail("reading %s: %v (berth config render config writes one)", *deploy, err)
	}

	m, err := config.LoadFrom(c.dir, *manifest)
	starterOnly := false
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// No manifest yet: compare with what `berth config init` would
		// write, so a user with a hand-written deploy.yml still gets the
		// list, and knows which values were guessed.
		in, serr := starter.FromDeploy(data)
		if serr != nil {
			return c.fail("%s: %v", *deploy, serr)
		}
		m, err = config.Parse(starter.Render(in), *manifest+" (starter)")
		if err != nil {
			return c.fail("no %s, and a starter manifest from %s is not valid:\n%v", *manifest, *deploy, err)
		}
		fmt.Fprintf(c.out, "note: no %s; comparing with the starter `berth config init` would write (domains and hosts may be placeholders)\n", *manifest)
		starterOnly = true
	case err != nil:
		fmt.Fprintln(c.err, err)
		return ExitFailed
	}

	findings, err := kamal.Check(data, m)
	if err != nil {
		return c.fail("%s: %v", *deploy, err)
	}
	if !starterOnly {
		defer c.warnPlaceholders(m.Placeholders())
	}
	required := 0
	for _, f := range findings {
		if f.Required {
			required++
		}
	}
	if len(findings) == 0 {
		fmt.Fprintf(c.out, "%s has everything berth needs.\n", *deploy)
	}
	c.printFindings(*deploy+" lacks what berth needs:", findings, true)
	c.printFindings("Recommended (berth writes these; the app runs without them):", findings, false)
	c.printUncarried(data, m, *deploy, *manifest, starterOnly)

	prod, err := os.ReadFile(c.path(railscheck.Path))
	switch {
	case err == nil:
		if warnings := railscheck.CheckProduction(prod); len(warnings) > 0 {
			fmt.Fprintf(c.out, "\nWarnings:\n")
			for _, w := range warnings {
				fmt.Fprintf(c.out, "  %s\n", w)
			}
		}
	case errors.Is(err, fs.ErrNotExist):
		fmt.Fprintf(c.out, "\nnote: no %s; could not check config.assume_ssl and config.force_ssl\n", railscheck.Path)
	default:
		fmt.Fprintf(c.out, "\nnote: reading %s: %v\n", railscheck.Path, err)
	}

	if required > 0 {
		fmt.Fprintf(c.out, "\n%d required change(s). Or let berth write the file: berth config render config --force\n", required)
		return ExitFailed
	}
	return ExitOK
}

func (c *cmd) printFindings(title string, findings []kamal.Finding, required bool) {
	printed := false
	for _, f := range findings {
		if f.Required != required {
			continue
		}
		if !printed {
			fmt.Fprintf(c.out, "\n%s\n", title)
			printed = true
		}
		fmt.Fprintf(c.out, "  %s: %s\n", f.Path, f.Problem)
		if f.Fix != "" {
			where := "at the top level:"
			if i := strings.LastIndex(f.Path, "."); i >= 0 {
				where = "under " + f.Path[:i] + ":"
			}
			fmt.Fprintf(c.out, "    add %s\n%s\n", where, indentBy(f.Fix, "      "))
		}
	}
}

// --- validate ---------------------------------------------------------

func (c *cmd) validate(args []string) int {
	set := c.flags("validate")
	pos, err := parse(set, args)
	if err != nil {
		return ExitUsage
	}
	if len(pos) == 0 {
		pos = []string{config.DefaultPath}
	}
	var ms []*config.Manifest
	failed := false
	for _, p := range pos {
		m, err := config.LoadFrom(c.dir, p)
		if err != nil {
			fmt.Fprintln(c.err, err)
			failed = true
			continue
		}
		ms = append(ms, m)
	}
	if err := config.CheckServer(ms); err != nil {
		fmt.Fprintln(c.err, err)
		failed = true
	}
	if failed {
		return ExitFailed
	}
	fmt.Fprintf(c.out, "ok: %d manifest(s), no conflicts\n", len(ms))
	for _, m := range ms {
		c.warnPlaceholders(m.Placeholders())
	}
	return ExitOK
}

func indent(s string) string { return indentBy(s, "  ") }

func indentBy(s, prefix string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n")
}
