// Package dockerapi is a stand-in Docker Engine API for berth's deploy
// rehearsal. No Docker engine runs on the machines berth is developed and
// tested on, so the rehearsal cannot start real containers; instead this
// package serves the part of the Engine API that Traefik v3.6's docker
// provider reads, over HTTP on a unix socket, and lets the rehearsal drive
// "containers" through a small Go API. A container here is only a record:
// the process behind it is whatever the test runs on the container's
// loopback address (127.0.0.x), for example a stand-in Rails app.
//
// It was written against Traefik v3.6.12 (pkg/provider/docker) and the
// Docker client it vendors (github.com/docker/docker v28.5.2, client and
// api/types); the daemon's own behaviour (which events it emits, in which
// order, with which attributes; how health checks move between states) was
// read from the same module's daemon/ sources. No code was taken from them.
//
// # Endpoints
//
// Every path is accepted bare or with a version prefix (/v1.51/...). A
// version outside [MinAPIVersion, APIVersion] is refused with 400 and
// Docker's message, as dockerd does. Every response carries the Server,
// Api-Version and Ostype headers.
//
//	HEAD, GET /_ping              "OK"; headers Api-Version, Builder-Version,
//	                              Docker-Experimental, Ostype, Swarm: inactive,
//	                              Cache-Control: no-cache..., Pragma: no-cache.
//	GET /version                  Platform.Name, Components[Engine], Version,
//	                              ApiVersion, MinAPIVersion, GitCommit,
//	                              GoVersion, Os, Arch, KernelVersion, BuildTime.
//	GET /info                     a subset: ID, Containers, ContainersRunning,
//	                              ContainersPaused, ContainersStopped, Images,
//	                              Driver, Name, ServerVersion, OperatingSystem,
//	                              OSType, Architecture, NCPU, MemTotal,
//	                              DockerRootDir, Swarm.LocalNodeState. (Traefik's
//	                              docker provider does not call it.)
//	GET /containers/json          query all (running only without it), limit,
//	                              filters: id, name, label, status, health,
//	                              network (others: 400 "invalid filter").
//	                              Fields: Id, Names, Image, ImageID, Command,
//	                              Created, Ports, Labels, State, Status,
//	                              HostConfig.NetworkMode,
//	                              NetworkSettings.Networks, Mounts.
//	GET /containers/{id}/json     {id} is an ID, a unique ID prefix or a name.
//	                              Id, Created, Path, Args, State (Status,
//	                              Running, Paused, Restarting, OOMKilled, Dead,
//	                              Pid, ExitCode, Error, StartedAt, FinishedAt,
//	                              Health{Status, FailingStreak, Log}), Image,
//	                              Name ("/name"), RestartCount, Driver,
//	                              Platform, HostConfig (NetworkMode,
//	                              RestartPolicy, PortBindings, AutoRemove,
//	                              LogConfig), Mounts, Config (Hostname,
//	                              ExposedPorts, Env, Cmd, Healthcheck, Image,
//	                              Labels, ...), NetworkSettings (Ports,
//	                              Networks.<net>{NetworkID, EndpointID,
//	                              Gateway, IPAddress, IPPrefixLen, MacAddress,
//	                              DNSNames, ...}). 404 "No such container: x".
//	GET /events                   newline-delimited JSON, flushed per event.
//	                              Query since and until (Docker timestamps,
//	                              "seconds[.nanoseconds]"; replay from the
//	                              engine's history; a past until ends the
//	                              stream after the replay) and filters: type,
//	                              event (prefix match for health_status,
//	                              exec_create, exec_start as dockerd does),
//	                              container (ID prefix or name), image, label
//	                              (key or key=value, all must match), scope.
//	                              Fields: Type, Action, Actor{ID, Attributes},
//	                              scope, time, timeNano and, for container
//	                              events, the deprecated status, id, from.
//	GET /networks, /networks/{id} Name, Id, Created, Scope, Driver, EnableIPv4,
//	                              EnableIPv6, IPAM, Internal, Attachable,
//	                              Ingress, ConfigFrom, ConfigOnly, Containers,
//	                              Options, Labels.
//
// Anything else answers 404 {"message":"page not found"} like dockerd, and is
// recorded (Engine.Unserved, and Options.Logf when set) so a test sees what a
// client asked that the stand-in does not serve.
//
// # Events
//
// The Go API emits what dockerd emits for the same life cycle, in the same
// order, with the container's labels, "image" and "name" as attributes:
//
//	Create    container create
//	Start     network connect, container start (health resets to starting;
//	          dockerd emits no event for that)
//	SetHealth container "health_status: healthy" / "health_status: unhealthy"
//	          when the status changes
//	Stop      container kill (signal=15): `docker stop` sends SIGTERM; the
//	          process keeps running until Exited is called
//	Kill      container kill (signal=N), e.g. 9 when the stop timeout expires
//	Exited    network disconnect, container die (exitCode, execDuration), and
//	          container stop when a Stop preceded it
//	Remove    container destroy
//
// A health check with a Probe function is run by the engine the way dockerd
// runs one (interval, timeout, start period, start interval, retries), with
// the exec_create / exec_start / exec_die events of each probe.
//
// # What Traefik v3.6.12 does with it (traefik_test.go)
//
// It pings (HEAD /_ping), negotiates API 1.51 (also against a Docker 29
// window of 1.44-1.52), reads /version, lists /containers/json?all=1,
// inspects every container, and opens one /events stream filtered to
// type=container. It never polls: it re-lists only on start, die and
// health_status* events, so a container that was sent SIGTERM (Stop) stays
// in its pool until Exited, and a destroy (Remove) changes nothing until the
// next such event. A cut event stream makes it reconnect and re-list.
//
// With traefik.docker.allownonrunning=true a starting, unhealthy or exited
// container keeps its router. Without a
// traefik.http.services.<svc>.loadbalancer.server.port label (the port then
// comes from the image's EXPOSE) its service is empty and Traefik answers
// 503 "no available server". With that label, the label's server stays in
// the pool with an empty URL and the requests Traefik sends to it get 500,
// also when another container of the same service runs healthy.
package dockerapi
