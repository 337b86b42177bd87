// Package recdocker is a recording stand-in for the `docker` CLI on the
// kamalhost test server. Kamal reaches a server over SSH and runs docker
// command lines there (pipes, xargs and sh -c included); this program is
// what those lines find as `docker`.
//
// Each call appends one Call (argv, cwd, the --env-file contents a docker
// run or exec read, stdin when asked, the answer and exit code) to
// calls.jsonl in the directory $RECDOCKER_DIR. It answers from, in order:
//
//   - the test's rules in config.json (Config.Rules): the first whose words
//     all appear in argv, in order; a non-zero exit replaces the call, exit 0
//     lets the built-in answer run and, if it succeeds, may replace its output;
//   - built-in answers for what Kamal 2.12 runs with `proxy: false` app
//     roles and accessories: -v, version, info, login, logout, pull, image
//     ls/rm/prune, tag, rmi, inspect (containers and images, Go templates as
//     docker renders them), run (--detach starts a container; a command in a
//     new container prints nothing unless a rule does), exec, ps/container ls
//     with Docker's filters (label, status, name regex, ancestor, id,
//     health), --latest/-n, -q, --format, stop, start, rm, rename, container
//     prune, logs, network create/ls.
//
// The state (state.json) is what the fake "runs": containers with their
// labels, status and health, images with their tags and labels, networks.
// It makes the running version, stale containers and old images consistent
// from one call, and one kamal command, to the next. A container started
// with --health-cmd reports "healthy"; without one, Docker's "running"
// (Kamal then waits readiness_delay). A rule's Health keeps a new container
// "starting" or "unhealthy", for ever or for HealthyAfter inspections.
//
// Anything else fails with exit 127 and a message naming the command, so a
// Kamal flow the fake does not know shows up at once.
package recdocker
