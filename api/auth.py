"""Who is asking, and what they may see.

A **principal** is a name, a role and the regions it may see. Roles:

- ``finance``: the reports and pages of the regions named on its token, nothing else;
- ``auditor``: every region, and the audit views (the access log, dead letters);
- ``admin``: manages tokens (and the service's status); no figures.

Today a principal comes from a **bearer token** made by ``fund-ledger token create``: the token
is ``flk_<token id>_<secret>``, shown once; the service keeps the token id and the SHA-256 of the
secret, and compares digests in constant time. An identity provider fits the same seam: an
``Authenticator`` turns a bearer credential into a ``Principal`` (an OIDC/JWT one would check the
signature against the provider's keys and map a claim, say ``roles`` and ``regions``, to the
same three roles); ``Authenticators`` tries each in turn.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Protocol

from api.store import ApiStore
from ledger.errors import InvalidInput

ROLES = ("finance", "auditor", "admin")
ROLES_WITH_FIGURES = ("finance", "auditor")
TOKEN_PREFIX = "flk"
TOKEN_PATTERN = re.compile(r"^flk_([0-9a-f]{12})_([A-Za-z0-9_-]{43})$")
REGION_PATTERN = re.compile(r"^[0-9]{6}$")
MAX_NAME_LENGTH = 100
DEFAULT_VALID_DAYS = 90  # a token lives a quarter unless its maker says otherwise
MAX_VALID_DAYS = 366


@dataclass(frozen=True)
class Principal:
    name: str
    role: str
    regions: frozenset[str] = field(default_factory=frozenset)  # finance: the regions it may see
    token_id: str | None = None

    @property
    def sees_figures(self) -> bool:
        return self.role in ROLES_WITH_FIGURES

    @property
    def sees_every_region(self) -> bool:
        return self.role == "auditor"

    def may_see(self, region: str) -> bool:
        return self.sees_every_region or (self.role == "finance" and region in self.regions)


class Authenticator(Protocol):
    def authenticate(self, credential: str) -> Principal | None:
        """The principal a bearer credential stands for, or None if it stands for none."""
        ...


def secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def now_text() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@dataclass(frozen=True)
class IssuedToken:
    token: str  # shown once, never stored
    token_id: str
    name: str
    role: str
    regions: tuple[str, ...]
    expires_at: str = ""  # UTC, ISO 8601


class TokenBook:
    """The tokens in the service's store: create, list, revoke, authenticate."""

    def __init__(self, store: ApiStore) -> None:
        self.store = store

    def create(self, role: str, name: str, regions: Sequence[str] = (), created_by: str = "command line",
               valid_days: int = DEFAULT_VALID_DAYS) -> IssuedToken:
        """A token for ``valid_days`` (1 to ``MAX_VALID_DAYS``): a token nobody revokes stops working then."""
        role, name, chosen = check_token_request(role, name, regions)
        if isinstance(valid_days, bool) or not isinstance(valid_days, int) or not 1 <= valid_days <= MAX_VALID_DAYS:
            raise InvalidInput("valid_days", f"must be a whole number of days from 1 to {MAX_VALID_DAYS}", value=valid_days)
        token_id, secret = secrets.token_hex(6), secrets.token_urlsafe(32)
        expires_at = (datetime.now(UTC) + timedelta(days=valid_days)).isoformat(timespec="seconds")
        self.store.execute("INSERT INTO api_tokens (token_id, name, role, regions, secret_sha256, created_at, created_by, expires_at) "
                           "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                           (token_id, name, role, ",".join(chosen), secret_digest(secret), now_text(), created_by, expires_at))
        return IssuedToken(f"{TOKEN_PREFIX}_{token_id}_{secret}", token_id, name, role, chosen, expires_at)

    def list(self) -> list[dict[str, object]]:
        rows = self.store.query("SELECT token_id, name, role, regions, created_at, created_by, revoked_at, expires_at FROM api_tokens "
                                "ORDER BY created_at, token_id")
        for row in rows:
            row["regions"] = [region for region in str(row["regions"]).split(",") if region]
        return rows

    def revoke(self, token_id: str) -> bool:
        """Revoke a token (True), or say it was not there or already revoked (False)."""
        return self.store.execute("UPDATE api_tokens SET revoked_at = ? WHERE token_id = ? AND revoked_at IS NULL",
                                  (now_text(), token_id)) == 1

    def authenticate(self, credential: str) -> Principal | None:
        match = TOKEN_PATTERN.match(credential)
        if match is None:
            return None
        token_id, secret = match.groups()
        # Expired: its time passed (times in UTC, ISO 8601, which compare as text). A token made
        # before tokens expired has none: revoke it and issue a new one.
        rows = self.store.query("SELECT name, role, regions, secret_sha256 FROM api_tokens WHERE token_id = ? AND revoked_at IS NULL "
                                "AND (expires_at IS NULL OR expires_at > ?)", (token_id, now_text()))
        if not rows or not hmac.compare_digest(str(rows[0]["secret_sha256"]), secret_digest(secret)):
            return None
        row = rows[0]
        regions = frozenset(region for region in str(row["regions"]).split(",") if region)
        return Principal(str(row["name"]), str(row["role"]), regions, token_id)


def check_token_request(role: str, name: str, regions: Iterable[str]) -> tuple[str, str, tuple[str, ...]]:
    """A token's role, holder's name and regions, or a refusal naming the field."""
    if role not in ROLES:
        raise InvalidInput("role", f"must be one of {', '.join(ROLES)}", value=role)
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH or any(not ch.isprintable() for ch in name):
        raise InvalidInput("name", f"must be 1 to {MAX_NAME_LENGTH} printable characters", value=name[:MAX_NAME_LENGTH])
    chosen = tuple(sorted(set(regions)))
    for region in chosen:
        if not REGION_PATTERN.match(region):
            raise InvalidInput("region", "must be a six-digit region code", value=region)
    if role == "finance" and not chosen:
        raise InvalidInput("region", "a finance token names the regions it may see (--region, one or more)")
    if role != "finance" and chosen:
        raise InvalidInput("region", f"an {role} token is not limited to regions; leave --region out", value=",".join(chosen))
    return role, name, chosen


class Authenticators:
    """Several ways in (tokens today; an identity provider's JWTs tomorrow), tried in turn."""

    def __init__(self, *authenticators: Authenticator) -> None:
        self.authenticators = authenticators

    def authenticate(self, credential: str) -> Principal | None:
        for authenticator in self.authenticators:
            principal = authenticator.authenticate(credential)
            if principal is not None:
                return principal
        return None
