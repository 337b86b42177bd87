package pebble

import (
	"regexp"
	"time"
)

// What Pebble v2.10.3 logs (wfe/wfe.go, va/va.go, ca/ca.go) for the events
// the tests count. Each event is timed by when this process read the line.
var (
	orderLine    = regexp.MustCompile(`Added order "([^"]+)" to the db`)
	validateLine = regexp.MustCompile(`Pulled a task from the Tasks queue: &va\.vaTask\{Identifier:acme\.Identifier\{Type:"dns", Value:"([^"]+)"\}`)
	issuedLine   = regexp.MustCompile(`Issued certificate serial ([0-9a-f]+) for order ([^\s]+)`)
)

// Event is one counted event: an order created, a validation started (for
// Name), a certificate issued.
type Event struct {
	At   time.Time
	Name string // the validated name (Validations); the order ID otherwise
}

// Orders are the orders Pebble created, for any name.
func (c *CA) Orders() []Event { return c.events(orderLine) }

// Validations are the challenge validations Pebble started, by name. With
// authorization reuse off (Start), each order of a name that has no valid
// authorization causes one.
func (c *CA) Validations() []Event { return c.events(validateLine) }

// Issued are the certificates Pebble issued (Name is the order ID).
func (c *CA) Issued() []Event {
	var out []Event
	for _, l := range c.Lines() {
		if m := issuedLine.FindStringSubmatch(l.Text); m != nil {
			out = append(out, Event{At: l.At, Name: m[2]})
		}
	}
	return out
}

func (c *CA) events(re *regexp.Regexp) []Event {
	var out []Event
	for _, l := range c.Lines() {
		if m := re.FindStringSubmatch(l.Text); m != nil {
			out = append(out, Event{At: l.At, Name: m[1]})
		}
	}
	return out
}

// Between keeps the events in [from, to) and, when name is not empty,
// only those for name.
func Between(evs []Event, from, to time.Time, name string) []Event {
	var out []Event
	for _, e := range evs {
		if e.At.Before(from) || !e.At.Before(to) {
			continue
		}
		if name != "" && e.Name != name {
			continue
		}
		out = append(out, e)
	}
	return out
}
