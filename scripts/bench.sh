#!/usr/bin/env bash
# The benchmark harness (issue 9): one command, on a fresh Debian machine.
#
# Usage: scripts/bench.sh [--quick | --smoke] [--no-build] [--profile | --no-profile]
#                        [--output FILE]
#
# It installs what it needs (wrk, hyperfine, systemd's systemd-socket-activate, curl,
# openssl, iproute2's ss; `apt-get update` first), builds the release binaries
# (`cargo build --release --bins`, `cargo build --release -p needroleshere-fake-aws`) and the
# harness's own programs
# (examples/baseline_server.rs, examples/loadgen.rs, examples/coldstart.rs,
# benches/signing.rs), runs every measurement against the strict fake IAM Roles Anywhere
# (`needroleshere-fake-aws`) on loopback, prints a table and writes it, with a description
# of the machine, to BENCHMARKS.md (or FILE).
#
# Every figure that depends on the machine is also given as a ratio against a baseline
# measured in the same run: a minimal hyper server answering a body of the same size
# (throughput, latency, memory, cold start), ring's bare signature (signing) and
# `needroleshere --version` (process start, for credential-process).
#
# --quick: short runs for developing the harness and checking that it works (1 s per wrk
#          point, few repetitions, one build for binaries and harness); writes
#          target/bench/BENCHMARKS.quick.md unless --output is given.
# --smoke: --quick on a debug build, which reuses what `cargo test` built: the test suite
#          runs it to show the harness works. Its figures mean nothing; it writes
#          target/bench/BENCHMARKS.smoke.md unless --output is given.
# --no-build: use the binaries already built (for developing the harness).
# --profile: profile the cached ECS fetch of serve and of the baseline (callgrind:
#          instructions and allocations per request, the request handler's callees; strace:
#          system calls per request) and add the findings to the report. By default this is
#          done when a cached-fetch target is missed; --no-profile never does it. Installs
#          valgrind and strace when missing.
# Environment overrides: BENCH_DURATION (s per wrk point, default 5), BENCH_COLD_RUNS (30),
# BENCH_BINDINGS (1000), BENCH_REQUESTS (10000), BENCH_SIGN_SECONDS (1),
# BENCH_HYPERFINE_RUNS (20), BENCH_PROFILE_REQUESTS (5000), BENCH_SETTLE_SECONDS (120: after
# building, wait up to this long for the 1-minute load average to fall under 1.0),
# BENCH_SCALE_BINDINGS (10000: the bindings of the scale measurement), BENCH_ROUNDS (3: runs
# of each throughput point, needroleshere and baseline taking turns to go first; the table
# gives the medians).
#
# All traffic stays on 127.0.0.1. Every process started here is stopped by its PID on exit.
# Once the binaries are built the run takes about 10 minutes (plus up to BENCH_SETTLE_SECONDS
# waiting for a quiet machine); building from scratch adds several minutes on 2 cores (three
# builds: the release binaries as shipped, the fake (crates/fake-aws, built apart so its
# dependencies' features cannot change the product's), and the harness, whose
# dev-dependencies change the features of tokio and so of what depends on it).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

quick=0
smoke=0
build=1
profile=auto
output=
while (($#)); do
  case $1 in
  --quick) quick=1 ;;
  --smoke) quick=1 smoke=1 ;;
  --no-build) build=0 ;;
  --profile) profile=1 ;;
  --no-profile) profile=0 ;;
  --output)
    output=${2:?--output takes a file}
    shift
    ;;
  -h | --help)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
  *)
    echo "bench.sh: unknown argument $1 (see --help)" >&2
    exit 2
    ;;
  esac
  shift
done

# Defaults of a full run and of --quick, in the order of the BENCH_* variables below.
if ((quick)); then
  defaults=(1 5 100 2000 0.2 5 1000 0 300 1)
  output=${output:-target/bench/BENCHMARKS.$( ((smoke)) && echo smoke || echo quick).md}
else
  defaults=(5 30 1000 10000 1 20 5000 120 10000 3)
  output=${output:-BENCHMARKS.md}
fi
DURATION=${BENCH_DURATION:-${defaults[0]}}
COLD_RUNS=${BENCH_COLD_RUNS:-${defaults[1]}}
BINDINGS=${BENCH_BINDINGS:-${defaults[2]}}
REQUESTS=${BENCH_REQUESTS:-${defaults[3]}}
SIGN_SECONDS=${BENCH_SIGN_SECONDS:-${defaults[4]}}
HYPERFINE_RUNS=${BENCH_HYPERFINE_RUNS:-${defaults[5]}}
PROFILE_REQUESTS=${BENCH_PROFILE_REQUESTS:-${defaults[6]}}
SETTLE_SECONDS=${BENCH_SETTLE_SECONDS:-${defaults[7]}}
SCALE_BINDINGS=${BENCH_SCALE_BINDINGS:-${defaults[8]}}
ROUNDS=${BENCH_ROUNDS:-${defaults[9]}}
CONNECTIONS=(1 16 64)
# The cached fetch's throughput target at 16 and 64 connections, as a share of the baseline's.
FETCH_TARGET=0.80
started_at=$(date +%s)

log() { printf '==> %s\n' "$*" >&2; }
die() {
  printf 'bench.sh: %s\n' "$*" >&2
  exit 1
}

# Nothing may leave the machine: no proxy, no AWS settings of the caller.
for name in HTTPS_PROXY https_proxy HTTP_PROXY http_proxy ALL_PROXY all_proxy \
  AWS_REGION AWS_DEFAULT_REGION AWS_ENDPOINT_URL AWS_ENDPOINT_URL_ROLESANYWHERE \
  AWS_USE_FIPS_ENDPOINT AWS_CA_BUNDLE AWS_PROFILE AWS_CONFIG_FILE AWS_SHARED_CREDENTIALS_FILE \
  RUST_LOG RUNTIME_DIRECTORY NOTIFY_SOCKET LISTEN_FDS LISTEN_PID LISTEN_FDNAMES \
  NEEDROLESHERE_PKCS8_PASSWORD JOURNAL_STREAM; do
  unset "$name"
done
export NO_PROXY=127.0.0.1,localhost no_proxy=127.0.0.1,localhost

# ------------------------------------------------------------------------------------------
# Tools.

# require COMMAND=PACKAGE...: installs the Debian packages of the missing commands.
apt_updated=0
require() {
  local pair missing=() sudo=
  for pair in "$@"; do
    command -v "${pair%%=*}" >/dev/null || missing+=("${pair#*=}")
  done
  ((${#missing[@]})) || return 0
  log "installing ${missing[*]} (Debian packages)"
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  if ((!apt_updated)); then
    $sudo apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    "${missing[@]}" >/dev/null
}
require wrk=wrk hyperfine=hyperfine systemd-socket-activate=systemd curl=curl \
  openssl=openssl ss=iproute2
# Keys in devices (part 5): a SoftHSM2 token and a software TPM with the tpm2 OpenSSL
# provider to make key files in it.
require softhsm2-util=softhsm2 pkcs11-tool=opensc swtpm=swtpm tpm2_createprimary=tpm2-tools
dpkg -s tpm2-openssl >/dev/null 2>&1 || {
  command -v apt-get >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends tpm2-openssl >/dev/null; }
# The fakes (crates/fake-aws) link libxmlsec1 for SAML signatures; samael's build runs bindgen.
pkg-config --exists xmlsec1 2>/dev/null && dpkg -s libclang-dev >/dev/null 2>&1 || {
  command -v apt-get >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends libxmlsec1-dev libclang-dev pkg-config >/dev/null; }
command -v cargo >/dev/null || die "cargo is needed (Rust $(sed -n 's/^rust-version = //p' Cargo.toml))"

# ------------------------------------------------------------------------------------------
# Build.

raw=$root/target/bench
# Where cargo puts the binaries (CARGO_TARGET_DIR when set, relative to the repository).
profile_dir=release
((smoke)) && profile_dir=debug
release=$(cd "$root" && realpath -m "${CARGO_TARGET_DIR:-target}")/$profile_dir
mkdir -p "$raw"
load_before_build=$(cut -d' ' -f1-3 /proc/loadavg)
harness=(--examples --bench signing --message-format=json-render-diagnostics)
if ((build && smoke)); then
  log "building the binaries and the harness, debug (--smoke)"
  cargo build --quiet -p needroleshere-fake-aws
  cargo build --bins "${harness[@]}" >"$raw/build-harness.json"
elif ((build && quick)); then
  # One build: the binaries get the harness's dev-dependency features too, which does not
  # matter for a quick run and saves a second build of the dependency graph.
  log "building the binaries and the harness in one build (--quick)"
  cargo build --quiet --release -p needroleshere-fake-aws
  cargo build --release --bins "${harness[@]}" >"$raw/build-harness.json"
elif ((build)); then
  log "building release binaries: cargo build --release --bins"
  cargo build --quiet --release --bins
  log "building the fake: cargo build --release -p needroleshere-fake-aws"
  cargo build --quiet --release -p needroleshere-fake-aws
  log "building the harness: examples and benches/signing.rs"
  cargo build --release "${harness[@]}" >"$raw/build-harness.json"
fi
if ((build)); then
  sign_exe=$(grep -o '"executable":"[^"]*/signing-[^"]*"' "$raw/build-harness.json" |
    tail -n1 | sed 's/^"executable":"//; s/"$//')
else
  sign_exe=$(find "$release/deps" -maxdepth 1 -type f -name 'signing-*' ! -name '*.d' \
    -printf '%T@ %p\n' | sort -n | tail -n1 | cut -d' ' -f2-)
fi
[ -x "$sign_exe" ] || die "cannot find the built benches/signing.rs"

bin=$release
nrh=$bin/needroleshere
fake_bin=$bin/needroleshere-fake-aws
baseline_bin=$bin/examples/baseline_server
loadgen=$bin/examples/loadgen
coldstart=$bin/examples/coldstart

# ------------------------------------------------------------------------------------------
# Scratch space, processes, cleanup.

work=$(mktemp -d "${TMPDIR:-/tmp}/needroleshere-bench.XXXXXX")
pids=()
cleanup() {
  local pid
  for pid in "${pids[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${pids[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf -- "$work"
}
trap cleanup EXIT

# stop PID: SIGTERM and wait.
stop() {
  kill "$1" 2>/dev/null || true
  wait "$1" 2>/dev/null || true
}

# A free loopback TCP port.
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 40000))
    if ! ss -Htan "sport = :$port" | grep -q .; then
      echo "$port"
      return
    fi
  done
}

