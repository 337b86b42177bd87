#!/usr/bin/env bash
# Everything the tests, benchmarks and the demo need on a fresh Debian
# machine: wrk and Chromium from Debian, the Go modules, and the real Traefik
# binary (built once from its Go module and cached outside the repository).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v chromium >/dev/null || need+=(chromium)
if ((${#need[@]})); then
  sudo=""
  [[ $(id -u) -eq 0 ]] || sudo="sudo"
  echo "setup: installing ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

echo "setup: Go modules"
go mod download
(cd e2e && go mod download)

echo "setup: Traefik $(bash e2e/scripts/build-traefik.sh)"
echo "setup: litestream $(bash e2e/scripts/build-litestream.sh)"
echo "setup: kamal-proxy $(bash e2e/scripts/build-kamal-proxy.sh || echo "not built: only make bench needs it")"
