#!/usr/bin/env bash
# The whole test suite, as CI runs it: installs what the tests need, then checks formatting,
# lints and runs every test. Usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# A fresh run takes several GB (cargo's target directory, build/); say what there is, so a
# full disk shows in the log as what it is and not as a linker's "Bus error".
free_disk() { df -h --output=avail . | tail -n 1 | tr -d ' '; }
echo "==> free disk here: $(free_disk)"

# --- dependencies --------------------------------------------------------------------------
# The tests drive the real openssl CLI (test PKI) and python3 (vector generator check).
need_apt=()
command -v openssl >/dev/null || need_apt+=(openssl)
command -v python3 >/dev/null || need_apt+=(python3)
# The daemon and unit tests drive systemd's own tools (socket activation, unit verification,
# sysusers/tmpfiles), iproute2 (network namespaces for 169.254.170.2) and a Python venv.
command -v systemd-socket-activate >/dev/null || need_apt+=(systemd)
command -v ip >/dev/null || need_apt+=(iproute2)
# tests/desktop_users.rs plays another local user with setpriv (util-linux) running curl.
command -v setpriv >/dev/null || need_apt+=(util-linux)
command -v curl >/dev/null || need_apt+=(curl)
# TPM keys: the default build links libtss2 (tss-esapi finds it with pkg-config);
# tests/tpm_keys.rs runs a software TPM and makes keys in it with tpm2-tools and the tpm2
# OpenSSL provider.
pkg-config --exists tss2-esys tss2-tctildr tss2-mu 2>/dev/null || need_apt+=(libtss2-dev pkg-config)
command -v swtpm >/dev/null || need_apt+=(swtpm swtpm-tools)
command -v tpm2_createprimary >/dev/null || need_apt+=(tpm2-tools)
dpkg -s tpm2-openssl >/dev/null 2>&1 || need_apt+=(tpm2-openssl)
# The strict STS double (crates/fake-aws, a dev-dependency) verifies SAML assertions' XML
# signatures with libxmlsec1 through samael, whose build generates its bindings with bindgen
# (libclang) and finds the library with pkg-config.
pkg-config --exists xmlsec1 2>/dev/null || need_apt+=(libxmlsec1-dev pkg-config)
dpkg -s libclang-dev >/dev/null 2>&1 || need_apt+=(libclang-dev)
# tests/clock_skew.rs runs the binary with its clock minutes off through libfaketime.
command -v faketime >/dev/null || need_apt+=(faketime)
if [ ! -x build/venv/bin/python3 ] && ! python3 -c 'import ensurepip' 2>/dev/null; then
  need_apt+=(python3-venv)
fi
# Keys in tokens (tests/pkcs11_keys.rs, tests/sign_string.rs): SoftHSM2 as the token, OpenSC's
# pkcs11-tool and pkcs11-spy, GnuTLS's p11tool, and p11-kit's proxy module.
command -v softhsm2-util >/dev/null || need_apt+=(softhsm2)
command -v pkcs11-tool >/dev/null || need_apt+=(opensc)
command -v p11tool >/dev/null || need_apt+=(gnutls-bin)
[ -e /usr/lib/x86_64-linux-gnu/p11-kit-proxy.so ] || need_apt+=(p11-kit p11-kit-modules)
# tests/systemd_booted.rs boots a debootstrapped Debian 12 with systemd-nspawn.
command -v debootstrap >/dev/null || need_apt+=(debootstrap)
command -v systemd-nspawn >/dev/null || need_apt+=(systemd-container)
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
# boto3 and botocore pinned: the compatibility matrix (tests/matrix.rs, COMPATIBILITY.md)
# records the versions it tested, so an unpinned upgrade would change the generated file.
BOTO3_VERSION=1.44.5
BOTOCORE_VERSION=1.44.5
if ! build/venv/bin/python3 -c "import boto3, botocore, sys; sys.exit((boto3.__version__, botocore.__version__) != ('$BOTO3_VERSION', '$BOTOCORE_VERSION'))" 2>/dev/null; then
  echo "==> installing boto3 $BOTO3_VERSION and botocore $BOTOCORE_VERSION into build/venv"
  build/venv/bin/python3 -m pip install --quiet --disable-pip-version-check \
    "boto3==$BOTO3_VERSION" "botocore==$BOTOCORE_VERSION"