# Waits until http://127.0.0.1:PORT/PATH answers (any status).
wait_http() {
  local port=$1 path=${2:-/healthz} pid=${3:-}
  for _ in $(seq 500); do
    if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port$path"; then
      return 0
    fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then
      return 1
    fi
    sleep 0.02
  done
  return 1
}

# CPU time PID has used so far, all threads, in nanoseconds (/proc/PID/task/*/schedstat).
cpu_ns() { cat /proc/"$1"/task/*/schedstat 2>/dev/null | awk '{ s += $1 } END { printf "%.0f", s }'; }

# VmRSS of PID in KiB, and its anonymous part (heap, stacks: RssAnon; the rest is mapped
# files, mostly the executable's own pages).
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
anon_kib() { awk '/^RssAnon:/ {print $2}' "/proc/$1/status"; }
# memory KEY PID: R[KEY] and R[KEY_anon] from PID's VmRSS and RssAnon now.
memory() {
  R[$1]=$(rss_kib "$2")
  R[$1_anon]=$(anon_kib "$2")
}

# Samples the VmRSS of PID every 0.2 s into FILE (the maximum seen) until FILE.stop exists.
sample_rss() {
  local pid=$1 file=$2 max=0 value
  while [ ! -e "$file.stop" ] && kill -0 "$pid" 2>/dev/null; do
    value=$(rss_kib "$pid" 2>/dev/null || echo 0)
    ((value > max)) && max=$value
    echo "$max" >"$file"
    sleep 0.2
  done
}

# Float arithmetic.
calc() { awk "BEGIN { printf \"%.6g\", $* }"; }
fmt() { awk -v v="$1" -v d="${2:-1}" 'BEGIN { printf "%.*f", d, v }'; }
# Whether the awk condition holds: `holds "$a >= 0.7"`.
holds() { awk "BEGIN { exit !($*) }"; }
# A wrk latency ("45.2us", "1.3ms", "1.0s") in microseconds.
to_us() {
  awk -v v="$1" 'BEGIN {
    n = v + 0
    if (v ~ /us$/) f = 1; else if (v ~ /ms$/) f = 1000; else if (v ~ /s$/) f = 1000000; else f = 1
    printf "%.1f", n * f
  }'
}
kib_to_mib() { awk -v v="$1" 'BEGIN { printf "%.1f", v / 1024 }'; }

declare -A R

# ------------------------------------------------------------------------------------------
# The machine, and how busy it is.

cpu_model=$(awk -F: '/^model name/ {sub(/^[ \t]+/, "", $2); print $2; exit}' /proc/cpuinfo)
cores=$(nproc)
mem_total=$(awk '/^MemTotal:/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo)
kernel=$(uname -sr)
rustc_version=$(rustc --version)
wrk_version=$(wrk --version 2>&1 | head -n1 | awk '{print $1, $2}' || true)
hyperfine_version=$(hyperfine --version)
run_date=$(date -u '+%Y-%m-%d %H:%M UTC')
# The build (ours) raises the load average: give it time to decay before measuring.
settle_deadline=$(($(date +%s) + SETTLE_SECONDS))
while holds "$(cut -d' ' -f1 /proc/loadavg) >= 1.0" && (($(date +%s) < settle_deadline)); do
  log "waiting for the 1-minute load average to fall under 1.0 (now $(cut -d' ' -f1 /proc/loadavg))"
  sleep 10
done
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
log "machine: $cpu_model, $cores cores, $mem_total, $kernel; load average $load_start"

# ------------------------------------------------------------------------------------------
# The test PKI and the fake IAM Roles Anywhere.

log "generating the test PKI (tests/pki/generate.sh)"
pki=$work/pki
bash tests/pki/generate.sh "$pki" >/dev/null

fake_log=$raw/fake-aws.log
RUST_LOG=info "$fake_bin" --pki "$pki" --listen 127.0.0.1:0 >"$work/fake.out" 2>"$fake_log" &
fake_pid=$!
pids+=("$fake_pid")
for _ in $(seq 200); do
  grep -q '^listening on ' "$work/fake.out" 2>/dev/null && break
  sleep 0.02
done
endpoint=$(sed -n 's/^listening on //p' "$work/fake.out")
[ -n "$endpoint" ] || die "needroleshere-fake-aws did not start: $(cat "$fake_log")"
log "fake IAM Roles Anywhere on $endpoint"

TRUST_ANCHOR=arn:aws:rolesanywhere:us-east-1:123456789012:trust-anchor/0f9c5a46-2b63-4d5b-9b4e-6a3a3f1e2d11
PROFILE=arn:aws:rolesanywhere:us-east-1:123456789012:profile/7d3f2c1b-5a4e-4f60-8e2d-1c0b9a8f7e6d
ROLE=arn:aws:iam::123456789012:role/needroleshere-test
ROLE_NAME=needroleshere-test
IMDS_PATH=/latest/meta-data/iam/security-credentials/$ROLE_NAME

# The identity flags for key type KIND (rsa2048, rsa4096, p256, p384).
identity_flags() {
  printf '%s\n' --certificate "$pki/$1.fullchain.pem" --private-key "$pki/$1.pkcs8.key" \
    --trust-anchor-arn "$TRUST_ANCHOR" --profile-arn "$PROFILE" --role-arn "$ROLE" \
    --endpoint "$endpoint"
}
mapfile -t P256 < <(identity_flags p256)

# make_binding DIR NAME MODE [FLAGS...]: a P-256 binding whose role session name is NAME, so
# each binding is a credential of its own (bindings of one identity and request share one).
make_binding() {
  local dir=$1 name=$2 mode=$3
  shift 3
  "$nrh" bind "$name" --configuration-directory "$dir" --mode "$mode" --no-validate \
    --role-session-name "$name" "${P256[@]}" "$@" 2>>"$raw/bind.log" ||
    die "bind $name failed: $(tail -n 3 "$raw/bind.log")"
}

# The bearer token of binding NAME in DIR (from its environment file).
token_of() {
  sed -n 's/^AWS_CONTAINER_AUTHORIZATION_TOKEN="\{0,1\}Bearer \([^"]*\)"\{0,1\}$/\1/p' "$1/env/$2"
}

# bind_many DIR PREFIX COUNT: bindings PREFIX0000.. (ecs-full), tokens in DIR/tokens.
bind_many() {
  local dir=$1 prefix=$2 count=$3 i name
  for ((i = 0; i < count; i++)); do
    printf '%s%04d\n' "$prefix" "$i"
  done | xargs -P "$cores" -I{} "$nrh" bind {} --configuration-directory "$dir" \
    --mode ecs-full --url http://127.0.0.1:1 --no-validate --role-session-name {} \
    "${P256[@]}" 2>>"$raw/bind.log" || die "bind failed: $(tail -n 3 "$raw/bind.log")"
  : >"$dir/tokens"
  for ((i = 0; i < count; i++)); do
    name=$(printf '%s%04d' "$prefix" "$i")
    token_of "$dir" "$name" >>"$dir/tokens"
  done
  [ "$(grep -c . "$dir/tokens")" -eq "$count" ] || die "bind_many: not every binding has a token"
}

# start_serve LOGNAME DIR PORT [FLAGS...]: serve with --listen 127.0.0.1:PORT; sets serve_pid.
start_serve() {
  local logname=$1 dir=$2 port=$3
  shift 3
  "$nrh" serve --configuration-directory "$dir" --listen "127.0.0.1:$port" "$@" \
    2>"$raw/$logname.log" &
  serve_pid=$!
  pids+=("$serve_pid")
  wait_http "$port" /healthz "$serve_pid" || die "serve did not start: $(cat "$raw/$logname.log")"
}

# load NAME PORT TOKENS REQUESTS CONNECTIONS: runs loadgen, its summary in target/bench/NAME.json.
load() {
  local out=$raw/$1.json
  "$loadgen" --addr "127.0.0.1:$2" --tokens "$3" --requests "$4" --connections "$5" >"$out" ||
    die "loadgen ($1) failed: $(cat "$out")"
}

# CreateSession calls the fake accepted whose role session name matches the regex.
calls_matching() {
  grep 'CreateSession accepted' "$fake_log" | grep -cE "role_session_name=($1)( |\$)" || true
}

# ------------------------------------------------------------------------------------------
# 1. Cached credential fetch (ECS and IMDS) against the baseline; memory idle and under load.

log "1. cached credential fetch: wrk --latency, ${DURATION}s per point, $ROUNDS rounds"
dir_a=$work/a
port_a=$(free_port)
port_i=$(free_port)
make_binding "$dir_a" ecs1 ecs-full --url "http://127.0.0.1:$port_a"
make_binding "$dir_a" imds1 imds --url "http://127.0.0.1:$port_i"
ecs_token=$(token_of "$dir_a" ecs1)
[ -n "$ecs_token" ] || die "no token for binding ecs1"
start_serve serve-fetch "$dir_a" "$port_a" --listen-imds "127.0.0.1:$port_i=imds1"
pid_a=$serve_pid
sleep 0.5
memory rss_fresh "$pid_a"

status=$(curl -s -o "$work/ecs.json" -w '%{http_code}' -H "Authorization: Bearer $ecs_token" \
  "http://127.0.0.1:$port_a/ecs/credentials")
[ "$status" = 200 ] || die "ECS fetch answered $status: $(cat "$work/ecs.json")"
imds_token=$(curl -s -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 21600' \
  "http://127.0.0.1:$port_i/latest/api/token")
status=$(curl -s -o "$work/imds.json" -w '%{http_code}' -H "X-aws-ec2-metadata-token: $imds_token" \
  "http://127.0.0.1:$port_i$IMDS_PATH")
[ "$status" = 200 ] || die "IMDS fetch answered $status: $(cat "$work/imds.json")"
ecs_bytes=$(wc -c <"$work/ecs.json")
imds_bytes=$(wc -c <"$work/imds.json")
token_bytes=${#imds_token}
sleep 0.5
memory rss_idle "$pid_a"

port_b=$(free_port)
"$baseline_bin" --listen "127.0.0.1:$port_b" --body-bytes "$ecs_bytes" \
  --imds-body-bytes "$imds_bytes" --token-bytes "$token_bytes" >/dev/null 2>"$raw/baseline.log" &
pid_b=$!
pids+=("$pid_b")
wait_http "$port_b" /healthz "$pid_b" || die "baseline_server did not start"
sleep 0.5
memory base_rss_idle "$pid_b"
log "ECS document $ecs_bytes bytes, IMDS document $imds_bytes bytes, IMDS token $token_bytes bytes"

# run_wrk KEY PID CONNECTIONS URL [WRK OPTIONS...] [-- SCRIPT ARGS...]: stores
# R[KEY_rps|_p50|_p99|_errors|_requests] and, at 64 connections, the maximum RSS of PID during
# the run in R[KEY_rss].
run_wrk() {
  local key=$1 pid=$2 c=$3 url=$4
  shift 4
  local options=() script_args=()
  while (($#)); do
    if [ "$1" = -- ]; then
      shift
      script_args=(-- "$@")
      break
    fi
    options+=("$1")
    shift
  done
  local threads=2 file=$raw/wrk-$key.txt sampler=
  ((c < threads)) && threads=$c
  if ((c == 64)); then
    rm -f "$work/rss-$key" "$work/rss-$key.stop"
    sample_rss "$pid" "$work/rss-$key" &
    sampler=$!
  fi
  local cpu_before cpu_after
  cpu_before=$(cpu_ns "$pid")
  wrk -t "$threads" -c "$c" -d "${DURATION}s" --timeout 5s --latency "${options[@]}" "$url" \
    "${script_args[@]}" >"$file" 2>&1 ||
    die "wrk failed: $(cat "$file")"
  cpu_after=$(cpu_ns "$pid")
  if [ -n "$sampler" ]; then
    touch "$work/rss-$key.stop"
    wait "$sampler" 2>/dev/null || true
    R[${key}_rss]=$(cat "$work/rss-$key")
  fi
  R[${key}_rps]=$(awk '/^Requests\/sec:/ {print $2}' "$file")
  R[${key}_p50]=$(to_us "$(awk '$1 == "50%" {print $2}' "$file")")
  R[${key}_p99]=$(to_us "$(awk '$1 == "99%" {print $2}' "$file")")
  R[${key}_requests]=$(awk '/requests in/ {print $1}' "$file")
  R[${key}_cpu]=$(calc "($cpu_after - $cpu_before) / 1000 / ${R[${key}_requests]}")
  local non2xx errors
  non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$file")
  errors=$(awk '/Socket errors:/ {gsub(/,/, ""); print $4 + $6 + $8 + $10}' "$file")
  R[${key}_errors]=$((${non2xx:-0} + ${errors:-0}))
  log "  $key: ${R[${key}_rps]} req/s, p50 ${R[${key}_p50]} µs, p99 ${R[${key}_p99]} µs, CPU ${R[${key}_cpu]} µs/request, errors ${R[${key}_errors]}"
}

# median: the median of the numbers on stdin, one per line.
median() {
  sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# merge_rounds KEY: R[KEY_rps|_p50|_p99|_cpu] are the medians of R[KEY_rN_*] over the ROUNDS
# rounds; requests and errors are summed, the RSS is the peak.
merge_rounds() {
  local key=$1 metric round
  for metric in rps p50 p99 cpu; do
    R[${key}_$metric]=$(for ((round = 1; round <= ROUNDS; round++)); do
      echo "${R[${key}_r${round}_$metric]}"
    done | median)
  done
  R[${key}_requests]=0 R[${key}_errors]=0
  for ((round = 1; round <= ROUNDS; round++)); do
    R[${key}_requests]=$((${R[${key}_requests]} + ${R[${key}_r${round}_requests]}))
    R[${key}_errors]=$((${R[${key}_errors]} + ${R[${key}_r${round}_errors]}))
    if [ -n "${R[${key}_r${round}_rss]:-}" ] && ((${R[${key}_r${round}_rss]} > ${R[${key}_rss]:-0})); then
      R[${key}_rss]=${R[${key}_r${round}_rss]}
    fi
  done
  ((ROUNDS > 1)) && log "  $key, median of $ROUNDS: ${R[${key}_rps]} req/s, p99 ${R[${key}_p99]} µs, CPU ${R[${key}_cpu]} µs/request"
  return 0
}

# compare_wrk C NRH_URL BASE_URL KEY [WRK OPTIONS...] [-- SCRIPT ARGS...]: ROUNDS runs of
# serve (PID pid_a, R[KEY_nrh_C_*]) and of the baseline (pid_b, R[KEY_base_C_*]), taking
# turns to go first, so that drift and a neighbour's burst of work fall on both; KEY_nrh
# alone when BASE_URL is empty.
compare_wrk() {
  local c=$1 url_n=$2 url_b=$3 key=$4 round
  shift 4
  for ((round = 1; round <= ROUNDS; round++)); do
    if ((round % 2)) || [ -z "$url_b" ]; then
      run_wrk "${key}_nrh_${c}_r$round" "$pid_a" "$c" "$url_n" "$@"
      [ -z "$url_b" ] || run_wrk "${key}_base_${c}_r$round" "$pid_b" "$c" "$url_b" "$@"
    else
      run_wrk "${key}_base_${c}_r$round" "$pid_b" "$c" "$url_b" "$@"
      run_wrk "${key}_nrh_${c}_r$round" "$pid_a" "$c" "$url_n" "$@"
    fi
  done
  merge_rounds "${key}_nrh_$c"
  [ -z "$url_b" ] || merge_rounds "${key}_base_$c"
}

ecs_header=("-H" "Authorization: Bearer $ecs_token")
imds_script=("-s" "$root/benches/wrk/imds.lua")
calls_before_wrk=$(calls_matching 'ecs1|imds1')
for c in "${CONNECTIONS[@]}"; do
  compare_wrk "$c" "http://127.0.0.1:$port_a/ecs/credentials" \
    "http://127.0.0.1:$port_b/ecs/credentials" ecs "${ecs_header[@]}"
done
# The same server's /healthz: its HTTP stack alone, without any credential work.
for c in 16 64; do
  compare_wrk "$c" "http://127.0.0.1:$port_a/healthz" "" health
done
for c in "${CONNECTIONS[@]}"; do
  compare_wrk "$c" "http://127.0.0.1:$port_i" "http://127.0.0.1:$port_b" imds \
    "${imds_script[@]}" -- "$IMDS_PATH"
done
R[wrk_calls]=$(($(calls_matching 'ecs1|imds1') - calls_before_wrk))
R[wrk_requests]=0
for c in "${CONNECTIONS[@]}"; do
  R[wrk_requests]=$((${R[wrk_requests]} + ${R[ecs_nrh_${c}_requests]} + ${R[imds_nrh_${c}_requests]}))
done
fetch_missed=0
for front in ecs imds; do
  for c in 16 64; do
    holds "${R[${front}_nrh_${c}_rps]} < $FETCH_TARGET * ${R[${front}_base_${c}_rps]} || ${R[${front}_nrh_${c}_p99]} > 2 * ${R[${front}_base_${c}_p99]}" &&
      fetch_missed=1
  done
done
if [ "$profile" = auto ]; then
  profile=$fetch_missed
  ((profile)) && log "  a cached-fetch target is missed: profiling it at the end (--no-profile to skip)"
fi
sleep 1
memory rss_after_load "$pid_a"
stop "$pid_a"
stop "$pid_b"

# ------------------------------------------------------------------------------------------
# 2. Upstream economy: CreateSession calls per REQUESTS client requests.

log "2. upstream economy: $REQUESTS requests for 1 binding, then for 100 bindings"
dir_e=$work/e
port_e=$(free_port)
make_binding "$dir_e" econ1 ecs-full --url "http://127.0.0.1:$port_e"
token_of "$dir_e" econ1 >"$work/econ1.tokens"
bind_many "$dir_e" econ- 100
start_serve serve-economy "$dir_e" "$port_e"
pid_e=$serve_pid
load loadgen-economy-1 "$port_e" "$work/econ1.tokens" "$REQUESTS" 16
R[econ1_calls]=$(calls_matching econ1)
load loadgen-economy-100 "$port_e" "$dir_e/tokens" "$REQUESTS" 64
R[econ100_calls]=$(calls_matching 'econ-[0-9]{4}')
R[econ100_names]=$(grep 'CreateSession accepted' "$fake_log" |
  grep -oE 'role_session_name=econ-[0-9]{4}( |$)' | sort -u | grep -c . || true)
R[econ100_max]=$(grep 'CreateSession accepted' "$fake_log" |
  grep -oE 'role_session_name=econ-[0-9]{4}( |$)' | sort | uniq -c | sort -rn |
  awk 'NR == 1 {print $1}')
R[econ100_rps]=$(sed -n 's/.*"rps":\([0-9.]*\).*/\1/p' "$raw/loadgen-economy-100.json")
log "  1 binding: ${R[econ1_calls]} calls; 100 bindings: ${R[econ100_calls]} calls (${R[econ100_names]} bindings, at most ${R[econ100_max]} each)"
stop "$pid_e"

# ------------------------------------------------------------------------------------------
# 4 (part). Memory with BINDINGS bindings, each fetched once.

log "4. memory with $BINDINGS bindings, each fetched once"
dir_m=$work/m
port_m=$(free_port)
bind_many "$dir_m" b- "$BINDINGS"
start_serve serve-bindings "$dir_m" "$port_m"
pid_m=$serve_pid
sleep 0.5
R[rss_many_before]=$(rss_kib "$pid_m")
load loadgen-bindings "$port_m" "$dir_m/tokens" "$BINDINGS" 16
R[many_calls]=$(calls_matching 'b-[0-9]{4}')
sleep 1
memory rss_many "$pid_m"
log "  RSS ${R[rss_many]} KiB after $BINDINGS bindings (${R[many_calls]} CreateSession calls)"
stop "$pid_m"

# ------------------------------------------------------------------------------------------
# 4 (scale). SCALE_BINDINGS bindings: start-up, the cost of a request, memory.
#
# serve reads a binding when a request names it, never scans the directory to answer, so
# neither start-up nor a cached request may grow with the number of bindings. Measured:
# cold start to /healthz with SCALE_BINDINGS binding files; server CPU per request of a
# first pass (each binding fetched once: CreateSession, cache entry, rendering) and of a
# cached pass (each binding twice more), each against the same passes over 100 bindings
# (the ratio is the growth); VmRSS after it all.

log "4. scale: $SCALE_BINDINGS bindings (binding them takes a while)"
# scale_pass NAME PID PORT TOKENS REQUESTS: loadgen with 16 connections; R[NAME_cpu] is the server's
# CPU per request (µs).
scale_pass() {
  local before after
  before=$(cpu_ns "$2")
  load "$1" "$3" "$4" "$5" 16
  after=$(cpu_ns "$2")
  R[$1_cpu]=$(calc "($after - $before) / $5 / 1000")
  grep -q "\"errors\":0" "$raw/$1.json" || log "  $1: $(cat "$raw/$1.json")"
}
for spec in "scale $SCALE_BINDINGS x-" "ref 100 y-"; do
  read -r tag count prefix <<<"$spec"
  dir_s=$work/$tag
  port_s=$(free_port)
  bind_many "$dir_s" "$prefix" "$count"
  "$coldstart" --runs "$COLD_RUNS" --path /healthz -- \
    "$nrh" serve --configuration-directory "$dir_s" >"$raw/cold-$tag.json" ||
    die "cold start ($tag) failed"
  R[${tag}_cold]=$(sed -n 's/.*"median_ms":\([0-9.eE+-]*\).*/\1/p' "$raw/cold-$tag.json")
  start_serve "serve-$tag" "$dir_s" "$port_s"
  pid_s=$serve_pid
  scale_pass "${tag}_first" "$pid_s" "$port_s" "$dir_s/tokens" "$count"
  R[${tag}_calls]=$(calls_matching "$prefix[0-9]+")
  # The cached pass makes as many requests however many bindings: 2 × SCALE_BINDINGS.
  scale_pass "${tag}_cached" "$pid_s" "$port_s" "$dir_s/tokens" "$((2 * SCALE_BINDINGS))"
  sleep 1
  memory "${tag}_rss" "$pid_s"
  log "  $count bindings: cold start ${R[${tag}_cold]} ms; CPU per request ${R[${tag}_first_cpu]} µs first, ${R[${tag}_cached_cpu]} µs cached; ${R[${tag}_calls]} CreateSession calls; RSS ${R[${tag}_rss]} KiB"
  stop "$pid_s"
done

# ------------------------------------------------------------------------------------------
# 3. Cold start under systemd-socket-activate.

log "3. cold start: $COLD_RUNS runs each, a fresh systemd-socket-activate per run"
dir_c=$work/c
make_binding "$dir_c" cold1 ecs-full --url http://127.0.0.1:1
cold_token=$(token_of "$dir_c" cold1)
"$coldstart" --runs "$COLD_RUNS" --path /healthz -- \
  "$nrh" serve --configuration-directory "$dir_c" >"$raw/cold-healthz.json" ||
  die "cold start (healthz) failed"
"$coldstart" --runs "$COLD_RUNS" --path /ecs/credentials --token "$cold_token" -- \
  "$nrh" serve --configuration-directory "$dir_c" >"$raw/cold-ecs.json" ||
  die "cold start (credentials) failed"
"$coldstart" --runs "$COLD_RUNS" --path /healthz -- \
  "$baseline_bin" --body-bytes "$ecs_bytes" >"$raw/cold-baseline.json" ||
  die "cold start (baseline) failed"
json_field() { sed -n "s/.*\"$2\":\([0-9.eE+-]*\).*/\1/p" "$1"; }
for k in healthz ecs baseline; do
  R[cold_${k}_median]=$(json_field "$raw/cold-$k.json" median_ms)
  R[cold_${k}_p90]=$(json_field "$raw/cold-$k.json" p90_ms)
  log "  $k: median ${R[cold_${k}_median]} ms, p90 ${R[cold_${k}_p90]} ms"
done

# ------------------------------------------------------------------------------------------
# 5. Signing cost and credential-process end to end.

# Keys in devices: an RSA-2048 and a P-256 key generated inside a SoftHSM2 token, and the
# same in a software TPM (swtpm on loopback, key files from the tpm2 OpenSSL provider).
log "5. keys in devices: a SoftHSM2 token and swtpm"
devices=
softhsm_module=/usr/lib/softhsm/libsofthsm2.so
mkdir -p "$work/softhsm/tokens" "$work/tpm"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
  "$work/softhsm/tokens" >"$work/softhsm/softhsm2.conf"
export SOFTHSM2_CONF=$work/softhsm/softhsm2.conf
softhsm2-util --init-token --free --label bench --pin 123456 --so-pin 12345678 >/dev/null
for spec in rsa:2048/rsa/01 EC:prime256v1/p256/02; do
  IFS=/ read -r key_type label id <<<"$spec"
  pkcs11-tool --module "$softhsm_module" --login --pin 123456 --keypairgen \
    --key-type "$key_type" --label "$label" --id "$id" >/dev/null 2>&1 ||
    die "pkcs11-tool cannot make the $label key"
  devices+="SoftHSM2 ${label^^}"$'\t'"pkcs11:token=bench;object=$label;type=private?module-path=$softhsm_module&pin-value=123456"$'\n'
done
tpm_port=$(free_port)
swtpm socket --tpm2 --server "type=tcp,port=$tpm_port,bindaddr=127.0.0.1" \
  --ctrl "type=tcp,port=$((tpm_port + 1)),bindaddr=127.0.0.1" --tpmstate "dir=$work/tpm" \
  --flags not-need-init,startup-clear &
pids+=($!)
export TPM2TOOLS_TCTI="swtpm:host=127.0.0.1,port=$tpm_port" TPM2OPENSSL_TCTI="swtpm:host=127.0.0.1,port=$tpm_port"
for _ in $(seq 100); do
  ss -Htln "sport = :$tpm_port" | grep -q . && break
  sleep 0.05
done
for spec in RSA/bits:2048/rsa EC/group:P-256/p256; do
  IFS=/ read -r algorithm option label <<<"$spec"
  openssl genpkey -provider tpm2 -provider default -algorithm "$algorithm" -pkeyopt "$option" \
    -out "$work/tpm/$label.key" 2>/dev/null || die "the tpm2 provider cannot make the $label key"
  devices+="swtpm ${label^^}"$'\t'"$work/tpm/$label.key"$'\n'
done

log "5. signing cost (benches/signing.rs, ${SIGN_SECONDS}s per figure)"
NEEDROLESHERE_BENCH_PKI=$pki NEEDROLESHERE_BENCH_SECONDS=$SIGN_SECONDS \
  NEEDROLESHERE_BENCH_DEVICES=$devices TSS2_LOG=all+none "$sign_exe" \
  >"$raw/signing.tsv" 2>"$raw/signing.txt" || die "benches/signing.rs failed: $(cat "$raw/signing.txt")"
cat "$raw/signing.txt" >&2
ALGORITHMS=(RSA-2048 RSA-4096 P-256 P-384)
DEVICES=()
while IFS=$'\t' read -r tag algorithm sign_ns ring_ns load_ns; do
  case $tag in
  signing)
    R[sign_${algorithm}]=$sign_ns
    R[ring_${algorithm}]=$ring_ns
    R[load_${algorithm}]=$load_ns
    ;;
  previous)
    R[previous_${algorithm}]=$sign_ns
    ;;
  device)
    DEVICES+=("$algorithm")
    R["device_$algorithm"]=$sign_ns
    R["device_file_$algorithm"]=$ring_ns
    ;;
  esac
