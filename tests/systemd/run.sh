#!/bin/bash
# The scenario of tests/systemd_booted.rs, run inside a booted Debian 12 (systemd-nspawn) by
# needroleshere-scenario.service. It follows README.md and contrib/systemd/README.md
# literally: the project's .deb installed with dpkg, the documented commands, files and
# drop-ins, consumers that are real systemd services using Debian's boto3.
#
# /scenario (read-only) holds this script, the .deb, needroleshere-fake-aws, the test PKI,
# consumer.py and arns. Every step appends "PASS NAME" or "FAIL NAME: why" to
# /scenario-out/results (and its trace to /scenario-out/steps/NAME.log); at the end the
# journal goes to /scenario-out/journal.txt and the container powers off. The test on the
# host checks that every step it expects passed.
set -u
in=/scenario
out=/scenario-out
results=$out/results
: > "$results"
# Every token and credential seen, to look for in the journal at the end.
secrets=$out/secrets
: > "$secrets"
chmod 0600 "$secrets"

# The fakes of IAM Roles Anywhere and STS, inside the container's own network.
FAKE=http://127.0.0.1:4566
# TRUST_ANCHOR_ARN, PROFILE_ARN, ROLE_ARN: what the fake accepts, written by the test from
# crates/fake-aws's constants.
. "$in/arns"
export in out FAKE TRUST_ANCHOR_ARN PROFILE_ARN ROLE_ARN secrets

# step NAME COMMANDS: runs COMMANDS in `bash -euxo pipefail` and records whether they
# succeeded. Each step's trace goes to /scenario-out/steps/NAME.log (not to the journal:
# it holds tokens, and the journal is searched for them at the end); a failure's last lines
# go into the results too.
mkdir -p "$out/steps"
step() {
  local name=$1 log=$out/steps/$1.log
  shift
  if bash -euxo pipefail -c "$*" >"$log" 2>&1; then
    echo "PASS $name" | tee -a "$results"
  else
    echo "FAIL $name: $(grep -v '^+' "$log" | tail -n 12 | tr '\n' '|') [last command: $(grep '^+' "$log" | tail -n 1)]" >> "$results"
    echo "FAIL $name (see steps/$name.log)"
  fi
}

# Helpers for the steps (exported: each step is a new bash).
# The value of VAR in environment file FILE (bind writes every value in double quotes).
env_value() { sed -n "s/^$2=//p" "$1" | sed 's/^"\(.*\)"$/\1/'; }
# GET URL $2 with Authorization value $1; prints the status.
status_with_token() {
  curl -s -o /dev/null -w '%{http_code}' -H "Authorization: $1" "$2"
}
# What the last run of unit $1 printed.
last_run_output() {
  local id
  id=$(systemctl show -p InvocationID --value "$1")
  journalctl --no-pager -o cat "_SYSTEMD_INVOCATION_ID=$id"
}
# Waits up to $2 seconds for the command $1 to succeed.
wait_for() {
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    if bash -c "$1" >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  echo "timed out after $2 s waiting for: $1" >&2
  return 1
}
main_pid() { systemctl show -p MainPID --value needroleshere.service; }
remember_token() { env_value "/run/needroleshere/env/$1" AWS_CONTAINER_AUTHORIZATION_TOKEN >> "$secrets"; }
# The token of a --token-file binding (the file holds "Bearer TOKEN", no newline).
token_in_file() { sed "s/^Bearer //" "/run/needroleshere/token/$1"; }
remember_token_file() { { token_in_file "$1"; echo; } >> "$secrets"; }
# Fails, saying so, when file $2 holds the text $1.
absent_from() {
  if grep -qF -- "$1" "$2"; then echo "found it in $2"; return 1; fi
}
export -f env_value status_with_token last_run_output wait_for main_pid remember_token \
  token_in_file remember_token_file absent_from

