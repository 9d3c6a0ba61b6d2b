"""What the HTTP service reads, and with which rights.

- The ledger and its projections are read with the **finance (read-only) role** when
  ``FUND_LEDGER_READ_USER`` and ``FUND_LEDGER_READ_PASSWORD`` name it (``make serve`` does), else
  with the ledger's own settings (the embedded SQLite file, a single-role set-up).
- The service's own tables (tokens, access log: ``api.store``) are written with the ledger's
  settings, the application role on PostgreSQL: the finance role writes nothing.

Every report goes through ``projections.query.answer``, the same function as the command line.
The service never writes projections: ``fund-ledger project --follow`` keeps them live and the
service says how far behind the log they are.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date

from api.auth import Principal, TokenBook
from api.problems import ApiProblem
from api.store import ApiStore
from ledger.application import Ledger
from ledger.settings import ledger_env, store_description
from projections import schema
from projections.projector import ProjectionsAhead
from projections.query import ReportAnswer, ReportRequest, answer
from projections.reports import AS_OF_FROM_TABLES
from projections.store import open_store

# Reports as of a date that are folded from the events (``as_of_store``) read the whole log:
# at most this many at a time, so a burst of them cannot starve the rest.
CONCURRENT_FOLDS = 2


def reader_env(env: Mapping[str, str]) -> dict[str, str]:
    """The ledger's settings for reading: the read-only role if one is named; never creating tables."""
    chosen = dict(env)
    if chosen.get("PERSISTENCE_MODULE", "").endswith("postgres"):
        chosen["POSTGRES_PRE_PING"] = "y"  # a connection broken by a database restart is replaced, not used
        user, password = env.get("FUND_LEDGER_READ_USER"), env.get("FUND_LEDGER_READ_PASSWORD")
        if user and password:
            chosen.update(POSTGRES_USER=user, POSTGRES_PASSWORD=password, CREATE_TABLE="n")
    return chosen


@dataclass(frozen=True)
class Lag:
    position: int
    head: int

    @property
    def events(self) -> int:
        return max(0, self.head - self.position)

    def as_dict(self) -> dict[str, int]:
        return {"position": self.position, "head": self.head, "lag_events": self.events}


class Service:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self.env = ledger_env(environ)
        self.read_env = reader_env(self.env)
        self.ledger = Ledger(env=self.read_env)
        self.store = open_store(self.ledger)
        self.api_store = ApiStore(self.env)
        self.api_store.create_tables()
        self.tokens = TokenBook(self.api_store)
        self.description = store_description(self.env)
        self.read_role = self.read_env.get("POSTGRES_USER", "(embedded store)")
        self._folds = threading.BoundedSemaphore(CONCURRENT_FOLDS)

    def close(self) -> None:
        self.store.close()
        self.ledger.close()
        self.api_store.close()

    # ------------------------------------------------------------------ state of the projections
    def lag(self) -> Lag:
        return Lag(self.store.position(schema.LIVE_PREFIX), self.ledger.recorder.max_notification_id() or 0)

    def projections_built(self) -> bool:
        with self.store.transaction() as cursor:
            return self.store.has_relation(cursor, schema.view_names(schema.LIVE_PREFIX)[-1])

    def regions(self, principal: Principal) -> list[str]:
        """The regions with postings that ``principal`` may see."""
        rows = self.store.query(f"SELECT DISTINCT region FROM {schema.LIVE_PREFIX}{schema.ACCOUNT_BALANCES.name} ORDER BY region")
        return [str(row["region"]) for row in rows if principal.may_see(str(row["region"]))]

    # ------------------------------------------------------------------ reports
    def report(self, principal: Principal, request: ReportRequest) -> tuple[ReportAnswer, Lag]:
        """The report ``request`` asks for, if ``principal`` may see it."""
        request = self.authorise(principal, request)
        # Tables there, views of this version (else 503 projections_not_ready: the projector must
        # run once); the service reads as the finance role and never makes or remakes them.
        self.store.check_readable(schema.LIVE_PREFIX)
        lag = self.lag()
        if lag.position > lag.head:
            raise ProjectionsAhead("projections", f"the projections are at position {lag.position} but the log ends at {lag.head}",
                                   position=lag.position, head=lag.head)
        if request.effective_as_of is not None and request.name not in AS_OF_FROM_TABLES:
            with self._folds:
                return answer(self.ledger, self.store, request, lag.position), lag
        return answer(self.ledger, self.store, request, lag.position), lag

    def authorise(self, principal: Principal, request: ReportRequest) -> ReportRequest:
        """The request as ``principal`` may make it: a finance token sees its own regions only
        (with one region, that is the default); an auditor sees every region."""
        if not principal.sees_figures:
            raise ApiProblem(403, "forbidden", f"a token of role {principal.role!r} does not see figures")
        if principal.sees_every_region:
            return request
        if request.region is None:
            if len(principal.regions) == 1:
                return dataclasses.replace(request, region=next(iter(principal.regions)))
            raise ApiProblem(422, "invalid_input", f"name one of your regions: {', '.join(sorted(principal.regions))}", "region")
        if not principal.may_see(request.region):
            raise ApiProblem(403, "forbidden", f"this token does not cover region {request.region!r}", "region")
        return request


def parse_day(field: str, text: str | None) -> date | None:
    from projections.lookups import parse_iso_date

    return parse_iso_date(field, text) if text else None