done <"$raw/signing.tsv"

log "5. credential-process end to end (hyperfine, $HYPERFINE_RUNS runs each)"
# The runs' shared credential cache lives under XDG_RUNTIME_DIR: one of the harness's own,
# so neither the host user's cache nor an earlier run's can answer. `cp-KIND` runs are
# uncached (--no-cache: CreateSession every run); `cached-KIND` runs share the cache, each
# kind with a role session name of its own so that its CreateSession calls can be counted
# (the target: one, in the first warm-up run).
export XDG_RUNTIME_DIR=$work/xdg-runtime
mkdir -m 0700 -p "$XDG_RUNTIME_DIR"
unset XDG_CACHE_HOME
hf=(hyperfine -N --warmup 3 --runs "$HYPERFINE_RUNS" --export-csv "$raw/hyperfine.csv"
  -n version "$nrh --version")
for kind in rsa2048 rsa4096 p256 p384; do
  hf+=(-n "cp-$kind" "$nrh credential-process --no-cache $(identity_flags "$kind" | tr '\n' ' ')")
done
for kind in rsa2048 rsa4096 p256 p384; do
  hf+=(-n "cached-$kind" "$nrh credential-process --role-session-name cp-cached-$kind $(identity_flags "$kind" | tr '\n' ' ')")
