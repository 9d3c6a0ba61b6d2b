# shellcheck shell=bash
# Shared helpers for deploy/postgres/{start,stop,env}.sh. Sourced, not executed.
#
# Layout (all under PG_RUN_DIR):
#   data/           PGDATA (initdb'd on first start, owned by the server user)
#   postgres.log    server log (pg_ctl -l)
#   .s.PGSQL.PORT   unix socket
#   .gitignore      "*" so the runtime dir never shows up in `git status`

# What the scripts write (the server's log, initdb's, the secrets) is the owner's alone: the log
# names every role, database and failing statement (and an error's detail, a person's id).
umask 077

PG_SCRIPT_DIR="$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)"
PG_REPO_ROOT="$(cd -- "$PG_SCRIPT_DIR/../.." && pwd -P)"

PG_PORT="${PG_PORT:-15432}"
PG_HOST="127.0.0.1"
PG_DBNAME="${PG_DBNAME:-ledger}"
# Roles (none but the bootstrap superuser is a superuser): the database's owner runs the
# migrations, the application writes events and projections, finance reads. Their passwords are
# generated on the first start into PG_SECRETS_FILE (mode 0600), or taken from the PG_*_PASSWORD
# variables if set then; see README.md.
PG_SUPERUSER="${PG_SUPERUSER:-fund_admin}"
PG_OWNER="${PG_OWNER:-fund_owner}"
PG_APP_USER="${PG_APP_USER:-fund_app}"
PG_FINANCE_USER="${PG_FINANCE_USER:-fund_finance}"
PG_SECRETS_FILE="${PG_SECRETS_FILE:-$PG_REPO_ROOT/.run/postgres.secrets}"
PG_OS_USER="${PG_OS_USER:-postgres}"          # OS account that runs the server when we are root
PG_START_TIMEOUT="${PG_START_TIMEOUT:-60}"
PG_FAST="${PG_FAST:-0}"
if [[ -n "${PG_RUN_DIR:-}" ]]; then PG_RUN_DIR_EXPLICIT=1; else PG_RUN_DIR_EXPLICIT=0; fi

pg_log() { printf '[postgres] %s\n' "$*" >&2; }
pg_die() { printf '[postgres] ERROR: %s\n' "$*" >&2; exit 1; }

# Run a command as the account that owns the cluster. postgres/initdb refuse to
# run as root, so as root we switch to PG_OS_USER; otherwise run as ourselves.
# `cd /` avoids "could not change directory to /root" noise from the tools.
pg_as_owner() {
    if [[ $EUID -eq 0 ]]; then
        (cd / && runuser -u "$PG_OS_USER" -- "$@")
    else
        (cd / && "$@")
    fi
}

# Is PG_OS_USER able to create/write $1 (i.e. can it traverse every parent)?
_pg_owner_can_use_dir() {
    local dir="$1"
    [[ $EUID -ne 0 ]] && { [[ -w "$dir" && -x "$dir" ]]; return; }
    pg_as_owner test -w "$dir" -a -x "$dir" 2>/dev/null
}

_pg_fallback_run_dir() {
    local hash
    hash="$(printf '%s' "$PG_REPO_ROOT" | sha256sum | cut -c1-12)"
    printf '/tmp/fund-ledger-pg-%s' "$hash"
}

# Resolve PG_RUN_DIR. With $1 = "create", create it and hand it to the server
# user; without, only compute the path (used by stop.sh/env.sh, must not create).
# If the server user cannot reach the default location (e.g. repo under a 0700
# home dir, or a bind mount where chown is not allowed) we fall back to
# /tmp/fund-ledger-pg-<sha256(repo path)[:12]>. An explicit PG_RUN_DIR is never
# replaced by the fallback.
pg_resolve_run_dir() {
    local mode="${1:-}"
    if [[ $PG_RUN_DIR_EXPLICIT -eq 0 ]]; then
        PG_RUN_DIR="$PG_REPO_ROOT/.run/postgres"
        # A previous start may already have chosen the fallback.
        local fb; fb="$(_pg_fallback_run_dir)"
        if [[ ! -f "$PG_RUN_DIR/data/PG_VERSION" && -f "$fb/data/PG_VERSION" ]]; then
            PG_RUN_DIR="$fb"
        fi
    fi

    if [[ "$mode" == "create" ]]; then
        _pg_prepare_run_dir "$PG_RUN_DIR" || {
            [[ $PG_RUN_DIR_EXPLICIT -eq 1 ]] && pg_die "user '$PG_OS_USER' cannot use PG_RUN_DIR=$PG_RUN_DIR (check permissions of every parent directory)"
            local fb; fb="$(_pg_fallback_run_dir)"
            pg_log "user '$PG_OS_USER' cannot reach $PG_RUN_DIR (parent dir not traversable?); using $fb"
            PG_RUN_DIR="$fb"
            _pg_prepare_run_dir "$PG_RUN_DIR" || pg_die "cannot prepare $PG_RUN_DIR"
        }
    fi

    PG_DATA_DIR="$PG_RUN_DIR/data"
    PG_LOG_FILE="$PG_RUN_DIR/postgres.log"
    PG_SOCKET_DIR="$PG_RUN_DIR"
}

_pg_prepare_run_dir() {
    local dir="$1"
    # Its parents as before (.run stays traversable: the server's own user must reach this one).
    (umask 022 && mkdir -p "$dir") || return 1
    # Keep the runtime dir out of git even if the repo's .gitignore lacks .run/
    [[ -f "$dir/.gitignore" ]] || printf '*\n' > "$dir/.gitignore" 2>/dev/null || true
    if [[ $EUID -eq 0 ]]; then
        chown "$PG_OS_USER:" "$dir" 2>/dev/null || return 1
    fi
    chmod 0700 "$dir"   # the server's user alone (root reaches it anyway): the log, the socket
    _pg_owner_can_use_dir "$dir"
}

