package starter_test

import (
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/wombatworkouts/berth/config"
	"github.com/wombatworkouts/berth/config/internal/golden"
	"github.com/wombatworkouts/berth/config/starter"
)

func TestFromDeploy(t *testing.T) {
	for _, tc := range []struct {
		name   string
		deploy string
		check  func(t *testing.T, in starter.Inputs)
	}{
		{"ghcr with proxy host", `service: wombat_workouts
image: wombatworkouts/wombat_workouts
servers:
  web:
    hosts:
      - 203.0.113.10
      - 203.0.113.11: canary
proxy:
  ssl: true
  hosts: [wombatworkouts.com, www.wombatworkouts.com]
registry:
  server: ghcr.io
  username: WombatBot
  password: [KAMAL_REGISTRY_PASSWORD]
volumes:
  - "wombat_data:/rails/storage"
`, func(t *testing.T, in starter.Inputs) {
			if in.App != "wombat_workouts" || in.Image != "ghcr.io/wombatworkouts/wombat_workouts" || in.RegistryUsername != "WombatBot" {
				t.Errorf("inputs = %+v", in)
			}
			if strings.Join(in.Hosts, ",") != "203.0.113.10,203.0.113.11" || strings.Join(in.Domains, ",") != "wombatworkouts.com,www.wombatworkouts.com" {
				t.Errorf("hosts %v domains %v", in.Hosts, in.Domains)
			}
			if in.Volume != "wombat_data" {
				t.Errorf("volume = %q", in.Volume)
			}
		}},
		{"docker hub with ERB user", `service: shop
image: acme/shop
servers: [10.0.0.1]
registry:
  username: <%= ENV["USER"] %>
`, func(t *testing.T, in starter.Inputs) {
			if in.Image != "ghcr.io/acme/shop" || in.RegistryUsername != "" {
				t.Errorf("inputs = %+v", in)
			}
			if len(in.ToDo) == 0 || !strings.Contains(in.ToDo[0], "GitHub's registry") {
				t.Errorf("todo = %v", in.ToDo)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in, err := starter.FromDeploy([]byte(tc.deploy))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, in)
		})
	}
	if _, err := starter.FromDeploy([]byte("image: x\n")); err == nil {
		t.Error("a deploy.yml without service: accepted")
	}
	if _, err := starter.FromDeploy([]byte("service: [\n")); err == nil {
		t.Error("broken YAML accepted")
	}
}

// The starter written from what `rails new` generates must load as it is,
// so `berth config render` works before any edit.
func TestStarterFromRailsFixtureLoads(t *testing.T) {
	for name, deploy := range golden.RailsDeploys(t) {
		t.Run(name, func(t *testing.T) { starterLoads(t, deploy) })
	}
}

func starterLoads(t *testing.T, deploy []byte) {
	in, err := starter.FromDeploy(deploy)
	if err != nil {
		t.Fatal(err)
	}
	if in.App != "wombat_workouts" || in.Image != "ghcr.io/your-github-user/wombat_workouts" || in.Hosts[0] != "192.168.0.1" {
		t.Errorf("inputs = %+v", in)
	}
	out := starter.Render(in)
	m, err := config.Parse(out, "config/berth.yml")
	if err != nil {
		t.Fatalf("starter does not load: %v\n%s", err, out)
	}
	if m.Storage.Volume != "wombat_workouts_storage" || m.Domains[0] != "wombat-workouts.example.com" {
		t.Errorf("manifest = %+v", m)
	}
	for _, todo := range []string{"192.168.0.1 is the placeholder", "your GitHub user", "placeholder; list your domain", "create the bucket", "server.acme.email"} {
		if !strings.Contains(string(out), todo) {
			t.Errorf("starter lacks the to-do %q", todo)
		}
	}
}

func TestStarterWithCustomVolumeAndRedirectPair(t *testing.T) {
	in := starter.Inputs{
		App: "wombat_workouts", Image: "ghcr.io/wombatworkouts/wombat_workouts", Hosts: []string{"203.0.113.10"},
		Domains: []string{"wombatworkouts.com", "www.wombatworkouts.com"}, Volume: "wombat_data", RegistryUsername: "bot",
	}
	m, err := config.Parse(starter.Render(in), "berth.yml")
	if err != nil {
		t.Fatal(err)
	}
	if m.Storage.Volume != "wombat_data" || m.Redirect != config.RedirectWWWToApex || m.Server.ACME.Email != "ops@wombatworkouts.com" || m.RegistryUsername() != "bot" {
		t.Errorf("manifest = %+v", m)
	}
}

// The settings init carries from deploy.yml come out as a kamal: section
// that the manifest loads with.
func TestRenderKamalSection(t *testing.T) {
	in := starter.Inputs{App: "lists", Image: "ghcr.io/wombatworkouts/lists", Hosts: []string{"95.217.1.10"}, Domains: []string{"lists.wombatworkouts.com"}, From: "config/deploy.yml"}
	var kamal yaml.Node
	if err := yaml.Unmarshal([]byte("ssh:\n  user: deploy\nbuilder:\n  arch: arm64\nenv:\n  clear:\n    PORT: \"3000\"\n"), &kamal); err != nil {
		t.Fatal(err)
	}
	in.Kamal = kamal.Content[0]
	out := string(starter.Render(in))
	if !strings.Contains(out, "# Settings of config/deploy.yml that berth does not write itself, copied by `berth config init`:\n") ||
		!strings.Contains(out, "kamal:\n  ssh:\n    user: deploy\n  builder:\n    arch: arm64\n") {
		t.Errorf("no kamal: section:\n%s", out)
	}
	m, err := config.Parse([]byte(out), "config/berth.yml")
	if err != nil {
		t.Fatalf("the starter with a kamal: section does not load: %v\n%s", err, out)
	}
	if m.Kamal.Kind != yaml.MappingNode || len(m.Kamal.Content) != 6 {
		t.Errorf("kamal: section = %+v", m.Kamal)
	}
}