done
"${hf[@]}" >"$raw/hyperfine.txt" 2>&1 || die "hyperfine failed: $(cat "$raw/hyperfine.txt")"
while IFS=, read -r name _mean _stddev median _rest; do
  [ "$name" = command ] && continue
  R[hf_$name]=$(calc "$median * 1000")
done <"$raw/hyperfine.csv"
for kind in rsa2048 rsa4096 p256 p384; do
  R[hf_calls_$kind]=$(calls_matching "cp-cached-$kind")
done

# ------------------------------------------------------------------------------------------
# 6. (--profile) Where a cached ECS fetch goes: callgrind and strace, serve and baseline.

# The dump of a callgrind run with the most instructions (the one taken after zeroing).
largest_dump() {
  local file best= best_ir=0 ir
  for file in "$1".*; do
    [ -f "$file" ] || continue
    ir=$(awk '/^(summary|totals):/ {print $2; exit}' "$file")
    if [ -n "$ir" ] && holds "$ir > $best_ir"; then
      best=$file best_ir=$ir
    fi
  done
  echo "$best"
}

# The callees of the function matching PATTERN in a `callgrind_annotate --tree=calling`
# listing, as Markdown rows: Ir per request, share of all Ir, calls per request, function.
callees() {
  local listing=$1 pattern=$2 requests=$3 total=$4 min_share=${5:-0.5}
  awk -v pat="$pattern" -v n="$requests" -v total="$total" -v min="$min_share" '
    !inblock && index($0, "*  ") && index($0, pat) { inblock = 1; next }
    inblock && /^[ \t]*$/ { exit }
    inblock && index($0, " >   ") {
      ir = $1; gsub(/,/, "", ir)
      name = $0; sub(/^.* >   /, "", name); sub(/ \[[^]]*\]$/, "", name)
      calls = 0
      if (match(name, /\([0-9,]+x\)$/)) {
        calls = substr(name, RSTART + 1, RLENGTH - 3); gsub(/,/, "", calls)
        name = substr(name, 1, RSTART - 2)
      }
      sub(/^\?\?\?:/, "", name); gsub(/\|/, "\\|", name)
      share = 100 * ir / total
      if (share >= min)
        printf "| %.0f | %.1f%% | %.1f | `%s` |\n", ir / n, share, calls / n, name
    }' "$listing"
}

