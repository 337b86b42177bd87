#!/usr/bin/env bash
# Builds the Debian base of the stand-in Rails image offline-reusable: a
# `debootstrap --variant=minbase bookworm` root file system with curl and
# ca-certificates (what a Rails 8 image's health check needs), packed as a
# tarball for `docker import` and cached outside the repository, keyed by
# suite, packages and debootstrap's version. Prints the tarball's path;
# builds only when missing. Needs root and debootstrap (Debian package).
set -euo pipefail

suite="${DEBIAN_SUITE:-bookworm}"
include="curl,ca-certificates"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
cache="${BERTH_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/berth}"

if ! command -v debootstrap >/dev/null; then
  echo "build-debian-base: debootstrap is missing; install it with: apt-get install -y debootstrap" >&2
  exit 1
fi
if [[ $(id -u) -ne 0 ]]; then
  echo "build-debian-base: debootstrap needs root (it creates device nodes and chroots)" >&2
  exit 1
fi
dversion="$(dpkg-query -W -f='${Version}' debootstrap 2>/dev/null || echo unknown)"
tarball="$cache/images/debian-$suite-minbase-${include//,/-}-debootstrap$dversion.tar"

if [[ -s "$tarball" ]]; then
  echo "$tarball"
  exit 0
fi
mkdir -p "$(dirname "$tarball")"
echo "debootstrap $suite (minbase + $include) into $tarball (about 2 minutes)" >&2
root="$(mktemp -d)"
trap 'rm -rf "$root"' EXIT
debootstrap --variant=minbase --include="$include" "$suite" "$root" "$mirror" >&2
# What an image does not need: package caches and lists, logs.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/* "$root"/var/log/*
tar --numeric-owner -C "$root" -cf "$tarball.tmp" .
mv "$tarball.tmp" "$tarball"
echo "$tarball"
