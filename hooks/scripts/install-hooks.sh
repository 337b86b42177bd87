#!/usr/bin/env bash
# make hooks APP=path/to/rails/app: builds berth for the machine running make
# and installs it with the hook stubs into APP/.kamal/hooks.
set -euo pipefail
app="${1:-}"
if [[ -z "$app" ]]; then
  echo "usage: make hooks APP=path/to/rails/app" >&2
  exit 2
fi
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
version="$(git -C "$root" describe --tags --always --dirty 2>/dev/null || echo dev)"
echo "make hooks: building berth $version for $(${GO:-go} env GOOS)/$(${GO:-go} env GOARCH) (a minute or two the first time, seconds once Go has cached it)" >&2
( cd "$root" && CGO_ENABLED=0 ${GO:-go} build -trimpath -ldflags "-X main.version=$version" -o "$tmp/berth" ./hooks/cmd/berth )
"$tmp/berth" --version >&2
force=()
if [[ "${FORCE:-}" == 1 ]]; then force=(--force); fi
"$tmp/berth" install-hooks "${force[@]}" "$app"