# Calls per request of the allocator function NAME (malloc, realloc, free), from a
# `callgrind_annotate --tree=caller` listing.
alloc_calls() {
  local listing=$1 name=$2 requests=$3
  awk -v fn=":$name [" -v n="$requests" '
    /^[ \t]*$/ { if (inblock) exit; pending = ""; next }
    index($0, "*  ") && index($0, fn) { inblock = 1; next }
    index($0, ")  < ") { pending = pending "\n" $0; next }
    END {
      count = split(pending, lines, "\n"); total = 0
      for (i = 1; i <= count; i++)
        if (match(lines[i], /\([0-9,]+x\)/)) {
          c = substr(lines[i], RSTART + 1, RLENGTH - 3); gsub(/,/, "", c); total += c
        }
      printf "%.1f", total / n
    }' "$listing" 2>/dev/null || echo "?"
}

# callgrind_run NAME PORT CMD...: runs CMD under callgrind, warms it with 200 requests, counts
# PROFILE_REQUESTS cached requests (4 connections) and leaves the listings in target/bench.
callgrind_run() {
  local name=$1 port=$2 pid dump
  shift 2
  rm -f "$raw/callgrind-$name.out"*
  valgrind --tool=callgrind --callgrind-out-file="$raw/callgrind-$name.out" "$@" \
    >/dev/null 2>"$raw/callgrind-$name.log" &
  pid=$!
  pids+=("$pid")
  wait_http "$port" /healthz "$pid" || die "$name did not start under valgrind"
  load "warm-up-$name" "$port" "$work/prof1.tokens" 200 1
  callgrind_control -z "$pid" >/dev/null 2>&1
  load "profiled-$name" "$port" "$work/prof1.tokens" "$PROFILE_REQUESTS" 4
  callgrind_control -d "$pid" >/dev/null 2>&1
  stop "$pid"
  dump=$(largest_dump "$raw/callgrind-$name.out")
  [ -n "$dump" ] || die "callgrind wrote no dump for $name"
  R[prof_${name}_total]=$(awk '/^(summary|totals):/ {print $2; exit}' "$dump")
  R[prof_${name}_ir]=$(calc "${R[prof_${name}_total]} / $PROFILE_REQUESTS")
  callgrind_annotate --inclusive=yes --tree=calling --threshold=100 "$dump" \
    >"$raw/callgrind-$name-calling.txt" 2>/dev/null
  callgrind_annotate --inclusive=yes --tree=caller --threshold=100 "$dump" \
    >"$raw/callgrind-$name-caller.txt" 2>/dev/null
  R[prof_${name}_malloc]=$(alloc_calls "$raw/callgrind-$name-caller.txt" malloc "$PROFILE_REQUESTS")
  R[prof_${name}_realloc]=$(alloc_calls "$raw/callgrind-$name-caller.txt" realloc "$PROFILE_REQUESTS")
  R[prof_${name}_free]=$(alloc_calls "$raw/callgrind-$name-caller.txt" free "$PROFILE_REQUESTS")
}

