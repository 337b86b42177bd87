package cli

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/wombatworkouts/berth/config"
	"github.com/wombatworkouts/berth/config/kamal"
	"github.com/wombatworkouts/berth/config/render"
	"github.com/wombatworkouts/berth/config/starter"
)

// keepDeploy looks at the deploy.yml that render is about to replace. A
// setting of it that berth does not write and the manifest does not carry
// would be lost: render refuses, naming each one and the kamal: entry that
// keeps it. For a file berth wrote that was edited since, --force replaces
// it anyway (its content came from the manifest, so the edits are what is
// lost, and the message lists them). A hand-written file is never dropped
// that way: --force is what the first render over it always needs.
//
// It returns what render replaces in the old file, to report once written.
func (c *cmd) keepDeploy(outDir string, m *config.Manifest, manifest string, force bool) ([]kamal.Setting, string, bool) {
	state, data, err := render.ReadDeploy(outDir)
	if err != nil {
		c.fail("%v", err)
		return nil, "", false
	}
	if state == render.NoDeploy || state == render.Unedited {
		return nil, "", true
	}
	deploy := c.rel(filepath.Join(outDir, render.DeployPath))
	cmp, err := kamal.Compare(data, m)
	if err != nil {
		c.fail("%s: %v\nberth cannot tell which of its settings to keep: move what you need into the kamal: section of %s, "+
			"then rename or delete %s and render again", deploy, err, manifest, deploy)
		return nil, "", false
	}
	if len(cmp.Lost) == 0 || (state == render.Edited && force) {
		return append(cmp.Replaced, cmp.Lost...), deploy, true
	}

	var b strings.Builder
	switch state {
	case render.Edited:
		fmt.Fprintf(&b, "%s was changed since berth wrote it, and rendering would drop these settings (%s does not carry them):\n", deploy, manifest)
	default:
		fmt.Fprintf(&b, "%s has settings that %s does not carry, and rendering would drop them:\n", deploy, manifest)
	}
	for _, s := range kamal.Sorted(cmp.Lost) {
		now := "berth writes nothing there"
		if s.Now != "" {
			now = "berth writes " + s.Now
		}
		fmt.Fprintf(&b, "  %s:%d: %s: %s (%s)\n", deploy, s.Line, s.Path, s.Shown(), now)
		switch {
		case s.Secret:
			fmt.Fprintf(&b, "      this looks like a secret written in clear: put the value in .kamal/secrets, name it in kamal: "+
				"(env.secret, builder.secrets), and delete it from %s\n", deploy)
		case s.ERB:
			fmt.Fprintf(&b, "      uses ERB berth cannot read: copy it into kamal: by hand\n")
		}
	}
	if snippet := cmp.Snippet(); snippet != "" {
		into := "Keep them by adding this to " + manifest
		if len(m.Kamal.Content) > 0 {
			into += " (merge it into the kamal: section there)"
		}
		fmt.Fprintf(&b, "%s:\n\n%s\n\n", into, indentBy(snippet, "  "))
	}
	fmt.Fprintf(&b, "Delete from %s what you no longer want, then render again.", deploy)
	if state == render.Edited {
		b.WriteString(" Or pass --force to replace it with what berth writes, dropping these.")
	}
	c.fail("%s", b.String())
	return nil, "", false
}

// reportReplaced says what render changed in a deploy.yml berth did not
// write as it is now.
func (c *cmd) reportReplaced(deploy string, changed []kamal.Setting) {
	if len(changed) == 0 {
		return
	}
	fmt.Fprintf(c.out, "\n%s: berth changed these settings of the previous file:\n", deploy)
	for _, s := range kamal.Sorted(changed) {
		now := "dropped"
		if s.Now != "" {
			now = "now " + s.Now
		}
		why := s.Why
		if why == "" {
			why = "dropped with --force"
		}
		fmt.Fprintf(c.out, "  line %d: %s: was %s, %s: %s\n", s.Line, s.Path, s.Shown(), now, why)
	}
}

// carry puts the settings of an existing deploy.yml that berth does not
// write into the starter's kamal: section, and says what it kept and what
// berth will write itself instead.
func (c *cmd) carry(in *starter.Inputs, data []byte, source, target string) {
	m, err := config.Parse(starter.Render(*in), target)
	if err != nil {
		fmt.Fprintf(c.out, "note: could not compare %s with the starter (%v); `berth config render` will list what to keep\n", source, firstLine(err))
		return
	}
	cmp, err := kamal.Compare(data, m)
	if err != nil {
		fmt.Fprintf(c.out, "note: %s: %v; copy what berth does not write into the kamal: section by hand\n", source, err)
		return
	}
	in.Kamal, in.From = cmp.Carried(), source
	var kept []string
	for _, s := range kamal.Sorted(cmp.Lost) {
		switch {
		case s.Secret:
			in.ToDo = append(in.ToDo, fmt.Sprintf("kamal: %s:%d %s looks like a secret written in clear, so it was not copied: "+
				"put it in .kamal/secrets, name it under kamal: (env.secret), and delete it from %s", source, s.Line, s.Path, source))
		case s.ERB:
			in.ToDo = append(in.ToDo, fmt.Sprintf("kamal: %s:%d %s uses ERB berth cannot read: copy it into kamal: by hand", source, s.Line, s.Path))
		default:
			kept = append(kept, s.Path)
		}
	}
	if len(kept) > 0 {
		fmt.Fprintf(c.out, "kept in kamal: (berth does not write them): %s\n", strings.Join(kept, ", "))
	}
	var own []string
	for _, s := range kamal.Sorted(cmp.Replaced) {
		own = append(own, s.Path)
	}
	if len(own) > 0 {
		fmt.Fprintf(c.out, "berth writes these itself, from the manifest: %s (render lists each change)\n", strings.Join(own, ", "))
	}
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

// printUncarried lists the settings of deploy.yml that rendering the
// manifest would drop (render refuses until they are carried or deleted).
func (c *cmd) printUncarried(data []byte, m *config.Manifest, deploy, manifest string, starterOnly bool) {
	if render.IsGenerated(data) && render.Untouched(data) {
		return
	}
	cmp, err := kamal.Compare(data, m)
	if err != nil || len(cmp.Lost) == 0 {
		return
	}
	if starterOnly {
		fmt.Fprintf(c.out, "\nYours, which berth does not write (berth config init copies them into the kamal: section):\n")
	} else {
		fmt.Fprintf(c.out, "\nYours, which %s does not carry (berth config render refuses to drop them; add them to its kamal: "+
			"section, or delete them here):\n", manifest)
	}
	for _, s := range kamal.Sorted(cmp.Lost) {
		fmt.Fprintf(c.out, "  %s:%d: %s: %s\n", deploy, s.Line, s.Path, s.Shown())
	}
	if snippet := cmp.Snippet(); snippet != "" && !starterOnly {
		fmt.Fprintf(c.out, "    add to %s:\n%s\n", manifest, indentBy(snippet, "      "))
	}
}
