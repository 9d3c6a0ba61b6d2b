"""The ledger's application service: every use case, in one ``Ledger``.

``ledger.core`` holds regions and policy, enrolment, contributions and claims;
``ledger.lifecycle`` adds interest, year-end close, transfers, cross-region settlement,
inheritance, the other income and expenditure lines, bank movements, memo funds and budgets.
Persistence comes from the environment (``ledger.settings``).
"""

from __future__ import annotations

from ledger.core import DateAsISO
from ledger.lifecycle import LifecycleUseCases


class Ledger(LifecycleUseCases):
    """The fund ledger."""

    name = "FundLedger"


__all__ = ["DateAsISO", "Ledger"]