# --- the package ---------------------------------------------------------------------------
step deb-installs '
  dpkg -i "$in/needroleshere.deb"
  id needroleshere
  for unit in needroleshere.service needroleshere.socket needroleshere-ecs-relative.socket \
      needroleshere-imds@.socket needroleshere-bind@.service; do
    systemctl cat "$unit" >/dev/null
  done
  test -f /etc/default/needroleshere
  test -f /usr/lib/sysusers.d/needroleshere.conf
  test -f /usr/lib/tmpfiles.d/needroleshere.conf
  ls /usr/share/man/man1/needroleshere-bind.1*
  for dir in /run/needroleshere /run/needroleshere/bindings /run/needroleshere/env /run/needroleshere/token; do
    test "$(stat -c "%U:%G %a" "$dir")" = "root:root 755" || { stat "$dir"; exit 1; }
  done
  # postinst enables nothing: the endpoints are chosen by the administrator.
  test "$(systemctl is-enabled needroleshere.socket)" = disabled
'

# contrib/systemd/README.md section 1.
step socket-activation '
  systemctl enable --now needroleshere.socket
  test "$(systemctl is-active needroleshere.service)" = inactive
  test "$(curl -fsS http://127.0.0.1:7224/healthz)" = ok
  test "$(systemctl is-active needroleshere.service)" = active
'

step ready-notify '
  systemctl show -p Type -p ActiveState -p SubState -p NotifyAccess needroleshere.service
  test "$(systemctl show -p Type --value needroleshere.service)" = notify
  test "$(systemctl show -p SubState --value needroleshere.service)" = running
  # A Type=notify service is "active" only once it sent READY=1.
  test "$(systemctl show -p ActiveState --value needroleshere.service)" = active
  test "$(systemctl show -p WatchdogUSec --value needroleshere.service)" = 30s
  # STATUS= reached systemd too (NotifyAccess=main: from the daemon itself).
  systemctl show -p StatusText --value needroleshere.service | grep "^serving bindings from /run/needroleshere"
'

# Section 2: certificate and key with the documented ownership.
step pki-documented-ownership '
  install -d -m 0750 -o root -g needroleshere /etc/needroleshere/pki
  install -m 0600 "$in/pki/p256.fullchain.pem" /etc/needroleshere/pki/host.crt
  install -m 0600 "$in/pki/p256.pkcs8.key" /etc/needroleshere/pki/host.key
  chown root:needroleshere /etc/needroleshere/pki/host.crt /etc/needroleshere/pki/host.key
  chmod 0640 /etc/needroleshere/pki/host.crt /etc/needroleshere/pki/host.key
  # The daemon user can read them (it has to: it signs with them).
  setpriv --reuid=needroleshere --regid=needroleshere --init-groups \
    cat /etc/needroleshere/pki/host.key >/dev/null
'

step fake-aws-starts '
  systemd-run --unit=fake-aws -p Type=exec "$in/needroleshere-fake-aws" --pki "$in/pki" \
    --listen 0.0.0.0:4566
  wait_for "curl -s -o /dev/null $FAKE/" 20
'

# Sections 3 and 4: a binding and the consuming service, with the drop-ins as documented.
step consumer-gets-role '
  mkdir -p /etc/needroleshere/bind
  cat > /etc/needroleshere/bind/app.conf <<CONF
CERTIFICATE=/etc/needroleshere/pki/host.crt
PRIVATE_KEY=/etc/needroleshere/pki/host.key
TRUST_ANCHOR_ARN=$TRUST_ANCHOR_ARN
PROFILE_ARN=$PROFILE_ARN
ROLE_ARN=$ROLE_ARN
BIND_ARGS=--endpoint $FAKE
CONF
  cat > /etc/systemd/system/app.service <<UNIT
[Unit]
Description=a consumer of binding app
[Service]
Type=oneshot
RemainAfterExit=yes
DynamicUser=yes
Environment=STS_ENDPOINT=$FAKE AWS_EC2_METADATA_DISABLED=true
ExecStart=/usr/bin/python3 $in/consumer.py container-role
UNIT
  mkdir -p /etc/systemd/system/app.service.d /etc/systemd/system/needroleshere-bind@app.service.d
  cat > /etc/systemd/system/app.service.d/needroleshere.conf <<UNIT
[Unit]
Wants=needroleshere-bind@app.service
After=needroleshere-bind@app.service

[Service]
EnvironmentFile=/run/needroleshere/env/app
UNIT
  cat > /etc/systemd/system/needroleshere-bind@app.service.d/part-of.conf <<UNIT
