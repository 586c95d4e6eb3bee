#!/usr/bin/env bash
# Regenerates the man pages and shell completions in packaging/generated from the CLI
# definition. With --check, fails (and shows the difference) when the committed copy is
# stale instead of writing it. Usage: packaging/generate-docs.sh [--check]
set -euo pipefail
cd "$(dirname "$0")/.."
out=packaging/generated
if [ "${1:-}" = "--check" ]; then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  cargo run --quiet --locked --features docs --bin needroleshere-docs -- "$tmp"
  if ! diff -ru "$out" "$tmp"; then
    echo "packaging/generated is stale: run packaging/generate-docs.sh and commit it" >&2
    exit 1
  fi
  echo "man pages and completions match the CLI"
else
  rm -rf "$out"
  cargo run --quiet --locked --features docs --bin needroleshere-docs -- "$out"
  echo "wrote $out"
fi
