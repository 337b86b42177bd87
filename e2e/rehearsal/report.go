package rehearsal

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Failed is the number of failed requests through berth in the phases it
// must get through without one (every phase but the crash of the only
// container).
func (rep *Report) Failed() int {
	n := 0
	for _, p := range rep.Phases {
		if p.Goal0 {
			n += p.Berth.Failed
		}
	}
	return n
}

// Print writes the report as a Markdown table and a timeline.
func (rep *Report) Print(w io.Writer) {
	fmt.Fprintf(w, "\n## Rehearsal report (%s)\n\n", rep.Duration.Round(time.Second))
	fmt.Fprintln(w, "GET /workouts on wombatworkouts.com over HTTPS, closed-loop workers per Traefik; the same containers")
	fmt.Fprintln(w, "behind two Traefiks: with berth (the config berth renders) and without (Kamal 1's retry, no berth).")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| phase | with berth: sent | failed | maintenance 503 | p99 | max | without berth: sent | failed | p99 |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|---|")
	for _, p := range rep.Phases {
		name := p.Name
		if !p.Goal0 {
			name += " (no goal)"
		}
		fmt.Fprintf(w, "| %s | %d | **%d**%s | %d | %s | %s | %d | %d%s | %s |\n", name,
			p.Berth.Sent, p.Berth.Failed, statuses(p.Berth), p.Berth.Intended, ms(p.Berth.P99()), ms(p.Berth.Max()),
			p.Plain.Sent, p.Plain.Failed, statuses(p.Plain), ms(p.Plain.P99()))
	}
	fmt.Fprintln(w)
	for _, p := range rep.Phases {
		if p.Timeline == nil && p.Note == "" {
			continue
		}
		fmt.Fprintf(w, "- %s", p.Name)
		if p.Note != "" {
			fmt.Fprintf(w, " (%s)", p.Note)
		}
		fmt.Fprintln(w)
		if p.Timeline != nil && len(p.Timeline.Events) > 0 {
			t0 := p.Timeline.Events[0].At
			var steps []string
			for _, e := range p.Timeline.Events {
				steps = append(steps, fmt.Sprintf("+%.1fs %s", e.At.Sub(t0).Seconds(), e.What))
			}
			fmt.Fprintf(w, "  - %s\n", strings.Join(steps, " → "))
		}
	}
	if rep.MaintenanceOnTook > 0 {
		fmt.Fprintf(w, "\n`berth maintenance on --all` to the first 503: %s\n", ms(rep.MaintenanceOnTook))
	}
	if rep.RestoreCheck != "" {
		fmt.Fprintf(w, "Restore point: %s\n", rep.RestoreCheck)
	}
	fmt.Fprintf(w, "\nFailed requests through berth in deploys, boots and maintenance (goal 0): %d\n", rep.Failed())
}

func ms(d time.Duration) string {
	if d == 0 {
		return "–"
	}
	return fmt.Sprintf("%d ms", d.Milliseconds())
}

func statuses(s Stats) string {
	if s.Failed == 0 {
		return ""
	}
	var parts []string
	for code, n := range s.ByStatus {
		parts = append(parts, fmt.Sprintf("%d×%d", n, code))
	}
	if s.Errors > 0 {
		parts = append(parts, fmt.Sprintf("%d×error", s.Errors))
	}
	return " (" + strings.Join(parts, ", ") + ")"
}
