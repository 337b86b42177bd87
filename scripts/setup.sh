#!/usr/bin/env bash
# Everything the tests, benchmarks and the demo need on a fresh Debian
# machine: wrk and Chromium from Debian, the Go modules, and the real Traefik
# binary (built once from its Go module and cached outside the repository).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v chromium >/dev/null || need+=(chromium)
# A real Docker Engine, registry and Debian base for e2e/kamaldeploy.
command -v dockerd >/dev/null || need+=(docker.io)
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v debootstrap >/dev/null || need+=(debootstrap)
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
echo "setup: dockerd $(bash e2e/scripts/build-dockerd.sh)"
echo "setup: Debian base $(bash e2e/scripts/build-debian-base.sh)"
