#!/usr/bin/env bash
# Builds and checks the packages the way a user would get them:
# * the man pages and completions in packaging/generated match the CLI;
# * PKGBUILD and .SRCINFO agree, and the PKGBUILD's package() installs every file from a
#   git-archive tarball of HEAD (the release build is reused, not redone);
# * the .deb builds with cargo-deb, installs with dpkg, its units pass `systemd-analyze
#   verify` with no output at all, `man needroleshere-bind` and the bash completion work;
#   then the package is purged again.
# Usage: packaging/test-packages.sh   (the .deb part needs root and dpkg; it is skipped,
# saying so, without them)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

echo "==> man pages and completions match the CLI"
packaging/generate-docs.sh --check

echo "==> PKGBUILD and .SRCINFO agree"
pkgbuild_value() { (source packaging/arch/PKGBUILD && eval "printf '%s\n' \"\${$1[@]}\""); }
srcinfo_value() { sed -n "s/^\t$1 = //p" packaging/arch/.SRCINFO; }
for key in pkgver pkgrel pkgdesc arch license depends makedepends backup sha256sums; do
  if [ "$(pkgbuild_value "$key")" != "$(srcinfo_value "$key")" ]; then
    echo "PKGBUILD and .SRCINFO differ on $key" >&2; exit 1
  fi
done
version=$(pkgbuild_value pkgver)
[ "$(srcinfo_value source)" = "needroleshere-$version.tar.gz" ] || { echo ".SRCINFO source is stale" >&2; exit 1; }
grep -q "^version = \"$version\"" Cargo.toml || { echo "PKGBUILD pkgver $version is not Cargo.toml's version" >&2; exit 1; }

echo "==> release build"
cargo build --quiet --release --locked

echo "==> PKGBUILD package() from a tarball of HEAD"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git archive --format=tar --prefix="needroleshere-$version/" HEAD | tar -x -C "$work"
mkdir -p "$work/needroleshere-$version/target/release"
cp "${CARGO_TARGET_DIR:-target}/release/needroleshere" "$work/needroleshere-$version/target/release/"
(
  cd "$work"
  srcdir=$work pkgdir=$work/pkg
  export srcdir pkgdir
  source "$root/packaging/arch/PKGBUILD"
  set -e
  package
)
for file in usr/bin/needroleshere usr/lib/systemd/system/needroleshere.service \
    usr/lib/systemd/system/needroleshere.socket usr/lib/systemd/system/needroleshere-ecs-relative.socket \
    usr/lib/systemd/system/needroleshere-imds@.socket usr/lib/systemd/system/needroleshere-bind@.service \
    usr/lib/systemd/system/needroleshere-metrics.socket usr/lib/systemd/system/needroleshere-status.socket \
    usr/lib/sysusers.d/needroleshere.conf usr/lib/tmpfiles.d/needroleshere.conf etc/default/needroleshere \
    usr/share/man/man1/needroleshere.1 usr/share/man/man1/needroleshere-bind.1 \
    usr/share/bash-completion/completions/needroleshere usr/share/zsh/site-functions/_needroleshere \
    usr/share/fish/vendor_completions.d/needroleshere.fish usr/share/licenses/needroleshere/LICENSE; do
  [ -f "$work/pkg/$file" ] || { echo "PKGBUILD package() did not install $file" >&2; exit 1; }
done
echo "PKGBUILD installs $(find "$work/pkg" -type f | wc -l) files"

if [ "$(id -u)" -ne 0 ] || ! command -v dpkg >/dev/null; then
  echo "==> .deb: skipped (needs root and dpkg)"
  exit 0
fi
echo "==> .deb with cargo-deb"
if ! cargo deb --version >/dev/null 2>&1; then
  cargo install --quiet --locked cargo-deb --version 3.8.0
fi
deb=$(cargo deb --locked --no-build 2>/dev/null | tail -1)
[ -f "$deb" ] || { echo "cargo deb made no package" >&2; exit 1; }
dpkg -i "$deb" >/dev/null
trap 'dpkg --purge needroleshere >/dev/null 2>&1 || true; rm -rf "$work"' EXIT
units=(needroleshere.service needroleshere.socket needroleshere-ecs-relative.socket
       needroleshere-bind@example.service needroleshere-imds@example.socket)
verify=$(cd /usr/lib/systemd/system && systemd-analyze verify "${units[@]}" 2>&1) || true
if [ -n "$verify" ]; then
  echo "systemd-analyze verify on the installed units printed:" >&2; echo "$verify" >&2; exit 1
fi
man -w needroleshere-bind >/dev/null
bash -c 'source /usr/share/bash-completion/completions/needroleshere && complete -p needroleshere' >/dev/null
/usr/bin/needroleshere --version
id needroleshere >/dev/null
echo "installed $deb: units verify cleanly, man pages and completions work"