# strace_run NAME PORT CMD...: system calls per cached request (strace -c -f).
strace_run() {
  local name=$1 port=$2 pid tracer
  shift 2
  "$@" >/dev/null 2>"$raw/strace-$name.log" &
  pid=$!
  pids+=("$pid")
  wait_http "$port" /healthz "$pid" || die "$name did not start"
  load "warm-up-$name" "$port" "$work/prof1.tokens" 200 1
  strace -f -c -p "$pid" -o "$raw/strace-$name.txt" 2>/dev/null &
  tracer=$!
  sleep 1
  load "profiled-$name" "$port" "$work/prof1.tokens" "$PROFILE_REQUESTS" 4
  kill -INT "$tracer" 2>/dev/null || true
  wait "$tracer" 2>/dev/null || true
  stop "$pid"
  R[prof_${name}_syscalls]=$(awk -v n="$PROFILE_REQUESTS" '
    $1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" {
      calls = $4; if (calls / n >= 0.05) { printf "%s%s %.2f", sep, $NF, calls / n; sep = ", " }
    }' "$raw/strace-$name.txt")
}

if ((profile)); then
  require valgrind=valgrind callgrind_annotate=valgrind strace=strace
  log "6. profile: callgrind and strace of $PROFILE_REQUESTS cached ECS requests, serve and baseline"
  dir_p=$work/p
  port_p=$(free_port)
  make_binding "$dir_p" prof1 ecs-full --url "http://127.0.0.1:$port_p"
  token_of "$dir_p" prof1 >"$work/prof1.tokens"
  callgrind_run serve "$port_p" "$nrh" serve --configuration-directory "$dir_p" \
    --listen "127.0.0.1:$port_p"
  port_p=$(free_port)
  callgrind_run baseline "$port_p" "$baseline_bin" --listen "127.0.0.1:$port_p" \
    --body-bytes "$ecs_bytes"
  port_p=$(free_port)
  strace_run serve "$port_p" "$nrh" serve --configuration-directory "$dir_p" \
    --listen "127.0.0.1:$port_p"
  port_p=$(free_port)
  strace_run baseline "$port_p" "$baseline_bin" --listen "127.0.0.1:$port_p" \
    --body-bytes "$ecs_bytes"
  log "  instructions per request: serve ${R[prof_serve_ir]}, baseline ${R[prof_baseline_ir]}"
  log "  system calls per request: serve ${R[prof_serve_syscalls]}; baseline ${R[prof_baseline_syscalls]}"
fi

stop "$fake_pid"
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
elapsed=$(($(date +%s) - started_at))

# ------------------------------------------------------------------------------------------
# The table.

