"""Contributions (Liao 1999 §II(2)-(3), (6)): monthly remittances split between the personal
accounts and the pooled fund, late payments with their late fee, corrections of lines recorded
on the wrong wage base, and the monthly run crediting retirees where the region funds their
credits that way. A person's period is recorded once, paid by the employer of record.

Part of ``Ledger`` (see ``ledger.application``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from functools import cached_property
from typing import TYPE_CHECKING, Any

from ledger import accounts as acc
from ledger.aggregates import PersonalAccount, PooledFund, Postings
from ledger.commands import CorrectContributions, CreditRetirees, PostLatePayment, PostRemittance, check_period, fingerprint
from ledger.core import CoreLedger, touched_ids
from ledger.errors import DeclaredTotalMismatch, DuplicateContribution, InvalidInput, LateContribution, PayerMismatch, PolicyError
from ledger.policy import PolicyVersion
from ledger.rules import LineSplit, age_on, contribution_due_date, contribution_split, laid_off_wage_base_fen, late_fee, retiree_credit_fen

if TYPE_CHECKING:
    from ledger.unit_of_work import UnitOfWork


class ContributionUseCases(CoreLedger):
    # ------------------------------------------------------------------ remittances
    def post_remittance(self, command: PostRemittance, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """Post a monthly contribution remittance (Liao 1999 §II(2)-(3), (6)).

        Every line is split by ``rules.contribution_split`` under the policy in force on the
        first day of the period; the personal parts go to each person's account, the pooled
        part of the whole remittance to the pooled fund in one event. The declared total must
        equal what the policy computes, to the fen. Each line's payer must be the person's
        employer of record, and a person's period is recorded once. Contributions received
        after their due date are refused: they are a late payment (``post_late_payment``).
        """
        return self._run(unit, self._post_remittance, command)  # type: ignore[no-any-return]

    def post_late_payment(self, command: PostLatePayment, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """A month's contributions paid after their due date (补缴, Social Insurance Law art. 86):
        split and credited like a remittance, for periods not recorded yet, with the late fee
        (滞纳金) the policy computes, declared to the fen and booked as the pooled fund's other
        income."""
        return self._run(unit, self._post_remittance, command)  # type: ignore[no-any-return]

    def _post_remittance(self, unit: UnitOfWork, command: PostRemittance) -> dict[str, Any]:
        opened = self._open_lines(unit, command, "remittance", command.remittance_id, "remittance_id")
        if isinstance(opened, dict):
            return opened
        digest, period, policy, accounts = opened.digest, opened.period, opened.policy, opened.accounts
        for index, account in enumerate(accounts):
            if account.category_on(period.first_day) == "retiree" and policy.retiree_credit.funded_by == "monthly_run":
                raise InvalidInput(f"lines[{index}].person_id", f"retirees of region {command.region} are credited by the monthly "
                                   "retiree credit run (retiree_credit.funded_by), not by a remittance line", **account.who)
            self._check_not_recorded(account, command.period, f"lines[{index}].person_id")
        computed = [self._split_line(policy, index, account, line, period.first_day)
                    for index, (account, line) in enumerate(zip(accounts, command.lines, strict=True))]
        payable_fen = sum(split.payable_fen for split in computed)
        _check_declared("declared_total_fen", command.declared_total_fen, payable_fen, remittance_id=command.remittance_id)
        days_late, fee_fen = self._late_fee(policy, command, period, payable_fen)
        on = command.received_on
        for account, split in zip(accounts, computed, strict=True):
            self._credit_line(account, split, command, on)
        pooled_fen = sum(split.employer_to_pooled_fen for split in computed)
        retiree_credit_fen = sum(split.retiree_credit_fen for split in computed)
        to_accounts_fen = sum(split.employee_fen + split.employer_to_personal_fen for split in computed)
        postings = _pooled_entry(payable_fen, pooled_fen, to_accounts_fen, retiree_credit_fen, fee_fen)
        details: dict[str, Any] = {"on": on, "remittance_id": command.remittance_id, "period": command.period,
                                   "pooled_fen": pooled_fen, "retiree_credit_fen": retiree_credit_fen}
        if isinstance(command, PostLatePayment):
            details.update(late_fee_fen=fee_fen, days_late=days_late)
        event_class = PooledFund.LateContributionsReceived if isinstance(command, PostLatePayment) else PooledFund.ContributionsReceived
        # The retirees' credits come out of the pooled fund: a payment it owes.
        self._pooled_pays(unit, command.region, policy, event_class, postings, command.remittance_id, **details)
        outcome = {
            "remittance_id": command.remittance_id, "region": command.region, "period": command.period,
            "payer_id": command.payer_id, "lines": len(computed), "total_fen": payable_fen,
            "employee_fen": sum(s.employee_fen for s in computed),
            "employer_fen": sum(s.employer_fen for s in computed),
            "to_personal_accounts_fen": to_accounts_fen, "to_pooled_fund_fen": pooled_fen, "retiree_credit_fen": retiree_credit_fen,
        }
        if isinstance(command, PostLatePayment):
            outcome.update(days_late=days_late, late_fee_fen=fee_fen)
        return self._record_outcome(unit, "remittance", command.region, command.remittance_id, digest, on, outcome)

    def _open_lines(self, unit: UnitOfWork, command: PostRemittance | CorrectContributions, kind: str, key: str,
                    field: str) -> dict[str, Any] | _OpenLines:
        """What remittances and corrections start with: the command checked, the first outcome of
        its business id if it was applied before, else the policy of its period and the account of
        each line, its payer checked against the employer of record."""
        command.check()
        unit.prefetch(touched_ids(command))
        digest = fingerprint(command)
        first = self._first_outcome(unit, kind, command.region, key, digest, field)
        if first is not None:
            return first
        period = Period.of(command.period)
        book = self._book(unit, command.region)
        book.check_open(command.received_on, "received_on")
        return _OpenLines(digest, period, book.in_force(period.first_day), self._line_accounts(unit, command, period))

    def _line_accounts(self, unit: UnitOfWork, command: PostRemittance | CorrectContributions, period: Period) -> list[PersonalAccount]:
        """The account of each line, its payer checked against the employer of record."""
        accounts = [self._account(unit, command.region, line.person_id, f"lines[{index}].person_id")
                    for index, line in enumerate(command.lines)]
        for index, account in enumerate(accounts):
            self._check_payer(account, command, period, f"lines[{index}].person_id")
        return accounts

    def _late_fee(self, policy: PolicyVersion, command: PostRemittance | CorrectContributions, period: Period,
                  overdue_fen: int) -> tuple[int, int]:
        """``(days late, late fee)`` of contributions received after their due date (Social
        Insurance Law art. 86). An ordinary remittance received late is refused, naming the fee it
        owes; a late payment must be late and declare its fee; a correction declares the fee on
        what it adds."""
        due_on = contribution_due_date(policy, period.year, period.month)
        is_late = due_on is not None and command.received_on > due_on and overdue_fen > 0
        days_late, fee_fen = late_fee(policy, due_on, command.received_on, overdue_fen) if is_late and due_on else (0, 0)
        if isinstance(command, PostLatePayment) and not is_late:
            when = f"are due by {due_on}; received {command.received_on}, they are not late" if due_on else "have no due date in this region"
            raise LateContribution("received_on", f"contributions for {command.period} {when}: send them as an ordinary remittance",
                                   period=command.period, due_on=due_on, received_on=command.received_on)
        if isinstance(command, PostLatePayment | CorrectContributions):
            _check_declared("late_fee_fen", command.late_fee_fen, fee_fen, days_late=days_late, due_on=due_on)
        elif is_late:
            raise LateContribution(
                "received_on", f"contributions for {command.period} were due by {due_on}; received {command.received_on}, "
                f"{days_late} days late: send them as a late payment (contribution.late_payment) with the late fee of {fee_fen} fen",
                period=command.period, due_on=due_on, days_late=days_late, late_fee_fen=fee_fen)
        return days_late, fee_fen

    @staticmethod
    def _check_payer(account: PersonalAccount, command: PostRemittance | CorrectContributions, period: Period, field: str) -> None:
        """The payer must be the person's employer of record for the period (or the
        re-employment service centre of a laid-off worker): anyone else is refused until a change
        of employer is recorded (``change_category``)."""
        category = account.category_on(period.first_day)
        expected_kind = "reemployment_centre" if category == "laid_off" else "employer"
        if command.payer_kind != expected_kind:
            raise InvalidInput(
                field, f"a {category} is paid for by the {expected_kind.replace('_', ' ')}, "
                f"not by the {command.payer_kind.replace('_', ' ')}", person_id=account.person_id,
            )
        payers = account.employers_of_record(period.first_day, period.last_day)
        if command.payer_id not in payers:
            raise PayerMismatch(
                field, f"{account.person_id}'s employer of record for {command.period} is {' or '.join(payers)}, "
                f"not {command.payer_id}: record the change of employer first (person.category_changed)",
                **account.who, period=command.period, payer_id=command.payer_id, employer_of_record=payers[-1],
            )

    def _check_not_recorded(self, account: PersonalAccount, period: str, field: str) -> None:
        """A person's contribution for a period is recorded once (a retiree's credit too): a second
        line for the same (person, period) is refused naming the first remittance."""
        is_retiree = account.category_on(Period.of(period).first_day) == "retiree"
        if not (account.has_retiree_credit(period) if is_retiree else account.has_contributed(period)):
            return
        first = self._first_line(account, period, is_retiree)
        reference = first.get("remittance_id") or first.get("reference") or "(not found)"
        raise DuplicateContribution(
            field, f"{account.person_id}'s {'retiree credit' if is_retiree else 'contribution'} for {period} is already recorded "
            f"by {reference!r}: a period is paid once (send a correction or a late payment instead)",
            **account.who, period=period, first_remittance_id=reference,
        )

    def _period_events(self, account: PersonalAccount, period: str) -> list[Any]:
        """The account's events about ``period``, stored and pending, in order: read only to refuse
        or to correct, never on the fast path."""
        stored = self.events.get(account.id)
        return [event for event in (*stored, *account.pending_events) if getattr(event, "period", None) == period]

    def _first_line(self, account: PersonalAccount, period: str, retiree_credit: bool) -> dict[str, Any]:
        """What first recorded ``period`` for the person (a remittance line, or a credit run)."""
        for event in self._period_events(account, period):
            paid = isinstance(event, PersonalAccount.LineShares) and event.pays_contribution()
            if (getattr(event, "retiree_credit_fen", 0) if retiree_credit else paid) and not hasattr(event, "correction_id"):
                return dict(event.__dict__)
        return {}

    def _split_line(self, policy: PolicyVersion, index: int, account: PersonalAccount, line: Any, period_start: date) -> LineSplit:
        field = f"lines[{index}]"
        wage_base_fen = line.wage_base_fen
        category = account.category_on(period_start)  # the period's, whenever its change was recorded
        if category == "laid_off":
            base_fen = laid_off_wage_base_fen(policy)
            if wage_base_fen not in (None, base_fen):
                raise InvalidInput(f"{field}.wage_base_fen", f"a laid-off worker's base is {base_fen} fen (60% of last year's average monthly wage), got {wage_base_fen}", person_id=account.person_id)
            wage_base_fen = base_fen
        elif category == "retiree" and wage_base_fen:
            raise InvalidInput(f"{field}.wage_base_fen", "retirees pay no contribution: the wage base must be 0 or absent",
                               person_id=account.person_id, wage_base_fen=wage_base_fen)
        elif wage_base_fen is None:
            if category != "retiree":
                raise InvalidInput(f"{field}.wage_base_fen", "is required for an employee", person_id=account.person_id)
            wage_base_fen = 0
        return contribution_split(policy, category, age_on(account.birth_date, period_start), wage_base_fen, account.pension_fen)

    def _credit_line(self, account: PersonalAccount, split: LineSplit, command: PostRemittance, on: date) -> None:
        person = account.person_id
        postings = acc.entry(
            *acc.transfer(acc.CLEARING_PERSONAL_ACCOUNTS, acc.FUND_PERSONAL, split.employee_fen, credit_item=acc.INCOME_CONTRIBUTION,
                          credit_person_id=person, origin=acc.ORIGIN_EMPLOYEE_SHARE),
            *acc.transfer(acc.CLEARING_PERSONAL_ACCOUNTS, acc.FUND_PERSONAL, split.employer_to_personal_fen, credit_item=acc.INCOME_CONTRIBUTION,
                          credit_person_id=person, origin=acc.ORIGIN_EMPLOYER_SHARE),
            *acc.transfer(acc.CLEARING_PERSONAL_ACCOUNTS, acc.FUND_PERSONAL, split.retiree_credit_fen,
                          credit_item=acc.TRANSFER_RETIREE_CREDIT, credit_person_id=person, origin=acc.ORIGIN_RETIREE_CREDIT),
        )
        account.record_money(
            PersonalAccount.ContributionCredited, postings, on=on, origin="contribution",
            remittance_id=command.remittance_id, period=command.period, wage_base_fen=split.wage_base_fen,
            employee_fen=split.employee_fen, employer_to_personal_fen=split.employer_to_personal_fen,
            employer_to_pooled_fen=split.employer_to_pooled_fen, retiree_credit_fen=split.retiree_credit_fen,
        )

    # ------------------------------------------------------------------ retirees' monthly credits
    def credit_retirees(self, command: CreditRetirees, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """The monthly run that credits retirees' accounts where the region's policy funds them
        this way (``retiree_credit.funded_by = "monthly_run"``; Liao 1999 §II(6): retirees pay
        nothing and their accounts get a higher share). Every retiree of the region, enrolled by
        the end of the period and whose account is open, is credited by the retiree rule
        (``rules.retiree_credit_fen``, age on the first day of the period) from the pooled fund,
        once per person and month: running it again credits only those not credited yet."""
        return self._run(unit, self._credit_retirees, command)  # type: ignore[no-any-return]

    def _credit_retirees(self, unit: UnitOfWork, command: CreditRetirees) -> dict[str, Any]:
        command.check()
        period = Period.of(command.period)
        book = self._book(unit, command.region)
        book.check_open(command.on)
        policy = book.in_force(period.first_day)
        if policy.retiree_credit.funded_by != "monthly_run":
            raise PolicyError("period", f"retirees of region {command.region} are credited through their former employer's "
                              "remittance (retiree_credit.funded_by), not by a monthly run", region=command.region)
        people = self._people_of(unit, command.region)
        unit.prefetch(PersonalAccount.id_for(command.region, person_id) for person_id in people)
        reference = f"retiree-credits/{command.period}"
        credited_fen = credited = already = 0
        for person_id in people:
            account = self._account(unit, command.region, person_id)
            if account.is_closed or account.category_on(period.first_day) != "retiree" or account.enrolled_on > period.last_day:
                continue
            if account.has_retiree_credit(command.period):
                already += 1
                continue
            credit_fen = retiree_credit_fen(policy, age_on(account.birth_date, period.first_day), account.pension_fen)
            account.record_money(
                PersonalAccount.RetireeCredited,
                acc.entry(*acc.transfer(acc.CLEARING_PERSONAL_ACCOUNTS, acc.FUND_PERSONAL, credit_fen, credit_item=acc.TRANSFER_RETIREE_CREDIT,
                                        credit_person_id=person_id, origin=acc.ORIGIN_RETIREE_CREDIT)),
                on=command.on, origin=acc.ORIGIN_RETIREE_CREDIT, reference=reference, period=command.period, retiree_credit_fen=credit_fen,
            )
            credited_fen += credit_fen
            credited += 1
        if credited:
            self._pooled_pays(
                unit, command.region, policy, PooledFund.RetireesCredited,
                acc.entry(*acc.transfer(acc.FUND_POOLED, acc.CLEARING_PERSONAL_ACCOUNTS, credited_fen, debit_item=acc.TRANSFER_RETIREE_CREDIT)),
                reference, on=command.on, period=command.period, retirees=credited, retiree_credit_fen=credited_fen,
            )
        return {"region": command.region, "period": command.period, "retirees_credited": credited, "credited_fen": credited_fen,
                "already_credited": already}

    # ------------------------------------------------------------------ corrections
    def correct_contributions(self, command: CorrectContributions, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """Correct lines of a remittance recorded earlier whose wage base was wrong (更正). Each
        line is split again on the right base under the policy of its period; the difference of
        each part is posted (the person's account, the pooled fund and the bank: paid into the
        income account, or refunded from the expenditure account), so that the period holds what
        the right base gives. The month still counts once. The declared difference must equal the
        computed one, with a late fee on an underpayment found after the due date."""
        return self._run(unit, self._correct_contributions, command)  # type: ignore[no-any-return]

    def _correct_contributions(self, unit: UnitOfWork, command: CorrectContributions) -> dict[str, Any]:
        opened = self._open_lines(unit, command, "contribution-correction", command.correction_id, "correction_id")
        if isinstance(opened, dict):
            return opened
        digest, period, policy, accounts = opened.digest, opened.period, opened.policy, opened.accounts
        changes = [self._line_change(policy, command, index, account, period.first_day) for index, account in enumerate(accounts)]
        difference_fen = sum(change.payable_fen for change in changes)
        _check_declared("declared_difference_fen", command.declared_difference_fen, difference_fen, correction_id=command.correction_id)
        # The fee is on what each line underpaid: a line refunded does not pay another's arrears down.
        underpaid_fen = sum(change.payable_fen for change in changes if change.payable_fen > 0)
        days_late, fee_fen = self._late_fee(policy, command, period, underpaid_fen)
        on = command.received_on
        for account, change in zip(accounts, changes, strict=True):
            account.record_money(
                PersonalAccount.ContributionCorrected, _person_change_entry(account.person_id, change), on=on, origin="contribution",
                correction_id=command.correction_id, remittance_id=command.remittance_id, period=command.period,
                wage_base_fen=change.wage_base_fen, employee_fen=change.employee_fen,
                employer_to_personal_fen=change.employer_to_personal_fen, employer_to_pooled_fen=change.employer_to_pooled_fen,
            )
        pooled_fen = sum(change.employer_to_pooled_fen for change in changes)
        to_accounts_fen = sum(change.employee_fen + change.employer_to_personal_fen for change in changes)
        unit.get(PooledFund.id_for(command.region), PooledFund).record_money(
            PooledFund.ContributionsCorrected, _pooled_entry(difference_fen, pooled_fen, to_accounts_fen, 0, fee_fen),
            on=on, correction_id=command.correction_id, remittance_id=command.remittance_id, period=command.period,
            difference_fen=difference_fen, pooled_fen=pooled_fen, late_fee_fen=fee_fen,
        )
        outcome = {"correction_id": command.correction_id, "remittance_id": command.remittance_id, "period": command.period,
                   "lines": len(changes), "difference_fen": difference_fen, "to_personal_accounts_fen": to_accounts_fen,
                   "to_pooled_fund_fen": pooled_fen, "days_late": days_late, "late_fee_fen": fee_fen}
        return self._record_outcome(unit, "contribution-correction", command.region, command.correction_id, digest, on, outcome)

    def _line_change(self, policy: PolicyVersion, command: CorrectContributions, index: int, account: PersonalAccount,
                     period_start: date) -> LineSplit:
        """What a corrected line changes: the split on the right base less what the period holds
        (its first line and the corrections since)."""
        field = f"lines[{index}]"
        category = account.category_on(period_start)
        if category != "employee":
            raise InvalidInput(f"{field}.person_id", f"a {category}'s contribution is set by the policy, not by a wage base: "
                               "there is nothing to correct", **account.who)
        events = self._period_events(account, command.period)
        recorded = [event for event in events if type(event).__name__ in ("ContributionCredited", "ContributionCorrected")]
        if not recorded or recorded[0].remittance_id != command.remittance_id:
            found = f"was recorded by {recorded[0].remittance_id!r}" if recorded else "is not recorded: send a late payment"
            raise InvalidInput(f"{field}.person_id", f"{account.person_id}'s contribution for {command.period} {found}, "
                               f"not by {command.remittance_id!r}", **account.who, period=command.period)
        if command.received_on < recorded[0].on:
            raise InvalidInput("received_on", f"{account.person_id}'s contribution for {command.period} was received on "
                               f"{recorded[0].on}: a correction of it cannot be received before, on {command.received_on}",
                               **account.who, period=command.period)
        if any(not hasattr(event, "employer_to_pooled_fen") for event in recorded):
            raise InvalidInput(f"{field}.person_id", f"{account.person_id}'s contribution for {command.period} was recorded "
                               "without its pooled part and cannot be corrected here", **account.who)
        held = LineSplit(0, sum(e.employee_fen for e in recorded), 0, sum(e.employer_to_personal_fen for e in recorded),
                         sum(e.employer_to_pooled_fen for e in recorded))
        right = self._split_line(policy, index, account, command.lines[index], period_start)
        return LineSplit(
            wage_base_fen=right.wage_base_fen, employee_fen=right.employee_fen - held.employee_fen,
            employer_fen=right.employer_fen - held.employer_to_personal_fen - held.employer_to_pooled_fen,
            employer_to_personal_fen=right.employer_to_personal_fen - held.employer_to_personal_fen,
            employer_to_pooled_fen=right.employer_to_pooled_fen - held.employer_to_pooled_fen,
        )


@dataclass(frozen=True)
class _OpenLines:
    digest: str
    period: Period
    policy: PolicyVersion
    accounts: list[PersonalAccount]


@dataclass(frozen=True)
class Period:
    """A contribution period ``YYYY-MM`` and its first and last days."""

    year: int
    month: int

    @classmethod
    def of(cls, text: str) -> Period:
        return cls(*check_period(text))

    @cached_property
    def first_day(self) -> date:
        return date(self.year, self.month, 1)

    @cached_property
    def last_day(self) -> date:
        return date(self.year + self.month // 12, self.month % 12 + 1, 1) - timedelta(days=1)


def _check_declared(field: str, declared_fen: int, computed_fen: int, **context: Any) -> None:
    """What the payer declares must be what the policy computes, to the fen."""
    if declared_fen != computed_fen:
        raise DeclaredTotalMismatch(
            field, f"declared {declared_fen} fen but the policy computes {computed_fen} fen (difference {declared_fen - computed_fen:+d} fen)",
            **{field: declared_fen, "computed_" + field.removeprefix("declared_"): computed_fen,
               "difference_fen": declared_fen - computed_fen}, **context,
        )


def _pooled_entry(payable_fen: int, pooled_fen: int, to_accounts_fen: int, retiree_credit_fen: int, fee_fen: int) -> Postings:
    """The region's side of contributions: what is paid in arrives in the income account (a
    refund, negative, leaves the expenditure account); the pooled part is contribution income;
    the personal parts go on to the accounts; a late fee is the pooled fund's other income."""
    bank = acc.BANK_INCOME if payable_fen >= 0 else acc.BANK_EXPENDITURE
    return acc.entry(
        acc.Posting(bank, payable_fen),
        acc.Posting(acc.FUND_POOLED, -pooled_fen, acc.INCOME_CONTRIBUTION),
        acc.Posting(acc.CLEARING_PERSONAL_ACCOUNTS, -to_accounts_fen),
        *acc.transfer(acc.FUND_POOLED, acc.CLEARING_PERSONAL_ACCOUNTS, retiree_credit_fen, item=acc.TRANSFER_RETIREE_CREDIT),
        *acc.transfer(acc.BANK_INCOME, acc.FUND_POOLED, fee_fen, credit_item=acc.INCOME_OTHER),
    )


def _person_change_entry(person_id: str, change: LineSplit) -> Postings:
    """A correction's change to one account, each share on its own line: an increase is a credit
    by its origin, a decrease a debit on the same income item (a reversal, never netted)."""
    postings: list[acc.Posting] = []
    for amount_fen, origin in ((change.employee_fen, acc.ORIGIN_EMPLOYEE_SHARE), (change.employer_to_personal_fen, acc.ORIGIN_EMPLOYER_SHARE)):
        if amount_fen >= 0:
            postings += acc.transfer(acc.CLEARING_PERSONAL_ACCOUNTS, acc.FUND_PERSONAL, amount_fen, credit_item=acc.INCOME_CONTRIBUTION,
                                     credit_person_id=person_id, origin=origin)
        else:
            postings += acc.transfer(acc.FUND_PERSONAL, acc.CLEARING_PERSONAL_ACCOUNTS, -amount_fen, debit_item=acc.INCOME_CONTRIBUTION,
                                     debit_person_id=person_id)
    return acc.entry(*postings)
