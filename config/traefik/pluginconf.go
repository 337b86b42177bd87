package traefik

import "github.com/wombatworkouts/berth/config"

// The plugin's own defaults (plugin/ owns them). berth writes an option only
// when the manifest sets it or when berth needs a different value, so the
// dynamic file stays short and a plugin default changes in one place.
const pluginDefaultAlwaysPass = "/up"

// PluginOptions is the berth middleware's configuration for one app. Keys
// are the plugin's Config field names (decoded case-insensitively by
// mapstructure under Traefik).
func PluginOptions(m *config.Manifest) map[string]any {
	o := map[string]any{
		"app":      m.App,
		"stateDir": m.Server.StateDir,
	}

	health := map[string]any{
		"path": m.Health.Path,
		// The probe goes through the router's `next`, so it needs the
		// Host header the app expects (Rails host authorization).
		"host": m.CanonicalDomain(),
	}
	p := m.Health.Probe
	if p.Enabled != nil {
		health["enabled"] = *p.Enabled
	}
	putString(health, "url", p.URL)
	putString(health, "interval", p.Interval)
	putString(health, "timeout", p.Timeout)
	putInt(health, "healthyThreshold", p.HealthyThreshold)
	putInt(health, "unhealthyThreshold", p.UnhealthyThreshold)
	o["health"] = health

	mt := m.Maintenance
	if mt.Enabled != nil {
		o["enabled"] = *mt.Enabled
	}
	putString(o, "message", mt.Message)
	putString(o, "unavailableMessage", mt.UnavailableMessage)
	// The page is inlined, because the template file lives in the app's
	// repository and Traefik cannot see it.
	putString(o, "template", m.Template)
	putInt(o, "status", mt.Status)
	putString(o, "retryAfter", mt.RetryAfter)
	if len(mt.Windows) > 0 {
		ws := make([]any, 0, len(mt.Windows))
		for _, w := range mt.Windows {
			win := map[string]any{"start": w.Start, "end": w.End}
			putString(win, "message", w.Message)
			ws = append(ws, win)
		}
		o["windows"] = ws
	}
	putStrings(o, "allowCIDRs", mt.AllowCIDRs)
	// The same list as the entry points' forwardedHeaders.trustedIPs
	// (static.go): Traefik drops X-Forwarded-For from any other peer.
	putStrings(o, "trustedProxies", m.Server.TrustedProxies)
	putString(o, "bypassSecretFile", mt.Bypass.SecretFile)
	putString(o, "bypassCookie", mt.Bypass.Cookie)
	putString(o, "bypassHeader", mt.Bypass.Header)
	switch {
	case len(mt.AlwaysPass) > 0:
		putStrings(o, "alwaysPass", mt.AlwaysPass)
	case m.Health.Path != pluginDefaultAlwaysPass:
		// The health path must answer even in maintenance, or smoke
		// checks and monitors would see the page instead.
		o["alwaysPass"] = []any{m.Health.Path}
	}
	putString(o, "statusPath", mt.StatusPath)
	putString(o, "pollInterval", mt.PollInterval)

	putString(o, "holdTimeout", m.Traffic.HoldTimeout)
	putInt(o, "maxHeld", m.Traffic.MaxHeld)
	return o
}

func putString(o map[string]any, k, v string) {
	if v != "" {
		o[k] = v
	}
}

func putInt(o map[string]any, k string, v int) {
	if v != 0 {
		o[k] = v
	}
}

func putStrings(o map[string]any, k string, v []string) {
	if len(v) == 0 {
		return
	}
	out := make([]any, len(v))
	for i, s := range v {
		out[i] = s
	}
	o[k] = out
}
