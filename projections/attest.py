"""Evidence: a report signed together with the log position it was computed at, the chain head
there, the result of ``verify`` up to there and the software that computed it.

An attestation is one JSON document::

    {"attestation": 1, "report": {"name", "filters", "as_of"}, "log_position": n,
     "chain_head": "<hex>", "verify": {"passed", "events", "violations"}, "software": {...},
     "attested_at": "...", "content": <the report, as ``fund-ledger report --format json``>,
     "public_key": "<base64 raw Ed25519>", "signature": "<base64>"}

The signature is Ed25519 (``cryptography``) over the document without ``signature``, serialised
canonically (keys sorted, no spaces, UTF-8). ``check`` verifies the signature (with the public
key the checker trusts; the embedded one only says who signed), then that the log still holds
the same history up to the position (the chain recomputed from position 0 ends at the same head
there, and ``verify`` passes) and still yields the same report there (recomputed "as known at"
the position, ``projections.known_at``). A changed report fails the signature; a changed log
fails the chain or the recomputed report.
"""

from __future__ import annotations

import base64
import json
import os
import platform
from dataclasses import asdict
from datetime import UTC, date, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ledger.errors import InvalidInput
from projections import render
from projections.known_at import check_position, known_at_report
from projections.reports import REPORTS, Filters
from projections.verify import Verifier

ATTESTATION_VERSION = 1
MAX_ATTESTATION_BYTES = 50_000_000


def canonical(document: dict[str, Any]) -> bytes:
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


# ---------------------------------------------------------------------------- keys
def generate_key(path: Path) -> Path:
    """A new Ed25519 private key in ``path`` (PEM, mode 0600) and its public key beside it
    (``<path>.pub``). Returns the public key's path."""
    if path.exists():
        raise InvalidInput("key", f"{path} exists: a signing key is never overwritten", path=str(path))
    key = Ed25519PrivateKey.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as out:
        out.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    public = path.with_name(path.name + ".pub")
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))
    return public


def load_private_key(path: Path) -> Ed25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (OSError, ValueError, TypeError) as error:
        raise InvalidInput("key", f"{path} is not a readable PEM private key ({error})", path=str(path)) from None
    if not isinstance(key, Ed25519PrivateKey):
        raise InvalidInput("key", f"{path} is not an Ed25519 key", path=str(path))
    return key


def load_public_key(path: Path) -> Ed25519PublicKey:
    try:
        key = serialization.load_pem_public_key(path.read_bytes())
    except (OSError, ValueError) as error:
        raise InvalidInput("public_key", f"{path} is not a readable PEM public key ({error})", path=str(path)) from None
    if not isinstance(key, Ed25519PublicKey):
        raise InvalidInput("public_key", f"{path} is not an Ed25519 public key", path=str(path))
    return key


def _raw(public: Ed25519PublicKey) -> str:
    return base64.b64encode(public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)).decode()


# ---------------------------------------------------------------------------- the document
def software() -> dict[str, str]:
    def installed(name: str) -> str:
        try:
            return version(name)
        except PackageNotFoundError:
            return "unknown"
    return {"fund-ledger": installed("fund-ledger"), "eventsourcing": installed("eventsourcing"), "python": platform.python_version()}


def report_content(ledger: Any, name: str, filters: Filters, position: int, as_of: date | None) -> dict[str, Any]:
    """The report as ``fund-ledger report --format json`` prints it, as the ledger knew it at ``position``."""
    report = known_at_report(ledger, name, filters, position, as_of)
    meta = {"region": filters.region, "year": filters.year, "as_of": as_of.isoformat() if as_of else None, "known_at_position": position}
    return json.loads(render.as_json(report, meta))  # type: ignore[no-any-return]


