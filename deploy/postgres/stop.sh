#!/usr/bin/env bash
# Stop the local PostgreSQL started by start.sh (pg_ctl stop -m fast).
# Succeeds (exit 0) if it is not running or was never initialised.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/lib.sh"

pg_resolve_run_dir
if [[ ! -f "$PG_DATA_DIR/PG_VERSION" ]]; then
    pg_log "no cluster in $PG_DATA_DIR; nothing to stop"
    exit 0
fi
pg_find_bin_dir || { pg_log "no PostgreSQL binaries found; nothing to stop"; exit 0; }

if ! pg_cluster_running; then
    pg_log "not running ($PG_DATA_DIR)"
    exit 0
fi
pg_as_owner "$PG_BIN_DIR/pg_ctl" stop -s -m fast -w -t "${PG_STOP_TIMEOUT:-60}" -D "$PG_DATA_DIR"
pg_log "stopped ($PG_DATA_DIR)"