[Unit]
PartOf=app.service
Before=app.service
UNIT
  systemctl daemon-reload
  systemctl start app.service
  remember_token app
  last_run_output app.service
  last_run_output app.service | grep -q "^method=container-role arn=arn:aws:sts::123456789012:assumed-role/needroleshere-test/"
  test "$(stat -c "%U %a" /run/needroleshere/env/app)" = "root 600"
  test "$(stat -c "%U %a" /run/needroleshere/bindings/app.json)" = "root 644"
'

# PartOf=app.service: restarting the consumer restarts its binding unit first.
step restart-rotates-token '
  bind_run=$(systemctl show -p InvocationID --value needroleshere-bind@app.service)
  old=$(env_value /run/needroleshere/env/app AWS_CONTAINER_AUTHORIZATION_TOKEN)
  url=$(env_value /run/needroleshere/env/app AWS_CONTAINER_CREDENTIALS_FULL_URI)
  test "$(status_with_token "$old" "$url")" = 200
  systemctl restart app.service
  remember_token app
  new=$(env_value /run/needroleshere/env/app AWS_CONTAINER_AUTHORIZATION_TOKEN)
  test -n "$new"
  test "$new" != "$old"
  test "$(systemctl show -p InvocationID --value needroleshere-bind@app.service)" != "$bind_run"
  test "$(status_with_token "$old" "$url")" = 401
  test "$(status_with_token "$new" "$url")" = 200
  last_run_output app.service | grep -q "^method=container-role arn=.*assumed-role/needroleshere-test/"
  # The secret parts of the credentials as served, to look for in the journal later (the
  # access key ID is no secret: the fake logs it).
  curl -fsS -H "Authorization: $new" "$url" | python3 -c "
