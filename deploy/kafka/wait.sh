#!/usr/bin/env bash
# Wait until the broker started by start.sh is ready (process alive, "Kafka Server started"
# in the log, port accepting connections). Fails at once if it is not running,
# and after $KAFKA_START_TIMEOUT seconds (default 120) if it never becomes ready.
set -euo pipefail
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

kafka_wait_ready
