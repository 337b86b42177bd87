module github.com/wombatworkouts/berth

go 1.22

require (
	github.com/traefik/genconf v0.5.2 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
	sigs.k8s.io/yaml v1.4.0 // indirect
)
