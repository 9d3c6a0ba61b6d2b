"""Contributions (Liao 1999 §II(2)-(3), (6)): monthly remittances split between the personal
accounts and the pooled fund.

Part of ``Ledger`` (see ``ledger.application``).
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from ledger import accounts as acc
from ledger.aggregates import PersonalAccount, PooledFund
from ledger.commands import PostRemittance, check_period, fingerprint
from ledger.core import CoreLedger, touched_ids
from ledger.errors import DeclaredTotalMismatch, DuplicateContribution, InvalidInput, PayerMismatch
from ledger.policy import PolicyVersion
from ledger.rules import LineSplit, age_on, contribution_split, laid_off_wage_base_fen

if TYPE_CHECKING:
    from ledger.unit_of_work import UnitOfWork


class ContributionUseCases(CoreLedger):
    # ------------------------------------------------------------------ contributions
    def post_remittance(self, command: PostRemittance, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """Post a monthly contribution remittance (Liao 1999 §II(2)-(3), (6)).

        Every line is split by ``rules.contribution_split`` under the policy in force on the
        first day of the period; the personal parts go to each person's account, the pooled
        part of the whole remittance to the pooled fund in one event. The declared total must
        equal what the policy computes, to the fen.
        """
        return self._run(unit, self._post_remittance, command)  # type: ignore[no-any-return]

    def _post_remittance(self, unit: UnitOfWork, command: PostRemittance) -> dict[str, Any]:
        command.check()
        unit.prefetch(touched_ids(command))
        digest = fingerprint(command)
        first = self._first_outcome(unit, "remittance", command.region, command.remittance_id, digest, "remittance_id")
        if first is not None:
            return first
        year, month = check_period(command.period)
        period_start = date(year, month, 1)
        book = self._book(unit, command.region)
        book.check_open(command.received_on, "received_on")
        policy = book.in_force(period_start)
        splits = [
            (self._account(unit, command.region, line.person_id, f"lines[{index}].person_id"), line)
            for index, line in enumerate(command.lines)
        ]
        period_end = date(year + month // 12, month % 12 + 1, 1) - timedelta(days=1)
        for index, (account, _) in enumerate(splits):
            self._check_payer(account, command, (period_start, period_end), f"lines[{index}].person_id")
            self._check_not_recorded(account, command.period, f"lines[{index}].person_id")
        computed = [self._split_line(policy, command, index, account, line, period_start) for index, (account, line) in enumerate(splits)]
        payable_fen = sum(split.payable_fen for split in computed)
        if payable_fen != command.declared_total_fen:
            raise DeclaredTotalMismatch(
                "declared_total_fen",
                f"declared {command.declared_total_fen} fen but the policy computes {payable_fen} fen "
                f"(difference {command.declared_total_fen - payable_fen:+d} fen)",
                declared_total_fen=command.declared_total_fen, computed_total_fen=payable_fen,
                difference_fen=command.declared_total_fen - payable_fen, remittance_id=command.remittance_id,
            )
        on = command.received_on
        for (account, _), split in zip(splits, computed, strict=True):
            self._credit_line(account, split, command, on)
        pooled_fen = sum(split.employer_to_pooled_fen for split in computed)
        retiree_credit_fen = sum(split.retiree_credit_fen for split in computed)
        to_accounts_fen = sum(split.employee_fen + split.employer_to_personal_fen for split in computed)
        fund = unit.get(PooledFund.id_for(command.region), PooledFund)
        fund.record_money(
            PooledFund.ContributionsReceived,
            acc.entry(
                acc.Posting(acc.BANK_INCOME, payable_fen),
                acc.Posting(acc.FUND_POOLED, -pooled_fen, acc.INCOME_CONTRIBUTION),
                acc.Posting(acc.CLEARING_PERSONAL_ACCOUNTS, -to_accounts_fen),
                *acc.transfer(acc.FUND_POOLED, acc.CLEARING_PERSONAL_ACCOUNTS, retiree_credit_fen, item=acc.TRANSFER_RETIREE_CREDIT),
            ),
            on=on, remittance_id=command.remittance_id, period=command.period,
            pooled_fen=pooled_fen, retiree_credit_fen=retiree_credit_fen,
        )
        outcome = {
            "remittance_id": command.remittance_id, "region": command.region, "period": command.period,
            "lines": len(computed), "total_fen": payable_fen,
            "employee_fen": sum(s.employee_fen for s in computed),
            "employer_fen": sum(s.employer_fen for s in computed),
            "to_personal_accounts_fen": sum(s.employee_fen + s.employer_to_personal_fen for s in computed),
            "to_pooled_fund_fen": pooled_fen, "retiree_credit_fen": retiree_credit_fen,
        }
        return self._record_outcome(unit, "remittance", command.region, command.remittance_id, digest, on, outcome)

    def _split_line(self, policy: PolicyVersion, command: PostRemittance, index: int,
                    account: PersonalAccount, line: Any, period_start: date) -> LineSplit:
        field = f"lines[{index}]"
        wage_base_fen = line.wage_base_fen
        if account.category == "laid_off":
            base_fen = laid_off_wage_base_fen(policy)
            if wage_base_fen not in (None, base_fen):
                raise InvalidInput(f"{field}.wage_base_fen", f"a laid-off worker's base is {base_fen} fen (60% of last year's average monthly wage), got {wage_base_fen}", person_id=account.person_id)
            wage_base_fen = base_fen
        elif account.category == "retiree" and wage_base_fen:
            raise InvalidInput(f"{field}.wage_base_fen", "retirees pay no contribution: the wage base must be 0 or absent",
                               person_id=account.person_id, wage_base_fen=wage_base_fen)
        elif wage_base_fen is None:
            if account.category != "retiree":
                raise InvalidInput(f"{field}.wage_base_fen", "is required for an employee", person_id=account.person_id)
            wage_base_fen = 0
        return contribution_split(policy, account.category, age_on(account.birth_date, period_start), wage_base_fen, account.pension_fen)

    @staticmethod
    def _check_payer(account: PersonalAccount, command: PostRemittance, period: tuple[date, date], field: str) -> None:
        """The payer must be the person's employer of record for the period (or the
        re-employment service centre of a laid-off worker): anyone else is refused until a change
        of employer is recorded (``change_category``)."""
        expected_kind = "reemployment_centre" if account.category == "laid_off" else "employer"
        if command.payer_kind != expected_kind:
            raise InvalidInput(
                field, f"a {account.category} is paid for by the {expected_kind.replace('_', ' ')}, "
                f"not by the {command.payer_kind.replace('_', ' ')}", person_id=account.person_id,
            )
        payers = account.employers_of_record(*period)
        if command.payer_id not in payers:
            raise PayerMismatch(
                field, f"{account.person_id}'s employer of record for {command.period} is {' or '.join(payers)}, "
                f"not {command.payer_id}: record the change of employer first (person.category_changed)",
                **account.who, period=command.period, payer_id=command.payer_id, employer_of_record=payers[-1],
            )

    def _check_not_recorded(self, account: PersonalAccount, period: str, field: str) -> None:
        """A person's contribution for a period is recorded once (a retiree's credit too): a second
        line for the same (person, period) is refused naming the first remittance."""
        is_retiree = account.category == "retiree"
        if not (account.has_retiree_credit(period) if is_retiree else account.has_contributed(period)):
            return
        first = self._first_line_reference(account, period, is_retiree)
        raise DuplicateContribution(
            field, f"{account.person_id}'s {'retiree credit' if is_retiree else 'contribution'} for {period} is already recorded "
            f"by remittance {first!r}: a period is paid once (send a correction or a late payment instead)",
            **account.who, period=period, first_remittance_id=first,
        )

    def _first_line_reference(self, account: PersonalAccount, period: str, retiree_credit: bool) -> str:
        """The remittance (or credit run) that first recorded ``period`` for the person: read from
        the account's events, stored and pending (only when refusing, so never on the fast path)."""
        stored = self.events.get(account.id)
        for event in (*stored, *account.pending_events):
            if getattr(event, "period", None) != period:
                continue
            paid = getattr(event, "employee_fen", 0) or getattr(event, "employer_to_personal_fen", 0)
            if (getattr(event, "retiree_credit_fen", 0) if retiree_credit else paid):
                return str(getattr(event, "remittance_id", None) or getattr(event, "reference", ""))
        return "(not found)"

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
            remittance_id=command.remittance_id, period=command.period, employee_fen=split.employee_fen,
            employer_to_personal_fen=split.employer_to_personal_fen, retiree_credit_fen=split.retiree_credit_fen,
        )
