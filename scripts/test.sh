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
if ((${#need_apt[@]})); then
  echo "==> installing ${need_apt[*]}"
  if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && apt-get install -y -qq "${need_apt[@]}"
  else sudo apt-get update -qq && sudo apt-get install -y -qq "${need_apt[@]}"; fi
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
