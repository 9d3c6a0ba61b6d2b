#!/usr/bin/env bash
# Create (or bring up to date) the principals' SCRAM credentials, the ACLs and the ledger's topics
# on the running broker, as the admin principal. start.sh does it on every start; run this after
# 'make venv' if the broker was started before the project's Python existed, or after editing
# consumers/publishers.toml.
set -euo pipefail
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

kafka_pid >/dev/null || kafka_die "the broker is not running: deploy/kafka/start.sh"
kafka_load_secrets
kafka_setup
