package rehearsal

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

// The short rehearsal (make e2e): wombat set up, deployed without and with
// a migration, and put into server-wide maintenance under load, through
// Traefik with berth and, on the same containers, without. Every phase must
// lose no request through berth; the restore point must restore and match.
func TestShortRehearsal(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the stand-in containers listen on port 80 of 127.0.0.x addresses, which needs root")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	var progress strings.Builder
	rep, err := Run(ctx, Options{Short: true, Workers: 2, Progress: &progress})
	if rep != nil {
		var out strings.Builder
		rep.Print(&out)
		t.Log(out.String())
	}
	if err != nil {
		t.Fatalf("%v\n%s", err, progress.String())
	}
	if n := rep.Failed(); n != 0 {
		t.Errorf("%d requests failed through berth, want 0", n)
	}
	byName := map[string]Phase{}
	for _, p := range rep.Phases {
		byName[p.Name] = p
		if p.Berth.Sent < 100 {
			t.Errorf("%s: only %d requests through berth; the load did not run", p.Name, p.Berth.Sent)
		}
	}
	if p := byName["deploy v2 (migration, maintenance)"]; p.Berth.Intended == 0 {
		t.Errorf("the deploy with a pending migration served no maintenance page")
	}
	if p := byName["deploy v1b (no migration)"]; p.Berth.Intended != 0 {
		t.Errorf("the deploy without a migration served %d maintenance pages", p.Berth.Intended)
	}
	if rep.MaintenanceOnTook <= 0 || rep.MaintenanceOnTook > 2*time.Second {
		t.Errorf("maintenance on took %s to show, want within 2 s", rep.MaintenanceOnTook)
	}
	if !strings.Contains(rep.RestoreCheck, "integrity ok") {
		t.Errorf("restore check: %q", rep.RestoreCheck)
	}
}
