package config

// applyDefaults fills in what the manifest leaves out. Options that only the
// berth plugin reads are deliberately not defaulted here: the plugin has its
// own defaults, and berth writes only what the manifest changes.
func (m *Manifest) applyDefaults() {
	// Redirect: an apex/www pair redirects www to the apex unless told
	// otherwise, the common choice and the one kamal-proxy users expect.
	if m.Redirect == "" {
		m.Redirect = RedirectNone
		if len(domainPairs(m.Domains)) > 0 {
			m.Redirect = RedirectWWWToApex
		}
	}
	setString(&m.Health.Path, DefaultHealthPath)
	setString(&m.Health.Container.Interval, DefaultContainerInterval)
	setString(&m.Health.Container.Timeout, DefaultContainerTimeout)
	setInt(&m.Health.Container.Retries, DefaultContainerRetries)
	setString(&m.Health.Container.StartPeriod, DefaultContainerStartPeriod)

	if checkAppName(m.App) == "" {
		setString(&m.Storage.Volume, m.App+"_storage")
	}
	setString(&m.Storage.Database, DefaultDatabase)

	setString(&m.Litestream.Image, DefaultLitestreamImage)
	if m.ReplicaIsS3() {
		setString(&m.Litestream.Secrets.AccessKeyID, DefaultAccessKeyIDSecret)
		setString(&m.Litestream.Secrets.SecretAccessKey, DefaultSecretKeySecret)
	}

	setString(&m.Maintenance.Policy, PolicyWhenMigrationsPending)

	setInt(&m.Traffic.Retry.Attempts, DefaultRetryAttempts)
	setString(&m.Traffic.Retry.InitialInterval, DefaultRetryInitialInterval)
	if m.Traffic.PassiveHealthCheck.Enabled == nil {
		on := true
		m.Traffic.PassiveHealthCheck.Enabled = &on
	}
	setString(&m.Traffic.PassiveHealthCheck.FailureWindow, DefaultPassiveFailureWindow)
	setInt(&m.Traffic.PassiveHealthCheck.MaxFailedAttempts, DefaultPassiveMaxFailedAttempts)

	if len(m.Smoke.Checks) == 0 && !m.has("smoke.checks") {
		m.Smoke.Checks = []SmokeCheck{{Path: m.Health.Path}}
	}
	for i := range m.Smoke.Checks {
		setInt(&m.Smoke.Checks[i].Status, 200)
		setString(&m.Smoke.Checks[i].Host, m.CanonicalDomain())
	}
	setInt(&m.Smoke.CertificateMinDays, DefaultCertificateMinDays)

	setString(&m.Server.ACME.Challenge, ChallengeHTTP)
	setString(&m.Server.TraefikVersion, DefaultTraefikVersion)
	setString(&m.Server.Plugin.Source, PluginLocal)
	setString(&m.Server.StateDir, DefaultStateDir)
}

func setString(p *string, def string) {
	if *p == "" {
		*p = def
	}
}

func setInt(p *int, def int) {
	if *p == 0 {
		*p = def
	}
}

// domainPairs returns the apex names that appear both bare and with www.
func domainPairs(domains []string) []string {
	set := map[string]bool{}
	for _, d := range domains {
		set[d] = true
	}
	var out []string
	for _, d := range domains {
		if apex, ok := cutWWW(d); ok && set[apex] {
			out = append(out, apex)
		}
	}
	return out
}

// cutWWW strips a leading "www." label.
func cutWWW(d string) (string, bool) {
	const www = "www."
	if len(d) > len(www) && d[:len(www)] == www {
		return d[len(www):], true
	}
	return d, false
}
