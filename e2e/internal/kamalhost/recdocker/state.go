package recdocker

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"
)

// State is what the fake "runs": containers, images and networks, kept in
// StateFile between calls so that what one call starts the next one lists.
type State struct {
	// Seq counts calls; Creations counts containers and orders them by age.
	Seq        int          `json:"seq"`
	Creations  int          `json:"creations"`
	Containers []*Container `json:"containers"`
	Images     []*Image     `json:"images"`
	Networks   []string     `json:"networks"`
	// RuleHits counts the matches of each rule (by index), for Rule.Times.
	RuleHits map[int]int `json:"rule_hits,omitempty"`
}

// Container is one container record.
type Container struct {
	ID      string            `json:"id"` // 64 hex digits
	Name    string            `json:"name"`
	Image   string            `json:"image"` // as given to docker run
	ImageID string            `json:"image_id"`
	Labels  map[string]string `json:"labels,omitempty"`
	Env     []string          `json:"env,omitempty"` // --env values, in order
	Command []string          `json:"command,omitempty"`
	Restart string            `json:"restart,omitempty"`
	// Status is created, running, exited or dead.
	Status  string    `json:"status"`
	Created int       `json:"created"` // State.Creations at creation
	Started time.Time `json:"started"`
	// Health is "" without a health check, else starting, healthy or
	// unhealthy; HealthyAfter/Inspections let a rule turn it healthy later.
	Health       string `json:"health,omitempty"`
	HealthyAfter int    `json:"healthy_after,omitempty"`
	Inspections  int    `json:"inspections,omitempty"`
	// StopTimeout is the -t of the last docker stop ("" when never stopped).
	StopTimeout string `json:"stop_timeout,omitempty"`
}

// Running is true for the states Docker counts as running.
func (c *Container) Running() bool { return c.Status == "running" }

// ShortID is the 12-digit ID docker prints.
func (c *Container) ShortID() string { return c.ID[:12] }

// healthNow is the health an inspection reports, counting the inspection.
func (c *Container) healthNow() string {
	if c.Health == "" || !c.Running() {
		return c.Health
	}
	c.Inspections++
	if c.HealthyAfter > 0 && c.Inspections > c.HealthyAfter {
		c.Health = "healthy"
	}
	return c.Health
}

// Image is one image (one ID) with its tags.
type Image struct {
	ID     string            `json:"id"` // sha256:<64 hex>
	Refs   []string          `json:"refs"`
	Labels map[string]string `json:"labels,omitempty"`
}

// ShortID is the 12-digit ID docker image ls prints.
func (im *Image) ShortID() string { return strings.TrimPrefix(im.ID, "sha256:")[:12] }

// SplitRef splits an image reference into repository and tag ("latest" when
// none is given). A registry port ("127.0.0.1:5000/app") is not a tag.
func SplitRef(ref string) (repo, tag string) {
	slash := strings.LastIndex(ref, "/")
	if colon := strings.LastIndex(ref, ":"); colon > slash {
		return ref[:colon], ref[colon+1:]
	}
	return ref, "latest"
}

// NormalRef is ref with its tag spelt out.
func NormalRef(ref string) string {
	repo, tag := SplitRef(ref)
	return repo + ":" + tag
}

func newContainerID() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails since Go 1.24
	return hex.EncodeToString(b)
}

