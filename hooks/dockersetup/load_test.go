package dockersetup

import "github.com/wombatworkouts/berth/config"

func loadManifest(dir string) (*config.Manifest, error) {
	return config.LoadFrom(dir, config.DefaultPath)
}
