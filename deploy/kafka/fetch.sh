#!/usr/bin/env bash
# Gather the Kafka broker's jars from Maven Central (via mvn) into $KAFKA_RUN_DIR/lib.
# Idempotent: does nothing when the lib dir already holds a fetch of the current pom.xml.
set -euo pipefail
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

kafka_ensure_run_dir
# Serialise concurrent fetches (e.g. parallel test workers each calling start.sh).
exec 8>"$KAFKA_RUN_DIR/fetch.lock"
flock 8

if [[ "${1:-}" != "--force" ]] && kafka_jars_present; then
  kafka_log "jars already present in $KAFKA_LIB_DIR"
  exit 0
fi
if pid="$(kafka_pid)"; then
  kafka_die "the broker (pid $pid) is running from $KAFKA_LIB_DIR; run stop.sh before re-fetching"
fi

command -v mvn >/dev/null || kafka_die "mvn not found on PATH (needed to fetch Kafka from Maven Central)"

tmp="$KAFKA_RUN_DIR/lib.tmp.$$"
trap 'rm -rf "$tmp"' EXIT
rm -rf "$tmp"
kafka_log "fetching Kafka broker jars with Maven into $KAFKA_LIB_DIR"
# Full Maven output goes to fetch.log (Debian's mvn prints stray ANSI resets even with -q -B).
fetch_log="$KAFKA_RUN_DIR/fetch.log"
if ! mvn -B --no-transfer-progress -Dstyle.color=never -f "$KAFKA_SCRIPT_DIR/pom.xml" \
  dependency:copy-dependencies \
  -DincludeScope=runtime \
  -DoutputDirectory="$tmp" \
  </dev/null >"$fetch_log" 2>&1 8>&-; then
  tail -n 40 "$fetch_log" >&2
  kafka_die "Maven failed to fetch the broker jars (full log: $fetch_log)"
fi

compgen -G "$tmp/kafka_2.13-*.jar" >/dev/null || kafka_die "Maven ran but no kafka_2.13 jar was copied"
kafka_pom_hash >"$tmp/.fetched"
rm -rf "$KAFKA_LIB_DIR"
mv "$tmp" "$KAFKA_LIB_DIR"
trap - EXIT
kafka_log "fetched $(find "$KAFKA_LIB_DIR" -name '*.jar' | wc -l) jars"
