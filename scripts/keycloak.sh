#!/usr/bin/env bash
# Keycloak for the OIDC tests: the real identity provider, from Maven Central
# (org.keycloak:keycloak-quarkus-dist), run in dev mode on loopback with the realm of
# tests/keycloak/realm.json imported.
#
# Usage:
#   scripts/keycloak.sh install          download (once, checksum checked) and unpack into
#                                        build/keycloak/; prints the Keycloak home
#   scripts/keycloak.sh java             prints the JAVA_HOME this Keycloak runs with
#   scripts/keycloak.sh start STATE_DIR  starts Keycloak in the background on 127.0.0.1
#                                        (port KEYCLOAK_PORT, else a free one) with its H2
#                                        database, log and pid under STATE_DIR, waits until
#                                        the realm's discovery document answers, prints
#                                        http://127.0.0.1:PORT. With KEYCLOAK_PARENT_PID, a
#                                        watchdog ends Keycloak when that process is gone
#                                        (and removes STATE_DIR if KEYCLOAK_REMOVE_STATE=1).
#   scripts/keycloak.sh stop STATE_DIR   stops the one `start` left in STATE_DIR
#   scripts/keycloak.sh wait URL [STATE_DIR]
#                                        waits until that Keycloak is ready (or its `start`
#                                        failed)
#
# scripts/test.sh starts one for the whole test command and exports
# NEEDROLESHERE_TEST_KEYCLOAK; tests/common/keycloak.rs uses it, or runs `start` itself.
# Environment: KEYCLOAK_START_TIMEOUT (seconds, default 600): how long to wait for readiness.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=scripts/lib/service.sh
. "$root/scripts/lib/service.sh"
SERVICE_NAME=Keycloak SERVICE_ID=keycloak SERVICE_LOG=keycloak.log SERVICE_POLL=1
SERVICE_PROBE=/realms/needroleshere/.well-known/openid-configuration
SERVICE_TIMEOUT=${KEYCLOAK_START_TIMEOUT:-600}
SERVICE_COMMANDS="install | java"

