#!/usr/bin/env bash
# Install (if missing), initialise (if needed), start and wait for a local
# PostgreSQL listening on 127.0.0.1:$PG_PORT (default 15432). Idempotent.
# See deploy/postgres/README.md.
set -euo pipefail

# shellcheck source=lib.sh
source "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/lib.sh"

t0=$EPOCHREALTIME

# --- 1. server binaries -------------------------------------------------------
pg_resolve_run_dir            # compute only; PG_DATA_DIR picks the matching version
if ! pg_find_bin_dir; then
    [[ $EUID -eq 0 ]] || pg_die "PostgreSQL server binaries not found; install them (Debian: sudo apt-get install -y postgresql) or set PG_BIN_DIR"
    command -v apt-get >/dev/null 2>&1 || pg_die "PostgreSQL server binaries not found and apt-get is unavailable; set PG_BIN_DIR"
    pg_log "PostgreSQL server binaries not found; installing Debian package 'postgresql'"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q postgresql
    pg_find_bin_dir || pg_die "installed 'postgresql' but still cannot find initdb/pg_ctl/postgres"
fi

if [[ $EUID -eq 0 ]] && ! id -u "$PG_OS_USER" >/dev/null 2>&1; then
    # The Debian package creates 'postgres'; other installs may not.
    pg_log "creating system user '$PG_OS_USER'"
    useradd --system --user-group --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin "$PG_OS_USER"
fi

# --- 2. runtime dir + lock ----------------------------------------------------
pg_resolve_run_dir create
# Serialise concurrent start.sh runs (e.g. parallel test jobs).
exec 9>"$PG_RUN_DIR/.start.lock"
flock -w $((PG_START_TIMEOUT * 2)) 9 || pg_die "timed out waiting for another start.sh (lock $PG_RUN_DIR/.start.lock)"

# --- 3. secrets, then initdb --------------------------------------------------
legacy_password=""
if ! pg_load_secrets; then
    if [[ -f "$PG_DATA_DIR/PG_VERSION" ]]; then
        # A cluster from before the roles: its superuser was ledger/ledger. Rotate it below.
        PG_SUPERUSER="${PG_USER:-ledger}"
        legacy_password="${PG_PASSWORD:-ledger}"
    fi
    pg_log "writing role passwords to $PG_SECRETS_FILE (mode 0600)"
    pg_write_secrets
fi

if [[ ! -f "$PG_DATA_DIR/PG_VERSION" ]]; then
    if [[ -d "$PG_DATA_DIR" ]] && [[ -n "$(ls -A "$PG_DATA_DIR")" ]]; then
        pg_die "$PG_DATA_DIR is not empty but has no PG_VERSION (interrupted initdb?); remove it and retry"
    fi
    pg_log "initialising cluster in $PG_DATA_DIR ($("$PG_BIN_DIR/postgres" --version))"
    pwfile="$(mktemp "$PG_RUN_DIR/.pwfile.XXXXXX")"
    trap 'rm -f "$pwfile"' EXIT
    printf '%s\n' "$PG_SUPERUSER_PASSWORD" > "$pwfile"
    [[ $EUID -eq 0 ]] && chown "$PG_OS_USER" "$pwfile"
    chmod 0600 "$pwfile"
    locale_opt=(--locale=C)
    if locale -a 2>/dev/null | grep -qix 'c\.utf-\?8'; then locale_opt=(--locale=C.UTF-8); fi
    # The bootstrap superuser authenticates by password, so no peer/trust auth is ever needed.
    pg_as_owner "$PG_BIN_DIR/initdb" -D "$PG_DATA_DIR" \
        --username="$PG_SUPERUSER" --pwfile="$pwfile" --auth=scram-sha-256 \
        --encoding=UTF8 "${locale_opt[@]}" >"$PG_RUN_DIR/initdb.log" 2>&1 \
        || { cat "$PG_RUN_DIR/initdb.log" >&2; pg_die "initdb failed"; }
    rm -f "$pwfile"
fi

# A postmaster.pid left by a container restart can name a live, unrelated PID;
# postgres would then refuse to start. Drop it if that PID is not a postgres.
pidfile="$PG_DATA_DIR/postmaster.pid"
if [[ -f "$pidfile" && -d /proc/self ]]; then
    pid="$(head -n1 "$pidfile")"
    if [[ "$pid" =~ ^[0-9]+$ ]] && ! grep -qxE 'postgres|postmaster' "/proc/$pid/comm" 2>/dev/null; then
        pg_log "removing stale $pidfile (pid $pid is not a running postgres)"
        rm -f "$pidfile"
    fi
fi

