package config_test

import (
	"fmt"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/wombatworkouts/berth/e2e/internal/dockerapi"
)

// dockerEngine drives the stand-in Docker Engine API (internal/dockerapi)
// for Traefik's docker provider: the test says which containers exist and
// whether they run, as Kamal leaves them, and the engine announces each
// change with the events dockerd would emit.
type dockerEngine struct {
	*dockerapi.Engine
	ids map[string]string // the test's container IDs -> the engine's
}

// engineContainer is a container as Kamal would run it.
type engineContainer struct {
	ID, Name string
	Labels   map[string]string
	Running  bool
	IP       string // its address on the kamal network (a loopback address here)
	Port     string // the port the image exposes (EXPOSE)
}

func startDockerEngine(t *testing.T) *dockerEngine {
	t.Helper()
	e, err := dockerapi.New(filepath.Join(shortTempDir(t, "berth-docker-"), "docker.sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return &dockerEngine{Engine: e, ids: map[string]string{}}
}

// Put makes the container exist in the given state. A container first put
// as not running is one that ran and was stopped (Kamal's previous release).
func (d *dockerEngine) Put(c engineContainer) error {
	id, known := d.ids[c.ID]
	if !known {
		port, _ := strconv.Atoi(c.Port)
		ip := c.IP
		if ip == "" {
			ip = "127.0.3.250" // never listened on; shown only while running
		}
		var err error
		id, err = d.Create(dockerapi.ContainerSpec{Name: c.Name, Image: "ghcr.io/example/" + c.Name, Labels: c.Labels, IPAddress: ip, ExposedPort: port})
		if err != nil {
			return err
		}
		d.ids[c.ID] = id
		if err := d.Start(id); err != nil {
			return err
		}
		if !c.Running {
			return d.stop(id)
		}
		return nil
	}
	cur, err := d.Inspect(id)
	if err != nil {
		return err
	}
	switch {
	case c.Running && !cur.Running:
		return d.Start(id)
	case !c.Running && cur.Running:
		return d.stop(id)
	}
	return nil
}

// stop is `docker stop` whose process exits at once.
func (d *dockerEngine) stop(id string) error {
	if err := d.Stop(id); err != nil {
		return err
	}
	if err := d.Exited(id, 0); err != nil {
		return fmt.Errorf("exited: %w", err)
	}
	return nil
}

// Seen counts the requests Traefik made to a route (without the version).
func (d *dockerEngine) Seen(route string) int {
	n := 0
	for _, r := range d.Requests() {
		if r.Route == route {
			n++
		}
	}
	return n
}
