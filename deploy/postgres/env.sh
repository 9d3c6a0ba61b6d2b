#!/usr/bin/env bash
# Print connection settings for the local PostgreSQL started by start.sh, as
# shell exports:   eval "$(deploy/postgres/env.sh)"
# The role is the application's (fund_app) unless one of --owner (runs migrations),
# --finance (read-only) or --superuser (administration, tests) is given. Passwords
# come from the secrets file start.sh wrote (PG_SECRETS_FILE, mode 0600).
# With --eventsourcing also print PERSISTENCE_MODULE and the pool/lock settings
# used by the `eventsourcing` library (existing values in the env win).
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/lib.sh"

usage() { echo "usage: $0 [--owner|--app|--finance|--superuser] [--eventsourcing]" >&2; exit 2; }

role=app eventsourcing=0
for arg in "$@"; do
    case "$arg" in
        --eventsourcing) eventsourcing=1 ;;
        --owner|--app|--finance|--superuser) role="${arg#--}" ;;
        *) usage ;;
    esac
done
pg_load_secrets || pg_die "no $PG_SECRETS_FILE: run deploy/postgres/start.sh first (it generates the roles' passwords)"

case "$role" in
    owner) user="$PG_OWNER" password="$PG_OWNER_PASSWORD" ;;
    app) user="$PG_APP_USER" password="$PG_APP_PASSWORD" ;;
    finance) user="$PG_FINANCE_USER" password="$PG_FINANCE_PASSWORD" ;;
    superuser) user="$PG_SUPERUSER" password="$PG_SUPERUSER_PASSWORD" ;;
esac

emit() { printf 'export %s=%q\n' "$1" "$2"; }

emit POSTGRES_HOST "$PG_HOST"
emit POSTGRES_PORT "$PG_PORT"
emit POSTGRES_USER "$user"
emit POSTGRES_PASSWORD "$password"
emit POSTGRES_DBNAME "$PG_DBNAME"
emit FUND_LEDGER_APP_ROLE "$PG_APP_USER"
emit FUND_LEDGER_FINANCE_ROLE "$PG_FINANCE_USER"

if (( eventsourcing )); then
    emit PERSISTENCE_MODULE eventsourcing.postgres
    emit POSTGRES_LOCK_TIMEOUT "${POSTGRES_LOCK_TIMEOUT:-5}"
    emit POSTGRES_POOL_SIZE "${POSTGRES_POOL_SIZE:-5}"
fi
