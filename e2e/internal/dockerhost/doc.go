// Package dockerhost gives end-to-end tests a real Docker Engine, a real
// image registry on 127.0.0.1 and the stand-in Rails app as a real image, so
// Kamal can deploy to this machine the way it deploys to a server.
//
//	eng := dockerhost.StartEngine(t, dockerhost.EngineOptions{})   // or reuse DOCKER_HOST
//	reg := dockerhost.StartRegistry(t)                               // docker-registry on 127.0.0.1:PORT
//	base := dockerhost.ImportBase(t, eng)                            // Debian bookworm + curl
//	img := dockerhost.BuildRailsImage(t, eng, base, dockerhost.RailsImage{
//		Repository: reg.Addr + "/wombatworkouts/wombat_workouts",
//		Service:    "wombat_workouts",
//		Tags:       map[string]map[string]string{"slow": {"STANDIN_BOOT_DELAY": "26s"}},
//	})
//	eng.MustDocker(t, "push", img.Ref("slow"))
//
// # The engine
//
// StartEngine reuses the engine at DOCKER_HOST when it answers. Otherwise it
// starts `dockerd` (Debian's docker.io, Docker 20.10, or the binary given in
// EngineOptions.Dockerd, e.g. the Docker 28 that e2e/scripts/build-dockerd.sh
// builds) as root on a private socket, exec root and data root, and stops it
// when the test ends, also when it fails. Several engines can run on one
// machine at once, so each one leaves the host's shared state alone: no
// default bridge (--bridge=none: Kamal creates its own `kamal` network), no
// iptables rules (nothing here needs NAT or published ports), and a /22 of
// 10.231.0.0/16 picked at random for the networks it creates.
//
// Its data root is new for every engine and removed with it: importing the
// cached base image into an empty engine (1.2 s to start + 3.5 s to import,
// measured with Docker 28.5.2 on this 2-core machine) costs the same as
// restarting an engine on a data root that already holds it (4.7 s), and
// starts every test from nothing.
//
// # Images
//
// No registry outside this machine is reachable, so images are made here.
// ImportBase imports the Debian base that e2e/scripts/build-debian-base.sh
// makes once with debootstrap (minbase bookworm plus curl and
// ca-certificates, like a Rails 8 image, cached in ~/.cache/berth/images/).
// BuildRailsImage puts the stand-in Rails app (e2e/cmd/standin-rails, built
// static) on it as /rails/bin/rails, laid out like a Rails 8 image: WORKDIR
// /rails, user 1000:1000, Thruster's port 80, `bin/rails server` with
// db:prepare first (bin/docker-entrypoint), `bin/rails db:migrate` with the
// migrations in /rails/db/migrate, SQLite in /rails/storage, and the label
// service=<service> Kamal checks. Each tag is the same files with its own
// environment, e.g. STANDIN_BOOT_DELAY for an app that boots slowly or
// STANDIN_UNHEALTHY_FILE for one whose /up never passes.
//
// Needs root, dockerd and docker (Debian's docker.io), docker-registry and
// debootstrap (Debian packages), and go.
package dockerhost