pass() { if holds "$1"; then echo "**pass**"; else echo "**FAIL**"; fi; }
table=$work/table.md
{
  echo "| measurement | needroleshere | baseline | ratio | target | result |"
  echo "| --- | ---: | ---: | ---: | --- | --- |"
  for front in ecs imds; do
    label=ECS
    [ $front = imds ] && label="IMDS (PUT token once, then GETs)"
    for c in "${CONNECTIONS[@]}"; do
      n=${front}_nrh_$c b=${front}_base_$c
      rps_ratio=$(calc "${R[${n}_rps]} / ${R[${b}_rps]}")
      p50_ratio=$(calc "${R[${n}_p50]} / ${R[${b}_p50]}")
      p99_ratio=$(calc "${R[${n}_p99]} / ${R[${b}_p99]}")
      if ((c >= 16)); then
        t_rps="≥ ${FETCH_TARGET}×"
        r_rps=$(pass "$rps_ratio >= $FETCH_TARGET")
        t_p99="≤ 2×"
        r_p99=$(pass "$p99_ratio <= 2.0")
      else
        t_rps="—" r_rps="—" t_p99="—" r_p99="—"
      fi
      errs=""
      ((${R[${n}_errors]} + ${R[${b}_errors]} > 0)) &&
        errs=" (errors: ${R[${n}_errors]} / ${R[${b}_errors]})"
      echo "| 1. $label, $c conn: throughput (req/s)$errs | $(fmt "${R[${n}_rps]}" 0) | $(fmt "${R[${b}_rps]}" 0) | $(fmt "$rps_ratio" 2) | $t_rps | $r_rps |"
      echo "| 1. $label, $c conn: p50 latency (µs) | $(fmt "${R[${n}_p50]}" 0) | $(fmt "${R[${b}_p50]}" 0) | $(fmt "$p50_ratio" 2) | — | — |"
      echo "| 1. $label, $c conn: p99 latency (µs) | $(fmt "${R[${n}_p99]}" 0) | $(fmt "${R[${b}_p99]}" 0) | $(fmt "$p99_ratio" 2) | $t_p99 | $r_p99 |"
      echo "| 1. $label, $c conn: server CPU per request (µs) | $(fmt "${R[${n}_cpu]}" 2) | $(fmt "${R[${b}_cpu]}" 2) | $(fmt "$(calc "${R[${n}_cpu]} / ${R[${b}_cpu]}")" 2) | — | — |"
    done
  done
  for c in 16 64; do
    n=health_nrh_$c b=ecs_base_$c
    echo "| 1. serve's \`/healthz\` (its HTTP stack alone), $c conn: throughput (req/s) | $(fmt "${R[${n}_rps]}" 0) | $(fmt "${R[${b}_rps]}" 0) | $(fmt "$(calc "${R[${n}_rps]} / ${R[${b}_rps]}")" 2) | — | — |"
    echo "| 1. serve's \`/healthz\`, $c conn: server CPU per request (µs) | $(fmt "${R[${n}_cpu]}" 2) | $(fmt "${R[${b}_cpu]}" 2) | $(fmt "$(calc "${R[${n}_cpu]} / ${R[${b}_cpu]}")" 2) | — | — |"
  done
  echo "| 2. CreateSession calls, 1 binding, $REQUESTS requests (16 conn) | ${R[econ1_calls]} | — | — | 1 | $(pass "${R[econ1_calls]} == 1") |"
  echo "| 2. CreateSession calls, 100 bindings, $REQUESTS requests (64 conn, rotating tokens) | ${R[econ100_calls]} (${R[econ100_names]} bindings, ≤ ${R[econ100_max]} each) | — | — | 100 (1 each) | $(pass "${R[econ100_calls]} == 100 && ${R[econ100_names]} == 100") |"
  echo "| 2. CreateSession calls during part 1 (${R[wrk_requests]} requests, 2 bindings) | ${R[wrk_calls]} | — | — | 0 (cached) | $(pass "${R[wrk_calls]} == 0") |"
  echo "| 3. cold start → first byte, \`GET /healthz\`: median (ms) | $(fmt "${R[cold_healthz_median]}" 2) | $(fmt "${R[cold_baseline_median]}" 2) | $(fmt "$(calc "${R[cold_healthz_median]} / ${R[cold_baseline_median]}")" 2) | < 20 ms | $(pass "${R[cold_healthz_median]} < 20") |"
  echo "| 3. cold start → first byte, \`GET /healthz\`: p90 (ms) | $(fmt "${R[cold_healthz_p90]}" 2) | $(fmt "${R[cold_baseline_p90]}" 2) | $(fmt "$(calc "${R[cold_healthz_p90]} / ${R[cold_baseline_p90]}")" 2) | < 20 ms | $(pass "${R[cold_healthz_p90]} < 20") |"
  echo "| 3. cold start → first byte, first credentials (with CreateSession): median (ms) | $(fmt "${R[cold_ecs_median]}" 2) | $(fmt "${R[cold_baseline_median]}" 2) | $(fmt "$(calc "${R[cold_ecs_median]} / ${R[cold_baseline_median]}")" 2) | < 20 ms | $(pass "${R[cold_ecs_median]} < 20") |"
  echo "| 3. cold start → first byte, first credentials (with CreateSession): p90 (ms) | $(fmt "${R[cold_ecs_p90]}" 2) | $(fmt "${R[cold_baseline_p90]}" 2) | $(fmt "$(calc "${R[cold_ecs_p90]} / ${R[cold_baseline_p90]}")" 2) | < 20 ms | $(pass "${R[cold_ecs_p90]} < 20") |"
  echo "| 4. RSS, serve just started (MiB) | $(kib_to_mib "${R[rss_fresh]}") (anon $(kib_to_mib "${R[rss_fresh_anon]}")) | $(kib_to_mib "${R[base_rss_idle]}") (anon $(kib_to_mib "${R[base_rss_idle_anon]}")) | $(fmt "$(calc "${R[rss_fresh]} / ${R[base_rss_idle]}")" 2) | < 10 MiB | $(pass "${R[rss_fresh]} < 10240") |"
  echo "| 4. RSS, idle after its 2 bindings were fetched (MiB) | $(kib_to_mib "${R[rss_idle]}") (anon $(kib_to_mib "${R[rss_idle_anon]}")) | $(kib_to_mib "${R[base_rss_idle]}") (anon $(kib_to_mib "${R[base_rss_idle_anon]}")) | $(fmt "$(calc "${R[rss_idle]} / ${R[base_rss_idle]}")" 2) | < 10 MiB | $(pass "${R[rss_idle]} < 10240") |"
  echo "| 4. RSS, peak during the 64-connection ECS run (MiB) | $(kib_to_mib "${R[ecs_nrh_64_rss]}") | $(kib_to_mib "${R[ecs_base_64_rss]}") | $(fmt "$(calc "${R[ecs_nrh_64_rss]} / ${R[ecs_base_64_rss]}")" 2) | — | — |"
  echo "| 4. RSS, peak during the 64-connection IMDS run (MiB) | $(kib_to_mib "${R[imds_nrh_64_rss]}") | $(kib_to_mib "${R[imds_base_64_rss]}") | $(fmt "$(calc "${R[imds_nrh_64_rss]} / ${R[imds_base_64_rss]}")" 2) | — | — |"
  echo "| 4. RSS, idle after all of part 1 (MiB) | $(kib_to_mib "${R[rss_after_load]}") (anon $(kib_to_mib "${R[rss_after_load_anon]}")) | $(kib_to_mib "${R[base_rss_idle]}") (anon $(kib_to_mib "${R[base_rss_idle_anon]}")) | $(fmt "$(calc "${R[rss_after_load]} / ${R[base_rss_idle]}")" 2) | — | — |"
  echo "| 4. RSS, $BINDINGS bindings each fetched once (${R[many_calls]} CreateSession calls) (MiB) | $(kib_to_mib "${R[rss_many]}") (anon $(kib_to_mib "${R[rss_many_anon]}")) | $(kib_to_mib "${R[base_rss_idle]}") (anon $(kib_to_mib "${R[base_rss_idle_anon]}")) | $(fmt "$(calc "${R[rss_many]} / ${R[base_rss_idle]}")" 2) | < 30 MiB | $(pass "${R[rss_many]} < 30720") |"
  echo "| 4. scale: cold start → first byte of \`GET /healthz\` with $SCALE_BINDINGS binding files, median (ms; baseline: 100 bindings) | $(fmt "${R[scale_cold]}" 2) | $(fmt "${R[ref_cold]}" 2) | $(fmt "$(calc "${R[scale_cold]} / ${R[ref_cold]}")" 2) | ≤ 1.5× | $(pass "${R[scale_cold]} <= 1.5 * ${R[ref_cold]}") |"
  echo "| 4. scale: server CPU per request, first request of each of $SCALE_BINDINGS bindings (µs; baseline: 100 bindings) | $(fmt "${R[scale_first_cpu]}" 1) | $(fmt "${R[ref_first_cpu]}" 1) | $(fmt "$(calc "${R[scale_first_cpu]} / ${R[ref_first_cpu]}")" 2) | — | — |"
  echo "| 4. scale: server CPU per cached request, rotating over $SCALE_BINDINGS bindings (µs; baseline: 100 bindings) | $(fmt "${R[scale_cached_cpu]}" 2) | $(fmt "${R[ref_cached_cpu]}" 2) | $(fmt "$(calc "${R[scale_cached_cpu]} / ${R[ref_cached_cpu]}")" 2) | ≤ 1.5× | $(pass "${R[scale_cached_cpu]} <= 1.5 * ${R[ref_cached_cpu]}") |"
  echo "| 4. scale: CreateSession calls for $SCALE_BINDINGS bindings, each asked 3 times | ${R[scale_calls]} | — | — | $SCALE_BINDINGS | $(pass "${R[scale_calls]} == $SCALE_BINDINGS") |"
  echo "| 4. scale: RSS, $SCALE_BINDINGS bindings each fetched (MiB; baseline: 100 bindings) | $(kib_to_mib "${R[scale_rss]}") (anon $(kib_to_mib "${R[scale_rss_anon]}")) | $(kib_to_mib "${R[ref_rss]}") (anon $(kib_to_mib "${R[ref_rss_anon]}")) | $(fmt "$(calc "${R[scale_rss]} / ${R[ref_rss]}")" 2) | < 60 MiB | $(pass "${R[scale_rss]} < 61440") |"
  for algorithm in "${ALGORITHMS[@]}"; do
    echo "| 5. signing a CreateSession request, $algorithm (µs; baseline: ring's bare signature) | $(fmt "$(calc "${R[sign_$algorithm]} / 1000")" 1) | $(fmt "$(calc "${R[ring_$algorithm]} / 1000")" 1) | $(fmt "$(calc "${R[sign_$algorithm]} / ${R[ring_$algorithm]}")" 2) | — | — |"
  done
  if [ -n "${R[previous_P-256]:-}" ]; then
    echo "| 5. P-256 signature through RustCrypto, the signer before ring (µs; baseline: ring's bare signature) | $(fmt "$(calc "${R[previous_P-256]} / 1000")" 1) | $(fmt "$(calc "${R[ring_P-256]} / 1000")" 1) | $(fmt "$(calc "${R[previous_P-256]} / ${R[ring_P-256]}")" 2) | — | — |"
  fi
  for algorithm in "${ALGORITHMS[@]}"; do
    echo "| 5. reading the identity files, $algorithm (µs; baseline: signing it) | $(fmt "$(calc "${R[load_$algorithm]} / 1000")" 1) | $(fmt "$(calc "${R[sign_$algorithm]} / 1000")" 1) | $(fmt "$(calc "${R[load_$algorithm]} / ${R[sign_$algorithm]}")" 2) | — | — |"
  done
  for device in "${DEVICES[@]}"; do
    echo "| 5. signing with a key in $device (µs, wall clock; baseline: a P-256 key file) | $(fmt "$(calc "${R[device_$device]} / 1000")" 1) | $(fmt "$(calc "${R[device_file_$device]} / 1000")" 1) | $(fmt "$(calc "${R[device_$device]} / ${R[device_file_$device]}")" 1) | — | — |"
  done
  for kind in rsa2048 rsa4096 p256 p384; do
    echo "| 5. \`credential-process --no-cache\` end to end, $kind, median (ms; baseline: \`needroleshere --version\`) | $(fmt "${R[hf_cp-$kind]}" 2) | $(fmt "${R[hf_version]}" 2) | $(fmt "$(calc "${R[hf_cp-$kind]} / ${R[hf_version]}")" 2) | — | — |"
  done
  for kind in rsa2048 rsa4096 p256 p384; do
    ratio=$(calc "${R[hf_cached-$kind]} / ${R[hf_version]}")
    echo "| 5. \`credential-process\` from the shared cache, $kind, median (ms; baseline: \`needroleshere --version\`) | $(fmt "${R[hf_cached-$kind]}" 2) | $(fmt "${R[hf_version]}" 2) | $(fmt "$ratio" 2) | ≤ 2× | $(pass "$ratio <= 2") |"
  done
  for kind in rsa2048 rsa4096 p256 p384; do
    echo "| 5. CreateSession calls of $((HYPERFINE_RUNS + 3)) cached \`credential-process\` runs, $kind | ${R[hf_calls_$kind]} | — | — | 1 | $(pass "${R[hf_calls_$kind]} == 1") |"
  done
} >"$table"

load_note="1-minute load average $(echo "$load_start" | cut -d' ' -f1) when the measurements began; 1/5/15 min: $load_before_build before building, $load_start at the start, $load_end at the end"
if holds "$(echo "$load_start" | cut -d' ' -f1) >= 1.0"; then
  under_load="**Measured under load**: the machine was busy with other work when the run began ($load_note)."
else
  under_load="Quiet machine: $load_note. (The harness itself raises the load while it runs.)"
fi
quick_note=""
((quick)) && quick_note="**Quick run** (\`--quick\`): short durations, for developing the harness; not a result."
((smoke)) && quick_note="**Smoke run** (\`--smoke\`): a debug build and short durations, to show the harness works; the figures mean nothing."

