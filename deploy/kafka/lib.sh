# shellcheck shell=bash
# Shared settings and helpers for deploy/kafka/*.sh. Sourced, not executed.
# Variables set here are used by the scripts that source this file.
# shellcheck disable=SC2034

KAFKA_SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
KAFKA_REPO_ROOT="$(cd "$KAFKA_SCRIPT_DIR/../.." && pwd)"

KAFKA_RUN_DIR="${KAFKA_RUN_DIR:-$KAFKA_REPO_ROOT/.run/kafka}"
KAFKA_HOST=127.0.0.1
KAFKA_PORT="${KAFKA_PORT:-19092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-19093}"
KAFKA_START_TIMEOUT="${KAFKA_START_TIMEOUT:-120}"
KAFKA_STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-30}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xmx512m -Xms256m}"

KAFKA_LIB_DIR="$KAFKA_RUN_DIR/lib"
KAFKA_DATA_DIR="$KAFKA_RUN_DIR/data"
KAFKA_LOG_DIR="$KAFKA_RUN_DIR/logs"
KAFKA_CONF_DIR="$KAFKA_RUN_DIR/config"
KAFKA_PID_FILE="$KAFKA_RUN_DIR/kafka.pid"
KAFKA_SERVER_PROPS="$KAFKA_CONF_DIR/server.properties"
KAFKA_SERVER_LOG="$KAFKA_LOG_DIR/server.log"
KAFKA_CONSOLE_LOG="$KAFKA_LOG_DIR/kafka.out"
KAFKA_LIB_STAMP="$KAFKA_LIB_DIR/.fetched"

if [[ -n "${JAVA_HOME:-}" && -x "$JAVA_HOME/bin/java" ]]; then
  KAFKA_JAVA="${KAFKA_JAVA:-$JAVA_HOME/bin/java}"
else
  KAFKA_JAVA="${KAFKA_JAVA:-java}"
fi

kafka_log() { printf '[kafka] %s\n' "$*" >&2; }
kafka_die() { kafka_log "ERROR: $*"; exit 1; }

# Make the runtime dir and keep everything in it out of git, whatever the repo's .gitignore says.
kafka_ensure_run_dir() {
  mkdir -p "$KAFKA_RUN_DIR"
  [[ -f "$KAFKA_RUN_DIR/.gitignore" ]] || printf '*\n' >"$KAFKA_RUN_DIR/.gitignore"
}

kafka_pom_hash() { sha256sum "$KAFKA_SCRIPT_DIR/pom.xml" | cut -d' ' -f1; }

# True when the lib dir holds a complete fetch of the current pom.xml.
kafka_jars_present() {
  [[ -f "$KAFKA_LIB_STAMP" ]] && [[ "$(cat "$KAFKA_LIB_STAMP")" == "$(kafka_pom_hash)" ]] \
    && compgen -G "$KAFKA_LIB_DIR/kafka_2.13-*.jar" >/dev/null
}

# Prints the pid from the pid file if that process is alive and is our broker.
kafka_pid() {
  local pid
  [[ -f "$KAFKA_PID_FILE" ]] || return 1
  pid="$(tr -dc '0-9' <"$KAFKA_PID_FILE")"
  [[ -n "$pid" ]] || return 1
  kill -0 "$pid" 2>/dev/null || return 1
  if [[ -r "/proc/$pid/cmdline" ]]; then
    # Guard against pid reuse: the process must be a kafka.Kafka JVM.
    local cmdline
    cmdline="$(tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null)" || return 1
    [[ "$cmdline" == *" kafka.Kafka "* ]] || return 1
  fi
  printf '%s\n' "$pid"
}

kafka_port_open() {
  timeout 2 bash -c "exec 3<>/dev/tcp/$KAFKA_HOST/$1" 2>/dev/null
}

kafka_started_in_log() {
  [[ -f "$KAFKA_SERVER_LOG" ]] && grep -q 'Kafka Server started' "$KAFKA_SERVER_LOG"
}

kafka_ready() {
  kafka_pid >/dev/null && kafka_started_in_log && kafka_port_open "$KAFKA_PORT"
}

kafka_dump_logs() {
  local f
  for f in "$KAFKA_CONSOLE_LOG" "$KAFKA_SERVER_LOG"; do
    if [[ -s "$f" ]]; then
      kafka_log "---- last lines of $f ----"
      tail -n 40 "$f" >&2
    fi
  done
}

# Wait until the broker is ready; fail early if the process dies.
kafka_wait_ready() {
  local deadline=$((SECONDS + KAFKA_START_TIMEOUT))
  while ! kafka_ready; do
    if ! kafka_pid >/dev/null; then
      kafka_log "broker process is not running (pid file: $KAFKA_PID_FILE)"
      kafka_dump_logs
      return 1
    fi
    if ((SECONDS >= deadline)); then
      kafka_log "timed out after ${KAFKA_START_TIMEOUT}s waiting for the broker on $KAFKA_HOST:$KAFKA_PORT"
      kafka_dump_logs
      return 1
    fi
    sleep 0.5
  done
  echo "kafka ready on $KAFKA_HOST:$KAFKA_PORT"
}
