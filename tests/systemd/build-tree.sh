#!/usr/bin/env bash
# Builds (once) the Debian 12 tree that tests/systemd_booted.rs boots with systemd-nspawn, and
# prints its path. The tree is cached under build/nspawn/, keyed by the suite, the package
# list and the recipe's version (bump `recipe` when the steps below change), and never
# changed afterwards: the test boots it with --volatile=overlay, so every run starts from
# the same clean system. An interrupted build leaves no tree behind (it is built aside and
# renamed when complete).
# Usage: tests/systemd/build-tree.sh   (needs root, debootstrap and the Debian mirror)
set -euo pipefail
cd "$(dirname "$0")/../.."

# What the scenario needs beyond debootstrap's minbase: systemd as PID 1 (and its tools:
# systemctl, systemd-run, systemd-analyze, journalctl), curl, iproute2 (169.254.170.2 on lo,
# `ip netns` for IMDS), Debian's boto3, the libraries the .deb depends on (libtss2: the
# default build's TPM support), and those of the fakes' binary run inside (libxmlsec1: its
# STS checks SAML signatures).
packages=(systemd systemd-sysv dbus python3 python3-boto3 curl iproute2
          libtss2-esys-3.0.2-0 libtss2-tctildr0 libtss2-mu0 libxmlsec1-openssl)
suite=bookworm
recipe=1
# The mirror apt on this machine uses (debootstrap needs one; the tests reach nothing else).
mirror=$(sed -n 's/^URIs: *\(http[^ ]*\/debian\)$/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null | head -1)
mirror=${mirror:-$(sed -n 's/^deb \(http[^ ]*\/debian\) .*/\1/p' /etc/apt/sources.list 2>/dev/null | head -1)}
mirror=${mirror:-http://deb.debian.org/debian}

key=$(echo "$suite ${packages[*]} recipe-$recipe" | sha256sum | cut -c1-16)
tree=$PWD/build/nspawn/$suite-$key
if [ -x "$tree/usr/lib/systemd/systemd" ] && [ -f "$tree/.complete" ]; then
  echo "$tree"
  exit 0
fi

command -v debootstrap >/dev/null || {
  echo "debootstrap is missing: apt-get install debootstrap systemd-container" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "building the nspawn tree needs root" >&2; exit 1; }
mkdir -p build/nspawn
work=$(mktemp -d "build/nspawn/.$suite-$key.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "==> debootstrap $suite ($mirror) into $tree" >&2
include=$(IFS=,; echo "${packages[*]}")
if ! debootstrap --variant=minbase --include="$include" "$suite" "$work" "$mirror" \
     >"$work.log" 2>&1; then
  tail -n 30 "$work.log" >&2
  [ -f "$work/debootstrap/debootstrap.log" ] && tail -n 30 "$work/debootstrap/debootstrap.log" >&2
  rm -f "$work.log"
  echo "debootstrap failed" >&2
  exit 1
fi
rm -f "$work.log"
# No login prompt on the console, no network configuration to wait for: the scenario unit
# (bind-mounted in by the test) is all the container runs.
rm -f "$work/etc/systemd/system/getty.target.wants/"* \
      "$work/etc/systemd/system/multi-user.target.wants/systemd-networkd.service"
echo needroleshere-test > "$work/etc/hostname"
apt_clean=("$work/var/cache/apt/archives/"*.deb)
rm -f "${apt_clean[@]}"
touch "$work/.complete"
rm -rf "$tree"
mv "$work" "$tree"
trap - EXIT
echo "$tree"
