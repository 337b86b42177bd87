package plugin

import (
	"encoding/json"
	"net/http"
	"time"
)

// statusJSON is what the status endpoint answers to operators.
type statusJSON struct {
	App         string `json:"app"`
	Mode        string `json:"mode"`
	WrittenMode string `json:"written_mode"`
	Source      string `json:"source,omitempty"`
	Message     string `json:"message,omitempty"`
	Until       string `json:"until,omitempty"`
	// By and At are the winning state file's "by" and "at": who switched
	// the mode and when.
	By          string `json:"by,omitempty"`
	At          string `json:"at,omitempty"`
	Since       string `json:"since"`
	Healthy     bool   `json:"healthy"`
	HealthCheck bool   `json:"health_check"`
	LastProbe   string `json:"last_probe,omitempty"`
	ProbeError  string `json:"probe_error,omitempty"`
	Held        int64  `json:"held"`
	MaxHeld     int    `json:"max_held"`
}

func (b *Berth) serveStatus(w http.ResponseWriter, r *http.Request, now time.Time) {
	snap := b.c.current()
	st := statusJSON{
		App:         b.s.app,
		Mode:        string(snap.effective()),
		WrittenMode: string(snap.mode),
		Source:      snap.source,
		Message:     snap.message,
		By:          snap.by,
		Since:       snap.since.UTC().Format(time.RFC3339Nano),
		Healthy:     snap.healthy,
		HealthCheck: b.s.health.enabled,
		ProbeError:  snap.probeError,
		Held:        b.c.held.Load(),
		MaxHeld:     b.s.maxHeld,
	}
	if !snap.until.IsZero() {
		st.Until = snap.until.UTC().Format(time.RFC3339)
	}
	if !snap.at.IsZero() {
		st.At = snap.at.UTC().Format(time.RFC3339)
	}
	if !snap.lastProbe.IsZero() {
		st.LastProbe = snap.lastProbe.UTC().Format(time.RFC3339Nano)
	}
	body, _ := json.MarshalIndent(st, "", "  ")
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		_, _ = w.Write(append(body, '\n'))
	}
}