fi
# Offline checks of contrib/kubernetes and contrib/prometheus (static checks below):
# kubernetes-validate carries the Kubernetes OpenAPI schemas, yamllint the YAML style. Pinned,
# in build/venv, installed when missing or another version.
KUBERNETES_VALIDATE_VERSION=1.37.0
YAMLLINT_VERSION=1.38.0
if ! build/venv/bin/python3 -c "import importlib.metadata as m, sys; sys.exit((m.version('kubernetes-validate'), m.version('yamllint')) != ('$KUBERNETES_VALIDATE_VERSION', '$YAMLLINT_VERSION'))" 2>/dev/null; then
  echo "==> installing kubernetes-validate $KUBERNETES_VALIDATE_VERSION and yamllint $YAMLLINT_VERSION into build/venv"
  build/venv/bin/python3 -m pip install --quiet --disable-pip-version-check \
    "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" "yamllint==$YAMLLINT_VERSION"
fi
# Real SDK clients for the IMDS and credentials-file tests (tests/imds_*.rs, tests/update_*.rs;
# programs in tests/clients/). Each step is skipped when its result is already there and works.
# The AWS CLI v1 (it ships its own botocore copy, so boto3's stays as it is) in build/venv:
AWSCLI_VERSION=1.46.3
if ! build/venv/bin/python3 -c "import awscli, sys; sys.exit(awscli.__version__ != '$AWSCLI_VERSION')" 2>/dev/null \
   || ! build/venv/bin/aws --version >/dev/null 2>&1; then
  echo "==> installing awscli $AWSCLI_VERSION into build/venv"
  build/venv/bin/python3 -m pip install --quiet --disable-pip-version-check "awscli==$AWSCLI_VERSION"
  build/venv/bin/aws --version
  build/venv/bin/python3 -c 'import boto3; print("boto3 still imports:", boto3.__version__)'
fi
# The AWS CLI v2 for the compatibility matrix: Debian's awscli package (2.9.19 in Debian 12;
# it is v2 there) and its bundled botocore, run with /usr/bin/python3. Installed when missing.
if ! /usr/bin/python3 -c 'import awscli, sys; sys.exit(not awscli.__version__.startswith("2."))' 2>/dev/null; then
  echo "==> installing Debian's awscli (the AWS CLI v2)"
  if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && apt-get install -y -qq awscli
  else sudo apt-get update -qq && sudo apt-get install -y -qq awscli; fi
  /usr/bin/aws --version
fi
# More clients of the compatibility matrix, from Debian 12 (the versions tests/matrix.rs
# records): the AWS Common Runtime's credential providers (python3-awscrt, run with
# /usr/bin/python3), the AWS SDK for Ruby (ruby-aws-sdk-core), fog-aws (ruby-fog-aws) and
# AsyncAws for PHP (php-async-aws-core, with php-cli). Installed when missing.
matrix_debian=()
/usr/bin/python3 -c 'import awscrt.auth' 2>/dev/null || matrix_debian+=(python3-awscrt)
for package in ruby-aws-sdk-core ruby-fog-aws php-async-aws-core php-cli; do
  dpkg -s "$package" >/dev/null 2>&1 || matrix_debian+=("$package")
