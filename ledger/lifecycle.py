"""The fund's lifecycle: interest, year-end close, transfers between regions, cross-region
settlement, death and inheritance, the other income and expenditure lines, the two-line bank
movements, memo funds and budgets.

Part of ``Ledger``: each public method is a use case taking the command of the same name in
``ledger.commands`` and an optional unit of work, saving atomically like the core use cases.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from eventsourcing.utils import get_topic

from ledger import accounts as acc
from ledger.aggregates import (
    Budget,
    BusinessRecord,
    ClearingPosition,
    InterestRateBook,
    MemoFund,
    PersonalAccount,
    PooledFund,
    Transfer,
)
from ledger.commands import (
    AnnounceInterestRates,
    CloseYear,
    Enrol,
    MoveBetweenBankAccounts,
    PostInterest,
    RecordDeath,
    RecordExpenditure,
    RecordIncome,
    ReverseClaim,
    SetBudget,
    SettleClearing,
    SettleCrossRegion,
    TransferIn,
    TransferOut,
    check_fen,
    check_text,
    fingerprint,
)
from ledger.core import CoreLedger
from ledger.errors import (
    ForbiddenExpenditure,
    InvalidInput,
    PolicyError,
    ScopeViolation,
    TransferMismatch,
    UnknownClaim,
    UnknownTransfer,
)
from ledger.interest import Rates, deposit_interest, personal_account_interest

if TYPE_CHECKING:
    from ledger.unit_of_work import UnitOfWork

NATIONAL = "000000"

INCOME_ITEMS_POOLED = {
    "fiscal_subsidy": acc.INCOME_FISCAL_SUBSIDY,
    "upper_level_subsidy": acc.INCOME_UPPER_LEVEL_SUBSIDY,
    "lower_level_remittance": acc.INCOME_LOWER_LEVEL_REMITTANCE,
    "interest": acc.INCOME_INTEREST,
    "late_fees": acc.INCOME_OTHER,
    "other": acc.INCOME_OTHER,
}
INCOME_ITEMS_MEMO = {"fiscal_subsidy": acc.INCOME_FISCAL_SUBSIDY, "contribution": acc.INCOME_CONTRIBUTION, "other": acc.INCOME_OTHER}
EXPENDITURE_ITEMS_POOLED = {
    "subsidy_to_lower_levels": acc.EXPENDITURE_SUBSIDY_TO_LOWER,
    "remittance_to_upper_level": acc.EXPENDITURE_REMITTANCE_TO_UPPER,
    "other": acc.EXPENDITURE_OTHER,
}
EXPENDITURE_ITEMS_MEMO = {"benefit": acc.EXPENDITURE_MEMO_BENEFIT, "other": acc.EXPENDITURE_OTHER}
# Liao 1999 §II(5): the fund pays only medical benefits and permitted transfers.
FORBIDDEN_EXPENDITURE = {
    "agency_running_costs": "the agency's running costs are paid from the government budget, never from the fund (Liao 1999 §II(5)3)",
    "government_budget_balancing": "the fund may not be used to balance a government budget (Liao 1999 §II(5)1)",
    "staff_costs": "the agency's staff costs are paid from the government budget, never from the fund (Liao 1999 §II(5)3)",
    "construction": "the fund pays only medical benefits and permitted transfers (Liao 1999 §II(5)1)",
}
BANK_MOVES = {
    "income_to_fiscal_special": (acc.BANK_FISCAL_SPECIAL, acc.BANK_INCOME),
    "fiscal_special_to_expenditure": (acc.BANK_EXPENDITURE, acc.BANK_FISCAL_SPECIAL),
    "expenditure_to_fiscal_special": (acc.BANK_FISCAL_SPECIAL, acc.BANK_EXPENDITURE),  # e.g. its bank interest
    "pay_hospitals": (acc.PAYABLE_HOSPITALS, acc.BANK_EXPENDITURE),
}


def _rate(field: str, text: str) -> Decimal:
    try:
        rate = Decimal(text)
    except (InvalidOperation, TypeError):
        raise InvalidInput(field, f"must be a decimal rate such as '0.0035', got {text!r}", value=text) from None
    if not (Decimal(0) <= rate < Decimal(1)):
        raise InvalidInput(field, f"must be between 0 and 1, got {text}", value=text)
    return rate


class LifecycleUseCases(CoreLedger):
    # ------------------------------------------------------------------ interest rates
    def announce_interest_rates(self, command: AnnounceInterestRates, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """Record announced deposit rates (demand, 3-month time, 3-year lump-sum) in force from
        ``effective_from``: data, never constants, so a replay uses the rates of the time."""
        return self._run(unit, self._announce_interest_rates, command)  # type: ignore[no-any-return]

    def _announce_interest_rates(self, unit: UnitOfWork, command: AnnounceInterestRates) -> dict[str, Any]:
        check_text("announcement_id", command.announcement_id)
        rates = {name: _rate(name, getattr(command, name)) for name in ("demand_rate", "three_month_rate", "three_year_rate")}
        digest = fingerprint(command)
        first = self._first_outcome(unit, "rates", NATIONAL, command.announcement_id, digest, "announcement_id")
        if first is not None:
            return first
        book = unit.find(InterestRateBook.id_for(), InterestRateBook)
        if book is None:
            book = InterestRateBook._create(InterestRateBook.Opened, id=InterestRateBook.id_for())
            unit.add(book)
        if any(a["effective_from"] == command.effective_from for a in book.announcements):
            raise InvalidInput("effective_from", f"rates effective from {command.effective_from} were already announced", effective_from=command.effective_from)
        book.trigger_event(InterestRateBook.RatesAnnounced, announcement_id=command.announcement_id,
                           effective_from=command.effective_from, **rates)
        outcome = {"announcement_id": command.announcement_id, "effective_from": command.effective_from.isoformat(),
                   **{name: str(rate) for name, rate in rates.items()}}
        return self._record_outcome(unit, "rates", NATIONAL, command.announcement_id, digest, command.effective_from, outcome)

    def announced_rates(self, unit: UnitOfWork | None = None) -> list[Rates]:
        book = (unit or self._new_unit()).find(InterestRateBook.id_for(), InterestRateBook)
        if book is None:
            return []
        return [Rates(a["effective_from"], a["demand_rate"], a["three_month_rate"], a["three_year_rate"]) for a in book.announcements]

    def _new_unit(self) -> UnitOfWork:
        from ledger.unit_of_work import UnitOfWork

        return UnitOfWork(self)

    # ------------------------------------------------------------------ interest posting
    def post_interest(self, command: PostInterest, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """Post a year's interest by the three-rate rule (``ledger.interest``), credited on 31
        December: each personal account first (current-year money at the demand rate, carried
        over at the 3-month rate), then the rest of the interest the region's deposits earned
        (income and expenditure accounts at the demand rate, fiscal special account at the
        3-year rate) to the pooled fund. Each posting records its basis. Posting the same year
        twice has no second effect."""
        return self._run(unit, self._post_interest, command)  # type: ignore[no-any-return]

    def _post_interest(self, unit: UnitOfWork, command: PostInterest) -> dict[str, Any]:
        digest = fingerprint(command)
        key = str(command.year)
        first = self._first_outcome(unit, "interest", command.region, key, digest, "year")
        if first is not None:
            return first
        start, end_exclusive, on = date(command.year, 1, 1), date(command.year + 1, 1, 1), date(command.year, 12, 31)
        book = self._book(unit, command.region)
        book.check_open(on, "year")
        day_basis = book.in_force(on).interest_day_basis
        announced = self.announced_rates(unit)
        if not announced or min(r.effective_from for r in announced) > start:
            raise PolicyError("year", f"no interest rates announced in force on {start}", year=command.year)
        personal_total_fen = credited = 0
        people = self._people_of(unit, command.region)
        unit.prefetch(PersonalAccount.id_for(command.region, person_id) for person_id in people)
        for person_id in people:
            account = self._account(unit, command.region, person_id)
            if account.is_closed:
                continue
            result = personal_account_interest(account.movements, announced, start, end_exclusive, day_basis)
            if result.interest_fen <= 0:
                continue
            account.record_money(
                PersonalAccount.InterestCredited,
                acc.entry(*acc.transfer(acc.CLEARING_PERSONAL_ACCOUNTS, acc.FUND_PERSONAL, result.interest_fen,
                                        credit_item=acc.INCOME_INTEREST, credit_person_id=person_id, origin=acc.ORIGIN_INTEREST)),
                on=on, origin=acc.ORIGIN_INTEREST, year=command.year, interest_fen=result.interest_fen, basis=result.segments,
            )
            personal_total_fen += result.interest_fen
            credited += 1
        fund = unit.get(PooledFund.id_for(command.region), PooledFund)
        bank_interest: dict[str, Any] = {}
        for account_name, rate_name in ((acc.BANK_INCOME, "demand_rate"), (acc.BANK_EXPENDITURE, "demand_rate"),
                                        (acc.BANK_FISCAL_SPECIAL, "three_year_rate")):
            movements = fund.bank_movements.get(account_name, [])
            bank_interest[account_name] = deposit_interest(movements, announced, start, end_exclusive, day_basis, rate_name)
        bank_total_fen = sum(result.interest_fen for result in bank_interest.values())
        pooled_fen = bank_total_fen - personal_total_fen
        # The accounts are credited first. When they earn more than the deposits did (carried-
        # over money earns the 3-month rate, the banks the demand rate), the pooled fund makes
        # up the difference: an internal transfer, not negative interest income.
        pooled_posting = (acc.Posting(acc.FUND_POOLED, -pooled_fen, acc.INCOME_INTEREST) if pooled_fen >= 0
                          else acc.Posting(acc.FUND_POOLED, -pooled_fen, acc.TRANSFER_INTEREST_TO_PERSONAL_ACCOUNTS))
        fund.record_money(
            PooledFund.InterestPosted,
            acc.entry(
                *(acc.Posting(name, result.interest_fen) for name, result in bank_interest.items()),
                pooled_posting,
                acc.Posting(acc.CLEARING_PERSONAL_ACCOUNTS, -personal_total_fen),
            ),
            on=on, year=command.year, bank_interest_fen=bank_total_fen, personal_accounts_fen=personal_total_fen,
            pooled_fen=pooled_fen, basis={name: result.segments for name, result in bank_interest.items()},
        )
        outcome = {"region": command.region, "year": command.year, "accounts_credited": credited,
                   "personal_accounts_fen": personal_total_fen, "bank_interest_fen": bank_total_fen, "pooled_fen": pooled_fen}
        return self._record_outcome(unit, "interest", command.region, key, digest, on, outcome)

    def _people_of(self, unit: UnitOfWork, region: str) -> list[str]:
        """Everyone enrolled in ``region``: stored, and enrolled earlier in this unit of work."""
        people = self.person_ids(region)
        known = set(people)
        for aggregate in list(unit.aggregates.values()):
            if isinstance(aggregate, PersonalAccount) and aggregate.region == region and aggregate.person_id not in known:
                people.append(aggregate.person_id)
                known.add(aggregate.person_id)
        return people

    def _settle_accrued_interest(self, unit: UnitOfWork, account: PersonalAccount, on: date) -> int:
        """An account that closes during the year (death, transfer out) is paid the interest it
        earned this year up to the day before ``on`` (销户结息), by the same three-rate rule. The
        pooled fund advances it; at the year end the deposits' interest goes to the pooled fund
        less the accounts' year-end credits. No rates announced: nothing accrues."""
        start = date(on.year, 1, 1)
        announced = self.announced_rates(unit)
        if on <= start or not announced or min(r.effective_from for r in announced) > start:
            return 0
        day_basis = self._book(unit, account.region).in_force(on).interest_day_basis
        result = personal_account_interest(account.movements, announced, start, on, day_basis)
        if result.interest_fen <= 0:
            return 0
        account.record_money(
            PersonalAccount.InterestCredited,
            acc.entry(*acc.transfer(acc.CLEARING_PERSONAL_ACCOUNTS, acc.FUND_PERSONAL, result.interest_fen,
                                    credit_item=acc.INCOME_INTEREST, credit_person_id=account.person_id, origin=acc.ORIGIN_INTEREST)),
            on=on, origin=acc.ORIGIN_INTEREST, year=on.year, interest_fen=result.interest_fen, basis=result.segments,
        )
        unit.get(PooledFund.id_for(account.region), PooledFund).record_money(
            PooledFund.PersonalAccountsSettled,
            acc.entry(*acc.transfer(acc.FUND_POOLED, acc.CLEARING_PERSONAL_ACCOUNTS, result.interest_fen,
                                    debit_item=acc.TRANSFER_INTEREST_TO_PERSONAL_ACCOUNTS)),
            on=on, reference=f"accrued-interest/{account.person_id}", kind="accrued_interest", amount_fen=result.interest_fen,
        )
        return result.interest_fen

    def person_ids(self, region: str) -> list[str]:
        """Everyone ever enrolled in ``region``, in enrolment order (from the event log)."""
        topic = get_topic(PersonalAccount.Enrolled)
        found: list[str] = []
        position = 1
        while True:
            notifications = self.recorder.select_notifications(start=position, limit=5000, topics=[topic])
            if not notifications:
                return found
            for notification in notifications:
                event = self.mapper.to_domain_event(notification)
                if event.region == region:  # type: ignore[attr-defined]
                    found.append(event.person_id)  # type: ignore[attr-defined]
            position = notifications[-1].id + 1

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

    # ------------------------------------------------------------------ transfers between regions
    def transfer_out(self, command: TransferOut, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """Social Insurance Law art. 32: the person's whole balance leaves with them. The old
        region debits the account and holds the money in transit (``transit.transfers_out``)
        until the new region confirms the transfer-in; the account closes here."""
        return self._run(unit, self._transfer_out, command)  # type: ignore[no-any-return]

    def _transfer_out(self, unit: UnitOfWork, command: TransferOut) -> dict[str, Any]:
        for field in ("region", "transfer_id", "person_id", "to_region"):
            check_text(field, getattr(command, field))
        if command.to_region == command.region:
            raise InvalidInput("to_region", "a transfer must go to another region", region=command.region)
        digest = fingerprint(command)
        first = self._first_outcome(unit, "transfer-out", command.region, command.transfer_id, digest, "transfer_id")
        if first is not None:
            return first
        self._book(unit, command.region).check_open(command.on)
        account = self._account(unit, command.region, command.person_id)
        account.check_open()
        self._settle_accrued_interest(unit, account, command.on)
        amount_fen, months = account.balance_fen, account.contribution_months
        account.record_money(
            PersonalAccount.TransferredOut,
            acc.entry(*acc.transfer(acc.FUND_PERSONAL, acc.CLEARING_PERSONAL_ACCOUNTS, amount_fen,
                                    debit_item=acc.EXPENDITURE_TRANSFER_OUT, debit_person_id=account.person_id)),
            on=command.on, origin="transfer", transfer_id=command.transfer_id, to_region=command.to_region, amount_fen=amount_fen,
        )
        unit.get(PooledFund.id_for(command.region), PooledFund).record_money(
            PooledFund.PersonalAccountsSettled,
            acc.entry(*acc.transfer(acc.CLEARING_PERSONAL_ACCOUNTS, acc.TRANSIT_TRANSFERS_OUT, amount_fen)),
            on=command.on, reference=command.transfer_id, kind="transfer_out", amount_fen=amount_fen,
        )
        unit.add(Transfer._create(
            Transfer.Started, id=Transfer.id_for(command.transfer_id), transfer_id=command.transfer_id,
            person_id=command.person_id, from_region=command.region, to_region=command.to_region, amount_fen=amount_fen,
            contribution_months=months, birth_date=account.birth_date, category=account.category, on=command.on,
        ))
        outcome = {"transfer_id": command.transfer_id, "person_id": command.person_id, "from_region": command.region,
                   "to_region": command.to_region, "amount_fen": amount_fen, "contribution_months": months}
        return self._record_outcome(unit, "transfer-out", command.region, command.transfer_id, digest, command.on, outcome)

    def transfer_in(self, command: TransferIn, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """Land a transfer in the new region. It must match a recorded transfer-out: same
        person, regions, amount and contribution months; otherwise it is refused (a transfer-in
        that arrives before its transfer-out is refused too, and can be sent again later). The
        old region pays the money in transit from its expenditure account; the new region
        receives it in its income account and credits the account (origin: transfer in)."""
        return self._run(unit, self._transfer_in, command)  # type: ignore[no-any-return]

    def _transfer_in(self, unit: UnitOfWork, command: TransferIn) -> dict[str, Any]:
        check_fen("amount_fen", command.amount_fen)
        digest = fingerprint(command)
        first = self._first_outcome(unit, "transfer-in", command.region, command.transfer_id, digest, "transfer_id")
        if first is not None:
            return first
        transfer = unit.find(Transfer.id_for(command.transfer_id), Transfer)
        if transfer is None:
            raise UnknownTransfer("transfer_id", f"no transfer-out {command.transfer_id!r} has been recorded", transfer_id=command.transfer_id)
        expected = {"region": transfer.to_region, "from_region": transfer.from_region, "person_id": transfer.person_id,
                    "amount_fen": transfer.amount_fen, "contribution_months": transfer.contribution_months}
        for field, value in expected.items():
            if getattr(command, field) != value:
                raise TransferMismatch(field, f"the transfer-out says {value!r}, the transfer-in {getattr(command, field)!r}",
                                       transfer_id=command.transfer_id, expected=value, got=getattr(command, field))
        if transfer.landed_on is not None:
            raise TransferMismatch("transfer_id", f"transfer {command.transfer_id!r} already landed on {transfer.landed_on}", transfer_id=command.transfer_id)
        self._book(unit, command.region).check_open(command.on)
        account = unit.find(PersonalAccount.id_for(command.region, command.person_id), PersonalAccount)
        if account is not None and account.is_closed:
            account.reopen_on_return(command.on, command.transfer_id)
        if account is None:
            self._enrol(unit, Enrol(command.region, command.person_id, transfer.category, transfer.birth_date,
                                    command.employer_id, command.on))
            account = self._account(unit, command.region, command.person_id)
        account.record_money(
            PersonalAccount.TransferredIn,
            acc.entry(*acc.transfer(acc.CLEARING_PERSONAL_ACCOUNTS, acc.FUND_PERSONAL, command.amount_fen,
                                    credit_item=acc.INCOME_TRANSFER_IN, credit_person_id=command.person_id, origin=acc.ORIGIN_TRANSFER_IN)),
            on=command.on, origin=acc.ORIGIN_TRANSFER_IN, transfer_id=command.transfer_id, from_region=command.from_region,
            amount_fen=command.amount_fen, contribution_months=command.contribution_months,
        )
        unit.get(PooledFund.id_for(command.region), PooledFund).record_money(
            PooledFund.PersonalAccountsSettled,
            acc.entry(*acc.transfer(acc.BANK_INCOME, acc.CLEARING_PERSONAL_ACCOUNTS, command.amount_fen)),
            on=command.on, reference=command.transfer_id, kind="transfer_in", amount_fen=command.amount_fen,
        )
        origin_fund = unit.find(PooledFund.id_for(command.from_region), PooledFund)
        if origin_fund is not None:  # the old region keeps its books on this ledger: pay out the transit
            # ... dated in its open period: a closed year's books do not change.
            origin_book = self._book(unit, command.from_region)
            paid_on = max(command.on, date(origin_book.last_closed_year + 1, 1, 1))
            origin_fund.record_money(
                PooledFund.PersonalAccountsSettled,
                acc.entry(*acc.transfer(acc.TRANSIT_TRANSFERS_OUT, acc.BANK_EXPENDITURE, command.amount_fen)),
                on=paid_on, reference=command.transfer_id, kind="transfer_paid", amount_fen=command.amount_fen,
            )
        transfer.trigger_event(Transfer.Landed, on=command.on)
        outcome = {"transfer_id": command.transfer_id, "person_id": command.person_id, "amount_fen": command.amount_fen,
                   "contribution_months_total": account.contribution_months}
        return self._record_outcome(unit, "transfer-in", command.region, command.transfer_id, digest, command.on, outcome)

    # ------------------------------------------------------------------ cross-region settlement
    def settle_cross_region(self, command: SettleCrossRegion, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """Cross-region direct settlement (seed 000, Beijing-Tianjin-Hebei): a person of the home
        region treated in the treating region. The bill is settled under the home region's
        policy, against the person's home account and ceiling; the treating region owes its
        hospital and the home region owes the treating region (``clearing.region.*``)."""
        return self._run(unit, self._settle_cross_region, command)  # type: ignore[no-any-return]

    def _settle_cross_region(self, unit: UnitOfWork, command: SettleCrossRegion) -> dict[str, Any]:
        from ledger.commands import SettleInpatient

        SettleInpatient(command.home_region, command.claim_id, command.person_id, command.hospital_level, command.admitted_on,
                        command.discharged_on, command.total_cost_fen, command.excluded_fen).check()
        if command.treating_region == command.home_region:
            raise InvalidInput("treating_region", "is the home region: use an ordinary inpatient claim", region=command.home_region)
        self._book(unit, command.treating_region).check_open(command.discharged_on, "discharged_on")
        return self._settle_bill(unit, command, command.home_region, treating_region=command.treating_region)

    def clearing_owed_fen(self, creditor_region: str, debtor_region: str) -> int:
        position = self._new_unit().find(ClearingPosition.id_for(creditor_region, debtor_region), ClearingPosition)
        return 0 if position is None else position.owed_fen

    def settle_clearing(self, command: SettleClearing, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """The debtor region pays the creditor region what it owes for cross-region bills: out of
        the payer's expenditure account into the payee's income account. No more than is owed."""
        return self._run(unit, self._settle_clearing, command)  # type: ignore[no-any-return]

    def _settle_clearing(self, unit: UnitOfWork, command: SettleClearing) -> dict[str, Any]:
        check_fen("amount_fen", command.amount_fen, allow_zero=False)
        digest = fingerprint(command)
        first = self._first_outcome(unit, "clearing", command.payer_region, command.clearing_id, digest, "clearing_id")
        if first is not None:
            return first
        for region in (command.payer_region, command.payee_region):
            self._book(unit, region).check_open(command.on)
        position = unit.find(ClearingPosition.id_for(command.payee_region, command.payer_region), ClearingPosition)
        owed_fen = 0 if position is None else position.owed_fen
        if position is None or command.amount_fen > owed_fen:
            raise InvalidInput("amount_fen", f"{command.payer_region} owes {command.payee_region} {owed_fen} fen, not {command.amount_fen}",
                               owed_fen=owed_fen, amount_fen=command.amount_fen)
        unit.get(PooledFund.id_for(command.payer_region), PooledFund).record_money(
            PooledFund.ClearingSettled,
            acc.entry(*acc.transfer(acc.region_clearing_account(command.payee_region), acc.BANK_EXPENDITURE, command.amount_fen)),
            on=command.on, clearing_id=command.clearing_id, counterparty_region=command.payee_region, amount_fen=command.amount_fen,
        )
        unit.get(PooledFund.id_for(command.payee_region), PooledFund).record_money(
            PooledFund.ClearingSettled,
            acc.entry(*acc.transfer(acc.BANK_INCOME, acc.region_clearing_account(command.payer_region), command.amount_fen)),
            on=command.on, clearing_id=command.clearing_id, counterparty_region=command.payer_region, amount_fen=command.amount_fen,
        )
        position.trigger_event(ClearingPosition.Settled, on=command.on, clearing_id=command.clearing_id, amount_fen=command.amount_fen)
        outcome = {"clearing_id": command.clearing_id, "amount_fen": command.amount_fen, "still_owed_fen": position.owed_fen}
        return self._record_outcome(unit, "clearing", command.payer_region, command.clearing_id, digest, command.on, outcome)

    # ------------------------------------------------------------------ corrections
    def reverse_claim(self, command: ReverseClaim, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """Correct a claim settled earlier by reversing it with new events dated ``on`` (the
        claim's own events are never changed, and its year may be closed): the personal account
        gets back what it paid, the pooled fund what it paid, the hospital is owed that much
        less, and an inpatient claim no longer counts towards its year's admissions and ceiling.
        A claim is reversed at most once; settled across regions, it is corrected through the
        clearing instead."""
        return self._run(unit, self._reverse_claim, command)  # type: ignore[no-any-return]

    def _reverse_claim(self, unit: UnitOfWork, command: ReverseClaim) -> dict[str, Any]:
        check_text("correction_id", command.correction_id)
        check_text("reason", command.reason, 200)
        digest = fingerprint(command)
        first = self._first_outcome(unit, "reversal", command.region, command.claim_id, digest, "claim_id")
        if first is not None:
            return first
        self._book(unit, command.region).check_open(command.on)
        record = unit.find(BusinessRecord.id_for("claim", command.region, command.claim_id), BusinessRecord)
        if record is None:
            raise UnknownClaim("claim_id", f"no claim {command.claim_id!r} was settled in region {command.region}", claim_id=command.claim_id)
        claim = record.outcome
        if command.person_id is not None and command.person_id != claim["person_id"]:
            raise InvalidInput("person_id", f"claim {command.claim_id!r} is {claim['person_id']!r}'s, not {command.person_id!r}'s",
                               claim_id=command.claim_id, person_id=command.person_id)
        if claim.get("treating_region", command.region) != command.region:
            raise InvalidInput("claim_id", "a claim settled across regions is corrected through the clearing between the regions",
                               claim_id=command.claim_id)
        inpatient = claim["kind"] == "inpatient"
        account_fen, pooled_fen = claim["account_fen"], claim.get("pooled_fen", 0)
        item = {"outpatient": acc.EXPENDITURE_OUTPATIENT, "pharmacy": acc.EXPENDITURE_PHARMACY}.get(claim["kind"], acc.EXPENDITURE_INPATIENT_SELF_PAY)
        account = self._account(unit, command.region, claim["person_id"])
        account.record_money(
            PersonalAccount.ClaimReversed,
            acc.entry(*acc.transfer(acc.PAYABLE_HOSPITALS, acc.FUND_PERSONAL, account_fen, credit_item=item, credit_person_id=account.person_id)),
            on=command.on, origin="claim_reversal", claim_id=command.claim_id, correction_id=command.correction_id,
            year=int(claim.get("year", record.on.year)), pooled_fen=pooled_fen, account_fen=account_fen, was_inpatient=inpatient,
        )
        if pooled_fen:
            unit.get(PooledFund.id_for(command.region), PooledFund).record_money(
                PooledFund.InpatientBenefitReversed,
                acc.entry(*acc.transfer(acc.PAYABLE_HOSPITALS, acc.FUND_POOLED, pooled_fen, credit_item=acc.EXPENDITURE_INPATIENT)),
                on=command.on, claim_id=command.claim_id, correction_id=command.correction_id, pooled_fen=pooled_fen,
            )
        person = claim["person_id"]
        memo = acc.entry(
            *acc.transfer(acc.MEMO_HOSPITAL_CHARGES_OUTSIDE_FUND, acc.MEMO_PATIENT_OUT_OF_POCKET, claim.get("out_of_pocket_fen", 0), person_id=person),
            *acc.transfer(acc.MEMO_HOSPITAL_CHARGES_OUTSIDE_FUND, acc.MEMO_REFERRED_ABOVE_CEILING, claim.get("above_ceiling_fen", 0), person_id=person),
        )
        outcome = {"correction_id": command.correction_id, "claim_id": command.claim_id, "person_id": person,
                   "account_refund_fen": account_fen, "pooled_refund_fen": pooled_fen, "reason": command.reason}
        return self._record_outcome(unit, "reversal", command.region, command.claim_id, digest, command.on, outcome, memo)

    # ------------------------------------------------------------------ death and inheritance
    def record_death(self, command: RecordDeath, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """Liao 1999 §II(3): the principal and interest of a personal account belong to the
        person and are inherited. The balance is paid to the heirs from the expenditure account
        and the account is closed; later postings to it are refused."""
        return self._run(unit, self._record_death, command)  # type: ignore[no-any-return]

    def _record_death(self, unit: UnitOfWork, command: RecordDeath) -> dict[str, Any]:
        check_text("heirs_reference", command.heirs_reference, 200)
        digest = fingerprint(command)
        first = self._first_outcome(unit, "death", command.region, command.person_id, digest, "person_id")
        if first is not None:
            return first
        self._book(unit, command.region).check_open(command.died_on, "died_on")
        account = self._account(unit, command.region, command.person_id)
        account.check_open()
        self._settle_accrued_interest(unit, account, command.died_on)
        amount_fen = account.balance_fen
        account.record_money(
            PersonalAccount.Inherited,
            acc.entry(*acc.transfer(acc.FUND_PERSONAL, acc.CLEARING_PERSONAL_ACCOUNTS, amount_fen,
                                    debit_item=acc.EXPENDITURE_INHERITANCE, debit_person_id=account.person_id)),
            on=command.died_on, origin="inheritance", died_on=command.died_on, heirs_reference=command.heirs_reference, amount_fen=amount_fen,
        )
        unit.get(PooledFund.id_for(command.region), PooledFund).record_money(
            PooledFund.PersonalAccountsSettled,
            acc.entry(*acc.transfer(acc.CLEARING_PERSONAL_ACCOUNTS, acc.BANK_EXPENDITURE, amount_fen)),
            on=command.died_on, reference=f"inheritance/{command.person_id}", kind="inheritance", amount_fen=amount_fen,
        )
        outcome = {"person_id": command.person_id, "paid_to_heirs_fen": amount_fen, "heirs_reference": command.heirs_reference}
        return self._record_outcome(unit, "death", command.region, command.person_id, digest, command.died_on, outcome)

    # ------------------------------------------------------------------ other income and expenditure
    def record_income(self, command: RecordIncome, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """Income other than contributions, into the income account: fiscal subsidy (pooled fund
        only), subsidy from the upper level, remittance from lower levels, bank interest, late
        fees and other income; or a memo fund's own income, on its own accounts."""
        return self._run(unit, self._record_income, command)  # type: ignore[no-any-return]

    def _record_income(self, unit: UnitOfWork, command: RecordIncome) -> dict[str, Any]:
        check_text("income_id", command.income_id)
        check_fen("amount_fen", command.amount_fen, allow_zero=False)
        digest = fingerprint(command)
        first = self._first_outcome(unit, "income", command.region, command.income_id, digest, "income_id")
        if first is not None:
            return first
        self._book(unit, command.region).check_open(command.on)
        if command.fund == "pooled":
            item = INCOME_ITEMS_POOLED.get(command.item)
            if item is None:
                raise InvalidInput("item", f"not an income item of the pooled fund: {command.item!r} (one of {', '.join(INCOME_ITEMS_POOLED)})")
            unit.get(PooledFund.id_for(command.region), PooledFund).record_money(
                PooledFund.IncomeRecorded, acc.entry(*acc.transfer(acc.BANK_INCOME, acc.FUND_POOLED, command.amount_fen, credit_item=item)),
                on=command.on, income_id=command.income_id, item=item, amount_fen=command.amount_fen,
            )
        elif command.fund in acc.MEMO_FUND_NAMES:
            item = INCOME_ITEMS_MEMO.get(command.item)
            if item is None:
                raise InvalidInput("item", f"not an income item of a memo fund: {command.item!r} (one of {', '.join(INCOME_ITEMS_MEMO)})")
            self._memo_fund(unit, command.region, command.fund).record_money(
                MemoFund.IncomeRecorded,
                acc.entry(*acc.transfer(acc.memo_bank_account(command.fund), acc.memo_fund_account(command.fund), command.amount_fen, credit_item=item)),
                on=command.on, reference=command.income_id, item=item, amount_fen=command.amount_fen,
            )
        elif command.fund == "personal":
            raise ScopeViolation("fund", "personal accounts receive only contributions, interest and transfers; fiscal subsidy and other income go to the pooled fund")
        else:
            raise InvalidInput("fund", f"unknown fund {command.fund!r}: 'pooled' or a memo fund ({', '.join(acc.MEMO_FUND_NAMES)})")
        outcome = {"income_id": command.income_id, "fund": command.fund, "item": item, "amount_fen": command.amount_fen}
        return self._record_outcome(unit, "income", command.region, command.income_id, digest, command.on, outcome)

    def record_expenditure(self, command: RecordExpenditure, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """Expenditure other than benefits, from the expenditure account: subsidy to lower
        levels, remittance to the upper level, other permitted expenditure; a memo fund's own
        expenditure. Anything else — the agency's running costs, balancing a budget — is
        refused (Liao 1999 §II(5))."""
        return self._run(unit, self._record_expenditure, command)  # type: ignore[no-any-return]

    def _record_expenditure(self, unit: UnitOfWork, command: RecordExpenditure) -> dict[str, Any]:
        check_text("expenditure_id", command.expenditure_id)
        check_fen("amount_fen", command.amount_fen, allow_zero=False)
        if command.item in FORBIDDEN_EXPENDITURE:
            raise ForbiddenExpenditure("item", FORBIDDEN_EXPENDITURE[command.item], item=command.item, region=command.region)
        digest = fingerprint(command)
        first = self._first_outcome(unit, "expenditure", command.region, command.expenditure_id, digest, "expenditure_id")
        if first is not None:
            return first
        self._book(unit, command.region).check_open(command.on)
        if command.fund == "pooled":
            item = EXPENDITURE_ITEMS_POOLED.get(command.item)
            if item is None:
                raise ForbiddenExpenditure("item", f"{command.item!r} is not a permitted expenditure of the pooled fund (one of {', '.join(EXPENDITURE_ITEMS_POOLED)}; benefits go through claims)", item=command.item)
            unit.get(PooledFund.id_for(command.region), PooledFund).record_money(
                PooledFund.ExpenditureRecorded, acc.entry(*acc.transfer(acc.FUND_POOLED, acc.BANK_EXPENDITURE, command.amount_fen, debit_item=item)),
                on=command.on, expenditure_id=command.expenditure_id, item=item, amount_fen=command.amount_fen,
            )
        elif command.fund in acc.MEMO_FUND_NAMES:
            item = EXPENDITURE_ITEMS_MEMO.get(command.item)
            if item is None:
                raise ForbiddenExpenditure("item", f"{command.item!r} is not a permitted expenditure of a memo fund (one of {', '.join(EXPENDITURE_ITEMS_MEMO)})", item=command.item)
            self._memo_fund(unit, command.region, command.fund).record_money(
                MemoFund.ExpenditureRecorded,
                acc.entry(*acc.transfer(acc.memo_fund_account(command.fund), acc.memo_bank_account(command.fund), command.amount_fen, debit_item=item)),
                on=command.on, reference=command.expenditure_id, item=item, amount_fen=command.amount_fen,
            )
        elif command.fund == "personal":
            raise ScopeViolation("fund", "personal accounts pay only their holders' medical costs, transfers and inheritance")
        else:
            raise InvalidInput("fund", f"unknown fund {command.fund!r}: 'pooled' or a memo fund ({', '.join(acc.MEMO_FUND_NAMES)})")
        outcome = {"expenditure_id": command.expenditure_id, "fund": command.fund, "item": item, "amount_fen": command.amount_fen}
        return self._record_outcome(unit, "expenditure", command.region, command.expenditure_id, digest, command.on, outcome)

    def _memo_fund(self, unit: UnitOfWork, region: str, name: str) -> MemoFund:
        fund = unit.find(MemoFund.id_for(region, name), MemoFund)
        if fund is None:
            fund = MemoFund._create(MemoFund.Opened, id=MemoFund.id_for(region, name), region=region, name=name)
            unit.add(fund)
        return fund

    def move_money(self, command: MoveBetweenBankAccounts, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """The two lines (收支两条线): income account → fiscal special account → expenditure
        account, and hospitals paid from the expenditure account only. No account overdraws."""
        return self._run(unit, self._move_money, command)  # type: ignore[no-any-return]

    def _move_money(self, unit: UnitOfWork, command: MoveBetweenBankAccounts) -> dict[str, Any]:
        check_text("movement_id", command.movement_id)
        check_fen("amount_fen", command.amount_fen, allow_zero=False)
        if command.kind not in BANK_MOVES:
            raise InvalidInput("kind", f"unknown movement {command.kind!r}: one of {', '.join(BANK_MOVES)}", kind=command.kind)
        digest = fingerprint(command)
        first = self._first_outcome(unit, "movement", command.region, command.movement_id, digest, "movement_id")
        if first is not None:
            return first
        self._book(unit, command.region).check_open(command.on)
        debit, credit = BANK_MOVES[command.kind]
        unit.get(PooledFund.id_for(command.region), PooledFund).record_money(
            PooledFund.MoneyMoved, acc.entry(*acc.transfer(debit, credit, command.amount_fen)),
            on=command.on, movement_id=command.movement_id, kind=command.kind, amount_fen=command.amount_fen,
        )
        outcome = {"movement_id": command.movement_id, "kind": command.kind, "amount_fen": command.amount_fen}
        return self._record_outcome(unit, "movement", command.region, command.movement_id, digest, command.on, outcome)

    def bank_balances(self, region: str) -> dict[str, int]:
        fund: PooledFund = self.repository.get(PooledFund.id_for(region))
        return dict(fund.bank_balances_fen)

    # ------------------------------------------------------------------ budgets
    def set_budget(self, command: SetBudget, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """A budget per region, fund, year and item (预算, Liao 1999 §II(5)2): approved once,
        then adjusted through the same path. Lines of an adjustment replace those items."""
        return self._run(unit, self._set_budget, command)  # type: ignore[no-any-return]

    def _set_budget(self, unit: UnitOfWork, command: SetBudget) -> dict[str, Any]:
        check_text("budget_id", command.budget_id)
        if command.fund not in ("pooled", "personal", *acc.MEMO_FUND_NAMES):
            raise InvalidInput("fund", f"unknown fund {command.fund!r}")
        if command.kind not in ("approved", "adjusted"):
            raise InvalidInput("kind", f"must be 'approved' or 'adjusted', got {command.kind!r}")
        if not command.lines:
            raise InvalidInput("lines", "a budget needs at least one line")
        for index, line in enumerate(command.lines):
            if line.item not in acc.ITEMS or not line.item.startswith(("income.", "expenditure.")):
                raise InvalidInput(f"lines[{index}].item", f"not an income or expenditure item: {line.item!r}", item=line.item)
            check_fen(f"lines[{index}].amount_fen", line.amount_fen)
        digest = fingerprint(command)
        first = self._first_outcome(unit, "budget", command.region, command.budget_id, digest, "budget_id")
        if first is not None:
            return first
        book = self._book(unit, command.region)
        if command.year <= book.last_closed_year:
            raise InvalidInput("year", f"{command.year} is closed", year=command.year)
        budget = unit.find(Budget.id_for(command.region, command.fund, command.year), Budget)
        if budget is None:
            budget = Budget._create(Budget.Opened, id=Budget.id_for(command.region, command.fund, command.year),
                                    region=command.region, fund=command.fund, year=command.year)
            unit.add(budget)
        if command.kind == "approved" and budget.is_approved:
            raise InvalidInput("kind", "this budget is already approved: send an adjustment", year=command.year, fund=command.fund)
        if command.kind == "adjusted" and not budget.is_approved:
            raise InvalidInput("kind", "cannot adjust a budget that has not been approved", year=command.year, fund=command.fund)
        lines = [{"item": line.item, "amount_fen": line.amount_fen} for line in command.lines]
        budget.trigger_event(Budget.BudgetSet, region=command.region, year=command.year, fund=command.fund, on=command.on,
                             budget_id=command.budget_id, budget_kind=command.kind, budget_lines=lines)
        outcome = {"budget_id": command.budget_id, "fund": command.fund, "year": command.year, "kind": command.kind,
                   "lines": dict(budget.lines_fen)}
        return self._record_outcome(unit, "budget", command.region, command.budget_id, digest, command.on, outcome)


