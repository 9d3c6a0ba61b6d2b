"""One error hierarchy for everything the ledger refuses.

Every error names the field it is about and the reason, and carries the ids and amounts that
explain it in ``context``. Entry points (CLI, consumers) render these; they never show a stack
trace to a user.
"""

from __future__ import annotations

from typing import Any

import structlog


class LedgerError(Exception):
    """Base of every refusal. ``code`` is stable and machine-readable."""

    code = "ledger_error"

    def __init__(self, field: str, reason: str, **context: Any) -> None:
        self.field = field
        self.reason = reason
        self.context = context
        super().__init__(f"{field}: {reason}")

    def as_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "field": self.field,
            "reason": self.reason,
            "context": {key: _plain(value) for key, value in self.context.items()},
        }


def _plain(value: Any) -> Any:
    if isinstance(value, (str, int, bool)) or value is None:
        return value
    return str(value)


class InvalidInput(LedgerError):
    """A value that can never be right: negative wage, fraction of a fen, unknown level."""

    code = "invalid_input"


class UnknownPerson(LedgerError):
    code = "unknown_person"


class UnknownRegion(LedgerError):
    code = "unknown_region"


class PolicyError(LedgerError):
    """No policy in force, or a policy that breaks its own rules."""

    code = "policy_error"


class DeclaredTotalMismatch(LedgerError):
    code = "declared_total_mismatch"


class DuplicateBusinessId(LedgerError):
    """The same business id (remittance id, claim id...) was sent with a different payload."""

    code = "duplicate_business_id"


class InsufficientBalance(LedgerError):
    code = "insufficient_balance"


class ForbiddenExpenditure(LedgerError):
    """The fund may not pay this (agency running costs, balancing a government budget...)."""

    code = "forbidden_expenditure"


class ScopeViolation(LedgerError):
    """The pooled fund and the personal accounts may not pay each other's items (不得互相挤占)."""

    code = "scope_violation"


class CeilingExceeded(LedgerError):
    code = "ceiling_exceeded"


class AccountClosed(LedgerError):
    code = "account_closed"


class PeriodClosed(LedgerError):
    code = "period_closed"


class TransferMismatch(LedgerError):
    code = "transfer_mismatch"


class DateOutOfWindow(LedgerError):
    """A date outside the window the region's policy allows (``ledger.bounds``)."""

    code = "date_out_of_window"


class ImplausibleAmount(LedgerError):
    """An amount above the region's plausibility limit for it (``ledger.bounds``)."""

    code = "implausible_amount"


class UnknownClaim(LedgerError):
    """A correction of a claim the ledger has not settled (yet: it may still be on its way)."""

    code = "unknown_claim"


class UnknownTransfer(LedgerError):
    """A transfer-in whose transfer-out has not been recorded (yet: it may still be on its way)."""

    code = "unknown_transfer"


class DuplicateContribution(LedgerError):
    """A person's contribution for a period is already recorded: a second line for the same
    (person, period) is refused; a correction or a late payment is its own message."""

    code = "duplicate_contribution"


class PayerMismatch(LedgerError):
    """A remittance line paid by someone other than the person's employer of record (or
    re-employment service centre) for the period; a change of employer is recorded first."""

    code = "payer_mismatch"


class LateContribution(LedgerError):
    """Contributions received after their due date as an ordinary remittance (they are a late
    payment, with its late fee), or a late payment that is not late."""

    code = "late_contribution"


class PooledFundShortfall(LedgerError):
    """The pooled fund cannot cover a payment: it never goes below zero (Liao 1999 §II(4),
    不得互相挤占: it may not pay with the money that backs the personal accounts)."""

    code = "pooled_fund_shortfall"


class UnknownBeneficiary(LedgerError):
    """A special group's memo fund pays only the people registered with it (Liao 1999 §II(6))."""

    code = "unknown_beneficiary"


class NotDesignated(LedgerError):
    """A claim from a hospital or pharmacy the region has not designated (Liao 1999 §III(2))."""

    code = "not_designated"


class SnapshotUnusable(Exception):
    """A stored snapshot the ledger will not load from (its aggregate is folded from its events
    instead): ``reason`` is ``unreadable`` (its key destroyed, or no keys in this process) or
    ``outdated`` (taken before an attribute existed), or ``unsealed``, ``altered`` or ``malformed``
    (not what the ledger wrote: logged as an error)."""

    def __init__(self, reason: str, detail: str, **context: Any) -> None:
        super().__init__(f"snapshot not used ({reason}): {detail}")
        self.reason = reason
        self.context = context

    @classmethod
    def of(cls, error: Exception, originator_id: object, version: int) -> SnapshotUnusable:
        """``error``, raised reading a snapshot, as a refusal (a snapshot that does not even
        decode is not what the ledger wrote either)."""
        if isinstance(error, SnapshotUnusable):
            return error
        return cls("malformed", f"{type(error).__name__}: {error}"[:200], originator_id=str(originator_id), version=version)

    def log(self) -> None:
        log = structlog.get_logger().bind(reason=self.reason, **self.context)
        if self.reason in ("unreadable", "outdated"):
            log.info("snapshot_not_used")
        else:
            log.error("snapshot_refused", detail=str(self))
