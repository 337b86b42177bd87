#!/usr/bin/env bash
# Builds the real Traefik binary from its Go module and caches it outside the
# repository, keyed by version. `go install traefik@vX` refuses modules with
# replace directives, so we generate a throwaway wrapper module that requires
# Traefik and carries over its replace and exclude lines, then build cmd/traefik
# from it. Prints the path of the binary on stdout; builds only when missing.
set -euo pipefail

version="${TRAEFIK_VERSION:-v3.6.12}"
cache="${BERTH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth}"
bin="$cache/traefik/$version/traefik"

if [[ -x "$bin" ]] && "$bin" version >/dev/null 2>&1; then
  echo "$bin"
  exit 0
fi

mkdir -p "$(dirname "$bin")"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

echo "building traefik $version into $bin (about 10 minutes on 2 cores)" >&2
modfile="$(cd "$work" && go mod download -json "github.com/traefik/traefik/v3@$version" |
  sed -n 's/^[[:space:]]*"GoMod": "\(.*\)",$/\1/p')"
if [[ ! -f "$modfile" ]]; then
  echo "build-traefik: could not download github.com/traefik/traefik/v3@$version" >&2
  exit 1
fi

{
  echo "module berth.local/traefikbuild"
  echo
  echo "go 1.25.0"
  echo
  echo "require github.com/traefik/traefik/v3 $version"
  echo
  # Traefik's own replace block and exclude lines, taken from its go.mod.
  awk '/^replace \(/{on=1} on{print} on&&/^\)/{on=0} /^replace [^(]/{print} /^exclude /{print}' "$modfile"
} >"$work/go.mod"

(
  cd "$work"
  export GOFLAGS=-mod=mod
  go get "github.com/traefik/traefik/v3/cmd/traefik@$version" >&2
  go build -trimpath -o "$bin.tmp" github.com/traefik/traefik/v3/cmd/traefik >&2
)
mv "$bin.tmp" "$bin"
"$bin" version >&2
echo "$bin"
