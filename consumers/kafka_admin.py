"""The broker's principals, ACLs and topics: what the operator (the ``admin`` principal) sets up.

``python -m consumers.kafka_admin setup`` (run by ``deploy/kafka/start.sh`` on every start, and by
``deploy/kafka/setup.sh``) makes, idempotently:

- the SCRAM-SHA-512 credentials of every principal, from the secrets file (``KAFKA_SECRETS_FILE``,
  mode 0600): the ledger's consumer (``ledger``), the auditors (``auditor``) and each publishing
  service of ``consumers/publishers.toml``;
- the ACLs of ``ledger_acls`` (the broker refuses everything else: no ACL, no access);
- the ledger's topics (``kafka_io.ledger_topics``), with the replication factor and
  ``min.insync.replicas`` of ``KAFKA_REPLICATION_FACTOR`` / ``KAFKA_MIN_INSYNC_REPLICAS``.

``--prefix P`` does the same for topics and a consumer group named behind a prefix (an
environment, or a test: the tests give every test topics and ACLs of its own this way).

Who may do what (docs/security.md):

| principal | may |
| --- | --- |
| a service | write its own topics (``publishers.toml``), nothing else: no read, no create, no delete |
| ``ledger`` | read the message and retry topics, in the groups ``<prefix>fund-ledger*``; write the retry topics, the dead-letter topic and the chain anchors |
| ``auditor`` | read the chain anchors |
| ``admin`` | everything (a super user of the broker): the operator, and the tests' set-up |
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

import structlog
from kafka.admin import (
    ACL,
    ACLFilter,
    ACLOperation,
    ACLPermissionType,
    ACLResourcePatternType,
    ResourcePattern,
    ResourcePatternFilter,
    ResourceType,
)
from kafka.admin._users import ScramMechanism, UserScramCredentialUpsertion
from kafka.errors import NoError

from consumers import contract
from consumers.kafka_io import (
    DEFAULT_PARTITIONS,
    KafkaSecurity,
    admin_client,
    anchors_topic,
    bootstrap_servers,
    ensure_topics,
)
from consumers.publishers import Publishers, configured_publishers
from consumers.retries import TOPIC_STEM
from ledger.settings import SettingsError

logger = structlog.get_logger()

ADMIN = "admin"
LEDGER = "ledger"
AUDITOR = "auditor"
CONSUMER_GROUP = "fund-ledger"  # the ledger may join the groups named <prefix>fund-ledger...


def principal(name: str) -> str:
    return f"User:{name}"


def _allow(name: str, operation: ACLOperation, resource_type: ResourceType, resource: str,
           pattern: ACLResourcePatternType = ACLResourcePatternType.LITERAL) -> ACL:
    return ACL(principal(name), "*", operation, ACLPermissionType.ALLOW, ResourcePattern(resource_type, resource, pattern))


def ledger_acls(prefix: str = "", publishers: Publishers | None = None) -> list[ACL]:
    """Every ACL of a deployment whose topics and group are named behind ``prefix``. Nothing
    else is allowed to anyone but the admin (``allow.everyone.if.no.acl.found=false``); read,
    write and delete imply describe, nothing implies create."""
    publishers = publishers or configured_publishers()
    topic, prefixed = ResourceType.TOPIC, ACLResourcePatternType.PREFIXED
    acls = [_allow(service.name, ACLOperation.WRITE, topic, prefix + name)
            for service in publishers.services for name in service.topics]
    acls += [_allow(LEDGER, ACLOperation.READ, topic, name) for name in contract.all_topics(prefix)]
    acls += [
        _allow(LEDGER, ACLOperation.READ, topic, prefix + TOPIC_STEM, prefixed),
        _allow(LEDGER, ACLOperation.WRITE, topic, prefix + TOPIC_STEM, prefixed),
        _allow(LEDGER, ACLOperation.WRITE, topic, contract.dead_letter_topic(prefix)),
        _allow(LEDGER, ACLOperation.WRITE, topic, anchors_topic(prefix)),
        _allow(LEDGER, ACLOperation.READ, ResourceType.GROUP, prefix + CONSUMER_GROUP, prefixed),
        _allow(AUDITOR, ACLOperation.READ, topic, anchors_topic(prefix)),
    ]
    return acls


GRANT_WAIT_S = 30.0


def grant(admin: object, prefix: str = "", publishers: Publishers | None = None, wait_s: float = GRANT_WAIT_S) -> int:
    """Create the ACLs of ``ledger_acls`` (an existing one is left as it is) and wait until the
    broker authorizes by them: the controller accepts an ACL before the broker has applied it,
    and a client let in at once was refused (seen on a broker just started). Returns how many."""
    acls = ledger_acls(prefix, publishers)
    result = admin.create_acls(acls)  # type: ignore[attr-defined]
    failed = result.get("failed") or []
    if failed:
        raise RuntimeError(f"{len(failed)} ACLs were refused by the broker, the first: {failed[0]}")
    deadline = time.monotonic() + wait_s
    while missing := [acl for acl in acls if not _in_force(admin, acl)]:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{len(missing)} ACLs accepted were not in force after {wait_s:.0f} s, the first: {missing[0]}")
        time.sleep(0.1)
    return len(acls)


def _in_force(admin: object, acl: ACL) -> bool:
    """The broker describes ``acl`` (what it describes is what it authorizes by)."""
    pattern = acl.resource_pattern
    found, error = admin.describe_acls(ACLFilter(  # type: ignore[attr-defined]
        acl.principal, acl.host, acl.operation, acl.permission_type,
        ResourcePatternFilter(pattern.resource_type, pattern.resource_name, pattern.pattern_type)))
    return error is NoError and bool(found)


def read_secrets(path: Path) -> dict[str, str]:
    """``NAME=value`` lines of the secrets file, which must be mode 0600."""
    mode = path.stat().st_mode & 0o777
    if mode != 0o600:
        raise SettingsError(f"{path} must be mode 0600 (it holds every principal's password), it is {mode:04o}")
    secrets = {}
    for line in path.read_text().splitlines():
        name, sep, value = line.partition("=")
        if sep and not name.startswith("#"):
            secrets[name.strip()] = value.strip()
    return secrets


def password_variable(name: str) -> str:
    return "KAFKA_PASSWORD_" + name.upper().replace("-", "_")


def principals(publishers: Publishers | None = None) -> list[str]:
    """The principals the admin keeps credentials for (``admin`` and ``broker`` are made when the
    storage is formatted, with their passwords kept in the broker's configuration)."""
    publishers = publishers or configured_publishers()
    return [LEDGER, AUDITOR, *(service.name for service in publishers.services)]


def ensure_users(admin: object, secrets: Mapping[str, str], names: Iterable[str]) -> list[str]:
    """Set each principal's SCRAM-SHA-512 credentials to its password in ``secrets`` (salted
    anew each time: the broker keeps only a salted hash). Returns the names."""
    names = list(names)
    missing = [name for name in names if not secrets.get(password_variable(name))]
    if missing:
        raise SettingsError(f"no password for {', '.join(missing)} in the secrets file (deploy/kafka/start.sh adds them)")
    upserts = [UserScramCredentialUpsertion(name, ScramMechanism.SCRAM_SHA_512, secrets[password_variable(name)]) for name in names]
    errors = {user: error for user, error in admin.alter_user_scram_credentials(upserts).items() if error}  # type: ignore[attr-defined]
    if errors:
        raise RuntimeError(f"the broker refused the credentials of {errors}")
    return names


def setup(bootstrap: str, *, prefix: str = "", secrets_file: Path | None = None, security: KafkaSecurity | None = None,
          partitions: int = DEFAULT_PARTITIONS, replication_factor: int = 1, min_insync_replicas: int = 1) -> dict[str, object]:
    """Users (when ``secrets_file`` is given), ACLs and topics, as the admin."""
    publishers = configured_publishers()
    admin = admin_client(bootstrap, security)
    try:
        users = ensure_users(admin, read_secrets(secrets_file), principals(publishers)) if secrets_file else []
        acls = grant(admin, prefix, publishers)
    finally:
        admin.close()
    ensure_topics(bootstrap, prefix, partitions, security=security, replication_factor=replication_factor,
                  min_insync_replicas=min_insync_replicas)
    return {"users": users, "acls": acls, "prefix": prefix}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m consumers.kafka_admin", description=__doc__.splitlines()[0])
    parser.add_argument("action", choices=["setup", "acls"], help="setup: users, ACLs and topics; acls: print the ACLs")
    parser.add_argument("--prefix", default="", help="topics and consumer group behind this prefix, e.g. 'staging.'")
    parser.add_argument("--bootstrap-servers", help="default: $KAFKA_BOOTSTRAP_SERVERS or 127.0.0.1:19092")
    parser.add_argument("--partitions", type=int, default=DEFAULT_PARTITIONS)
    args = parser.parse_args(argv)
    if args.action == "acls":
        for acl in ledger_acls(args.prefix):
            print(f"{acl.principal} {acl.operation.name} {acl.resource_pattern.resource_type.name} "
                  f"{acl.resource_pattern.pattern_type.name} {acl.resource_pattern.resource_name}")
        return 0
    secrets = os.environ.get("KAFKA_SECRETS_FILE")
    done = setup(bootstrap_servers(args.bootstrap_servers), prefix=args.prefix, secrets_file=Path(secrets) if secrets else None,
                 partitions=args.partitions, replication_factor=int(os.environ.get("KAFKA_REPLICATION_FACTOR") or 1),
                 min_insync_replicas=int(os.environ.get("KAFKA_MIN_INSYNC_REPLICAS") or 1))
    print(f"[kafka] set up {len(done['users'])} principals' credentials, {done['acls']} ACLs and the topics "  # type: ignore[arg-type]
          f"under prefix {args.prefix!r}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