running=0
if pg_cluster_running; then
    running=1
    running_port="$(sed -n 4p "$pidfile" 2>/dev/null || true)"
    if [[ -n "$running_port" && "$running_port" != "$PG_PORT" ]]; then
        pg_die "cluster in $PG_DATA_DIR is already running on port $running_port, not $PG_PORT; run stop.sh first"
    fi
fi

# --- 4. managed config (rewritten every start; reloaded if it changed) --------
sock_dir="$PG_SOCKET_DIR"
if (( ${#sock_dir} + ${#PG_PORT} + 11 > 107 )); then
    pg_log "run dir path too long for a unix socket; TCP only"
    sock_dir=""
fi
if [[ "$PG_FAST" == "1" ]]; then
    durability=$'fsync = off\nsynchronous_commit = off\nfull_page_writes = off'
else
    durability=$'fsync = on\nsynchronous_commit = on\nfull_page_writes = on'
fi
new_conf="# Managed by deploy/postgres/start.sh - rewritten on every start; edits are lost.
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '${sock_dir//\'/\'\'}'
max_connections = 100
password_encryption = 'scram-sha-256'
logging_collector = off
log_line_prefix = '%m [%p] %q%u@%d '
log_min_messages = warning
# PG_FAST=$PG_FAST (1 = no durability; only for throwaway test data)
$durability
"
new_hba="# Managed by deploy/postgres/start.sh - rewritten on every start; edits are lost.
# TYPE  DATABASE  USER  ADDRESS        METHOD
local   all       all                  scram-sha-256
host    all       all   127.0.0.1/32   scram-sha-256
"
conf_changed=0
write_managed() {   # $1=path $2=content
    if [[ ! -f "$1" ]] || [[ "$(cat "$1")" != "${2%$'\n'}" ]]; then
        printf '%s' "$2" | pg_as_owner tee "$1" >/dev/null
        conf_changed=1
    fi
}
write_managed "$PG_DATA_DIR/fund-ledger.conf" "$new_conf"
write_managed "$PG_DATA_DIR/pg_hba.conf" "$new_hba"
if ! grep -q "^include_if_exists = 'fund-ledger.conf'" "$PG_DATA_DIR/postgresql.conf"; then
    printf "\n# fund-ledger settings (deploy/postgres/start.sh)\ninclude_if_exists = 'fund-ledger.conf'\n" \
        | pg_as_owner tee -a "$PG_DATA_DIR/postgresql.conf" >/dev/null
fi

# --- 5. start (unless running) -------------------------------------------------
ensure_roles_and_db() {
    if [[ -n "$legacy_password" ]]; then
        pg_log "rotating the superuser $PG_SUPERUSER's password (was the fixed one in the repo)"
        printf 'ALTER ROLE %s PASSWORD %s;\n' "\"$PG_SUPERUSER\"" "$(_pg_quote "$PG_SUPERUSER_PASSWORD")" \
            | PG_SUPERUSER_PASSWORD="$legacy_password" pg_super_psql -d postgres \
            || pg_die "cannot log in to the existing cluster as $PG_SUPERUSER; set PG_SECRETS_FILE or delete $PG_RUN_DIR"
    fi
    local role password sql=""
    for role in owner app finance; do
        case $role in
            owner) name="$PG_OWNER"; password="$PG_OWNER_PASSWORD" ;;
            app) name="$PG_APP_USER"; password="$PG_APP_PASSWORD" ;;
            finance) name="$PG_FINANCE_USER"; password="$PG_FINANCE_PASSWORD" ;;
        esac
        sql+="SELECT format('CREATE ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION', $(_pg_quote "$name"))
              WHERE NOT EXISTS (SELECT FROM pg_roles WHERE rolname = $(_pg_quote "$name"))
\\gexec
ALTER ROLE \"$name\" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD $(_pg_quote "$password");
"
    done
    # The owner may set the application's default privileges (finance reads its projections).
    sql+="GRANT \"$PG_APP_USER\" TO \"$PG_OWNER\";
SELECT format('CREATE DATABASE %I OWNER %I', $(_pg_quote "$PG_DBNAME"), $(_pg_quote "$PG_OWNER"))
       WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = $(_pg_quote "$PG_DBNAME"))
\\gexec
ALTER DATABASE \"$PG_DBNAME\" OWNER TO \"$PG_OWNER\";
"
    printf '%s' "$sql" | pg_super_psql -d postgres >/dev/null
    restrict_public_privileges
    migrate_default_db
}

