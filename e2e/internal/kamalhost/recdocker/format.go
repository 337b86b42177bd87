package recdocker

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"text/template"
	"time"
)

// Docker renders --format with Go templates over its API objects; the fake
// does the same over maps shaped like them, so Kamal's formats
// ('{{if .State.Health}}{{.State.Health.Status}}{{else}}{{.State.Status}}{{end}}',
// '{{json .State.Health}}', '{{ .Config.Labels.service }}', '{{.Names}}' ...)
// answer as docker's would, "<no value>" for a missing label included.
var templateFuncs = template.FuncMap{
	"json": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
	"join":  strings.Join,
	"lower": strings.ToLower,
	"upper": strings.ToUpper,
	"split": strings.Split,
	"title": func(s string) string {
		if s == "" {
			return s
		}
		return strings.ToUpper(s[:1]) + s[1:]
	},
	"println": fmt.Sprintln,
}

func render(format string, obj any) (string, error) {
	t, err := template.New("").Funcs(templateFuncs).Parse(format)
	if err != nil {
		return "", fmt.Errorf("template parsing error: %w", err)
	}
	var b strings.Builder
	if err := t.Execute(&b, obj); err != nil {
		return "", err
	}
	return b.String(), nil
}

// inspectContainer is `docker inspect` of a container (the fields Kamal
// and berth read, with Docker's names).
func inspectContainer(c *Container) map[string]any {
	var health any // nil: no health check, so {{if .State.Health}} is false
	if h := c.healthNow(); h != "" {
		health = map[string]any{"Status": h, "FailingStreak": 0, "Log": []any{}}
	}
	return map[string]any{
		"Id":      c.ID,
		"Name":    "/" + c.Name,
		"Image":   c.ImageID,
		"Created": c.Started.Format(time.RFC3339Nano),
		"State": map[string]any{
			"Status":     c.Status,
			"Running":    c.Running(),
			"Restarting": false,
			"Dead":       c.Status == "dead",
			"ExitCode":   0,
			"StartedAt":  c.Started.Format(time.RFC3339Nano),
			"Health":     health,
		},
		"Config": map[string]any{
			"Image":  c.Image,
			"Labels": c.Labels,
			"Env":    c.Env,
			"Cmd":    c.Command,
		},
		"HostConfig": map[string]any{"RestartPolicy": map[string]any{"Name": c.Restart}},
	}
}

func inspectImage(im *Image) map[string]any {
	labels := im.Labels
	if labels == nil {
		labels = map[string]string{}
	}
	return map[string]any{
		"Id":       im.ID,
		"RepoTags": im.Refs,
		"Config":   map[string]any{"Labels": labels},
	}
}

// psRow is one line of docker ps with its --format fields.
func psRow(c *Container, noTrunc bool) map[string]any {
	id := c.ShortID()
	if noTrunc {
		id = c.ID
	}
	keys := make([]string, 0, len(c.Labels))
	for k := range c.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	labels := make([]string, len(keys))
	for i, k := range keys {
		labels[i] = k + "=" + c.Labels[k]
	}
	status := "Created"
	switch c.Status {
	case "running":
		status = "Up " + humanSince(c.Started)
		if c.Health != "" {
			status += " (" + c.Health + ")"
		}
	case "exited":
		status = "Exited (0) " + humanSince(c.Started) + " ago"
	case "dead":
		status = "Dead"
	}
	return map[string]any{
		"ID":        id,
		"Names":     c.Name,
		"Image":     c.Image,
		"Labels":    strings.Join(labels, ","),
		"State":     c.Status,
		"Status":    status,
		"Command":   fmt.Sprintf("%q", strings.Join(c.Command, " ")),
		"CreatedAt": c.Started.Format("2006-01-02 15:04:05 -0700 MST"),
		"Networks":  "kamal",
		"Ports":     "",
	}
}

func humanSince(t time.Time) string {
	d := time.Since(t).Round(time.Second)
	if d < 2*time.Second {
		return "1 second"
	}
	if d < time.Minute {
		return fmt.Sprintf("%d seconds", int(d.Seconds()))
	}
	return fmt.Sprintf("%d minutes", int(d.Minutes()))
}

func imageRow(im *Image, ref string) map[string]any {
	repo, tag := SplitRef(ref)
	return map[string]any{"ID": im.ShortID(), "Repository": repo, "Tag": tag, "Digest": "<none>",
		"CreatedSince": "1 minute ago", "Size": "1MB"}
}

// info is `docker info`'s object: no registry mirrors.
func info() map[string]any {
	return map[string]any{
		"ServerVersion":  DockerVersion,
		"RegistryConfig": map[string]any{"Mirrors": []string{}},
		"Name":           "recdocker",
	}
}
