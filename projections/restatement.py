"""A closed year's final accounts as reported at the close, and restated with the corrections
recorded after it, side by side, each difference traced to its corrections.

- **As reported**: the final accounts as the ledger knew them at the position of the year's
  ``YearClosed`` event (``projections.known_at``): what was reported at the close.
- **Restated**: the same events, plus every correction recorded after the close (up to
  ``known_at``, default the head) that corrects something of that year, counted in that year.
  A correction is an event carrying a ``correction_id`` (``Ledger.reverse_claim``: the account's
  ``ClaimReversed``, whose ``year`` is the claim's, the pooled fund's ``InpatientBenefitReversed``,
  the reversal's record); it is booked when it is made, in a later year, since a closed year
  takes no posting (DOMAIN: year end), and the restatement moves it back, to 31 December of the
  corrected year, without changing the log.

Each correction's effect on a fund's line of the final accounts follows the fold
(``projections.fold``): a posting to ``fund.<fund>`` with an ``expenditure.*`` item changes
expenditure by its amount (debit +), with an ``income.*`` item changes income by minus its amount
(a credit is income), any other item is a transfer in (credit) or out (debit). The differences
between restated and reported are the sums of these effects, to the fen.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from eventsourcing.utils import get_topic

from ledger.aggregates import PolicyBook
from ledger.errors import InvalidInput
from projections import schema
from projections.known_at import check_position, read_log
from projections.projector import Projector
from projections.reports import Column, Filters, Report, Section, final_accounts, fund_label
from projections.store import memory_store

READ_BATCH = 5_000
FUND_COLUMNS = ("opening_fen", "income_fen", "expenditure_fen", "transfer_in_fen", "transfer_out_fen", "closing_fen")


class Redated:
    """An event seen as if booked on ``on`` (everything else is the event's own)."""

    def __init__(self, event: Any, on: date) -> None:
        self._event = event
        self.on = on

    def __getattr__(self, name: str) -> Any:
        return getattr(self._event, name)


@dataclass
class Correction:
    position: int
    event_type: str
    correction_id: str
    claim_id: str | None
    booked_on: str | None
    effects: dict[tuple[str, str], int] = field(default_factory=dict)  # (fund, column) -> fen


@dataclass
class Restatement:
    region: str
    year: int
    close_position: int
    known_at: int
    reported: Report
    restated: Report
    corrections: list[Correction]

    def differences(self) -> dict[tuple[str, str], tuple[int, int]]:
        """(fund, column) -> (reported, restated), where they differ."""
        reported = {r["fund"]: r for r in self.reported.sections[0].rows}
        restated = {r["fund"]: r for r in self.restated.sections[0].rows}
        found = {}
        for fund in sorted(set(reported) | set(restated)):
            for column in FUND_COLUMNS:
                before = int((reported.get(fund) or {}).get(column) or 0)
                after = int((restated.get(fund) or {}).get(column) or 0)
                if before != after:
                    found[(fund, column)] = (before, after)
        return found

    def effects(self) -> dict[tuple[str, str], int]:
        """The corrections' effects summed by (fund, column), closing balance included."""
        total: dict[tuple[str, str], int] = defaultdict(int)
        for correction in self.corrections:
            for key, amount_fen in correction.effects.items():
                total[key] += amount_fen
        for fund in {fund for fund, _ in list(total)}:
            total[(fund, "closing_fen")] = (total.get((fund, "income_fen"), 0) - total.get((fund, "expenditure_fen"), 0)
                                            + total.get((fund, "transfer_in_fen"), 0) - total.get((fund, "transfer_out_fen"), 0))
        return {key: value for key, value in total.items() if value}

    def report(self) -> Report:
        """Reported and restated side by side, each difference with the corrections behind it."""
        by_key: dict[tuple[str, str], list[str]] = defaultdict(list)
        for correction in self.corrections:
            for fund, column in correction.effects:
                by_key[(fund, column)].append(f"{correction.correction_id} (position {correction.position})")
                by_key[(fund, "closing_fen")].append(f"{correction.correction_id} (position {correction.position})")
        rows = [{"fund": fund, "fund_name": fund_label(fund), "line": column.removesuffix("_fen"), "reported_fen": before,
                 "restated_fen": after, "difference_fen": after - before, "corrections": ", ".join(dict.fromkeys(by_key[(fund, column)]))}
                for (fund, column), (before, after) in self.differences().items()]
        correction_rows = [{"position": c.position, "correction_id": c.correction_id, "claim_id": c.claim_id, "event": c.event_type,
                            "booked_on": c.booked_on, "fund": fund, "line": column.removesuffix("_fen"), "effect_fen": amount_fen}
                           for c in self.corrections for (fund, column), amount_fen in sorted(c.effects.items())]
        title = (f"Final accounts {self.year}, region {self.region}: as reported at the close (log position {self.close_position}) "
                 f"and restated with the corrections recorded up to position {self.known_at}")
        difference_columns = [Column("fund_name", "Fund"), Column("line", "Line"), Column("reported_fen", "As reported", "fen"),
                              Column("restated_fen", "Restated", "fen"), Column("difference_fen", "Difference", "fen"),
                              Column("corrections", "Corrections")]
        correction_columns = [Column("position", "Position", "int"), Column("correction_id", "Correction"), Column("claim_id", "Claim"),
                              Column("event", "Event"), Column("booked_on", "Booked on"), Column("fund", "Fund"), Column("line", "Line"),
                              Column("effect_fen", "Effect", "fen")]
        reported, restated = self.reported.sections[0], self.restated.sections[0]
        return Report("restated", title, [
            Section("reported", "As reported at the close", reported.columns, reported.rows),
            Section("restated", "Restated", restated.columns, restated.rows),
            Section("differences", "Differences (restated - reported)", difference_columns, rows),
            Section("corrections", "Corrections recorded after the close", correction_columns, correction_rows),
        ])


def close_position(ledger: Any, region: str, year: int, stop: int) -> int:
    """The position of ``region``'s ``YearClosed`` event for ``year``."""
    book = PolicyBook.id_for(region)
    for notification in read_log(ledger, stop, topics=(get_topic(PolicyBook.YearClosed),)):
        if notification.originator_id == book and ledger.mapper.to_domain_event(notification).closed_year == year:
            return int(notification.id)
    raise InvalidInput("year", f"region {region} has not closed {year}", region=region, year=year)


def correction_id_of(event: Any) -> str | None:
    found = getattr(event, "correction_id", None)
    if found is None and getattr(event, "kind", None) == "reversal":
        found = (getattr(event, "outcome", None) or {}).get("correction_id")
    return str(found) if found else None


def effects_of(event: Any) -> dict[tuple[str, str], int]:
    """What an event's fund postings change in the final accounts' lines (see the module docstring)."""
    effects: dict[tuple[str, str], int] = defaultdict(int)
    for posting in getattr(event, "postings", None) or ():
        account, amount_fen, item = posting["account"], posting["amount_fen"], posting.get("item") or ""
        if not account.startswith("fund."):
            continue
        fund = account[len("fund."):]
        if item.startswith("expenditure."):
            effects[(fund, "expenditure_fen")] += amount_fen
        elif item.startswith("income."):
            effects[(fund, "income_fen")] -= amount_fen
        else:
            effects[(fund, "transfer_out_fen" if amount_fen > 0 else "transfer_in_fen")] += abs(amount_fen)
    return {key: value for key, value in effects.items() if value}


def restate(ledger: Any, region: str, year: int, known_at: int | None = None) -> Restatement:
    head = check_position(ledger, known_at) if known_at is not None else ledger.recorder.max_notification_id() or 0
    closed_at = close_position(ledger, region, year, head)
    filters = Filters(region=region, year=year)
    later = [(n.id, ledger.mapper.to_domain_event(n)) for n in read_log(ledger, head, after=closed_at)]
    corrected_year = {correction_id_of(e): int(e.year) for _, e in later
                      if correction_id_of(e) and getattr(e, "region", None) == region and getattr(e, "year", None) is not None}
    chosen = [(p, e) for p, e in later if getattr(e, "region", None) == region and corrected_year.get(correction_id_of(e)) == year]
    store = memory_store()
    try:
        projector = Projector(ledger, store, event_filter=lambda event: getattr(event, "region", region) == region, batch_size=READ_BATCH)
        projector.catch_up(stop=closed_at)
        reported = final_accounts(store, schema.LIVE_PREFIX, filters)
        if chosen:
            projector.apply([(p, Redated(e, date(year, 12, 31))) for p, e in chosen])
        restated = final_accounts(store, schema.LIVE_PREFIX, filters)
    finally:
        store.close()
    corrections = [Correction(p, type(e).__qualname__, str(correction_id_of(e)), getattr(e, "claim_id", None) or getattr(e, "business_key", None),
                              e.on.isoformat() if getattr(e, "on", None) else None, effects_of(e)) for p, e in chosen]
    return Restatement(region, year, closed_at, head, reported, restated, corrections)