# What every role may do by default, no role of the ledger needs: make large objects (finance,
# which writes nothing, could store data that outlives its session and fill the disk) and, but
# for the application (its projections stage rows in temporary tables), temporary tables. In
# template1 too, so that every database made later (the tests', the benchmarks') starts without
# the large objects; `fund-ledger migrate` takes TEMPORARY from PUBLIC in the databases it migrates.
#
# Advisory locks too: the projectors order their batches and their views' remaking with them, and
# any role may take any advisory lock by default, so finance held one and stalled the projections
# for as long as it liked. Only the application and the owner may take them.
restrict_public_privileges() {
    local db advisory
    advisory="DO \$\$ DECLARE f regprocedure; BEGIN
  FOR f IN SELECT oid::regprocedure FROM pg_proc WHERE proname LIKE 'pg\\_%advisory\\_%' LOOP
    EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
    EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I, %I', f, $(_pg_quote "$PG_APP_USER"), $(_pg_quote "$PG_OWNER"));
  END LOOP;
END \$\$;"
    for db in template1 postgres "$PG_DBNAME"; do
        printf 'REVOKE EXECUTE ON FUNCTION lo_create(oid), lo_creat(integer), lo_from_bytea(oid, bytea) FROM PUBLIC;\n%s\n' \
            "$advisory" | pg_super_psql -d "$db" >/dev/null
    done
    printf 'REVOKE TEMPORARY ON DATABASE %s FROM PUBLIC;\nGRANT TEMPORARY ON DATABASE %s TO %s, %s;\n' \
        "\"$PG_DBNAME\"" "\"$PG_DBNAME\"" "\"$PG_APP_USER\"" "\"$PG_OWNER\"" | pg_super_psql -d postgres >/dev/null
    printf 'REVOKE TEMPORARY ON DATABASE postgres FROM PUBLIC;\n' | pg_super_psql -d postgres >/dev/null
}

# The default database's tables, created by the owner (fund-ledger migrate), if the project's
# virtualenv exists (make creates it before starting the servers).
migrate_default_db() {
    local python="$PG_REPO_ROOT/.venv/bin/python"
    if [[ ! -x "$python" ]]; then
        pg_log "no $python yet: run 'fund-ledger migrate' as the owner later (eval \"\$(deploy/postgres/env.sh --owner)\")"
        return 0
    fi
    (cd "$PG_REPO_ROOT" && PERSISTENCE_MODULE=eventsourcing.postgres POSTGRES_HOST="$PG_HOST" POSTGRES_PORT="$PG_PORT" \
        POSTGRES_DBNAME="$PG_DBNAME" POSTGRES_USER="$PG_OWNER" POSTGRES_PASSWORD="$PG_OWNER_PASSWORD" \
        FUND_LEDGER_APP_ROLE="$PG_APP_USER" FUND_LEDGER_FINANCE_ROLE="$PG_FINANCE_USER" \
        "$python" -m cli.main migrate --quiet 9>&-) || pg_die "fund-ledger migrate failed on database $PG_DBNAME"
}

if (( running )); then
    if (( conf_changed )); then
        pg_log "config changed; reloading running server"
        pg_as_owner "$PG_BIN_DIR/pg_ctl" reload -s -D "$PG_DATA_DIR" 9>&-
    fi
else
    if pg_is_ready; then
        pg_die "something else is already listening on $PG_HOST:$PG_PORT; stop it or set PG_PORT"
    fi
    pg_log "starting server (data $PG_DATA_DIR, log $PG_LOG_FILE)"
    pg_as_owner touch "$PG_LOG_FILE"
    pg_as_owner chmod 0600 "$PG_LOG_FILE"   # a log made by an earlier release may be 0644
    chmod 0600 "$PG_RUN_DIR/initdb.log" 2>/dev/null || true
    if ! pg_as_owner "$PG_BIN_DIR/pg_ctl" start -s -w -t "$PG_START_TIMEOUT" \
            -D "$PG_DATA_DIR" -l "$PG_LOG_FILE" 9>&-; then   # 9>&-: the server must not inherit the lock fd
        tail -n 30 "$PG_LOG_FILE" >&2 || true
        pg_die "pg_ctl start failed (see $PG_LOG_FILE)"
    fi
fi

# --- 6. wait until it accepts connections ------------------------------------
deadline=$((SECONDS + PG_START_TIMEOUT))
until pg_is_ready; do
    if (( SECONDS >= deadline )); then
        tail -n 30 "$PG_LOG_FILE" >&2 || true
        pg_die "server not ready on $PG_HOST:$PG_PORT after ${PG_START_TIMEOUT}s"
    fi
    sleep 0.2
done
ensure_roles_and_db

pg_log "$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "took %.1fs", b - a }')"
echo "postgres ready on $PG_HOST:$PG_PORT"
