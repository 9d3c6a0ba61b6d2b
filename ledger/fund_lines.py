"""The fund's other lines: income other than contributions, expenditure other than benefits, the
two-line bank movements (收支两条线), memo funds and budgets (Liao 1999 §II(5)).

Part of ``Ledger`` (see ``ledger.application``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ledger import accounts as acc
from ledger.aggregates import PersonalAccount, PooledFund
from ledger.commands import (
    MoveBetweenBankAccounts,
    RecordExpenditure,
    RecordIncome,
    RegisterMemoBeneficiary,
    SetBudget,
    check_fen,
    check_text,
    fingerprint,
)
from ledger.core import CoreLedger
from ledger.errors import ForbiddenExpenditure, InvalidInput, ScopeViolation, UnknownBeneficiary
from ledger.records import Budget, MemoFund

if TYPE_CHECKING:
    from ledger.unit_of_work import UnitOfWork

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


class FundLinesUseCases(CoreLedger):
    # ------------------------------------------------------------------ other income and expenditure
    def record_income(self, command: RecordIncome, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """Income other than contributions, into the income account: fiscal subsidy (pooled fund
        only), subsidy from the upper level, remittance from lower levels, bank interest, late
        fees and other income; or a memo fund's own income, on its own accounts. A fiscal subsidy
        first clears what the pooled fund has receivable from the fiscal budget (a deficit it
        covered, ``pooled_deficit``); only the rest is fiscal subsidy income."""
        return self._run(unit, self._record_income, command)  # type: ignore[no-any-return]

    def _record_income(self, unit: UnitOfWork, command: RecordIncome) -> dict[str, Any]:
        check_text("income_id", command.income_id)
        check_fen("amount_fen", command.amount_fen, allow_zero=False)
        digest = fingerprint(command)
        first = self._first_outcome(unit, "income", command.region, command.income_id, digest, "income_id")
        if first is not None:
            return first
        self._book(unit, command.region).check_open(command.on)
        cleared_fen = 0
        if command.fund == "pooled":
            item = INCOME_ITEMS_POOLED.get(command.item)
            if item is None:
                raise InvalidInput("item", f"not an income item of the pooled fund: {command.item!r} (one of {', '.join(INCOME_ITEMS_POOLED)})")
            fund = unit.get(PooledFund.id_for(command.region), PooledFund)
            if item == acc.INCOME_FISCAL_SUBSIDY:
                cleared_fen = min(command.amount_fen, fund.fiscal_receivable_fen)
            fund.record_money(
                PooledFund.IncomeRecorded,
                acc.entry(acc.Posting(acc.BANK_INCOME, command.amount_fen), acc.Posting(acc.RECEIVABLE_FISCAL_BUDGET, -cleared_fen),
                          acc.Posting(acc.FUND_POOLED, cleared_fen - command.amount_fen, item)),
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
        outcome = {"income_id": command.income_id, "fund": command.fund, "item": item, "amount_fen": command.amount_fen,
                   "receivable_cleared_fen": cleared_fen}
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
        outcome_extra: dict[str, Any] = {}
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
            fund = self._memo_fund(unit, command.region, command.fund)
            person_id = self._memo_payee(fund, command) if item == acc.EXPENDITURE_MEMO_BENEFIT else command.person_id
            fund.record_money(
                MemoFund.ExpenditureRecorded,
                acc.entry(*acc.transfer(acc.memo_fund_account(command.fund), acc.memo_bank_account(command.fund), command.amount_fen,
                                        debit_item=item, debit_person_id=person_id)),
                on=command.on, reference=command.expenditure_id, item=item, amount_fen=command.amount_fen,
                person_id=person_id, claim_id=command.claim_id,
            )
            outcome_extra = {"person_id": person_id, "claim_id": command.claim_id}
        elif command.fund == "personal":
            raise ScopeViolation("fund", "personal accounts pay only their holders' medical costs, transfers and inheritance")
        else:
            raise InvalidInput("fund", f"unknown fund {command.fund!r}: 'pooled' or a memo fund ({', '.join(acc.MEMO_FUND_NAMES)})")
        outcome = {"expenditure_id": command.expenditure_id, "fund": command.fund, "item": item, "amount_fen": command.amount_fen,
                   **outcome_extra}
        return self._record_outcome(unit, "expenditure", command.region, command.expenditure_id, digest, command.on, outcome)

    @staticmethod
    def _memo_payee(fund: MemoFund, command: RecordExpenditure) -> str | None:
        """Whom a memo fund's benefit pays, so that it is traceable to a person: a special group's
        fund (Liao 1999 §II(6)) only a person registered with it by the day paid; a supplementary
        fund what is left of a claim referred to it above the ceiling, for that claim's person."""
        if fund.name in acc.PERSON_MEMO_FUNDS:
            registered = fund.beneficiaries.get(command.person_id or "")
            if registered is None or registered["since"] > command.on:
                since = f" only from {registered['since']}" if registered else ""
                raise UnknownBeneficiary("person_id", f"memo fund {fund.name} pays only the people registered with it: "
                                         f"{command.person_id or 'no person named'} is not{since}", region=fund.region,
                                         fund=fund.name, person_id=command.person_id)
            return command.person_id
        if command.claim_id is None:
            return command.person_id
        referral = fund.referrals.get(command.claim_id)
        if referral is None:
            raise InvalidInput("claim_id", f"no part of claim {command.claim_id!r} was referred to memo fund {fund.name}",
                               claim_id=command.claim_id)
        if command.person_id not in (None, referral["person_id"]):
            raise InvalidInput("person_id", f"claim {command.claim_id!r} is {referral['person_id']}'s, not {command.person_id}'s",
                               claim_id=command.claim_id)
        left_fen = fund.referral_left_fen(command.claim_id)
        if command.amount_fen > left_fen:
            raise InvalidInput("amount_fen", f"{left_fen} fen is left of what claim {command.claim_id!r} referred above the ceiling, "
                               f"not {command.amount_fen}", claim_id=command.claim_id, left_fen=left_fen)
        return str(referral["person_id"])

    def register_memo_beneficiary(self, command: RegisterMemoBeneficiary, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """Register a person with a special group's memo fund (Liao 1999 §II(6)): retired cadres
        and old Red Army soldiers keep their original treatment outside the basic scheme (they may
        not be insured in it); the civil servants' medical subsidy is paid on top of the basic
        scheme (they must be insured in it); disabled servicemen of class B and above keep their
        treatment, on books kept apart. Registering the same person again with the same data is
        a no-op."""
        return self._run(unit, self._register_memo_beneficiary, command)  # type: ignore[no-any-return]

    def _register_memo_beneficiary(self, unit: UnitOfWork, command: RegisterMemoBeneficiary) -> dict[str, Any]:
        for field in ("region", "person_id"):
            check_text(field, getattr(command, field))
        check_text("reference", command.reference, 200)
        if command.fund not in acc.PERSON_MEMO_FUNDS:
            raise InvalidInput("fund", f"people are registered with a special group's memo fund ({', '.join(acc.PERSON_MEMO_FUNDS)}), "
                               f"not {command.fund!r}", fund=command.fund)
        digest = fingerprint(command)
        key = f"{command.fund}/{command.person_id}"
        first = self._first_outcome(unit, "memo-beneficiary", command.region, key, digest, "person_id")
        if first is not None:
            return first
        self._book(unit, command.region).check_open(command.since, "since")
        insured = unit.find(PersonalAccount.id_for(command.region, command.person_id), PersonalAccount) is not None
        if command.fund == "civil_servant_subsidy" and not insured:
            raise InvalidInput("person_id", f"the civil servants' medical subsidy is paid on top of the basic scheme: {command.person_id} "
                               f"is not insured in region {command.region}", person_id=command.person_id)
        if command.fund == "retired_cadres" and insured:
            raise InvalidInput("person_id", f"retired cadres and old Red Army soldiers do not take part in the basic scheme (Liao 1999 "
                               f"§II(6)): {command.person_id} is insured in region {command.region}", person_id=command.person_id)
        fund = self._memo_fund(unit, command.region, command.fund)
        fund.trigger_event(MemoFund.BeneficiaryRegistered, region=command.region, on=command.since, person_id=command.person_id,
                           reference=command.reference)
        outcome = {"fund": command.fund, "person_id": command.person_id, "since": command.since.isoformat(), "reference": command.reference}
        return self._record_outcome(unit, "memo-beneficiary", command.region, key, digest, command.since, outcome)

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
        first_line_of: dict[str, int] = {}
        for index, line in enumerate(command.lines):
            if line.item not in acc.ITEMS or not line.item.startswith(("income.", "expenditure.")):
                raise InvalidInput(f"lines[{index}].item", f"not an income or expenditure item: {line.item!r}", item=line.item)
            if line.item in first_line_of:  # which of the two amounts is meant cannot be told
                raise InvalidInput(f"lines[{index}].item", f"{line.item!r} is budgeted twice (lines[{first_line_of[line.item]}] "
                                   "and this one): one line an item", item=line.item)
            first_line_of[line.item] = index
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
