module github.com/wombatworkouts/berth

go 1.22

require (
	github.com/traefik/genconf v0.5.2
	gopkg.in/yaml.v3 v3.0.1
	sigs.k8s.io/yaml v1.4.0
)
