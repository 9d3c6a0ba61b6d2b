"""Interest on the fund (Liao 1999 §II(5)6): the announced deposit rates, the year's interest
posting by the three-rate rule (``ledger.interest``), and the interest an account earns up to the
day it closes during the year.

Part of ``Ledger``: each public method is a use case taking the command of the same name in
``ledger.commands`` and an optional unit of work.

A year's interest posting runs over every account of the region, a million of them or more, so
it does not hold them all at once (one unit of work holding them needed 1.3 GB at 100,000
accounts). It credits the stored accounts **chunk by chunk**, in parts side by side
(``ledger.interest_run``): the people are streamed from the log in enrolment order
(``Ledger.enrolments``), a chunk's accounts are loaded, credited and saved in one transaction
with their part's progress (``records.InterestRun``), and leave the aggregate cache. Then, in the
caller's unit of work, the accounts that unit holds (enrolled or changed earlier in the same
batch) are credited, and the rest of what the deposits earned goes to the pooled fund in one
posting, with the year's business record: the run is done when that saves.

Paid once, whatever stops it: an account's year-end ``InterestCredited`` is its idempotency record
(an account that has it is skipped), and a run started again (after ``kill -9``, a lost
connection, a redelivered message) goes on after the last chunk each part saved, with its totals.
Between chunks the accounts' interest is in ``accrued.deposit_interest`` (应收利息: credited to
the accounts, not yet posted from the banks), so ``clearing.personal_accounts`` is zero after every
transaction; the last posting clears the accrual.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Iterable
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import structlog

from adapters.collector import cyclic_gc_paused
from ledger import accounts as acc
from ledger.aggregates import PersonalAccount, PooledFund
from ledger.commands import AnnounceInterestRates, PostInterest, check_text, fingerprint
from ledger.core import CoreLedger
from ledger.errors import InvalidInput, PolicyError
from ledger.interest import AccountInterest, Rates, deposit_interest, personal_account_interest
from ledger.interest_run import (
    CHUNK_SETTING,
    WORKERS_SETTING,
    Credited,
    PartJob,
    Report,
    Workers,
    YearEnd,
    chunk_accounts,
    chunks,
    in_part,
    worker_count,
)
from ledger.records import InterestRateBook, InterestRun
from ledger.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from uuid import UUID

    from ledger.core import Enrolment

logger = structlog.get_logger()

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
        rate in the fiscal special account: Liao 1999 §II(5)6) to the pooled fund. Each posting
        records its basis. Posting the same year twice has no second effect.

        The accounts are credited in chunks, each its own transaction, before the caller's unit
        of work saves (see the module's docstring): what the chunks saved stays saved if the rest
        fails, and running the same command again finishes the run without paying anyone twice."""
        return self._run(unit, self._post_interest, command)  # type: ignore[no-any-return]

    def _post_interest(self, unit: UnitOfWork, command: PostInterest) -> dict[str, Any]:
        digest = fingerprint(command)
        key = str(command.year)
        first = self._first_outcome(unit, "interest", command.region, key, digest, "year")
        if first is not None:
            return first
        log = logger.bind(region=command.region, year=command.year)
        size = chunk_accounts(self.env.get(CHUNK_SETTING))
        year, parts = self._start_or_resume(self._year_end(unit, command), log)
        held = [aggregate.id for aggregate in list(unit.aggregates.values())
                if isinstance(aggregate, PersonalAccount) and aggregate.region == year.region]
        credited = self._credit_stored_accounts(year, parts, size, set(held), log)
        credited += self._credit_accounts(unit, year, held)
        outcome = self._post_deposit_interest(unit, year, credited)
        log.info("interest.posted", **outcome)
        return self._record_outcome(unit, "interest", year.region, key, digest, year.on, outcome)

    def _year_end(self, unit: UnitOfWork, command: PostInterest) -> YearEnd:
        """The rates and day basis of ``command``'s year; refuses a closed year and a year
        without rates announced in force from its first day."""
        on = date(command.year, 12, 31)
        book = self._book(unit, command.region)
        book.check_open(on, "year")
        announced = self.announced_rates(unit)
        if not announced or min(r.effective_from for r in announced) > date(command.year, 1, 1):
            raise PolicyError("year", f"no interest rates announced in force on {command.year}-01-01", year=command.year)
        return YearEnd(command.region, command.year, announced, book.in_force(on).interest_day_basis)

    def _start_or_resume(self, year: YearEnd, log: Any) -> tuple[YearEnd, int]:
        """The year's run as it first started (its rates, day basis and parts: a resumed run
        computes every account as the first start did), or, starting now, ``year`` in one part per
        worker (``INTEREST_WORKERS``), the parts' progress records saved before any account is
        credited."""
        first = self._new_unit().find(InterestRun.id_for(year.region, year.year, 0), InterestRun)
        if first is not None:
            log.info("interest.resumed", parts=first.parts)
            return YearEnd(year.region, year.year, [Rates(**rates) for rates in first.announced], first.day_basis), first.parts
        parts = worker_count(self.env.get(WORKERS_SETTING), self.env.get("PERSISTENCE_MODULE"))
        announced = [dataclasses.asdict(rates) for rates in year.announced]
        unit = UnitOfWork(self)
        for part in range(parts):
            unit.add(InterestRun._create(InterestRun.Started, id=InterestRun.id_for(year.region, year.year, part), region=year.region,
                                         year=year.year, part=part, parts=parts, announced=announced, day_basis=year.day_basis))
        unit.commit()
        return year, parts

    def _credit_stored_accounts(self, year: YearEnd, parts: int, size: int, held: set[UUID], log: Any) -> Credited:
        """Credit every stored account of the region but those in ``held``, part by part (side
        by side: ``ledger.interest_run``) and ``size`` accounts a transaction, each part from where
        it last stopped; returns what the whole run (earlier starts included) has credited."""
        jobs = [PartJob(dict(self.env), year, part, parts, frozenset(held), size) for part in range(1, parts)]
        workers = Workers(jobs).start()

        def report(fields: dict[str, Any]) -> None:
            log.info("interest.chunk_saved", **fields)
            workers.relay(log)

        try:
            self.credit_part(year, 0, parts, held, size, report)
            workers.finish(log)
        except BaseException:
            workers.stop()
            raise
        return self._run_totals(year, parts)

    def _run_totals(self, year: YearEnd, parts: int) -> Credited:
        unit = self._new_unit()
        runs = [unit.get(InterestRun.id_for(year.region, year.year, part), InterestRun) for part in range(parts)]
        return sum((Credited(run.accounts_credited, run.interest_fen) for run in runs), Credited())

    def credit_part(self, year: YearEnd, part: int, parts: int, held: Iterable[UUID], size: int, report: Report) -> None:
        """Credit the stored accounts of one part of the year's run (but those in ``held``), a
        chunk of ``size`` at a time, from after the last chunk the part saved; ``report`` gets each
        saved chunk's figures. Run by the use case and by its workers (``ledger.interest_run``)."""
        run_id = InterestRun.id_for(year.region, year.year, part)
        run = self._new_unit().get(run_id, InterestRun)
        held = set(held)
        enrolments = self.enrolments(year.region, run.through_position, account_filter=in_part(part, parts))
        for chunk in chunks(enrolments, size):
            started = time.perf_counter()
            run = self._credit_chunk(year, run_id, chunk, held)
            report({"part": part, "chunk": run.chunks, "through_position": run.through_position, "accounts": len(chunk),
                    "accounts_credited_in_part": run.accounts_credited, "interest_fen_in_part": run.interest_fen,
                    "duration_ms": round((time.perf_counter() - started) * 1000, 3)})

    def _credit_chunk(self, year: YearEnd, run_id: UUID, chunk: list[Enrolment], held: set[UUID]) -> InterestRun:
        """One transaction: the chunk's accounts credited and the part's progress past them. The
        accounts then leave the aggregate cache, so memory holds one chunk whatever the count. The
        cyclic garbage collector is paused for the chunk, as for any batch (``adapters.collector``):
        with it on, a chunk's decoded accounts set off full collections (a third of a run's CPU)."""
        unit = UnitOfWork(self)
        enrolments = [enrolment for enrolment in chunk if enrolment.account_id not in held]
        account_ids = [enrolment.account_id for enrolment in enrolments]
        with cyclic_gc_paused():
            try:
                run = unit.get(run_id, InterestRun)
                # An account's first event is its enrolment, which the stream of enrolments has read and
                # decoded already: an account not held starts from it, so the prefetch reads and decodes
                # only its later events (a tenth of a run's time).
                unit.prefetch(account_ids, start_from={e.account_id: e.event.mutate(None) for e in enrolments})
                credited = self._credit_accounts(unit, year, account_ids)
                run.trigger_event(InterestRun.ChunkCredited, through_position=chunk[-1].position, accounts_seen=len(chunk),
                                  accounts_credited=credited.accounts, interest_fen=credited.interest_fen)
                unit.commit()
            finally:
                unit.discard()  # nothing left after a commit; what a failure left, out of the cache
                unit.evict(account_ids)
        return run

    def _credit_accounts(self, unit: UnitOfWork, year: YearEnd, account_ids: Iterable[UUID]) -> Credited:
        credited = Credited()
        for account_id in account_ids:
            interest_fen = self._credit_year_end(unit.get(account_id, PersonalAccount), year)
            if interest_fen:
                credited += Credited(1, interest_fen)
        return credited

    def _credit_year_end(self, account: PersonalAccount, year: YearEnd) -> int:
        """Credit ``account`` with its interest for the year; returns the interest credited. A
        closed account is skipped, and so is one already credited for the year (its credit is
        counted where it was made: in the run's chunk that made it) or one that earned nothing."""
        if account.is_closed or account.has_year_end_interest(year.year):
            return 0
        start = account.interest_unpaid_from(year.start)  # after a close and a return: from the close
        if start >= year.end_exclusive:
            return 0
        result = personal_account_interest(account.movements, year.announced, start, year.end_exclusive, year.day_basis)
        if result.interest_fen <= 0:
            return 0
        self._record_interest(account, result, year.on, year.year, acc.ACCRUED_DEPOSIT_INTEREST)
        return result.interest_fen

    def _post_deposit_interest(self, unit: UnitOfWork, year: YearEnd, credited: Credited) -> dict[str, Any]:
        """Post what the region's deposits earned in the year (each bank account by the money's
        age; the fiscal special account at the 3-year rate) less the accounts' interest
        (``credited``, held in ``accrued.deposit_interest`` until now) to the pooled fund."""
        fund = unit.get(PooledFund.id_for(year.region), PooledFund)
        by_account = deposit_interest(fund.bank_entries, year.announced, year.start, year.end_exclusive, year.day_basis,
                                      acc.BANK_FISCAL_SPECIAL)
        bank_interest = {name: by_account.get(name, AccountInterest(0, [])) for name in acc.BASIC_FUND_BANK_ACCOUNTS}
        bank_total_fen = sum(result.interest_fen for result in bank_interest.values())
        # What the accounts that closed during the year were paid as they closed, the pooled
        # fund advancing it (an internal transfer out): the deposits' interest pays it back (a
        # transfer in), so that the year's interest income is what the deposits earned, once.
        advanced_fen = fund.interest_advanced_in(year.year)
        pooled_fen = bank_total_fen - credited.interest_fen - advanced_fen
        # The accounts are credited first. When they earn more than the deposits did (their
        # money is older than the money left in the banks, after the pooled fund spent the
        # deposits carried over), the pooled fund makes up the difference: an internal transfer,
        # not negative interest income.
        pooled_posting = (acc.Posting(acc.FUND_POOLED, -pooled_fen, acc.INCOME_INTEREST) if pooled_fen >= 0
                          else acc.Posting(acc.FUND_POOLED, -pooled_fen, acc.TRANSFER_INTEREST_TO_PERSONAL_ACCOUNTS))
        self._pooled_pays(
            unit, year.region, self._book(unit, year.region).in_force(year.on), PooledFund.InterestPosted,
            acc.entry(
                *(acc.Posting(name, result.interest_fen) for name, result in bank_interest.items()),
                pooled_posting,
                *([acc.Posting(acc.FUND_POOLED, -advanced_fen, acc.TRANSFER_INTEREST_TO_PERSONAL_ACCOUNTS)] if advanced_fen else []),
                acc.Posting(acc.ACCRUED_DEPOSIT_INTEREST, -credited.interest_fen),
            ),
            f"interest/{year.year}", on=year.on, year=year.year, bank_interest_fen=bank_total_fen,
            personal_accounts_fen=credited.interest_fen, pooled_fen=pooled_fen, advanced_at_closes_fen=advanced_fen,
            basis={name: result.segments for name, result in bank_interest.items()},
        )
        return {"region": year.region, "year": year.year, "accounts_credited": credited.accounts,
                "personal_accounts_fen": credited.interest_fen, "bank_interest_fen": bank_total_fen, "pooled_fen": pooled_fen,
                "advanced_at_closes_fen": advanced_fen}

    @staticmethod
    def _record_interest(account: PersonalAccount, result: AccountInterest, on: date, year: int, from_account: str) -> None:
        """An ``InterestCredited`` of ``result`` (with its basis) on ``account``, drawn from ``from_account``."""
        account.record_money(
            PersonalAccount.InterestCredited,
            acc.entry(*acc.transfer(from_account, acc.FUND_PERSONAL, result.interest_fen, credit_item=acc.INCOME_INTEREST,
                                    credit_person_id=account.person_id, origin=acc.ORIGIN_INTEREST)),
            on=on, origin=acc.ORIGIN_INTEREST, year=year, interest_fen=result.interest_fen, basis=result.segments,
        )

    def _settle_accrued_interest(self, unit: UnitOfWork, account: PersonalAccount, on: date) -> int:
        """An account that closes (death, transfer out) is paid the interest it earned and was not
        paid yet, up to the day before ``on`` (销户结息), by the same three-rate rule: this year's
        from 1 January (or from the day paid to, if later), and last year's when its year-end run
        has not credited the account yet (a close early in the year, before the run: the run skips
        closed accounts). A day already paid (a year-end credit made before a close dated earlier
        in that year) is not paid again. The pooled fund advances it; at the year end the deposits'
        interest goes to the pooled fund less the accounts' year-end credits. No rates announced:
        nothing accrues. Returns the interest paid."""
        announced = self.announced_rates(unit)
        if not announced:
            return 0
        paid_fen = 0
        for year in (on.year - 1, on.year):
            start = account.interest_unpaid_from(max(date(year, 1, 1), account.enrolled_on))
            end_exclusive = min(on, date(year + 1, 1, 1))
            if start >= end_exclusive or min(r.effective_from for r in announced) > start:
                continue
            paid_fen += self._settle_part(unit, account, on, announced, year, start, end_exclusive)
        return paid_fen

    def _settle_part(self, unit: UnitOfWork, account: PersonalAccount, on: date, announced: list[Rates], year: int,
                     start: date, end_exclusive: date) -> int:
        """What ``account`` earned in ``year`` over ``[start, end_exclusive)``, credited on ``on``
        (the close's day) and advanced by the pooled fund."""
        policy = self._book(unit, account.region).in_force(on)
        result = personal_account_interest(account.movements, announced, start, end_exclusive, policy.interest_day_basis)
        if result.interest_fen <= 0:
            return 0
        self._record_interest(account, result, on, year, acc.CLEARING_PERSONAL_ACCOUNTS)
        # This year's reference as before; last year's names its year.
        reference = f"accrued-interest/{account.person_id}" + ("" if year == on.year else f"/{year}")
        self._pooled_pays(
            unit, account.region, policy, PooledFund.PersonalAccountsSettled,
            acc.entry(*acc.transfer(acc.FUND_POOLED, acc.CLEARING_PERSONAL_ACCOUNTS, result.interest_fen,
                                    debit_item=acc.TRANSFER_INTEREST_TO_PERSONAL_ACCOUNTS)),
            reference, on=on, reference=reference, kind="accrued_interest", amount_fen=result.interest_fen, year=year,
        )
        return result.interest_fen
