package recdocker

import (
	"fmt"
	"path"
	"strings"
	"text/tabwriter"
)

// pullImage records ref with the labels the config gives its repository.
func (d *docker) pullImage(ref string) *Image {
	repo, _ := SplitRef(ref)
	var labels map[string]string
	if l := d.cfg.Images[repo]; len(l) > 0 {
		labels = make(map[string]string, len(l))
		for k, v := range l {
			labels[k] = v
		}
	}
	return d.state.addImage(ref, labels)
}

func (d *docker) pull(argv []string) int {
	p, err := parseFlags(argv, pullFlags)
	if err != nil {
		return d.fail(125, "%v", err)
	}
	if len(p.args) != 1 {
		return d.fail(1, "\"docker pull\" requires exactly 1 argument.")
	}
	ref := NormalRef(p.args[0])
	im := d.pullImage(ref)
	repo, tag := SplitRef(ref)
	fmt.Fprintf(d.stdout, "%s: Pulling from %s\nDigest: %s\nStatus: Downloaded newer image for %s\n%s\n",
		tag, repo, im.ID, ref, ref)
	return 0
}

func (d *docker) images(argv []string) int {
	p, err := parseFlags(argv, imagesFlags)
	if err != nil {
		return d.fail(125, "%v", err)
	}
	var refPatterns, labels []string
	for _, f := range p.flags["filter"] {
		k, v, ok := strings.Cut(f, "=")
		switch {
		case !ok:
			return d.fail(1, "bad format of filter (expected name=value)")
		case k == "reference":
			refPatterns = append(refPatterns, v)
		case k == "label":
			labels = append(labels, v)
		case k == "dangling":
			if v == "true" {
				return 0 // every image here has a tag
			}
		default:
			return d.fail(1, "Error response from daemon: invalid filter '%s'", k)
		}
	}
	if len(p.args) > 0 {
		refPatterns = append(refPatterns, p.args[0])
	}
	type row struct {
		im  *Image
		ref string
	}
	var rows []row
	for i := len(d.state.Images) - 1; i >= 0; i-- { // newest first
		im := d.state.Images[i]
		if !imageHasLabels(im, labels) {
			continue
		}
		for _, ref := range im.Refs {
			if refMatches(ref, refPatterns) {
				rows = append(rows, row{im, ref})
			}
		}
	}
	switch format := p.last("format"); {
	case p.bool("quiet"):
		seen := map[string]bool{}
		for _, r := range rows {
			if !seen[r.im.ID] {
				seen[r.im.ID] = true
				fmt.Fprintln(d.stdout, r.im.ShortID())
			}
		}
	case format != "" && !strings.HasPrefix(format, "table"):
		for _, r := range rows {
			s, err := render(format, imageRow(r.im, r.ref))
			if err != nil {
				return d.fail(1, "%v", err)
			}
			fmt.Fprintln(d.stdout, s)
		}
	default:
		tw := tabwriter.NewWriter(d.stdout, 0, 0, 3, ' ', 0)
		fmt.Fprintln(tw, "REPOSITORY\tTAG\tIMAGE ID\tCREATED\tSIZE")
		for _, r := range rows {
			repo, tag := SplitRef(r.ref)
			fmt.Fprintf(tw, "%s\t%s\t%s\t1 minute ago\t1MB\n", repo, tag, r.im.ShortID())
		}
		tw.Flush()
	}
	return 0
}

func imageHasLabels(im *Image, labels []string) bool {
	for _, l := range labels {
		k, v, hasVal := strings.Cut(l, "=")
		got, ok := im.Labels[k]
		if !ok || (hasVal && got != v) {
			return false
		}
	}
	return true
}

// refMatches is docker's reference filter: a glob on repo:tag, or on the
// repository alone when the pattern has no tag.
func refMatches(ref string, patterns []string) bool {
	if len(patterns) == 0 {
		return true
	}
	repo, _ := SplitRef(ref)
	for _, pat := range patterns {
		patRepo, _ := SplitRef(pat)
		target := ref
		if patRepo == pat { // no tag in the pattern
			target = repo
		}
		if ok, _ := path.Match(pat, target); ok {
			return true
		}
	}
	return false
}

func (d *docker) tag(argv []string) int {
	if len(argv) != 2 {
		return d.fail(1, "\"docker tag\" requires exactly 2 arguments.")
	}
	im := d.state.findImage(argv[0])
	if im == nil {
		return d.fail(1, "Error response from daemon: No such image: %s", argv[0])
	}
	dst := NormalRef(argv[1])
	for _, other := range d.state.Images {
		other.Refs = without(other.Refs, dst)
	}
	im.Refs = append(im.Refs, dst)
	d.dropUntagged()
	return 0
}

func (d *docker) rmi(argv []string) int {
	p, err := parseFlags(argv, rmiFlags)
	if err != nil {
		return d.fail(125, "%v", err)
	}
	code := 0
	for _, a := range p.args {
		im := d.state.findImage(a)
		if im == nil {
			if !p.bool("force") {
				fmt.Fprintf(d.stderr, "Error: No such image: %s\n", a)
				code = 1
			}
			continue
		}
		ref := NormalRef(a)
		byRef := false
		for _, r := range im.Refs {
			byRef = byRef || r == ref
		}
		if byRef && len(im.Refs) > 1 {
			im.Refs = without(im.Refs, ref)
			fmt.Fprintf(d.stdout, "Untagged: %s\n", ref)
			continue
		}
		if user := d.containerUsing(im); user != nil && !p.bool("force") {
			fmt.Fprintf(d.stderr, "Error response from daemon: conflict: unable to remove repository reference %q (must force) - container %s is using its referenced image %s\n",
				a, user.ShortID(), im.ShortID())
			code = 1
			continue
		}
		for _, r := range im.Refs {
			fmt.Fprintf(d.stdout, "Untagged: %s\n", r)
		}
		im.Refs = nil
		d.dropUntagged()
		fmt.Fprintf(d.stdout, "Deleted: %s\n", im.ID)
	}
	return code
}

func (d *docker) imagePrune(argv []string) int {
	p, err := parseFlags(argv, pruneFlags)
	if err != nil {
		return d.fail(125, "%v", err)
	}
	var labels []string
	for _, f := range p.flags["filter"] {
		if k, v, ok := strings.Cut(f, "="); ok && k == "label" {
			labels = append(labels, v)
		}
	}
	if p.bool("all") {
		fmt.Fprintln(d.stdout, "Deleted Images:")
		for _, im := range append([]*Image(nil), d.state.Images...) {
			if imageHasLabels(im, labels) && d.containerUsing(im) == nil {
				for _, r := range im.Refs {
					fmt.Fprintf(d.stdout, "untagged: %s\n", r)
				}
				fmt.Fprintf(d.stdout, "deleted: %s\n", im.ID)
				im.Refs = nil
			}
		}
		d.dropUntagged()
	}
	// Without --all only dangling images go, and every image here is tagged.
	fmt.Fprintln(d.stdout, "Total reclaimed space: 0B")
	return 0
}

func (d *docker) containerUsing(im *Image) *Container {
	for _, c := range d.state.Containers {
		if c.ImageID == im.ID {
			return c
		}
	}
	return nil
}

// dropUntagged forgets images with no tag left that no container uses.
func (d *docker) dropUntagged() {
	kept := d.state.Images[:0]
	for _, im := range d.state.Images {
		if len(im.Refs) > 0 || d.containerUsing(im) != nil {
			kept = append(kept, im)
		}
	}
	d.state.Images = kept
}

func without(list []string, s string) []string {
	out := list[:0:0]
	for _, x := range list {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}