done
if ((${#matrix_debian[@]})); then
  echo "==> installing ${matrix_debian[*]}"
  if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && apt-get install -y -qq "${matrix_debian[@]}"
  else sudo apt-get update -qq && sudo apt-get install -y -qq "${matrix_debian[@]}"; fi
fi
# The AWS SDK for JavaScript v3 (versions pinned by tests/clients/node/package-lock.json) in
# build/node, reinstalled whenever that lock file changes.
command -v node >/dev/null && command -v npm >/dev/null || {
  echo "==> installing nodejs and npm"
  if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && apt-get install -y -qq nodejs npm
  else sudo apt-get update -qq && sudo apt-get install -y -qq nodejs npm; fi
}
if ! cmp -s tests/clients/node/package-lock.json build/node/package-lock.json \
   || ! [ -f build/node/node_modules/@aws-sdk/credential-providers/package.json ]; then
  echo "==> npm ci in build/node (AWS SDK for JavaScript v3)"
  rm -rf build/node
  mkdir -p build/node
  cp tests/clients/node/package.json tests/clients/node/package-lock.json build/node/
  (cd build/node && npm ci --no-audit --no-fund --loglevel=error)
fi
node -e 'require(process.argv[1])' "$PWD/build/node/node_modules/@aws-sdk/credential-providers"
# The compatibility matrix (tests/matrix.rs) also needs @aws-sdk/client-sts (v3's proof) and
# the AWS SDK for JavaScript v2 (npm aws-sdk), pinned by the same lock file.
AWS_SDK_JS_SUPPRESS_MAINTENANCE_MODE_MESSAGE=1 node -e '
  for (const dir of process.argv.slice(1)) {
    const pkg = require(dir + "/package.json");
    require(dir);
    console.log(pkg.name, pkg.version);
  }' "$PWD/build/node/node_modules/@aws-sdk/client-sts" "$PWD/build/node/node_modules/aws-sdk"
# The AWS Common Runtime for Node.js (npm aws-crt, its prebuilt binary; pinned by
# tests/clients/node-crt/package-lock.json) for the matrix, in build/node-crt, reinstalled
# whenever that lock file changes.
if ! cmp -s tests/clients/node-crt/package-lock.json build/node-crt/package-lock.json \
   || ! [ -f build/node-crt/node_modules/aws-crt/package.json ]; then
  echo "==> npm ci in build/node-crt (aws-crt)"
  rm -rf build/node-crt
  mkdir -p build/node-crt
  cp tests/clients/node-crt/package.json tests/clients/node-crt/package-lock.json build/node-crt/
  (cd build/node-crt && npm ci --no-audit --no-fund --loglevel=error)
fi
# The browser page tests (tests/browser_page.rs): Debian's Chromium, driven by playwright-core
# (pinned by tests/browser/package-lock.json) in build/browser, reinstalled whenever that lock
# file changes. playwright-core downloads no browser; the tests use /usr/bin/chromium.
if ! [ -x /usr/bin/chromium ]; then
  echo "==> installing chromium"
  if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && apt-get install -y -qq chromium
  else sudo apt-get update -qq && sudo apt-get install -y -qq chromium; fi
fi
/usr/bin/chromium --version
if ! cmp -s tests/browser/package-lock.json build/browser/package-lock.json \
   || ! [ -f build/browser/node_modules/playwright-core/package.json ]; then
  echo "==> npm ci in build/browser (playwright-core)"
  rm -rf build/browser
  mkdir -p build/browser
  cp tests/browser/package.json tests/browser/package-lock.json build/browser/
  (cd build/browser && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund --loglevel=error)
fi
node -e 'console.log("playwright-core", require(process.argv[1]).version)' \
  "$PWD/build/browser/node_modules/playwright-core/package.json"
# The AWS SDK for Rust client (its own workspace and lock file); cargo skips an up-to-date
# build. A debug build: about a minute from scratch on 2 cores, a release one near three.
echo "==> building tests/clients/rust into build/rust-client-target"
CARGO_TARGET_DIR=build/rust-client-target cargo build --quiet --locked \
  --manifest-path tests/clients/rust/Cargo.toml
[ -x build/rust-client-target/debug/rust-client ] || {
  echo "tests/clients/rust built no build/rust-client-target/debug/rust-client" >&2; exit 1; }
# Rusoto (deprecated; pinned to its last release, 0.48.0) for the matrix: its own crate and lock
# file, built into the same target directory, so the dependencies both share build once.
echo "==> building tests/clients/rusoto into build/rust-client-target"
CARGO_TARGET_DIR=build/rust-client-target cargo build --quiet --locked \
  --manifest-path tests/clients/rusoto/Cargo.toml
[ -x build/rust-client-target/debug/rusoto-client ] || {
  echo "tests/clients/rusoto built no build/rust-client-target/debug/rusoto-client" >&2; exit 1; }
# The official aws_signing_helper, whose sign-string output tests/sign_string.rs compares
# with ours byte for byte (Go module proxy; built once, about a minute).
SIGNING_HELPER_VERSION=v1.4.0
# `go install` stamps no version into it, so build/go-helper/VERSION records what was built.
if [ "$(cat build/go-helper/VERSION 2>/dev/null)" != "$SIGNING_HELPER_VERSION" ] \
   || ! [ -x build/go-helper/rolesanywhere-credential-helper ]; then
  echo "==> building aws_signing_helper $SIGNING_HELPER_VERSION into build/go-helper"
  rm -rf build/go-helper
  GOBIN="$PWD/build/go-helper" go install \
    "github.com/aws/rolesanywhere-credential-helper@$SIGNING_HELPER_VERSION"
  echo "$SIGNING_HELPER_VERSION" > build/go-helper/VERSION
fi
# The Go clients of the compatibility matrix (tests/matrix.rs): the AWS SDK for Go v2 and v1
# and minio-go, each its own module in tests/clients/ with go.mod and go.sum pinning every
# version. Go itself comes with the machine (minio-go v7.4 needs Go 1.26; GOTOOLCHAIN=local,
# so nothing downloads another toolchain). Modules go to build/go-clients/mod, downloaded once
# (-mod=readonly: go.sum is never rewritten, a missing sum fails); each program is rebuilt
# into build/go-clients/bin only when its inputs (or the Go version) change.
command -v go >/dev/null || { echo "the matrix's Go clients need Go (1.26 or later) on PATH" >&2; exit 1; }
for client in go-v2 go-v1 minio-go; do
  stamp=build/go-clients/$client.stamp
  inputs=$( (go version; cd "tests/clients/$client" && sha256sum go.mod go.sum ./*.go) )
  if [ -x "build/go-clients/bin/$client-client" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$inputs" ]; then
    continue
  fi
  echo "==> building tests/clients/$client into build/go-clients/bin/$client-client"
  mkdir -p build/go-clients/bin
  (cd "tests/clients/$client" && GOTOOLCHAIN=local GOFLAGS="-mod=readonly -modcacherw -buildvcs=false" \
    GOMODCACHE="$PWD/../../../build/go-clients/mod" \
    go build -trimpath -o "../../../build/go-clients/bin/$client-client" .)
  printf '%s\n' "$inputs" >"$stamp"
done
# The AWS SDK for Java 2.x client of the compatibility matrix (tests/clients/java-v2, versions
# pinned by the BOM its pom.xml imports): Java 17 and Maven come with the machine (Debian's
# maven when missing). Maven's repository is build/java-client/m2: the first build fetches the
# dependencies online, later ones build offline (-o). Rebuilt only when its inputs (or the
# Java version) change.
command -v mvn >/dev/null || {
  echo "==> installing maven"
  if [ "$(id -u)" -eq 0 ]; then apt-get update -qq && apt-get install -y -qq maven
  else sudo apt-get update -qq && sudo apt-get install -y -qq maven; fi
}
# The AWS SDK for Java 1.x client (tests/clients/java-v1, the aws-java-sdk-bom its pom.xml
# imports) is built the same way into build/java-client/target-v1, sharing the repository.
for client in java-v2:target java-v1:target-v1; do
  dir=${client%%:*} target=${client#*:}
  java_inputs=$( (java -version 2>&1; cd "tests/clients/$dir" && find pom.xml src -type f | sort | xargs sha256sum) )
  if [ -f "build/java-client/$target/$dir-client.jar" ] \
     && [ "$(cat "build/java-client/$dir.stamp" 2>/dev/null)" = "$java_inputs" ]; then
    continue
  fi
  echo "==> building tests/clients/$dir into build/java-client/$target"
  java_build=(mvn -q -B -Dstyle.color=never -f "tests/clients/$dir/pom.xml" -Dmaven.repo.local="$PWD/build/java-client/m2"
    -Dclient.target="$PWD/build/java-client/$target" clean package)
  "${java_build[@]}" -o >/dev/null 2>&1 || "${java_build[@]}"
  printf '%s\n' "$java_inputs" >"build/java-client/$dir.stamp"
done
# Keycloak for the OIDC tests (tests/common/keycloak.rs, tests/oidc_provider.rs): the
# keycloak-quarkus-dist archive from Maven Central, SHA-1 checked and unpacked once into
# build/keycloak/ by scripts/keycloak.sh, which also finds the Java 21+ it needs under
# /usr/lib/jvm. It is started below, before cargo test.
scripts/keycloak.sh install >/dev/null
echo "$(head -1 "$(scripts/keycloak.sh install)/version.txt"), Java from $(scripts/keycloak.sh java)"
# SimpleSAMLphp, the second SAML identity provider (tests/saml_simplesamlphp.rs): Debian's
# package and PHP, installed with apt-get by scripts/simplesamlphp.sh (once), run below on
# PHP's built-in server (Apache, which the package pulls in, is never started).
scripts/simplesamlphp.sh install
# The Debian 12 tree tests/systemd_booted.rs boots, cached in build/nspawn/ (debootstrap from
# the Debian mirror apt uses, about 3 minutes; reused while its package list is unchanged).
tests/systemd/build-tree.sh
# The boto3 its credential consumers use (Debian 12's reads no AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE),
# cached in build/nspawn-boto3/ by version (pip from build/venv, a few seconds).
tests/systemd/build-boto3.sh
# cargo-deb: packaging/test-packages.sh and tests/systemd_booted.rs build the .deb with it.
CARGO_DEB_VERSION=3.8.0
if [ "$(cargo deb --version 2>/dev/null)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
  echo "==> installing cargo-deb $CARGO_DEB_VERSION"
  cargo install --quiet --locked cargo-deb --version "$CARGO_DEB_VERSION"
fi
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
# cargo-deny checks the dependency policy in deny.toml. Pinned to a version that builds with
# the stable toolchain; built from crates.io when missing or another version (about 5 minutes on
# 2 cores), skipped when the pinned version is already installed.
CARGO_DENY_VERSION=0.20.2
if [ "$(cargo deny --version 2>/dev/null)" != "cargo-deny $CARGO_DENY_VERSION" ]; then
  echo "==> installing cargo-deny $CARGO_DENY_VERSION"
  cargo install cargo-deny --version "$CARGO_DENY_VERSION" --locked
fi

# --- static checks -------------------------------------------------------------------------
echo "==> cargo fmt --check"
cargo fmt --all -- --check
echo "==> cargo clippy"
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
# Licenses, duplicate versions and sources of every workspace crate's dependencies. Not
# advisories: the RustSec database comes from GitHub, out of reach here (deny.toml says more).
echo "==> cargo deny check licenses bans sources"
cargo deny --locked --workspace check licenses bans sources

# The manifests against the schemas of a Kubernetes release still supported (strict: an
# unknown field fails); cert-manager's custom resources have no schema there and are only
# linted. tests/kubernetes.rs runs the DaemonSet's command line and probes.
echo "==> contrib/kubernetes and contrib/prometheus: yamllint, Kubernetes 1.33 schemas"
build/venv/bin/yamllint -s -c contrib/.yamllint contrib/kubernetes contrib/prometheus
build/venv/bin/kubernetes-validate --strict --quiet -k 1.33.0 contrib/kubernetes/*.yaml

echo "==> signing vectors are what tests/vectors/generate.py produces"
python3 tests/vectors/generate.py --check

# --- tests ---------------------------------------------------------------------------------
echo "==> cargo test"
# The whole workspace: the product and the test doubles (crates/fake-aws) with their own
# unit tests. tests/common builds the needroleshere-fake-aws binary when a test needs it.
cargo build --locked -p needroleshere-fake-aws
# One Keycloak for the whole test command, started in the background now so that it boots
# (a minute or two) while the tests build; tests wait for it through
# NEEDROLESHERE_TEST_KEYCLOAK. Its watchdog ends it if this script dies; it is stopped
# right after the tests. A failed start leaves its log in $keycloak_state.
keycloak_state=$(mktemp -d /tmp/needroleshere-keycloak.XXXXXX)
keycloak_port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
KEYCLOAK_PARENT_PID=$$ KEYCLOAK_PORT=$keycloak_port \
  scripts/keycloak.sh start "$keycloak_state" >/dev/null 2>&1 &
export NEEDROLESHERE_TEST_KEYCLOAK=http://127.0.0.1:$keycloak_port
export NEEDROLESHERE_TEST_KEYCLOAK_STATE=$keycloak_state
# One SimpleSAMLphp too (it starts in a second), with its own key, users and state
# directory; exported as NEEDROLESHERE_TEST_SIMPLESAMLPHP.
simplesamlphp_state=$(mktemp -d /tmp/needroleshere-simplesamlphp.XXXXXX)
NEEDROLESHERE_TEST_SIMPLESAMLPHP=$(SIMPLESAMLPHP_PARENT_PID=$$ scripts/simplesamlphp.sh start "$simplesamlphp_state")
export NEEDROLESHERE_TEST_SIMPLESAMLPHP
export NEEDROLESHERE_TEST_SIMPLESAMLPHP_STATE=$simplesamlphp_state
cargo test --workspace --all-features --locked
scripts/keycloak.sh stop "$keycloak_state"
rm -rf "$keycloak_state"
unset NEEDROLESHERE_TEST_KEYCLOAK NEEDROLESHERE_TEST_KEYCLOAK_STATE
scripts/simplesamlphp.sh stop "$simplesamlphp_state"
rm -rf "$simplesamlphp_state"
unset NEEDROLESHERE_TEST_SIMPLESAMLPHP NEEDROLESHERE_TEST_SIMPLESAMLPHP_STATE

# Fuzzing (fuzz/, its own cargo-fuzz workspace): every target for a short, bounded time
# (FUZZ_SECONDS, default 20) from its corpus (fuzz/corpus, kept between runs), the hand-made
# seeds in fuzz/seeds and, for certificates and keys, a fresh test PKI. A crash fails the
# step; libFuzzer saves the input under fuzz/artifacts/TARGET/ (replay it with
# `cargo +nightly fuzz run --sanitizer none TARGET FILE`, then keep it as a named test).
# The targets are built once and run directly: `cargo fuzz run` would run cargo again.
echo "==> fuzz targets, ${FUZZ_SECONDS:-20} s each (free disk: $(free_disk))"
rustup toolchain list | grep -q '^nightly' || {
  echo "cargo-fuzz needs the nightly toolchain: rustup toolchain install nightly" >&2; exit 1; }
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
fuzz_scratch=$(mktemp -d)
trap 'rm -rf "$fuzz_scratch"' EXIT
bash tests/pki/generate.sh "$fuzz_scratch/pki" >/dev/null
# One PKI for every target, made before any runs: see pki() in fuzz/src/lib.rs.
export NEEDROLESHERE_FUZZ_PKI="$fuzz_scratch/pki"
(cd fuzz && cargo +nightly fuzz build --sanitizer none)
fuzz_bin="${CARGO_TARGET_DIR:-fuzz/target}/$(rustc +nightly -vV | sed -n 's/^host: //p')/release"
for target in $(cd fuzz && cargo +nightly fuzz list); do
  seeds=()
  [ -d "fuzz/seeds/$target" ] && seeds+=("fuzz/seeds/$target")
  [ "$target" = identity_pem ] && seeds+=("$fuzz_scratch/pki")
  mkdir -p "fuzz/corpus/$target" "fuzz/artifacts/$target"
  if "$fuzz_bin/$target" -artifact_prefix="fuzz/artifacts/$target/" \
        -max_total_time="${FUZZ_SECONDS:-20}" -timeout=10 -rss_limit_mb=2048 \
        "fuzz/corpus/$target" "${seeds[@]}" >"$fuzz_scratch/$target.log" 2>&1; then
    echo "    $target: $(grep -E '^Done [0-9]+ runs' "$fuzz_scratch/$target.log" || echo done)"
  else
    tail -n 40 "$fuzz_scratch/$target.log" >&2
    echo "fuzz target $target failed; the input is in fuzz/artifacts/$target/" >&2
    exit 1
  fi
done

# --- packages ------------------------------------------------------------------------------
echo "==> packages"
packaging/test-packages.sh

# --- benchmark harness ---------------------------------------------------------------------
# A short run of scripts/bench.sh on a debug build (reusing what cargo test built), so the
# harness is known to work on a fresh machine. Its figures (target/bench/BENCHMARKS.smoke.md)
# are not checked: timings on a shared machine, of a debug build, are no test.
# BENCHMARKS.md comes from a full run: scripts/bench.sh.
echo "==> benchmark harness (scripts/bench.sh --smoke)"
scripts/bench.sh --smoke --no-profile >/dev/null
