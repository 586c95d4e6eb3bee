#!/usr/bin/env bash
# Quick start with no AWS account: makes a throwaway PKI, starts the local stand-in for IAM
# Roles Anywhere (which verifies the X.509 signature and chain like AWS does), runs
# `needroleshere credential-process` against it, then binds a role and fetches its
# credentials from `needroleshere serve` the way an SDK does. Usage: scripts/quickstart.sh
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> building needroleshere and the local AWS stand-in" >&2
cargo build --quiet --bins
cargo build --quiet -p needroleshere-fake-aws
bin=target/debug

work=$(mktemp -d)
fake_pid=
serve_pid=
cleanup() {
  for pid in $serve_pid $fake_pid; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
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

role=(--certificate "$work/pki/rsa2048.fullchain.pem"
  --private-key "$work/pki/rsa2048.pkcs1.key"
  --trust-anchor-arn arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/0f9c5a46-2b63-4d5b-9b4e-6a3a3f1e2d11
  --profile-arn arn:aws:rolesanywhere:us-east-1:123456789012:profile/7d3f2c1b-5a4e-4f60-8e2d-1c0b9a8f7e6d
  --role-arn arn:aws:iam::123456789012:role/needroleshere-test
  --endpoint "$endpoint")

echo "==> needroleshere credential-process ${role[*]}" >&2
"$bin/needroleshere" credential-process "${role[@]}"

echo "==> needroleshere bind demo --url http://127.0.0.1:PORT --configuration-directory $work/run ..." >&2
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$bin/needroleshere" bind demo "${role[@]}" --url "http://127.0.0.1:$port" --configuration-directory "$work/run"
echo "==> needroleshere serve --listen 127.0.0.1:$port" >&2
"$bin/needroleshere" serve --configuration-directory "$work/run" --listen "127.0.0.1:$port" 2>"$work/serve.log" &
serve_pid=$!
echo "==> GET \$AWS_CONTAINER_CREDENTIALS_FULL_URI with \$AWS_CONTAINER_AUTHORIZATION_TOKEN, from $work/run/env/demo" >&2
python3 - "$work/run/env/demo" <<'PY'
import json, sys, time, urllib.request
env = dict(line.rstrip("\n").split("=", 1) for line in open(sys.argv[1]))
env = {k: v.strip('"') for k, v in env.items()}
request = urllib.request.Request(env["AWS_CONTAINER_CREDENTIALS_FULL_URI"],
                                 headers={"Authorization": env["AWS_CONTAINER_AUTHORIZATION_TOKEN"]})
for attempt in range(50):
    try:
        body = json.load(urllib.request.urlopen(request, timeout=5))
        break
    except OSError:
        time.sleep(0.1)
else:
    sys.exit("serve did not answer")
print(json.dumps(body))
PY
