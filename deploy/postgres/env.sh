#!/usr/bin/env bash
# Print connection settings for the local PostgreSQL started by start.sh, as
# shell exports:   eval "$(deploy/postgres/env.sh)"
# With --eventsourcing also print PERSISTENCE_MODULE and the pool/lock settings
# used by the `eventsourcing` library (existing values in the env win).
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/lib.sh"

emit() { printf 'export %s=%q\n' "$1" "$2"; }

emit POSTGRES_HOST "$PG_HOST"
emit POSTGRES_PORT "$PG_PORT"
emit POSTGRES_USER "$PG_USER"
emit POSTGRES_PASSWORD "$PG_PASSWORD"
emit POSTGRES_DBNAME "$PG_DBNAME"

case "${1:-}" in
    "") ;;
    --eventsourcing)
        emit PERSISTENCE_MODULE eventsourcing.postgres
        emit POSTGRES_LOCK_TIMEOUT "${POSTGRES_LOCK_TIMEOUT:-5}"
        emit POSTGRES_POOL_SIZE "${POSTGRES_POOL_SIZE:-5}"
        ;;
    *) echo "usage: $0 [--eventsourcing]" >&2; exit 2 ;;
esac