# Find the directory holding initdb/pg_ctl/postgres. Order: $PG_BIN_DIR, the
# Debian layout /usr/lib/postgresql/<ver>/bin (matching an existing cluster's
# version if there is one, else the newest), then whatever initdb is on PATH.
pg_find_bin_dir() {
    local want_ver="" d
    if [[ -n "${PG_DATA_DIR:-}" && -f "$PG_DATA_DIR/PG_VERSION" ]]; then
        want_ver="$(cat "$PG_DATA_DIR/PG_VERSION")"
    fi
    _pg_bin_ok() { [[ -x "$1/initdb" && -x "$1/pg_ctl" && -x "$1/postgres" ]]; }

    if [[ -n "${PG_BIN_DIR:-}" ]]; then
        _pg_bin_ok "$PG_BIN_DIR" || pg_die "PG_BIN_DIR=$PG_BIN_DIR lacks initdb/pg_ctl/postgres"
        return 0
    fi
    if [[ -n "$want_ver" ]] && _pg_bin_ok "/usr/lib/postgresql/$want_ver/bin"; then
        PG_BIN_DIR="/usr/lib/postgresql/$want_ver/bin"; return 0
    fi
    d="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"
    if [[ -n "$d" ]] && _pg_bin_ok "$d"; then PG_BIN_DIR="$d"; return 0; fi
    if command -v initdb >/dev/null 2>&1; then
        d="$(dirname -- "$(readlink -f -- "$(command -v initdb)")")"
        if _pg_bin_ok "$d"; then PG_BIN_DIR="$d"; return 0; fi
    fi
    return 1
}

# Client tools: prefer the server's bin dir, fall back to PATH (Debian puts
# wrappers for psql/pg_isready in /usr/bin).
pg_client() {
    local tool="$1"; shift
    if [[ -n "${PG_BIN_DIR:-}" && -x "$PG_BIN_DIR/$tool" ]]; then
        "$PG_BIN_DIR/$tool" "$@"
    else
        "$tool" "$@"
    fi
}

# 0 if a server answers on 127.0.0.1:PG_PORT.
pg_is_ready() {
    pg_client pg_isready -q -h "$PG_HOST" -p "$PG_PORT" -d postgres -U "$PG_SUPERUSER" -t 2
}

# 0 if pg_ctl considers the cluster in PG_DATA_DIR running.
pg_cluster_running() {
    [[ -f "$PG_DATA_DIR/PG_VERSION" ]] || return 1
    pg_as_owner "$PG_BIN_DIR/pg_ctl" status -D "$PG_DATA_DIR" >/dev/null 2>&1
}

# --- secrets ------------------------------------------------------------------
_pg_random_password() { LC_ALL=C tr -dc 'A-Za-z0-9' </dev/urandom | head -c 32; }

# Load PG_SECRETS_FILE (refusing one that others can read). Returns 1 if it does not exist.
pg_load_secrets() {
    [[ -f "$PG_SECRETS_FILE" ]] || return 1
    local mode; mode="$(stat -c '%a' "$PG_SECRETS_FILE")"
    [[ "$mode" =~ ^[0-7]00$ ]] || pg_die "$PG_SECRETS_FILE is readable by others (mode $mode); chmod 600 it"
    # shellcheck disable=SC1090
    source "$PG_SECRETS_FILE"
}

# Write PG_SECRETS_FILE (0600) from the current values, generating missing passwords.
pg_write_secrets() {
    : "${PG_SUPERUSER_PASSWORD:=$(_pg_random_password)}" "${PG_OWNER_PASSWORD:=$(_pg_random_password)}"
    : "${PG_APP_PASSWORD:=$(_pg_random_password)}" "${PG_FINANCE_PASSWORD:=$(_pg_random_password)}"
    mkdir -p "$(dirname -- "$PG_SECRETS_FILE")"
    local tmp; tmp="$(mktemp "$PG_SECRETS_FILE.XXXXXX")"
    chmod 0600 "$tmp"
    {
        echo "# fund-ledger PostgreSQL roles (deploy/postgres/start.sh). Keep secret; never commit."
        printf 'PG_SUPERUSER=%q\nPG_SUPERUSER_PASSWORD=%q\n' "$PG_SUPERUSER" "$PG_SUPERUSER_PASSWORD"
        printf 'PG_OWNER=%q\nPG_OWNER_PASSWORD=%q\n' "$PG_OWNER" "$PG_OWNER_PASSWORD"
        printf 'PG_APP_USER=%q\nPG_APP_PASSWORD=%q\n' "$PG_APP_USER" "$PG_APP_PASSWORD"
        printf 'PG_FINANCE_USER=%q\nPG_FINANCE_PASSWORD=%q\n' "$PG_FINANCE_USER" "$PG_FINANCE_PASSWORD"
    } > "$tmp"
    mv -f "$tmp" "$PG_SECRETS_FILE"
}

# psql as the bootstrap superuser; SQL on stdin (so no password is ever on a command line).
pg_super_psql() {
    PGPASSWORD="$PG_SUPERUSER_PASSWORD" PGCONNECT_TIMEOUT=5 pg_client psql -X -q -At -v ON_ERROR_STOP=1 \
        -h "$PG_HOST" -p "$PG_PORT" -U "$PG_SUPERUSER" "$@"
}

_pg_quote() { local value="${1//\'/\'\'}"; printf "'%s'" "$value"; }
