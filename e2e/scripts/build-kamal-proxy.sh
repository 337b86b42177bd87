#!/usr/bin/env bash
# Builds kamal-proxy (the proxy Kamal 2 runs by default) and caches the
# binary outside the repository, keyed by version, for `make bench` to
# measure berth against. Source: KAMAL_PROXY_SRC, else
# ../shared/kamal-proxy/src beside the repository when it is there, else
# the module github.com/basecamp/kamal-proxy@<version> from the Go module
# proxy (checked against its checksum database; the same Go files). The
# build runs in a copy, so no source tree is written to. Prints the
# binary's path; builds only when missing.
set -euo pipefail

version="${KAMAL_PROXY_VERSION:-v0.9.2}"
cache="${BERTH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth}"
bin="$cache/kamal-proxy/$version/kamal-proxy"

# kamal-proxy has no version command; --help exits 0 when the binary runs.
if [[ -x "$bin" ]] && "$bin" --help >/dev/null 2>&1; then
  echo "$bin"
  exit 0
fi

work="$(mktemp -d)"
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

root="$(cd "$(dirname "$0")/../.." && pwd)"
src="${KAMAL_PROXY_SRC:-}"
if [[ -z "$src" && -f "$root/../shared/kamal-proxy/src/go.mod" ]]; then
  src="$root/../shared/kamal-proxy/src"
fi
if [[ -z "$src" ]]; then
  src="$(cd "$work" && go mod download -json "github.com/basecamp/kamal-proxy@$version" |
    sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')" || true
fi
if [[ ! -f "$src/go.mod" ]] || ! grep -q '^module github.com/basecamp/kamal-proxy$' "$src/go.mod"; then
  echo "build-kamal-proxy: no kamal-proxy $version source (KAMAL_PROXY_SRC=${KAMAL_PROXY_SRC:-}, ../shared/kamal-proxy/src, or the Go module): set KAMAL_PROXY_SRC to a checkout of basecamp/kamal-proxy $version" >&2
  exit 1
fi

mkdir -p "$(dirname "$bin")" "$work/src"
cp -R "$src/." "$work/src/"
chmod -R u+w "$work/src" # a read-only source tree stays read-only in a copy
echo "building kamal-proxy $version from $src into $bin (under a minute on 2 cores)" >&2
(
  cd "$work/src"
  GOFLAGS=-mod=mod CGO_ENABLED=0 go build -trimpath -o "$bin.tmp" ./cmd/kamal-proxy >&2
)
mv "$bin.tmp" "$bin"
echo "$bin"
