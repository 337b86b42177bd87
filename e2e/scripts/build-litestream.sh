#!/usr/bin/env bash
# Builds the real litestream CLI from its Go module (no cgo: Litestream uses
# modernc.org/sqlite) and caches it outside the repository, keyed by
# version. Prints the binary's path; builds only when missing.
set -euo pipefail

version="${LITESTREAM_VERSION:-v0.5.18}"
cache="${BERTH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth}"
bin="$cache/litestream/$version/litestream"

if [[ -x "$bin" ]] && "$bin" version >/dev/null 2>&1; then
  echo "$bin"
  exit 0
fi
mkdir -p "$(dirname "$bin")"
echo "building litestream $version into $bin (about 3 minutes on 2 cores)" >&2
GOFLAGS=-mod=mod GOBIN="$(dirname "$bin")" CGO_ENABLED=0 \
  go install -trimpath "github.com/benbjohnson/litestream/cmd/litestream@$version" >&2
"$bin" version >&2
echo "$bin"