def _verification(ledger: Any, position: int) -> tuple[dict[str, Any], str | None]:
    result = Verifier(ledger).run(stop=position)
    head = result.chain_head[1].hex() if result.chain_head is not None and result.chain_head[0] == position else None
    summary = {"passed": result.passed, "events": result.events, "chain_events": result.chain_events,
               "violations": {kind: result.counts[kind] for kind in sorted(result.counts)},
               "first_break": None if result.first_break is None else asdict(result.first_break)}
    return summary, head


def attest(ledger: Any, name: str, filters: Filters, key: Ed25519PrivateKey, position: int | None = None,
           as_of: date | None = None) -> dict[str, Any]:
    """A signed attestation of report ``name`` at ``position`` (default: the log's head)."""
    if name not in REPORTS:
        raise InvalidInput("report", f"unknown report {name!r}", report=name)
    position = check_position(ledger, ledger.recorder.max_notification_id() or 0 if position is None else position)
    verification, head = _verification(ledger, position)
    document = {
        "attestation": ATTESTATION_VERSION,
        "report": {"name": name, "filters": asdict(filters), "as_of": as_of.isoformat() if as_of else None},
        "log_position": position, "chain_head": head, "verify": verification, "software": software(),
        "attested_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "content": report_content(ledger, name, filters, position, as_of),
        "public_key": _raw(key.public_key()),
    }
    return {**document, "signature": base64.b64encode(key.sign(canonical(document))).decode()}


def load_attestation(path: Path) -> dict[str, Any]:
    try:
        if path.stat().st_size > MAX_ATTESTATION_BYTES:
            raise InvalidInput("file", f"{path} is larger than {MAX_ATTESTATION_BYTES} bytes", path=str(path))
        document = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise InvalidInput("file", f"cannot read {path}: {error.strerror}", path=str(path)) from None
    except ValueError as error:
        raise InvalidInput("file", f"{path} is not JSON ({error})", path=str(path)) from None
    if not isinstance(document, dict) or document.get("attestation") != ATTESTATION_VERSION:
        raise InvalidInput("file", f"{path} is not an attestation (version {ATTESTATION_VERSION})", path=str(path))
    return document


def check(ledger: Any, document: dict[str, Any], trusted: Ed25519PublicKey | None = None) -> tuple[list[str], list[str]]:
    """(problems, notes) of an attestation against this ledger: empty problems means it holds."""
    problems: list[str] = []
    notes: list[str] = []
    body = {key: value for key, value in document.items() if key != "signature"}
    try:
        embedded = Ed25519PublicKey.from_public_bytes(base64.b64decode(str(document.get("public_key", ""))))
        signature = base64.b64decode(str(document.get("signature", "")))
    except ValueError:
        return ["the attestation's public key or signature is not valid base64 Ed25519"], notes
    if trusted is not None and _raw(trusted) != _raw(embedded):
        problems.append("signed with another key than the trusted public key")
    if trusted is None:
        notes.append("no --public-key given: the signature was checked with the key embedded in the file, which says only "
                     "that the document is unchanged since whoever holds that key signed it")
    try:
        (trusted or embedded).verify(signature, canonical(body))
    except InvalidSignature:
        problems.append("the signature does not match the document: the report or its metadata were changed after signing")
    try:
        position = int(body["log_position"])
        spec = body["report"]
        filters = Filters(**spec["filters"])
        as_of = date.fromisoformat(spec["as_of"]) if spec.get("as_of") else None
        check_position(ledger, position)
    except (KeyError, TypeError, ValueError, InvalidInput) as error:
        return [*problems, f"the attestation cannot be replayed on this log: {error}"], notes
    verification, head = _verification(ledger, position)
    if head != body.get("chain_head"):
        problems.append(f"the log's chain at position {position} is {head}, the attestation says {body.get('chain_head')}: "
                        "the history up to that position is not the one attested")
    if not verification["passed"]:
        problems.append(f"verify fails on the log up to position {position}: {verification['violations']}")
    if report_content(ledger, spec["name"], filters, position, as_of) != body.get("content"):
        problems.append(f"the log no longer yields the attested report at position {position}")
    return problems, notes
