#!/usr/bin/env bash
# make serve / make stop: the whole service on 127.0.0.1, supervised (deploy/service/supervise.py):
# the Kafka consumer, the live projector (project --follow) and the HTTP service (serve).
#   deploy/service/serve.sh start   # PostgreSQL and Kafka must be up (make serve starts them)
#   deploy/service/serve.sh stop
# Loads the demo's books if the ledger is empty, prints the page's URL and a token.
# SERVE_HOST (127.0.0.1), SERVE_PORT (8000), SERVICE_RUN_DIR (.run/service).
set -euo pipefail

REPO="$(cd -- "$(dirname -- "$(readlink -f -- "${BASH_SOURCE[0]}")")/../.." && pwd)"
RUN_DIR="${SERVICE_RUN_DIR:-$REPO/.run/service}"
PID_FILE="$RUN_DIR/supervisor.pid"
HOST="${SERVE_HOST:-127.0.0.1}"
PORT="${SERVE_PORT:-8000}"
BIN="$REPO/.venv/bin"
READY_TIMEOUT_S="${SERVE_READY_TIMEOUT:-120}"

running() { [[ -f "$PID_FILE" ]] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; }

stop() {
    if ! running; then echo "service: not running"; rm -f "$PID_FILE"; return 0; fi
    local pid; pid="$(cat "$PID_FILE")"
    kill -TERM "$pid"
    for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    if kill -0 "$pid" 2>/dev/null; then kill -KILL "$pid"; fi
    rm -f "$PID_FILE"
    echo "service: stopped"
}

start() {
    mkdir -p "$RUN_DIR"; chmod 700 "$RUN_DIR"
    if running; then echo "service: already running (pid $(cat "$PID_FILE")); make stop first"; exit 1; fi
    # The ledger runs as the application role; the HTTP service reads as the finance (read-only) role.
    eval "$("$REPO/deploy/postgres/env.sh" --eventsourcing)"
    local finance; finance="$("$REPO/deploy/postgres/env.sh" --finance)"
    FUND_LEDGER_READ_USER="$(eval "$finance"; printf '%s' "$POSTGRES_USER")"
    FUND_LEDGER_READ_PASSWORD="$(eval "$finance"; printf '%s' "$POSTGRES_PASSWORD")"
    export FUND_LEDGER_READ_USER FUND_LEDGER_READ_PASSWORD
    export KAFKA_BOOTSTRAP_SERVERS="${KAFKA_BOOTSTRAP_SERVERS:-127.0.0.1:${KAFKA_PORT:-19092}}"
    cd "$REPO"
    local head; head="$("$BIN/python" -c 'from ledger.application import Ledger; from ledger.settings import ledger_env
l = Ledger(env=ledger_env()); print(l.recorder.max_notification_id() or 0); l.close()')"
    if [[ "$head" == "0" ]]; then
        echo "service: the ledger is empty: loading the demo's books (fund-ledger demo)"
        "$BIN/fund-ledger" demo > "$RUN_DIR/demo.log"
    fi
    "$BIN/fund-ledger" project > /dev/null
    local token
    token="$("$BIN/fund-ledger" token create --role finance --region 210100 --region 210200 --name "make serve $(date -u +%FT%TZ)" 2>/dev/null)"
    setsid "$BIN/python" "$REPO/deploy/service/supervise.py" --log-dir "$RUN_DIR" \
        "consume=$BIN/fund-ledger consume --log-format json" \
        "project=$BIN/fund-ledger project --follow --log-format json --log-level info" \
        "serve=$BIN/fund-ledger serve --host $HOST --port $PORT --log-format json" \
        >> "$RUN_DIR/supervisor.log" 2>&1 < /dev/null &
    echo $! > "$PID_FILE"
    for _ in $(seq 1 $((READY_TIMEOUT_S * 2))); do
        if "$BIN/python" -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://$HOST:$PORT/readyz', timeout=2).status != 200)" 2>/dev/null; then
            echo
            echo "fund-ledger is serving on http://$HOST:$PORT/  (API described at /openapi.json, metrics at /metrics)"
            echo "finance token for regions 210100 and 210200 (shown once; log in with it on the page):"
            echo "  $token"
            echo "more tokens: .venv/bin/fund-ledger token create --role auditor --name WHO   (with the same POSTGRES_* settings)"
            echo "logs: $RUN_DIR/{consume,project,serve,supervisor}.log; make stop stops everything"
            return 0
        fi
        running || { echo "service: the supervisor exited; see $RUN_DIR/supervisor.log"; exit 1; }
        sleep 0.5
    done
    echo "service: not ready after ${READY_TIMEOUT_S}s; see $RUN_DIR/serve.log"; exit 1
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    *) echo "usage: $0 start|stop"; exit 2 ;;
esac
