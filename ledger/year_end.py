"""The year-end close (决算): the final balance of every account on 31 December; afterwards no
posting dated in the closed year is accepted.

Part of ``Ledger`` (see ``ledger.application``).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

from ledger import accounts as acc
from ledger.commands import CloseYear
from ledger.core import CoreLedger
from ledger.errors import InvalidInput

if TYPE_CHECKING:
    from ledger.unit_of_work import UnitOfWork


class YearEndUseCases(CoreLedger):
    # ------------------------------------------------------------------ year-end close
    def close_year(self, command: CloseYear, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """Close a region's year: record the final balance of every fund and bank account on 31
        December; afterwards no posting dated in that year is accepted (a correction is a new
        event dated now). Carried-over balances follow: money held at the start of a year is
        carried over (``rules.split_current_and_carried``). Closing a closed year again returns
        its final balances."""
        return self._run(unit, self._close_year, command)  # type: ignore[no-any-return]

    def _close_year(self, unit: UnitOfWork, command: CloseYear) -> dict[str, Any]:
        book = self._book(unit, command.region)
        if book.last_closed_year >= command.year:
            closed = book.final_balances.get(str(command.year))
            if closed is None:
                raise InvalidInput("year", f"{command.year} is before the first closed year", year=command.year)
            return {"region": command.region, "year": command.year, "final_balances_fen": closed, "duplicate": True}
        on = date(command.year, 12, 31)
        balances = self.balances_through(command.region, on, unit)
        book.close_year(command.year, on, balances)
        return {"region": command.region, "year": command.year, "final_balances_fen": balances, "duplicate": False}

    def balances_through(self, region: str, through: date, unit: UnitOfWork | None = None) -> dict[str, int]:
        """Every account's balance of ``region`` (debit +) from the events dated up to ``through``:
        those stored, and those still pending in ``unit``."""
        stored = (event for _, event in self.stored_events())
        pending = (event for aggregate in (unit.aggregates.values() if unit else ()) for event in aggregate.pending_events)
        postings = (
            posting
            for events in (stored, pending)
            for event in events
            if getattr(event, "region", None) == region and getattr(event, "on", through) <= through
            for posting in getattr(event, "postings", ())
        )
        return acc.trial_balance(postings)
