#!/usr/bin/env bash
# Prints the path of staticcheck, installing it from its Go module into the
# cache outside the repository when it is missing (as build-traefik.sh does
# for Traefik). make test runs it on both modules.
set -euo pipefail
version="${STATICCHECK_VERSION:-v0.8.2}"
cache="${BERTH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth}"
dir="$cache/staticcheck/$version"
if [[ ! -x "$dir/staticcheck" ]]; then
  echo "installing staticcheck $version into $dir" >&2
  mkdir -p "$dir"
  GOBIN="$dir" GOFLAGS=-mod=mod go install "honnef.co/go/tools/cmd/staticcheck@$version" >&2
fi
echo "$dir/staticcheck"
