#!/usr/bin/env bash
# Builds (once) the boto3 that the credential consumers of tests/systemd/run.sh use inside
# the booted Debian 12, and prints its directory (mounted read-only at /opt/boto3, used
# through PYTHONPATH). Debian 12's own python3-boto3 (botocore 1.29) predates
# AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE, which `LoadCredential=` consumers need; the other
# consumers keep using Debian's.
#
# The same pinned boto3 and botocore as scripts/test.sh, as wheels for Debian 12's Python
# (3.11; all pure Python), installed with pip from build/venv into
# build/nspawn-boto3/BOTO3-pyPY/. Kept apart from the debootstrapped tree (build/nspawn/),
# so neither invalidates the other; keyed by the versions, so a new pin builds a new
# directory. Built aside and renamed when complete.
# Usage: tests/systemd/build-boto3.sh   (needs build/venv, which scripts/test.sh creates)
set -euo pipefail
cd "$(dirname "$0")/../.."

BOTO3_VERSION=1.44.5
BOTOCORE_VERSION=1.44.5
# Debian 12's python3.
PYTHON_VERSION=3.11

dir=$PWD/build/nspawn-boto3/$BOTO3_VERSION-py$PYTHON_VERSION
if [ -f "$dir/.complete" ] && [ -d "$dir/botocore" ]; then
  echo "$dir"
  exit 0
fi
python=build/venv/bin/python3
"$python" -m pip --version >/dev/null 2>&1 || {
  echo "$python has no pip: run scripts/test.sh (it creates build/venv)" >&2; exit 1; }
mkdir -p build/nspawn-boto3
work=$(mktemp -d "build/nspawn-boto3/.$BOTO3_VERSION.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "==> boto3 $BOTO3_VERSION for Python $PYTHON_VERSION into $dir" >&2
"$python" -m pip install --quiet --disable-pip-version-check --no-compile \
  --target "$work" --python-version "$PYTHON_VERSION" --only-binary=:all: \
  "boto3==$BOTO3_VERSION" "botocore==$BOTOCORE_VERSION" >&2
grep -q "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE" "$work/botocore/credentials.py" || {
  echo "botocore $BOTOCORE_VERSION does not read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE" >&2
  exit 1
}
chmod -R a+rX "$work"
touch "$work/.complete"
rm -rf "$dir"
mv "$work" "$dir"
trap - EXIT
echo "$dir"
