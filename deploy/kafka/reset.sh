#!/usr/bin/env bash
# Stop the broker and delete its data (topics, offsets, cluster id) and logs.
# The fetched jars are kept; pass --all to delete the whole run dir ($KAFKA_RUN_DIR) too.
set -euo pipefail
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

"$KAFKA_SCRIPT_DIR/stop.sh"
if [[ "${1:-}" == "--all" ]]; then
  rm -rf "$KAFKA_RUN_DIR"
  kafka_log "deleted $KAFKA_RUN_DIR"
else
  rm -rf "$KAFKA_DATA_DIR" "$KAFKA_LOG_DIR" "$KAFKA_CONF_DIR"
  kafka_log "deleted data, logs and config under $KAFKA_RUN_DIR"
fi
