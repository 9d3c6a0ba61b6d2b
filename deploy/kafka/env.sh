#!/usr/bin/env bash
# Print a Kafka principal's client settings for the local broker as shell exports:
#   eval "$(deploy/kafka/env.sh --ledger)"
# --admin (the operator: topics, ACLs, users; also publishes any topic), --ledger (the consumer:
# reads the message topics, writes dead letters, retries and anchors), --auditor (reads the chain
# anchors), or --service NAME (a publishing service of consumers/publishers.toml: writes its own
# topics only). Passwords come from the secrets file start.sh wrote (mode 0600).
set -euo pipefail
# shellcheck source=lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/lib.sh"

usage() { echo "usage: $0 --admin|--ledger|--auditor|--service NAME" >&2; exit 2; }

principal=""
while (($#)); do
  case "$1" in
    --admin|--ledger|--auditor) principal="${1#--}" ;;
    --service) shift; principal="${1:-}"; [[ -n "$principal" ]] || usage
               kafka_service_principals | grep -qx -- "$principal" || kafka_die "no service $principal in $KAFKA_PUBLISHERS_FILE" ;;
    *) usage ;;
  esac
  shift
done
[[ -n "$principal" ]] || usage
[[ -f "$KAFKA_SECRETS_FILE" ]] || kafka_die "no $KAFKA_SECRETS_FILE: run deploy/kafka/start.sh first (it generates the passwords)"
kafka_load_secrets
while IFS= read -r setting; do
  printf 'export %s=%q\n' "${setting%%=*}" "${setting#*=}"
done < <(kafka_client_settings "$principal")
