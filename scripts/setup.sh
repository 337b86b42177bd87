#!/usr/bin/env bash
# Everything the tests, benchmarks and the demo need on a fresh Debian
# machine: wrk, Chromium, sshd, Docker and the Ruby that runs the real Kamal
# from Debian, the Go modules, and the real Traefik binary and Pebble (Let's
# Encrypt's test CA), built once from their Go modules and cached outside the
# repository.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v wrk >/dev/null || need+=(wrk)
command -v chromium >/dev/null || need+=(chromium)
# The real Kamal over SSH (e2e/internal/kamalhost): sshd, Docker, a base
# image builder and a registry, and the Ruby packages ../shared/kamal runs on.
for pkg in openssh-server openssh-client git docker.io debootstrap docker-registry \
  ruby ruby-activesupport ruby-sshkit ruby-net-ssh ruby-thor ruby-dotenv ruby-zeitwerk ruby-ed25519 \
  ruby-bcrypt-pbkdf ruby-concurrent ruby-net-scp ruby-net-sftp; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
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

echo "setup: staticcheck $(bash scripts/staticcheck.sh)"
echo "setup: Traefik $(bash e2e/scripts/build-traefik.sh)"
echo "setup: litestream $(bash e2e/scripts/build-litestream.sh)"
echo "setup: pebble $(bash e2e/scripts/build-pebble.sh)"
echo "setup: dockerd $(bash e2e/scripts/build-dockerd.sh)"
echo "setup: Debian base $(bash e2e/scripts/build-debian-base.sh)"
if [[ -n ${KAMAL:-} ]]; then
  echo "setup: kamal $($KAMAL version) (\$KAMAL)"
elif command -v kamal >/dev/null; then
  echo "setup: kamal $(kamal version)"
else
  echo "setup: kamal $(../shared/kamal/kamal version) (../shared/kamal)"
fi
echo "setup: kamal-proxy $(bash e2e/scripts/build-kamal-proxy.sh || echo "not built: only make bench needs it")"
