#!/usr/bin/env bash
# Builds Pebble (Let's Encrypt's test CA) and pebble-challtestsrv (its DNS
# and challenge test server) from their Go module and caches both outside
# the repository, keyed by version. Prints the directory holding the two
# binaries; builds only when one is missing.
set -euo pipefail

version="${PEBBLE_VERSION:-v2.10.3}"
cache="${BERTH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth}"
dir="$cache/pebble/$version"

if [[ -x "$dir/pebble" && -x "$dir/pebble-challtestsrv" ]]; then
  echo "$dir"
  exit 0
fi
mkdir -p "$dir"
echo "building pebble $version into $dir (about a minute on 2 cores)" >&2
GOFLAGS=-mod=mod GOBIN="$dir" CGO_ENABLED=0 \
  go install -trimpath "github.com/letsencrypt/pebble/v2/cmd/pebble@$version" \
  "github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv@$version" >&2
echo "$dir"
