#!/usr/bin/env bash
# Stop the broker started by start.sh: SIGTERM, wait up to $KAFKA_STOP_TIMEOUT seconds
# (default 30), then SIGKILL. Succeeds when it is not running.
set -euo pipefail
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

if ! pid="$(kafka_pid)"; then
  rm -f "$KAFKA_PID_FILE"
  kafka_log "not running"
  exit 0
fi

kafka_log "stopping broker (pid $pid)"
kill -TERM "$pid" 2>/dev/null || true
deadline=$((SECONDS + KAFKA_STOP_TIMEOUT))
while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
  sleep 0.2
done
if kill -0 "$pid" 2>/dev/null; then
  kafka_log "still running after ${KAFKA_STOP_TIMEOUT}s, sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
fi
rm -f "$KAFKA_PID_FILE"
kafka_log "stopped"
