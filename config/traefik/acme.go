package traefik

import "github.com/wombatworkouts/berth/config"

// Where Traefik keeps its ACME account and certificates: one file per CA,
// on the volume mounted at ACMEDir.
//
// Traefik keys an acme.json by resolver name only. Given another caServer
// it registers a new account but keeps the stored certificates and serves
// them until renewal, about 60 days: switching from staging to production
// with one file keeps the untrusted staging certificates and the production
// CA gets no order at all. A file per CA makes the switch a fresh store, so
// production certificates are ordered at the next start, and a switch back
// to staging finds its own account and certificates again.
//
// Production keeps the name berth has always used, so a server that already
// runs on production keeps its certificates when berth is upgraded.
const (
	ACMEDir            = "/letsencrypt"
	ACMEStorage        = ACMEDir + "/acme.json"         // Let's Encrypt production
	ACMEStorageStaging = ACMEDir + "/acme-staging.json" // Let's Encrypt staging

	LetsEncryptStaging = "https://acme-staging-v02.api.letsencrypt.org/directory"
)

// ACMEStoragePath is the storage file for the CA a server uses.
func ACMEStoragePath(staging bool) string {
	if staging {
		return ACMEStorageStaging
	}
	return ACMEStorage
}

// NewACME is the resolver for a manifest's server.acme. HTTP-01 is the only
// challenge: it is answered from a fixed router, so a name that fails
// validation is ordered again only when the configuration changes for some
// other reason (a container starts or stops), never in a loop. TLS-ALPN-01
// makes Traefik push a configuration per challenge, and each push starts a
// new order for every name still without a certificate (config.ChallengeTLS
// is refused for that reason). Traefik's default caServer is Let's Encrypt
// production, so it is written only for staging.
func NewACME(a config.ACME) ACME {
	acme := ACME{
		Email:         a.Email,
		Storage:       ACMEStoragePath(a.Staging),
		HTTPChallenge: &HTTPChallenge{EntryPoint: EntryPointWeb},
	}
	if a.Staging {
		acme.CAServer = LetsEncryptStaging
	}
	return acme
}
