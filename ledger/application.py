"""The ledger's application service: every use case, in one ``Ledger``.

``ledger.core`` holds the application itself (regions and policy, enrolment, idempotency,
reading); each concern adds its use cases in a module of its own: ``ledger.contributions``,
``ledger.claims``, ``ledger.cross_region``, ``ledger.interest_posting``, ``ledger.year_end``,
``ledger.transfers`` (transfers and death) and ``ledger.fund_lines`` (other income and
expenditure, the two-line bank movements, memo funds and budgets). Persistence comes from the
environment (``ledger.settings``).
"""

from __future__ import annotations

from ledger.contributions import ContributionUseCases
from ledger.core import DateAsISO
from ledger.cross_region import CrossRegionUseCases
from ledger.fund_lines import FundLinesUseCases
from ledger.transfers import TransferUseCases
from ledger.year_end import YearEndUseCases


class Ledger(ContributionUseCases, CrossRegionUseCases, TransferUseCases, YearEndUseCases, FundLinesUseCases):
    """The fund ledger."""

    name = "FundLedger"


__all__ = ["DateAsISO", "Ledger"]