import json, sys
d = json.load(sys.stdin)
print(d[\"SecretAccessKey\"]); print(d[\"Token\"])" >> "$secrets"
'

step stop-bind-unbinds '
  token=$(env_value /run/needroleshere/env/app AWS_CONTAINER_AUTHORIZATION_TOKEN)
  url=$(env_value /run/needroleshere/env/app AWS_CONTAINER_CREDENTIALS_FULL_URI)
  systemctl stop needroleshere-bind@app.service
  test ! -e /run/needroleshere/env/app
  test ! -e /run/needroleshere/bindings/app.json
  test "$(status_with_token "$token" "$url")" = 401
'

# "Relative modes: 169.254.170.2" in contrib/systemd/README.md, with the daemon running
# when the socket is added (stopped first, as documented: systemd refuses to start a socket
# whose service runs).
step relative-mode '
  ip address add 169.254.170.2/32 dev lo
  systemctl stop needroleshere.service
  systemctl enable --now needroleshere-ecs-relative.socket
  sed "s/^BIND_ARGS=/MODE=ecs-relative\nBIND_ARGS=/" /etc/needroleshere/bind/app.conf \
    > /etc/needroleshere/bind/rel.conf
  cat > /etc/systemd/system/rel.service <<UNIT
[Unit]
Wants=needroleshere-bind@rel.service
After=needroleshere-bind@rel.service
[Service]
Type=oneshot
RemainAfterExit=yes
DynamicUser=yes
Environment=STS_ENDPOINT=$FAKE AWS_EC2_METADATA_DISABLED=true
EnvironmentFile=/run/needroleshere/env/rel
ExecStart=/usr/bin/python3 $in/consumer.py container-role
UNIT
  systemctl daemon-reload
  systemctl start rel.service
  remember_token rel
  grep "^AWS_CONTAINER_CREDENTIALS_RELATIVE_URI=" /run/needroleshere/env/rel
  last_run_output rel.service
  last_run_output rel.service | grep -q "^method=container-role arn=.*assumed-role/needroleshere-test/"
  # Both sockets went to the one daemon.
  test "$(curl -fsS http://169.254.170.2/healthz)" = ok
  test "$(curl -fsS http://127.0.0.1:7224/healthz)" = ok
'

# "IMDS: 169.254.169.254 in a network namespace" in contrib/systemd/README.md. The consumer
# runs in that namespace (NetworkNamespacePath=); a veth pair lets it reach the fake STS
# to prove the credentials it got.
step imds-mode '
  ip netns add batch
  ip -n batch link set lo up
  ip -n batch address add 169.254.169.254/32 dev lo
  cat > /etc/needroleshere/bind/batch.conf <<CONF
CERTIFICATE=/etc/needroleshere/pki/host.crt
PRIVATE_KEY=/etc/needroleshere/pki/host.key
TRUST_ANCHOR_ARN=$TRUST_ANCHOR_ARN
PROFILE_ARN=$PROFILE_ARN
ROLE_ARN=$ROLE_ARN
MODE=imds
URL=http://169.254.169.254
BIND_ARGS=--endpoint $FAKE
CONF
  systemctl stop needroleshere.service
  systemctl enable --now needroleshere-bind@batch.service needroleshere-imds@batch.socket
  ip link add nrh-host type veth peer name eth0 netns batch
  ip address add 10.77.0.1/30 dev nrh-host
  ip link set nrh-host up
  ip -n batch address add 10.77.0.2/30 dev eth0
  ip -n batch link set eth0 up
  cat > /etc/systemd/system/batch.service <<UNIT
[Service]
Type=oneshot
RemainAfterExit=yes
DynamicUser=yes
NetworkNamespacePath=/run/netns/batch
Environment=STS_ENDPOINT=http://10.77.0.1:4566
EnvironmentFile=/run/needroleshere/env/batch
ExecStart=/usr/bin/python3 $in/consumer.py iam-role
UNIT
  systemctl daemon-reload
  systemctl start batch.service
  last_run_output batch.service
  last_run_output batch.service | grep -q "^method=iam-role arn=.*assumed-role/needroleshere-test/"
  # The other sockets still work, served by the same daemon.
  test "$(curl -fsS http://127.0.0.1:7224/healthz)" = ok
'

# The fleet sockets of contrib/systemd/README.md section 6, added to a running daemon in the
# documented order.
step status-and-metrics-sockets '
  curl -fsS http://127.0.0.1:7224/healthz
  systemctl stop needroleshere.service
  systemctl enable --now needroleshere-status.socket needroleshere-metrics.socket
  needroleshere status | tee /tmp/status.txt || true
  grep -q batch /tmp/status.txt
  curl -fsS http://127.0.0.1:9713/metrics | grep -m 3 "^needroleshere_"
  test "$(stat -c "%U %a" /run/needroleshere-status.sock)" = "root 600"
'

# SIGTERM drains: a request waiting for an upstream that never answers gets its answer
# (504 after the cache gives up waiting) instead of a reset connection.
step stop-drains-in-flight-request '
  systemd-run --unit=silent-upstream -p Type=exec /usr/bin/python3 -c "
import socket, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((\"127.0.0.1\", 4599)); s.listen(16)
held = []
while True:
    held.append(s.accept())"
  wait_for "ss -Hltn sport = 4599 | grep -q LISTEN" 20
  sed "s|^BIND_ARGS=.*|BIND_ARGS=--endpoint http://127.0.0.1:4599|" \
    /etc/needroleshere/bind/app.conf > /etc/needroleshere/bind/slow.conf
  systemctl start needroleshere-bind@slow.service
  remember_token slow
  token=$(env_value /run/needroleshere/env/slow AWS_CONTAINER_AUTHORIZATION_TOKEN)
  url=$(env_value /run/needroleshere/env/slow AWS_CONTAINER_CREDENTIALS_FULL_URI)
  curl -fsS http://127.0.0.1:7224/healthz
  curl -s -o /tmp/slow.body -w "%{http_code}" -H "Authorization: $token" "$url" > /tmp/slow.status &
  curl_pid=$!
  sleep 1
  kill -0 $curl_pid   # still waiting
  systemctl stop needroleshere.service
  wait $curl_pid
  cat /tmp/slow.status /tmp/slow.body; echo
  test "$(cat /tmp/slow.status)" = 504
  grep -q "\"Code\"" /tmp/slow.body
  systemctl show -p Result -p ExecMainStatus -p ExecMainCode needroleshere.service
  test "$(systemctl show -p Result --value needroleshere.service)" = success
  systemctl stop needroleshere-bind@slow.service silent-upstream.service
'

step restart-on-failure '
  test "$(curl -fsS http://127.0.0.1:7224/healthz)" = ok
  before=$(main_pid)
  restarts=$(systemctl show -p NRestarts --value needroleshere.service)
  systemctl kill -s SIGKILL needroleshere.service
  wait_for "test \"\$(systemctl show -p NRestarts --value needroleshere.service)\" -gt $restarts" 10
  test "$(curl -fsS http://127.0.0.1:7224/healthz)" = ok
  after=$(main_pid)
  echo "MainPID $before -> $after"
  test "$after" != 0
  test "$after" != "$before"
'

# WatchdogSec=30s: the daemon pings every 15 s; one that did not would be killed after 30.
step watchdog-keeps-alive '
  pid=$(main_pid)
  restarts=$(systemctl show -p NRestarts --value needroleshere.service)
  first=$(systemctl show -p WatchdogTimestampMonotonic --value needroleshere.service)
  sleep 35
  last=$(systemctl show -p WatchdogTimestampMonotonic --value needroleshere.service)
  echo "MainPID $pid -> $(main_pid), watchdog pings at $first -> $last"
  test "$(main_pid)" = "$pid"
  test "$(systemctl show -p NRestarts --value needroleshere.service)" = "$restarts"
  test "$last" -gt "$first"
'

# README.md and contrib/systemd/README.md section 4: the token as a systemd credential. bind
# --token-file writes the token file and an env file holding only the URI; the consumer
# loads the token file with LoadCredential= and points the SDK at its copy. boto3 gets
# credentials, and the running consumer's environment holds no token. (The boto3 at
# /opt/boto3 reads AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE; Debian 12's is too old to.)
step token-as-systemd-credential '
  { grep -v "^BIND_ARGS=" /etc/needroleshere/bind/app.conf
    echo "BIND_ARGS=--endpoint $FAKE --token-file"; } > /etc/needroleshere/bind/cred.conf
  cat > /etc/systemd/system/cred.service <<UNIT
[Unit]
Description=a consumer of binding cred, its token a systemd credential
Wants=needroleshere-bind@cred.service
After=needroleshere-bind@cred.service

[Service]
Type=exec
DynamicUser=yes
LoadCredential=aws-token:/run/needroleshere/token/cred
Environment=AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=%d/aws-token
EnvironmentFile=/run/needroleshere/env/cred
Environment=STS_ENDPOINT=$FAKE AWS_EC2_METADATA_DISABLED=true PYTHONPATH=/opt/boto3
ExecStart=/usr/bin/python3 $in/consumer.py container-role stay
UNIT
  systemctl daemon-reload
  systemctl start cred.service
  remember_token_file cred
  wait_for "last_run_output cred.service | grep -q ^method=" 60
  last_run_output cred.service
  last_run_output cred.service | grep -q "^method=container-role arn=.*assumed-role/needroleshere-test/"
  test "$(systemctl is-active cred.service)" = active
  pid=$(systemctl show -p MainPID --value cred.service)
  token=$(token_in_file cred)
  test -n "$token"
  # The names of the variables the consumer has (not their values) into the trace.
  tr "\0" "\n" < /proc/$pid/environ | sed "s/=.*//" | sort | tr "\n" " "; echo
  absent_from "$token" /proc/$pid/environ
  absent_from "needroleshere.cred." /proc/$pid/environ
  absent_from "${token##*.}" /proc/$pid/environ
  tr "\0" "\n" < /proc/$pid/environ > /tmp/cred.environ
  grep -qx "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=/run/credentials/cred.service/aws-token" /tmp/cred.environ
  grep -qx "AWS_CONTAINER_CREDENTIALS_FULL_URI=http://127.0.0.1:7224/ecs/credentials" /tmp/cred.environ
  if grep -q "^AWS_CONTAINER_AUTHORIZATION_TOKEN=" /tmp/cred.environ; then exit 1; fi
  # The env file holds no secret; the token file is root'"'"'s alone.
  absent_from "$token" /run/needroleshere/env/cred
  test "$(stat -c "%U %a" /run/needroleshere/env/cred)" = "root 644"
  test "$(stat -c "%U %a" /run/needroleshere/token/cred)" = "root 600"
  needroleshere check cred --configuration-directory /run/needroleshere | tee /tmp/check-cred.txt
  grep -q " token .*in token file /run/needroleshere/token/cred (LoadCredential=aws-token:" /tmp/check-cred.txt
  grep -q " users .*not pinned" /tmp/check-cred.txt
  systemctl stop cred.service needroleshere-bind@cred.service
'

# contrib/systemd/README.md section 5: a binding pinned to its consumer with User= in
# bind/NAME.conf. The daemon answers the token only to the unit's User=: the same token
# from another user (systemd-run -p User=, given it as a credential) or from root is 403,
# until root is allowed too.
step pinned-binding-serves-only-its-user '
  useradd --system --no-create-home --shell /usr/sbin/nologin pinned-app
  useradd --system --no-create-home --shell /usr/sbin/nologin other-app
  { grep -v "^BIND_ARGS=" /etc/needroleshere/bind/app.conf
    echo "BIND_ARGS=--endpoint $FAKE --token-file"
    echo "User=pinned-app"; } > /etc/needroleshere/bind/pin.conf
  cat > /etc/systemd/system/pin.service <<UNIT
[Unit]
Description=a consumer of binding pin, which serves only its user
Wants=needroleshere-bind@pin.service
After=needroleshere-bind@pin.service

[Service]
Type=oneshot
RemainAfterExit=yes
User=pinned-app
LoadCredential=aws-token:/run/needroleshere/token/pin
Environment=AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE=%d/aws-token
EnvironmentFile=/run/needroleshere/env/pin
Environment=STS_ENDPOINT=$FAKE AWS_EC2_METADATA_DISABLED=true PYTHONPATH=/opt/boto3
ExecStart=/usr/bin/python3 $in/consumer.py container-role
UNIT
  systemctl daemon-reload
  systemctl start pin.service
  remember_token_file pin
  last_run_output pin.service
  last_run_output pin.service | grep -q "^method=container-role arn=.*assumed-role/needroleshere-test/"
  uid=$(id -u pinned-app)
  python3 -c "import json, sys; sys.exit(json.load(open(sys.argv[1]))[\"allowed_uids\"] != [int(sys.argv[2])])" \
    /run/needroleshere/bindings/pin.json "$uid"
  url=$(env_value /run/needroleshere/env/pin AWS_CONTAINER_CREDENTIALS_FULL_URI)
  # GET with the token handed over as a credential, as user $1: prints the status.
  cat > /tmp/get-with-credential.sh <<"SH"
#!/bin/sh
exec curl -s -o /dev/null -w "%{http_code}" -H "Authorization: $(cat "$CREDENTIALS_DIRECTORY/aws-token")" "$1"
SH
  chmod 0755 /tmp/get-with-credential.sh
  as_user() {
    systemd-run --quiet --wait --pipe -p User="$1" \
      -p LoadCredential=aws-token:/run/needroleshere/token/pin /tmp/get-with-credential.sh "$url"
  }
  test "$(as_user pinned-app)" = 200
  test "$(as_user other-app)" = 403
  test "$(as_user nobody)" = 403
  test "$(status_with_token "Bearer $(token_in_file pin)" "$url")" = 403
  curl -s -H "Authorization: Bearer $(token_in_file pin)" "$url" | tee /tmp/pin-403.json; echo
  grep -q "\"Code\":\"Forbidden\"" /tmp/pin-403.json
  absent_from SecretAccessKey /tmp/pin-403.json
  journalctl --no-pager -u needroleshere.service -o cat | grep "refused a good token from a user the binding is not pinned to"
  needroleshere check pin --configuration-directory /run/needroleshere | tee /tmp/check-pin.txt
  grep -q " users .*served only to connections of uid $uid (pinned-app)" /tmp/check-pin.txt
  # Root too, once allowed.
  sed -i "s/^User=.*/User=pinned-app root/" /etc/needroleshere/bind/pin.conf
  systemctl restart needroleshere-bind@pin.service
  remember_token_file pin
  test "$(status_with_token "Bearer $(token_in_file pin)" "$url")" = 200
  test "$(as_user pinned-app)" = 200
  test "$(as_user other-app)" = 403
  systemctl stop pin.service needroleshere-bind@pin.service
'

# The daemon logs through journald with syslog priorities: the refused tokens above are
# warnings, the request that got no credentials (drain step) an error, and no line shows a
# raw "<N>" prefix.
step journal-priorities '
  journalctl --no-pager -p warning -u needroleshere.service
  journalctl --no-pager -p warning -u needroleshere.service -o cat | grep -q "refused a token"
  journalctl --no-pager -p err -u needroleshere.service -o cat | grep -q "no credentials"
  if journalctl --no-pager -p err -u needroleshere.service -o cat | grep "refused a token"; then
    exit 1
  fi
  journalctl --no-pager -u needroleshere.service -o json | python3 -c "
import json, sys
entries = [json.loads(line) for line in sys.stdin]
daemon = [e for e in entries if e.get(\"SYSLOG_IDENTIFIER\") == \"needroleshere\"]
assert daemon, \"no line from the daemon\"
priorities = sorted({e[\"PRIORITY\"] for e in daemon})
print(\"daemon lines:\", len(daemon), \"priorities:\", priorities)
assert \"4\" in priorities, \"no warning-priority line\"
raw = [e[\"MESSAGE\"] for e in daemon if isinstance(e[\"MESSAGE\"], str) and e[\"MESSAGE\"].startswith(\"<\")]
assert not raw, raw
"
'

step no-secret-in-journal '
  test -s "$secrets"
  journalctl --no-pager -o export > /tmp/journal.export
  found=0
  while read -r secret; do
    [ -n "$secret" ] || continue
    # A token is "NAME.SECRET"-like; look for the whole value and for its longest part.
    for needle in "$secret" "$(echo "$secret" | tr ".:" "\n\n" | awk "{ print length, \$0 }" | sort -rn | head -1 | cut -d" " -f2)"; do
      if grep -qF -- "$needle" /tmp/journal.export; then
        echo "found a secret (${#needle} characters) in the journal"; found=1
      fi
    done
  done < "$secrets"
  echo "checked $(wc -l < "$secrets") secrets"
  test "$found" = 0
'

# The sandbox as systemd applies it in a booted system.
step analyze-security '
  systemd-analyze security --no-pager needroleshere.service | tail -n 3
  score=$(systemd-analyze security --no-pager needroleshere.service \
    | sed -n "s/.*Overall exposure level for needroleshere.service: \([0-9.]*\).*/\1/p")
  echo "exposure $score"
  python3 -c "import sys; sys.exit(not float(sys.argv[1]) <= 1.5)" "$score"
'

step run-dir-read-only-for-daemon-user '
  test "$(curl -fsS http://127.0.0.1:7224/healthz)" = ok
  systemctl start needroleshere-bind@app.service
  as_daemon_user() {
    systemd-run --quiet --wait --pipe -p User=needroleshere -p Group=needroleshere \
      /bin/sh -c "$1"
  }
  for attempt in "touch /run/needroleshere/x" "touch /run/needroleshere/bindings/x" \
      "touch /run/needroleshere/env/x" "mv /run/needroleshere/env /run/needroleshere/env2" \
      "mv /run/needroleshere/bindings/app.json /run/needroleshere/bindings/other.json" \
      "echo x >> /run/needroleshere/bindings/app.json" "rm -f /run/needroleshere/bindings/app.json" \
      "cat /run/needroleshere/env/app"; do
    if as_daemon_user "$attempt" 2>/dev/null; then echo "user needroleshere could: $attempt"; exit 1; fi
  done
  # The daemon itself sees /run/needroleshere read-only (ReadOnlyPaths=).
  grep " /run/needroleshere " /proc/$(main_pid)/mountinfo
  grep " /run/needroleshere " /proc/$(main_pid)/mountinfo | grep -q " ro[, ]"
'

journalctl --no-pager -b -o short-precise > "$out/journal.txt" 2>&1
echo done >> "$results"
systemctl poweroff --no-block
