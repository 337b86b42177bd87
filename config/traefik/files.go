package traefik

import "github.com/wombatworkouts/berth/config"

// Rendered is everything Traefik needs on the server for one app: the
// static config, the dynamic file every app shares, and the app's own.
type Rendered struct {
	Static, Server, App []byte
}

// Render renders the three Traefik files for m; `berth config render` writes
// them into the app's repository and docker-setup installs them on the
// server.
func Render(m *config.Manifest) (Rendered, error) {
	var r Rendered
	var err error
	if r.Static, err = NewStatic(m.Server).Marshal(); err != nil {
		return r, err
	}
	if r.Server, err = RenderServer(); err != nil {
		return r, err
	}
	if r.App, err = RenderApp(m); err != nil {
		return r, err
	}
	return r, nil
}
