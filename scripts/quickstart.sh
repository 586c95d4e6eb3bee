#!/usr/bin/env bash
# Quick start with no AWS account: makes a throwaway PKI, starts the local stand-in for IAM
# Roles Anywhere (which verifies the X.509 signature and chain like AWS does), and runs
# `needroleshere credential-process` against it. Usage: scripts/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> building needroleshere and the local AWS stand-in" >&2
cargo build --quiet --features test-util --bins
bin=target/debug

work=$(mktemp -d)
fake_pid=
cleanup() {
  [ -n "$fake_pid" ] && kill "$fake_pid" 2>/dev/null && wait "$fake_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

echo "==> generating a test CA, an intermediate and an RSA-2048 client certificate" >&2
bash tests/pki/generate.sh "$work/pki" >/dev/null

"$bin/needroleshere-fake-aws" --pki "$work/pki" --listen 127.0.0.1:0 >"$work/fake.out" 2>"$work/fake.log" &
fake_pid=$!
for _ in $(seq 100); do
  grep -q '^listening on ' "$work/fake.out" 2>/dev/null && break
  sleep 0.05
done
endpoint=$(sed -n 's/^listening on //p' "$work/fake.out")
[ -n "$endpoint" ] || { echo "the stand-in did not start:" >&2; cat "$work/fake.log" >&2; exit 1; }
echo "==> stand-in for IAM Roles Anywhere listening on $endpoint" >&2

cmd=("$bin/needroleshere" credential-process
  --certificate "$work/pki/rsa2048.fullchain.pem"
  --private-key "$work/pki/rsa2048.pkcs1.key"
  --trust-anchor-arn arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/0f9c5a46-2b63-4d5b-9b4e-6a3a3f1e2d11
  --profile-arn arn:aws:rolesanywhere:us-east-1:123456789012:profile/7d3f2c1b-5a4e-4f60-8e2d-1c0b9a8f7e6d
  --role-arn arn:aws:iam::123456789012:role/needroleshere-test
  --endpoint "$endpoint")
echo "==> needroleshere ${cmd[*]:1}" >&2
"${cmd[@]}"
