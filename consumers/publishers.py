"""Who may publish what: each message topic has one owning service, and a message must say it
comes from that service.

The broker authenticates every client (SASL SCRAM over TLS) and lets a service's principal write
only its own topics (``consumers.kafka_admin``, ``deploy/kafka``). Kafka has no record header a
producer cannot set, so the topic a record was read from is what tells the ledger who wrote it;
the envelope's ``producer`` is only what the sender claims. ``check_publisher`` refuses
(``producer_mismatch``) a message whose type belongs on another topic (a hospital publishing an
expenditure on its claims topic) or whose ``producer`` is not one of the names of the topic's
owner (a hospital signing as the tax bureau, which would also let it take over the tax bureau's
message ids).

The owners and their producer names are data (``publishers.toml`` beside this module, or the
file ``FUND_LEDGER_PUBLISHERS`` names); deploy/kafka reads the same file to create the
principals and their ACLs.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from consumers import contract
from consumers.refusals import MessageRefused

DEFAULT_PUBLISHERS_FILE = Path(__file__).with_name("publishers.toml")
PUBLISHERS_SETTING = "FUND_LEDGER_PUBLISHERS"
SERVICE_NAME = re.compile(r"^[a-z][a-z0-9-]{0,31}$")
# Principals that are no service: they are named in deploy/kafka and consumers.kafka_admin.
RESERVED_PRINCIPALS = frozenset({"admin", "broker", "ledger", "auditor"})


@dataclass(frozen=True)
class Service:
    """A publishing service: its Kafka principal (its name), its topics and producer names."""

    name: str
    topics: tuple[str, ...]
    producers: frozenset[str]
    description: str = ""


@dataclass(frozen=True)
class Publishers:
    services: tuple[Service, ...]

    def owner_of(self, topic: str) -> Service | None:
        """The service that owns ``topic`` (a name without the deployment's prefix)."""
        for service in self.services:
            if topic in service.topics:
                return service
        return None


def parse_publishers(document: Mapping[str, object], source: str = "publishers") -> Publishers:
    """The publishers of a parsed TOML document. Raises ``ValueError`` naming what is wrong:
    every message topic needs exactly one owner, and every service a valid name."""
    raw = document.get("services")
    if not isinstance(raw, dict) or not raw:
        raise ValueError(f"{source}: no [services.<name>] section")
    services = []
    for name, section in raw.items():
        if not isinstance(section, dict) or not SERVICE_NAME.match(name) or name in RESERVED_PRINCIPALS:
            raise ValueError(f"{source}: services.{name}: a service is a section named with a-z, 0-9 and -, not one of "
                             f"{', '.join(sorted(RESERVED_PRINCIPALS))}")
        topics, producers = section.get("topics"), section.get("producers")
        if not _strings(topics) or not _strings(producers):
            raise ValueError(f"{source}: services.{name}: topics and producers must be non-empty lists of names")
        services.append(Service(name, tuple(topics), frozenset(producers), str(section.get("description", ""))))  # type: ignore[arg-type]
    publishers = Publishers(tuple(services))
    for topic in contract.TOPICS:
        owners = [service.name for service in services if topic in service.topics]
        if len(owners) != 1:
            raise ValueError(f"{source}: topic {topic} must have exactly one owning service, has {owners or 'none'}")
    unknown = {topic for service in services for topic in service.topics} - set(contract.TOPICS)
    if unknown:
        raise ValueError(f"{source}: {', '.join(sorted(unknown))} is not a message topic of the ledger")
    return publishers


def _strings(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(item, str) and item for item in value)


@lru_cache(maxsize=4)
def load_publishers(path: Path = DEFAULT_PUBLISHERS_FILE) -> Publishers:
    with path.open("rb") as handle:
        return parse_publishers(tomllib.load(handle), str(path))


def configured_publishers() -> Publishers:
    """The publishers of the file ``FUND_LEDGER_PUBLISHERS`` names, else the shipped ones."""
    return load_publishers(Path(os.environ.get(PUBLISHERS_SETTING) or DEFAULT_PUBLISHERS_FILE))


def base_topic(topic: str) -> str | None:
    """The message topic ``topic`` is, without its deployment prefix (``t1.ledger.claims`` ->
    ``ledger.claims``); ``None`` for any other topic."""
    for known in contract.TOPICS:
        if topic == known or topic.endswith("." + known):
            return known
    return None


def check_publisher(topic: str, message_type: str, producer: str, publishers: Publishers | None = None) -> None:
    """Refuse (``producer_mismatch``) a message read from ``topic`` that its owner cannot have
    sent: its type belongs on another topic, or its ``producer`` is not one of the owner's names.
    ``topic`` is where the record was first published (a retried message's origin)."""
    base = base_topic(topic)
    if base is None or message_type not in contract.MESSAGE_TYPES:
        return  # not a message topic (a file) or an unknown type (refused by its schema)
    publishers = publishers or configured_publishers()
    owner = publishers.owner_of(base)
    if owner is None:
        raise MessageRefused("producer_mismatch", "producer", f"no service owns topic {base}: nobody may publish on it", topic=base)
    expected = contract.MESSAGE_TYPES[message_type].topic
    if expected != base:
        raise MessageRefused("producer_mismatch", "type",
                             f"a {message_type} message belongs on {expected}, not on {base} (owned by {owner.name})",
                             topic=base, owner=owner.name)
    if producer not in owner.producers:
        raise MessageRefused("producer_mismatch", "producer",
                             f"{producer!r} is not a producer of {owner.name}, the only service that may publish on {base}",
                             topic=base, owner=owner.name)
