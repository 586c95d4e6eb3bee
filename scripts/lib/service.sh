# shellcheck shell=bash
# What scripts/keycloak.sh and scripts/simplesamlphp.sh share: a local service for the tests,
# started in the background on loopback with its pid, URL and log under a state directory,
# waited for until it answers, ended with its whole process group, and optionally watched so
# that it ends (and its state directory goes) with the process that asked for it. Sourced,
# never run.
#
# The script that sources this sets, before calling anything here:
#   SERVICE_NAME      the service's name in messages (Keycloak, SimpleSAMLphp)
#   SERVICE_ID        the watchdog's process name is SERVICE_ID-watchdog
#   SERVICE_LOG       the log file under STATE_DIR that the service writes
#   SERVICE_PROBE     the path, under its URL, that answers once the service is ready
#   SERVICE_TIMEOUT   seconds to wait for that
#   SERVICE_POLL      seconds between two probes
#   SERVICE_COMMANDS  its commands besides start, stop and wait, for the usage line
#                     ("install", "install | java")
# and defines `install` and `start STATE_DIR`; `start` ends with service_start. It then hands
# its arguments to service_main.

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until SERVICE_PROBE answers at URL; fails at once when the `start` writing STATE gave
# up (STATE/failed), or after SERVICE_TIMEOUT seconds.
wait_ready() {
  local url=$1 state=${2:-}
  local deadline=$((SECONDS + SERVICE_TIMEOUT))
  until curl -fsS -o /dev/null "$url$SERVICE_PROBE" 2>/dev/null; do
    if [ -n "$state" ] && [ -f "$state/failed" ]; then
      cat "$state/failed" >&2
      [ -f "$state/$SERVICE_LOG" ] && tail -n 40 "$state/$SERVICE_LOG" >&2
      return 1
    fi
    if [ "$SECONDS" -ge "$deadline" ]; then
      echo "$SERVICE_NAME at $url was not ready within $SERVICE_TIMEOUT s" >&2
      [ -n "$state" ] && [ -f "$state/$SERVICE_LOG" ] && tail -n 40 "$state/$SERVICE_LOG" >&2
      return 1
    fi
    sleep "$SERVICE_POLL"
  done
}

# Says why `start` gave up, in STATE/failed too (which `wait` reports), and exits.
service_fail() {
  local state=$1 message=$2
  echo "$message" | tee "$state/failed" >&2
  exit 1
}

# service_start STATE URL PARENT_PID REMOVE_STATE COMMAND...: runs COMMAND (with the
# environment the caller exported) in the background, its output in STATE/SERVICE_LOG and
# its pid in STATE/pid, and waits until it answers at URL. setsid: the service is a process
# group of its own, which service_stop and the watchdog end as a whole. With PARENT_PID, a
# watchdog ends it when that process is gone, when `stop` asks (STATE/stop), or when the
# service died; then removes STATE if REMOVE_STATE is 1. The watchdog has a session of its
# own, so a signal to the test's process group leaves it to clean up. Fails (stopping what it
# started) if the service is not ready in time.
service_start() {
  local state=$1 url=$2 parent=$3 remove=$4
  shift 4
  [ -e "$state/stop" ] && service_fail "$state" "stopped before $SERVICE_NAME started"
  (exec setsid "$@" </dev/null >"$state/$SERVICE_LOG" 2>&1) &
  local pid=$!
  echo "$pid" >"$state/pid"
  if [ -n "$parent" ]; then
    setsid bash -c '
      parent=$1 pid=$2 state=$3 remove=$4
      while kill -0 "$parent" 2>/dev/null && kill -0 "$pid" 2>/dev/null && ! [ -e "$state/stop" ]; do
        sleep 2
      done
      kill -TERM -- "-$pid" 2>/dev/null
      for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
      kill -KILL -- "-$pid" 2>/dev/null
      [ "$remove" = 1 ] && rm -rf "$state"
      exit 0' "$SERVICE_ID-watchdog" "$parent" "$pid" "$state" "$remove" \
      </dev/null >/dev/null 2>&1 &
  fi
  if ! wait_ready "$url" "$state"; then
    service_stop "$state"
    return 1
  fi
}

# Stops the service a `start` left in STATE (and tells its watchdog, and a `start` still
# under way, to stop).
service_stop() {
  local state=$1 pid
  touch "$state/stop" 2>/dev/null || true
  pid=$(cat "$state/pid" 2>/dev/null) || return 0
  # The pid is the process group's (setsid); TERM goes to all of it (kc.sh passes it on to
  # its JVM).
  if kill -TERM -- "-$pid" 2>/dev/null; then
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$state/pid"
}

# The command line: start, stop and wait here, install in the script, anything else (its
# other SERVICE_COMMANDS) is the script's to handle before calling this.
service_main() {
  case "${1:-}" in
    install) install ;;
    start) [ $# -eq 2 ] || { echo "usage: $0 start STATE_DIR" >&2; exit 2; }; start "$2" ;;
    stop) [ $# -eq 2 ] || { echo "usage: $0 stop STATE_DIR" >&2; exit 2; }; service_stop "$2" ;;
    wait) [ $# -ge 2 ] || { echo "usage: $0 wait URL [STATE_DIR]" >&2; exit 2; }; wait_ready "$2" "${3:-}" ;;
    *) echo "usage: $0 $SERVICE_COMMANDS | start STATE_DIR | stop STATE_DIR | wait URL [STATE_DIR]" >&2; exit 2 ;;
  esac
}