KEYCLOAK_VERSION=26.7.3
# The tar.gz's SHA-1 as Maven Central publishes it (…tar.gz.sha1): a download that differs
# is refused, so a changed or truncated artifact never runs.
KEYCLOAK_SHA1=4ff244668809213a1c91ad2505390287203029d0
MAVEN_CENTRAL=${MAVEN_CENTRAL:-https://repo.maven.apache.org/maven2}
cache=$root/build/keycloak
home=$cache/keycloak-$KEYCLOAK_VERSION
augmented=$cache/dev-augmented-$KEYCLOAK_VERSION
# The bootstrap admin of the master realm (tests/common/keycloak.rs has the same).
ADMIN_USERNAME=admin
ADMIN_PASSWORD=admin-Password-1

install() {
  if [ -x "$home/bin/kc.sh" ] && [ -f "$home/.complete" ]; then
    echo "$home"
    return
  fi
  mkdir -p "$cache"
  local archive=$cache/keycloak-quarkus-dist-$KEYCLOAK_VERSION.tar.gz
  if ! [ -f "$archive" ] || [ "$(sha1sum "$archive" | cut -d' ' -f1)" != "$KEYCLOAK_SHA1" ]; then
    echo "==> downloading keycloak-quarkus-dist $KEYCLOAK_VERSION into build/keycloak" >&2
    local part
    part=$(mktemp "$archive.XXXXXX")
    curl -fsSL --retry 3 -o "$part" \
      "$MAVEN_CENTRAL/org/keycloak/keycloak-quarkus-dist/$KEYCLOAK_VERSION/keycloak-quarkus-dist-$KEYCLOAK_VERSION.tar.gz"
    local got
    got=$(sha1sum "$part" | cut -d' ' -f1)
    if [ "$got" != "$KEYCLOAK_SHA1" ]; then
      rm -f "$part"
      echo "keycloak-quarkus-dist $KEYCLOAK_VERSION: SHA-1 $got, expected $KEYCLOAK_SHA1" >&2
      exit 1
    fi
    mv "$part" "$archive"
  fi
  # Unpacked aside and renamed when complete: an interrupted run leaves no half tree.
  local work
  work=$(mktemp -d "$cache/.unpack.XXXXXX")
  tar -xzf "$archive" -C "$work"
  touch "$work/keycloak-$KEYCLOAK_VERSION/.complete"
  rm -rf "$home"
  mv "$work/keycloak-$KEYCLOAK_VERSION" "$home"
  rm -rf "$work"
  echo "$home"
}

# Keycloak 26.7 runs on Java 21 or later. Java 17 is the machine's default; a newer JDK
# lies under /usr/lib/jvm. The newest one found there that is 21 or later is taken.
java_home() {
  local candidate version best="" best_version=0
  for candidate in ${JAVA_HOME:-} /usr/lib/jvm/*; do
    [ -x "$candidate/bin/java" ] || continue
    version=$("$candidate/bin/java" -XshowSettings:properties -version 2>&1 \
      | sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p')
    [ -n "$version" ] || continue
    if [ "$version" -ge 21 ] && [ "$version" -gt "$best_version" ]; then
      best=$candidate best_version=$version
    fi
  done
  if [ -z "$best" ]; then
    echo "Keycloak $KEYCLOAK_VERSION needs Java 21 or later; none found under /usr/lib/jvm" >&2
    exit 1
  fi
  echo "$best"
}

start() {
  local state=$1
  mkdir -p "$state"
  state=$(cd "$state" && pwd)
  local kc java port
  kc=$(install) || service_fail "$state" "Keycloak could not be installed"
  java=$(java_home) || service_fail "$state" "no Java 21 or later for Keycloak"
  # Dev mode keeps its H2 database under the home's data/ directory and re-augments into
  # lib/quarkus/; a copy of the home per run keeps runs apart and the cache untouched. The
  # 170 MB of jars (lib/lib) are only read, so they are linked, not copied.
  rm -rf "$state/home"
  mkdir -p "$state/home/lib"
  cp -a "$kc/bin" "$kc/conf" "$kc/providers" "$kc/themes" "$kc/version.txt" "$state/home/"
  cp -a "$kc/lib/app" "$kc/lib/quarkus-run.jar" "$state/home/lib/"
  # Dev mode first re-augments the server (a minute or more here); the result is kept in
  # build/keycloak/ after the first start (below) and copied, so later starts skip it.
  if [ -f "$augmented/.complete" ]; then
    cp -a "$augmented" "$state/home/lib/quarkus"
    rm -f "$state/home/lib/quarkus/.complete"
  else
    cp -a "$kc/lib/quarkus" "$state/home/lib/quarkus"
  fi
  ln -s "$kc/lib/lib" "$state/home/lib/lib"
  mkdir -p "$state/home/data/import"
  cp "$root/tests/keycloak/realm.json" "$state/home/data/import/realm.json"
  port=${KEYCLOAK_PORT:-$(free_port)}
  local url=http://127.0.0.1:$port
  echo "$url" >"$state/url"
  # Bound to loopback only (the management interface too). The bootstrap admin exists in the
  # master realm for the admin REST API. A bounded heap on a shared 2-core machine, and only
  # the quick JIT tier: Keycloak starts with far less CPU and a test's few hundred requests
  # do not need the rest.
  service_start "$state" "$url" "${KEYCLOAK_PARENT_PID:-}" "${KEYCLOAK_REMOVE_STATE:-0}" \
    env JAVA_HOME="$java" PATH="$java/bin:$PATH" \
    KC_BOOTSTRAP_ADMIN_USERNAME=$ADMIN_USERNAME KC_BOOTSTRAP_ADMIN_PASSWORD=$ADMIN_PASSWORD \
    JAVA_OPTS_KC_HEAP="-Xms64m -Xmx768m" JAVA_OPTS_APPEND="-XX:TieredStopAtLevel=1" \
    "$state/home/bin/kc.sh" start-dev --import-realm \
    --http-host=127.0.0.1 --http-port="$port" --hostname-strict=false \
    --http-management-host=127.0.0.1 --http-management-port="$(free_port)" \
    || service_fail "$state" "Keycloak did not start (log: $state/keycloak.log)"
  if ! [ -f "$augmented/.complete" ] && [ -f "$state/home/lib/quarkus/generated-bytecode.jar" ]; then
    local work
    work=$(mktemp -d "$cache/.augmented.XXXXXX")
    cp -a "$state/home/lib/quarkus/." "$work/"
    touch "$work/.complete"
    rm -rf "$augmented"
    mv "$work" "$augmented" 2>/dev/null || rm -rf "$work"
  fi
  echo "$url"
}

case "${1:-}" in
  java) java_home ;;
  *) service_main "$@" ;;
esac
