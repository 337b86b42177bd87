package deploy

import (
	"context"
	"fmt"
	"strings"

	"github.com/wombatworkouts/berth/config/kamal"
	"github.com/wombatworkouts/berth/hooks/transport"
)

// latest is the version `kamal app boot` records when it is run without
// --version: the container is <service>-web-latest and runs the image Kamal
// tagged latest at the last deploy. `kamal rollback latest` would boot the
// new image again, so it is never a version to roll back to.
const latest = "latest"

// previousVersion is the version running now, for the rollback command
// post-deploy prints, or "" when none is known. After `kamal app boot` the
// running container is named after "latest"; the image it runs also carries
// the tag of the version that was deployed, read from Docker on the server.
func previousVersion(ctx context.Context, d Deps) (string, error) {
	c, cancel := d.step(ctx, d.Timeouts.RunningVersion)
	defer cancel()
	v, err := d.Transport.RunningVersion(c)
	if err != nil || v != latest {
		return v, err
	}
	return versionBehindLatest(c, d)
}

func versionBehindLatest(ctx context.Context, d Deps) (string, error) {
	name := d.Manifest.App + "-" + kamal.Role
	if d.Env.Destination != "" {
		name += "-" + d.Env.Destination
	}
	name += "-" + latest
	frame := transport.NewFrame()
	script := frame.Wrap(`img=$(docker inspect -f '{{.Image}}' ` + transport.Quote(name) + ` 2>/dev/null) && docker image inspect -f '{{range .RepoTags}}{{println .}}{{end}}' "$img"`)
	out, err := d.Transport.Server(ctx, script)
	if err != nil {
		return "", fmt.Errorf("the running container is %s (kamal app boot without --version); reading its image's tags: %w", name, err)
	}
	body, ok := frame.Extract(out)
	if !ok {
		return "", fmt.Errorf("the running container is %s; no answer when reading its image's tags: %q", name, lastLine(out))
	}
	return tagOtherThanLatest(body), nil
}

// tagOtherThanLatest picks the version tag among an image's repo:tag lines.
func tagOtherThanLatest(lines string) string {
	for _, l := range strings.Split(lines, "\n") {
		l = strings.TrimSpace(l)
		i := strings.LastIndexByte(l, ':')
		if i < 0 || strings.Contains(l[i:], "/") {
			continue
		}
		if tag := l[i+1:]; tag != "" && tag != latest {
			return tag
		}
	}
	return ""
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
