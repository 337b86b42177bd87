#!/usr/bin/env bash
# Builds a current Docker Engine daemon (dockerd) from the docker module's
# source as the Go module proxy serves it, and caches it outside the
# repository, keyed by version. Prints the binary's path; builds only when
# missing.
#
# Why: Debian 12's docker.io is Docker 20.10, but `kamal server bootstrap`
# gives users Docker 27 or newer, whose health checks behave differently
# inside the start period (Docker >= 25 probes every --health-start-interval,
# 5 s by default, instead of every --health-interval). The Kamal deploy test
# runs on both. The module's source carries vendor.mod and vendor.sum (the
# exact dependency versions and their sums), so it builds as released; only
# the daemon is built (the Debian docker CLI talks to it through API version
# negotiation).
set -euo pipefail

version="${DOCKERD_VERSION:-v28.5.2}"
cache="${BERTH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth}"
bin="$cache/dockerd/$version/dockerd"

if [[ -x "$bin" ]] && "$bin" --version >/dev/null 2>&1; then
  echo "$bin"
  exit 0
fi
mkdir -p "$(dirname "$bin")"
echo "building dockerd $version into $bin (about 5 minutes on 2 cores)" >&2

work="$(mktemp -d)"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
mod="github.com/docker/docker@$version+incompatible"
src="$(cd "$work" && GOFLAGS=-mod=mod go mod download -json "$mod" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')"
if [[ -z "$src" || ! -f "$src/vendor.mod" ]]; then
  echo "build-dockerd: could not fetch $mod (or it has no vendor.mod)" >&2
  exit 1
fi
cp -r "$src" "$work/src"
chmod -R u+w "$work/src"
cd "$work/src"
# The repository builds as module github.com/docker/docker from vendor.mod
# (its hack/ scripts link it to go.mod the same way); the module zip has no
# vendor/ tree, so the dependencies come from the module proxy at those
# versions, checked against vendor.sum.
cp vendor.mod go.mod
cp vendor.sum go.sum
CGO_ENABLED=0 GOFLAGS=-mod=mod go build -trimpath -o "$bin.tmp" \
  -tags "netgo osusergo exclude_graphdriver_btrfs" \
  -ldflags "-X github.com/docker/docker/dockerversion.Version=${version#v} -X github.com/docker/docker/dockerversion.GitCommit=berth-build" \
  ./cmd/dockerd >&2
mv "$bin.tmp" "$bin"
"$bin" --version >&2
echo "$bin"
