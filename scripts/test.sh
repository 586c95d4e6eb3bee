#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need, then checks formatting,
# lints and runs every test. Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# --- dependencies --------------------------------------------------------------------------
# The tests drive the real openssl CLI (test PKI) and python3 (vector generator check).
need_apt=()
command -v openssl >/dev/null || need_apt+=(openssl)
command -v python3 >/dev/null || need_apt+=(python3)
# The daemon and unit tests drive systemd's own tools (socket activation, unit verification,
# sysusers/tmpfiles), iproute2 (network namespaces for 169.254.170.2) and a Python venv.
command -v systemd-socket-activate >/dev/null || need_apt+=(systemd)
command -v ip >/dev/null || need_apt+=(iproute2)
if [ ! -x build/venv/bin/python3 ] && ! python3 -c 'import ensurepip' 2>/dev/null; then
  need_apt+=(python3-venv)
fi
if ((${#need_apt[@]})); then
  echo "==> installing ${need_apt[*]}"
  if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && apt-get install -y -qq "${need_apt[@]}"
  else sudo apt-get update -qq && sudo apt-get install -y -qq "${need_apt[@]}"; fi
fi
# Real boto3 for the daemon tests (tests/common/daemon.rs prefers build/venv/bin/python3):
# created once, reused while it can import boto3.
if ! build/venv/bin/python3 -c 'import boto3' 2>/dev/null; then
  echo "==> creating build/venv with boto3"
  rm -rf build/venv
  python3 -m venv build/venv
  build/venv/bin/python3 -m pip install --quiet --disable-pip-version-check boto3
  build/venv/bin/python3 -c 'import boto3; print("boto3", boto3.__version__)'
fi
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy

# --- static checks -------------------------------------------------------------------------
echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --all-targets --all-features --locked -- -D warnings

echo "==> signing vectors are what tests/vectors/generate.py produces"
python3 tests/vectors/generate.py --check

# --- tests ---------------------------------------------------------------------------------
echo "==> cargo test"
cargo test --all-features --locked
