#!/usr/bin/env bash
# Makes the release tarball the PKGBUILD builds from: a git archive of REV (default HEAD)
# named needroleshere-VERSION.tar.gz, next to this script. Usage: make-tarball.sh [REV]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../.."
version=$(sed -n 's/^pkgver=//p' "$here/PKGBUILD")
cargo_version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
if [ "$version" != "$cargo_version" ]; then
  echo "PKGBUILD pkgver $version differs from Cargo.toml version $cargo_version" >&2
  exit 1
fi
git archive --format=tar.gz --prefix="needroleshere-$version/" -o "$here/needroleshere-$version.tar.gz" "${1:-HEAD}"
echo "$here/needroleshere-$version.tar.gz"