// imageIDFor gives every pulled reference its own stable ID, so two
// versions are two images and a tag shares the ID of its source.
func imageIDFor(ref string) string {
	sum := sha256.Sum256([]byte("recdocker image " + NormalRef(ref)))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// findImage finds an image by reference, full ID or ID prefix.
func (s *State) findImage(nameOrID string) *Image {
	ref := NormalRef(nameOrID)
	for _, im := range s.Images {
		for _, r := range im.Refs {
			if r == ref {
				return im
			}
		}
	}
	id := strings.TrimPrefix(nameOrID, "sha256:")
	if len(id) >= 12 && isHex(id) {
		for _, im := range s.Images {
			if strings.HasPrefix(strings.TrimPrefix(im.ID, "sha256:"), id) {
				return im
			}
		}
	}
	return nil
}

// findContainer finds a container by name, full ID or ID prefix.
func (s *State) findContainer(nameOrID string) *Container {
	name := strings.TrimPrefix(nameOrID, "/")
	for _, c := range s.Containers {
		if c.Name == name {
			return c
		}
	}
	if len(nameOrID) >= 1 && isHex(nameOrID) {
		var found *Container
		for _, c := range s.Containers {
			if strings.HasPrefix(c.ID, nameOrID) {
				if found != nil {
					return nil // ambiguous, as docker says
				}
				found = c
			}
		}
		return found
	}
	return nil
}

func isHex(s string) bool {
	for _, r := range s {
		if !strings.ContainsRune("0123456789abcdef", r) {
			return false
		}
	}
	return s != ""
}

// addImage records ref, with labels, unless it is already there.
func (s *State) addImage(ref string, labels map[string]string) *Image {
	if im := s.findImage(ref); im != nil {
		return im
	}
	id := imageIDFor(ref)
	for _, im := range s.Images {
		if im.ID == id {
			im.Refs = append(im.Refs, NormalRef(ref))
			return im
		}
	}
	im := &Image{ID: id, Refs: []string{NormalRef(ref)}, Labels: labels}
	s.Images = append(s.Images, im)
	return im
}

// newestFirst orders containers as docker ps lists them.
func (s *State) newestFirst() []*Container {
	out := append([]*Container(nil), s.Containers...)
	sort.SliceStable(out, func(i, j int) bool { return out[i].Created > out[j].Created })
	return out
}

func (s *State) removeContainer(c *Container) {
	for i, x := range s.Containers {
		if x == c {
			s.Containers = append(s.Containers[:i], s.Containers[i+1:]...)
			return
		}
	}
}

// store is the fake's directory with its lock held.
type store struct {
	dir  string
	lock *os.File
}

// lockStore takes the directory's lock; callers must unlock.
func lockStore(dir string) (*store, error) {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("recdocker lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("recdocker lock: %w", err)
	}
	return &store{dir: dir, lock: f}, nil
}

func (st *store) unlock() {
	syscall.Flock(int(st.lock.Fd()), syscall.LOCK_UN)
	st.lock.Close()
}

func (st *store) load() (*State, error) {
	return ReadState(st.dir)
}

func (st *store) save(s *State) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("encode recdocker state: %w", err)
	}
	return writeAtomic(filepath.Join(st.dir, StateFile), b)
}

// ReadState reads dir's state; a missing file is an empty state.
func ReadState(dir string) (*State, error) {
	s := &State{}
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read recdocker state: %w", err)
	}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, StateFile), err)
	}
	return s, nil
}

// UpdateState changes dir's state under the fake's lock, so a test can seed
// containers (e.g. a running accessory) between kamal commands.
func UpdateState(dir string, change func(*State) error) error {
	st, err := lockStore(dir)
	if err != nil {
		return err
	}
	defer st.unlock()
	s, err := st.load()
	if err != nil {
		return err
	}
	if err := change(s); err != nil {
		return err
	}
	return st.save(s)
}

// SeedContainer adds a running container named name from image with labels,
// as if an earlier deploy had started it.
func (s *State) SeedContainer(name, image string, labels map[string]string) *Container {
	im := s.addImage(image, nil)
	s.Creations++
	c := &Container{ID: newContainerID(), Name: name, Image: image, ImageID: im.ID, Labels: labels,
		Status: "running", Created: s.Creations, Started: time.Now().UTC()}
	s.Containers = append(s.Containers, c)
	return c
}

// Container finds a container by name or ID (nil when there is none).
func (s *State) Container(nameOrID string) *Container { return s.findContainer(nameOrID) }
