#!/usr/bin/env bash
# Builds kamal-proxy (the proxy Kamal 2 runs by default) from its source and
# caches the binary outside the repository, keyed by version, for `make
# bench` to measure berth against. Its source is not on the Go module proxy:
# KAMAL_PROXY_SRC (default ../shared/kamal-proxy/src beside the repository)
# holds the released tree. The build runs in a copy, so the source tree is
# never written to. Prints the binary's path; builds only when missing.
set -euo pipefail

version="${KAMAL_PROXY_VERSION:-v0.9.2}"
cache="${BERTH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth}"
bin="$cache/kamal-proxy/$version/kamal-proxy"

# kamal-proxy has no version command; --help exits 0 when the binary runs.
if [[ -x "$bin" ]] && "$bin" --help >/dev/null 2>&1; then
  echo "$bin"
  exit 0
fi

root="$(cd "$(dirname "$0")/../.." && pwd)"
src="${KAMAL_PROXY_SRC:-$root/../shared/kamal-proxy/src}"
if [[ ! -f "$src/go.mod" ]] || ! grep -q '^module github.com/basecamp/kamal-proxy$' "$src/go.mod"; then
  echo "build-kamal-proxy: no kamal-proxy source at $src: set KAMAL_PROXY_SRC to a checkout of basecamp/kamal-proxy $version" >&2
  exit 1
fi

mkdir -p "$(dirname "$bin")"
work="$(mktemp -d)"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT
cp -R "$src/." "$work/"
chmod -R u+w "$work" # a read-only source tree stays read-only in a copy
echo "building kamal-proxy $version from $src into $bin (under a minute on 2 cores)" >&2
(
  cd "$work"
  GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -o "$bin.tmp" ./cmd/kamal-proxy >&2
)
mv "$bin.tmp" "$bin"
echo "$bin"