mkdir -p "$(dirname "$output")"
{
  cat <<EOF
# Benchmarks

Generated by \`scripts/bench.sh\` on $run_date in ${elapsed} s. Do not edit by hand: run it again.
$quick_note

## Machine

| | |
| --- | --- |
| CPU | $cpu_model |
| cores | $cores |
| memory | $mem_total |
| kernel | $kernel |
| rustc | $rustc_version |
| tools | $wrk_version, $hyperfine_version, $(systemd-socket-activate --version 2>/dev/null | head -n1 || echo systemd-socket-activate) |
| date | $run_date |
| load | $under_load |

## Results

Machine-dependent figures are compared with a baseline measured in the same run; the
ratio is needroleshere ÷ baseline (for throughput higher is better, for the rest lower).

EOF
  cat "$table"
  cat <<EOF

## How it is measured

1. **Cached fetch.** \`needroleshere serve --listen 127.0.0.1:PORT --listen-imds
   127.0.0.1:PORT2=imds1\` with an \`ecs-full\` binding (Authorization header token) and an
   \`imds\` binding, both fetched once before measuring, so every measured request is
   answered from the cache (each still re-checks the binding, certificate and key files).
   \`wrk --latency\`, ${DURATION} s per point and $ROUNDS rounds of each (serve and the
   baseline taking turns to go first; the figures are the medians), 2 threads (1 at 1
   connection), against the ECS
   path with the bearer header, and against IMDS with \`benches/wrk/imds.lua\` (each
   connection's first request is \`PUT /latest/api/token\`, then \`GET $IMDS_PATH\` with the
   token). The baseline is \`examples/baseline_server.rs\`: hyper HTTP/1.1 keep-alive on the
   same tokio runtime (2 workers), answering bodies of the same sizes ($ecs_bytes bytes ECS,
   $imds_bytes bytes IMDS, $token_bytes-byte token) from memory. Client and server share the
   machine's $cores cores, so throughput is what is left to the server beside wrk; the
   server's own CPU time per request (all its threads, from /proc/PID/task/*/schedstat) is
   given too, as it depends far less on what else runs.

   What a cached ECS request costs beyond the baseline, by design: one question to an
   inotify descriptor (through an epoll instance of the worker's own) that watches the
   binding file, the certificate, the key and every directory their paths resolve through
   (so an unbind or rebind is refused, and a renewed certificate fetched, at the very next
   request; without notification, a \`statx\` of each instead), and the answer the worker
   kept for that token (src/front/memo.rs): the token compared in constant time, the
   watch's generation, and the cache entry's epoch and deadline, without a lock. A token
   not kept goes the whole way: compared with the one that last opened the binding (one
   not seen before is hashed, SHA-384, and compared with the binding's hash), then lookups
   of the binding, the identity and the cache entry under locks; the document is
   serialised once per credentials. \`GET /ecs/credentials\` and a binding's IMDS listener
   are answered without axum's router. The \`/healthz\` rows show serve's routed HTTP stack
   against the baseline: axum's routing, and the check of the bindings directory's
   ownership and modes that each probe makes (kept while the watch sees no change). Every
   listener also has a header read timeout against slow clients, which the baseline lacks:
   one timer per connection, looked at four times per timeout, where hyper's own would
   arm a timer for each request.
2. **Upstream economy.** \`examples/loadgen.rs\` (reqwest, a pool of keep-alive
   connections, rotating over the tokens) sends $REQUESTS requests for one binding, then
   $REQUESTS requests rotating over 100 bindings, to a freshly started serve; CreateSession calls are counted in the fake's stderr log by role
   session name (each binding has its own, so each is its own credential: bindings with the
   same identity and request share one cache entry and one call). The run lasts seconds, so
   it holds no refresh: 1 call per binding is the whole budget.
3. **Cold start.** \`examples/coldstart.rs\`: $COLD_RUNS runs; each starts a fresh
   \`systemd-socket-activate --listen=127.0.0.1:PORT\`, waits until it listens, connects and
   times until the first byte of the answer (exec, runtime, configuration, accept, answer;
   for the credential request also reading the identity files and CreateSession to the
   local fake), then stops the server. The baseline is baseline_server started the same way.
4. **Memory.** VmRSS from /proc/PID/status, with its anonymous part (RssAnon: heap and
   stacks; the rest is mapped files, mostly the executable's own code pages): just started;
   idle after its bindings were fetched; peak sampled every 0.2 s during the 64-connection
   runs; after $BINDINGS bindings (each its own role session name) were fetched once by
   loadgen. The baseline is baseline_server's (idle, or peak in the same run).
   **Scale** (the \`4. scale\` rows): $SCALE_BINDINGS \`ecs-full\` bindings of one P-256
   identity, each with a role session name of its own (so each is its own credential),
   against the same measurements with 100 bindings: cold start to \`/healthz\`
   (coldstart, as in 3); the server's CPU time per request (from schedstat) of loadgen
   (16 connections) asking each binding once (a CreateSession call each), then
   2 × $SCALE_BINDINGS cached requests rotating over the bindings; VmRSS at the end. A
   request names its binding, so its cost must not grow with their number.
5. **Signing.** \`benches/signing.rs\` (\`cargo bench --bench signing\`): median CPU time of
   \`needroleshere::sign::sign\` of a CreateSession request with keys from
   \`tests/pki/generate.sh\` (PKCS#8), against ring's bare signature of a message of the
   same length with the same key (for P-384 ring signs with SHA-384), and
   \`IdentityFiles::load\`. P-256 keys in files sign through ring; P-384 keys (ring has no
   P-384/SHA-256 signer) and other digests through the RustCrypto crates, whose bare P-256
   signature (the signer before ring) is timed beside ring's. \`credential-process\`: \`hyperfine -N\` ($HYPERFINE_RUNS runs,
   3 warm-ups) against the fake over plain HTTP on loopback, with \`--no-cache\` (a
   CreateSession call every run) and from the shared cache (a private
   \`XDG_RUNTIME_DIR\` of the harness's; the first warm-up run of each key fetches, the
   others read the cache: what the AWS CLI gets from its second command on). Keys in devices: an RSA-2048
   and a P-256 key generated in a SoftHSM2 token and in swtpm (on loopback), each timed
   signing a 400-byte message with SHA-256 in wall-clock time (the TPM works in another
   process) against the P-256 key file doing the same.

Raw outputs (wrk, loadgen, coldstart, hyperfine, the fake's log) are in \`target/bench/\`.
EOF
  if ((profile)); then
    cat <<EOF

## Profile of the cached ECS fetch (\`--profile\`)

$PROFILE_REQUESTS cached \`GET /ecs/credentials\` (4 connections, after a warm-up), counted by
callgrind (instructions, Ir: the same on any x86-64 machine for the same binaries) and by
\`strace -c -f\`. Valgrind's virtual CPU has no SHA extensions, so \`sha2\` runs its portable
code under it: hashing weighs more here than on a CPU with SHA-NI.

| per request | needroleshere | baseline | ratio |
| --- | ---: | ---: | ---: |
| instructions (Ir) | $(fmt "${R[prof_serve_ir]}" 0) | $(fmt "${R[prof_baseline_ir]}" 0) | $(fmt "$(calc "${R[prof_serve_ir]} / ${R[prof_baseline_ir]}")" 2) |
| malloc / realloc / free calls | ${R[prof_serve_malloc]} / ${R[prof_serve_realloc]} / ${R[prof_serve_free]} | ${R[prof_baseline_malloc]} / ${R[prof_baseline_realloc]} / ${R[prof_baseline_free]} | — |
| system calls | ${R[prof_serve_syscalls]} | ${R[prof_baseline_syscalls]} | — |

The ECS handler's callees (the closure of \`look_up\`: everything of a cached fetch up to its answer, with the kept answer's checks of src/front/memo.rs inlined; inclusive Ir per request, share of all the process's Ir). A request the memo cannot answer goes on to \`admit\` and \`Vendor::lookup\`, the whole way; in this run none did when the table below shows neither:

| Ir / request | share | calls / request | function |
| ---: | ---: | ---: | --- |
EOF
    # The closure's total (a callee of look_up), then what it calls.
    callees "$raw/callgrind-serve-calling.txt" 'needroleshere::front::ecs::look_up [' \
      "$PROFILE_REQUESTS" "${R[prof_serve_total]}"
    callees "$raw/callgrind-serve-calling.txt" \
      'needroleshere::front::ecs::look_up::{{closure}} [' \
      "$PROFILE_REQUESTS" "${R[prof_serve_total]}" 0.1
    cat <<EOF

Listings: \`target/bench/callgrind-*-calling.txt\`, \`callgrind-*-caller.txt\`, \`strace-*.txt\`.
EOF
  fi
} >"$output"

echo
cat "$table"
echo
echo "$under_load"
log "wrote $output (${elapsed} s)"
