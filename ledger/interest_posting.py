"""Interest on the fund (Liao 1999 §II(5)6): the announced deposit rates, the year's interest
posting by the three-rate rule (``ledger.interest``), and the interest an account earns up to the
day it closes during the year.

Part of ``Ledger``: each public method is a use case taking the command of the same name in
``ledger.commands`` and an optional unit of work, saving atomically.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from ledger import accounts as acc
from ledger.aggregates import PersonalAccount, PooledFund
from ledger.commands import AnnounceInterestRates, PostInterest, check_text, fingerprint
from ledger.core import CoreLedger
from ledger.errors import InvalidInput, PolicyError
from ledger.interest import AccountInterest, Rates, deposit_interest, personal_account_interest
from ledger.records import InterestRateBook

if TYPE_CHECKING:
    from ledger.unit_of_work import UnitOfWork

NATIONAL = "000000"


def _rate(field: str, text: str) -> Decimal:
    try:
        rate = Decimal(text)
    except (InvalidOperation, TypeError):
        raise InvalidInput(field, f"must be a decimal rate such as '0.0035', got {text!r}", value=text) from None
    if not (Decimal(0) <= rate < Decimal(1)):
        raise InvalidInput(field, f"must be between 0 and 1, got {text}", value=text)
    return rate


class InterestUseCases(CoreLedger):
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

    # ------------------------------------------------------------------ interest posting
    def post_interest(self, command: PostInterest, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """Post a year's interest by the three-rate rule (``ledger.interest``), credited on 31
        December: each personal account first (current-year money at the demand rate, carried
        over at the 3-month rate), then the rest of the interest the region's deposits earned
        (by the same rule, the money's age, in the income and expenditure accounts; the 3-year
        rate in the fiscal special account: Liao 1999 §II(5)6) to the pooled fund. Each posting records its basis. Posting the same year
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
        by_account = deposit_interest(fund.bank_entries, announced, start, end_exclusive, day_basis, acc.BANK_FISCAL_SPECIAL)
        bank_interest = {name: by_account.get(name, AccountInterest(0, [])) for name in acc.BASIC_FUND_BANK_ACCOUNTS}
        bank_total_fen = sum(result.interest_fen for result in bank_interest.values())
        pooled_fen = bank_total_fen - personal_total_fen
        # The accounts are credited first. When they earn more than the deposits did (their
        # money is older than the money left in the banks, after the pooled fund spent the
        # deposits carried over), the pooled fund makes up the difference: an internal transfer,
        # not negative interest income.
        pooled_posting = (acc.Posting(acc.FUND_POOLED, -pooled_fen, acc.INCOME_INTEREST) if pooled_fen >= 0
                          else acc.Posting(acc.FUND_POOLED, -pooled_fen, acc.TRANSFER_INTEREST_TO_PERSONAL_ACCOUNTS))
        self._pooled_pays(
            unit, command.region, book.in_force(on), PooledFund.InterestPosted,
            acc.entry(
                *(acc.Posting(name, result.interest_fen) for name, result in bank_interest.items()),
                pooled_posting,
                acc.Posting(acc.CLEARING_PERSONAL_ACCOUNTS, -personal_total_fen),
            ),
            f"interest/{command.year}", on=on, year=command.year, bank_interest_fen=bank_total_fen,
            personal_accounts_fen=personal_total_fen, pooled_fen=pooled_fen,
            basis={name: result.segments for name, result in bank_interest.items()},
        )
        outcome = {"region": command.region, "year": command.year, "accounts_credited": credited,
                   "personal_accounts_fen": personal_total_fen, "bank_interest_fen": bank_total_fen, "pooled_fen": pooled_fen}
        return self._record_outcome(unit, "interest", command.region, key, digest, on, outcome)

    def _settle_accrued_interest(self, unit: UnitOfWork, account: PersonalAccount, on: date) -> int:
        """An account that closes during the year (death, transfer out) is paid the interest it
        earned this year up to the day before ``on`` (销户结息), by the same three-rate rule. The
        pooled fund advances it; at the year end the deposits' interest goes to the pooled fund
        less the accounts' year-end credits. No rates announced: nothing accrues."""
        start = date(on.year, 1, 1)
        announced = self.announced_rates(unit)
        if on <= start or not announced or min(r.effective_from for r in announced) > start:
            return 0
        policy = self._book(unit, account.region).in_force(on)
        result = personal_account_interest(account.movements, announced, start, on, policy.interest_day_basis)
        if result.interest_fen <= 0:
            return 0
        account.record_money(
            PersonalAccount.InterestCredited,
            acc.entry(*acc.transfer(acc.CLEARING_PERSONAL_ACCOUNTS, acc.FUND_PERSONAL, result.interest_fen,
                                    credit_item=acc.INCOME_INTEREST, credit_person_id=account.person_id, origin=acc.ORIGIN_INTEREST)),
            on=on, origin=acc.ORIGIN_INTEREST, year=on.year, interest_fen=result.interest_fen, basis=result.segments,
        )
        reference = f"accrued-interest/{account.person_id}"
        self._pooled_pays(
            unit, account.region, policy, PooledFund.PersonalAccountsSettled,
            acc.entry(*acc.transfer(acc.FUND_POOLED, acc.CLEARING_PERSONAL_ACCOUNTS, result.interest_fen,
                                    debit_item=acc.TRANSFER_INTEREST_TO_PERSONAL_ACCOUNTS)),
            reference, on=on, reference=reference, kind="accrued_interest", amount_fen=result.interest_fen,
        )
        return result.interest_fen
