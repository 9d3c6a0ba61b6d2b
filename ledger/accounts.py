"""The chart of accounts, postings, and the trial balance.

Every ledger event carries ``postings``: a list of ``{"account", "amount_fen", "item",
"person_id"}`` whose amounts sum to zero. Debits are positive, credits negative. Accounts are
per pooling region (the event's ``region``); fund accounts carry the income or expenditure
``item`` that the two-line reports group by, and the personal-account fund carries the
``person_id`` of the sub-ledger.

Normal balances: the bank accounts (assets) are debit balances; the funds and what is owed to
hospitals are credit balances. A fund's balance in yuan is therefore ``-Σ amount_fen``.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# --- bank accounts of the two-line management (两条线): income → fiscal special → expenditure
BANK_INCOME = "bank.income"  # 收入户存款: where contributions and other income arrive
BANK_FISCAL_SPECIAL = "bank.fiscal_special"  # 财政专户存款: the social security fiscal special account
BANK_EXPENDITURE = "bank.expenditure"  # 支出户存款: the only account that pays benefits
BASIC_FUND_BANK_ACCOUNTS = (BANK_INCOME, BANK_EXPENDITURE, BANK_FISCAL_SPECIAL)

# --- the basic medical insurance fund's two parts (credit balances)
FUND_POOLED = "fund.pooled"  # 统筹基金
FUND_PERSONAL = "fund.personal"  # 个人账户基金, with one sub-ledger per person (person_id)

# --- liabilities, receivables and clearing
PAYABLE_HOSPITALS = "payable.hospitals"  # 应付医疗机构: settled claims not yet paid out
# 应收财政补贴: a deficit of the pooled fund that the fiscal budget will cover (where the region's
# policy allows it), until a fiscal subsidy clears it
RECEIVABLE_FISCAL_BUDGET = "receivable.fiscal_budget"
# Between the personal accounts and the region's books: every movement of money between a
# personal account and a bank account or the pooled fund passes through it; zero after each save.
CLEARING_PERSONAL_ACCOUNTS = "clearing.personal_accounts"
# 应收利息: the deposits' interest for a year already credited to personal accounts, not yet posted
# from the banks. A year's interest run credits the accounts chunk by chunk, each chunk one
# transaction (``ledger.interest_posting``); this account holds what they credited until the
# run's last transaction posts the banks' interest, which clears it: zero after every whole run.
ACCRUED_DEPOSIT_INTEREST = "accrued.deposit_interest"
CLEARING_REGION_PREFIX = "clearing.region."  # + other region: debit = the other region owes us
TRANSIT_TRANSFERS_OUT = "transit.transfers_out"  # personal-account balances on their way out

# --- memo accounts: costs that the fund does not bear, kept so every bill balances in full
MEMO_PATIENT_OUT_OF_POCKET = "memo.patient_out_of_pocket"  # the patient's own payment
MEMO_REFERRED_ABOVE_CEILING = "memo.referred_above_ceiling"  # to supplementary insurance
MEMO_HOSPITAL_CHARGES_OUTSIDE_FUND = "memo.hospital_charges_outside_fund"  # contra of both

CHART_OF_ACCOUNTS: dict[str, str] = {
    BANK_INCOME: "Income account deposits (收入户), debit balance",
    BANK_FISCAL_SPECIAL: "Fiscal special account deposits (财政专户), debit balance",
    BANK_EXPENDITURE: "Expenditure account deposits (支出户), debit balance",
    FUND_POOLED: "Pooled fund (统筹基金), credit balance",
    FUND_PERSONAL: "Personal accounts fund (个人账户), credit balance, sub-ledger per person",
    PAYABLE_HOSPITALS: "Amounts due to hospitals and pharmacies, credit balance",
    RECEIVABLE_FISCAL_BUDGET: "Receivable from the fiscal budget (应收财政补贴): pooled-fund deficits it will cover, debit balance",
    CLEARING_PERSONAL_ACCOUNTS: "Clearing between personal accounts and the region's books, zero after each save",
    ACCRUED_DEPOSIT_INTEREST: "Deposit interest credited to the personal accounts, not yet posted from the banks (应收利息), "
                              "debit balance; zero after each year's interest run",
    TRANSIT_TRANSFERS_OUT: "Personal-account balances transferred out, in transit until they land, credit balance",
    MEMO_PATIENT_OUT_OF_POCKET: "Memo: the patients' own payments, debit balance",
    MEMO_REFERRED_ABOVE_CEILING: "Memo: costs above the ceiling, referred, debit balance",
    MEMO_HOSPITAL_CHARGES_OUTSIDE_FUND: "Memo: contra of the two memo accounts above",
}

# --- income and expenditure items (收入/支出项目) as in the fund's accounting rules
INCOME_CONTRIBUTION = "income.contribution"  # 基本医疗保险费收入
EXPENDITURE_OUTPATIENT = "expenditure.benefit.outpatient"  # personal account: outpatient
EXPENDITURE_PHARMACY = "expenditure.benefit.pharmacy"  # personal account: pharmacy
EXPENDITURE_INPATIENT = "expenditure.benefit.inpatient"  # pooled fund: inpatient
EXPENDITURE_INPATIENT_SELF_PAY = "expenditure.benefit.inpatient_self_pay"  # personal account
EXPENDITURE_SERIOUS_OUTPATIENT = "expenditure.benefit.serious_outpatient"  # pooled fund: 门诊大病
EXPENDITURE_SERIOUS_OUTPATIENT_SELF_PAY = "expenditure.benefit.serious_outpatient_self_pay"  # personal account
TRANSFER_RETIREE_CREDIT = "transfer.retiree_credit"  # employer share to retirees' accounts
TRANSFER_INTEREST_TO_PERSONAL_ACCOUNTS = "transfer.interest_to_personal_accounts"  # pooled fund tops up account interest
INCOME_INTEREST = "income.interest"  # 利息收入
INCOME_FISCAL_SUBSIDY = "income.fiscal_subsidy"  # 财政补贴收入 (pooled fund only)
INCOME_FISCAL_SUBSIDY_RECEIVABLE = "income.fiscal_subsidy_receivable"  # 应收财政补贴: a deficit the budget covers
INCOME_TRANSFER_IN = "income.transfer_in"  # 转移收入 (personal accounts)
INCOME_UPPER_LEVEL_SUBSIDY = "income.upper_level_subsidy"  # 上级补助收入
INCOME_LOWER_LEVEL_REMITTANCE = "income.lower_level_remittance"  # 下级上解收入
INCOME_OTHER = "income.other"  # 其他收入 (late fees, ...)
EXPENDITURE_TRANSFER_OUT = "expenditure.transfer_out"  # 转移支出 (personal accounts)
EXPENDITURE_SUBSIDY_TO_LOWER = "expenditure.subsidy_to_lower_levels"  # 补助下级支出
EXPENDITURE_REMITTANCE_TO_UPPER = "expenditure.remittance_to_upper_level"  # 上解上级支出
EXPENDITURE_INHERITANCE = "expenditure.other.inheritance"  # personal account paid to heirs
EXPENDITURE_OTHER = "expenditure.other"  # 其他支出
EXPENDITURE_MEMO_BENEFIT = "expenditure.benefit.memo"  # a memo fund's medical expenses

ITEMS: dict[str, str] = {
    INCOME_CONTRIBUTION: "Contribution income (基本医疗保险费收入)",
    EXPENDITURE_OUTPATIENT: "Benefit: outpatient, paid by the personal account",
    EXPENDITURE_PHARMACY: "Benefit: pharmacy purchases, paid by the personal account",
    EXPENDITURE_INPATIENT: "Benefit: inpatient, paid by the pooled fund",
    EXPENDITURE_INPATIENT_SELF_PAY: "Benefit: inpatient self-pay part, paid by the personal account",
    EXPENDITURE_SERIOUS_OUTPATIENT: "Benefit: serious and chronic outpatient conditions (门诊大病), paid by the pooled fund",
    EXPENDITURE_SERIOUS_OUTPATIENT_SELF_PAY: "Benefit: serious outpatient conditions, the patient's part paid by the personal account",
    TRANSFER_RETIREE_CREDIT: "Internal: employer share credited to retirees' personal accounts",
    TRANSFER_INTEREST_TO_PERSONAL_ACCOUNTS: "Internal: the pooled fund makes up the accounts' interest above what the deposits earned",
    INCOME_INTEREST: "Interest income (利息收入)",
    INCOME_FISCAL_SUBSIDY: "Fiscal subsidy (财政补贴收入), pooled fund only",
    INCOME_FISCAL_SUBSIDY_RECEIVABLE: "Fiscal subsidy receivable (应收财政补贴): a deficit of the pooled fund the fiscal budget covers, not yet received",
    INCOME_TRANSFER_IN: "Transfer income (转移收入), personal accounts",
    INCOME_UPPER_LEVEL_SUBSIDY: "Subsidy from the upper level (上级补助收入)",
    INCOME_LOWER_LEVEL_REMITTANCE: "Remittance from lower levels (下级上解收入)",
    INCOME_OTHER: "Other income (其他收入), e.g. late fees",
    EXPENDITURE_TRANSFER_OUT: "Transfer out (转移支出), personal accounts",
    EXPENDITURE_SUBSIDY_TO_LOWER: "Subsidy to lower levels (补助下级支出)",
    EXPENDITURE_REMITTANCE_TO_UPPER: "Remittance to the upper level (上解上级支出)",
    EXPENDITURE_INHERITANCE: "Other: personal account balance paid to heirs",
    EXPENDITURE_OTHER: "Other expenditure (其他支出)",
    EXPENDITURE_MEMO_BENEFIT: "Benefit paid by a memo fund",
}

MEMO_FUND_NAMES = ("retired_cadres", "disabled_servicemen", "civil_servant_subsidy", "enterprise_supplementary",
                   "large_amount_supplementary")
# The special groups' memo funds (Liao 1999 §II(6)): their benefits are paid to registered people.
PERSON_MEMO_FUNDS = ("retired_cadres", "disabled_servicemen", "civil_servant_subsidy")
for _name in MEMO_FUND_NAMES:
    CHART_OF_ACCOUNTS[f"fund.memo.{_name}"] = f"Memo fund {_name}, kept apart from the basic fund, credit balance"
    CHART_OF_ACCOUNTS[f"bank.memo.{_name}"] = f"Deposits of memo fund {_name}, debit balance"


def memo_fund_account(name: str) -> str:
    return f"fund.memo.{name}"


def memo_bank_account(name: str) -> str:
    return f"bank.memo.{name}"


def region_clearing_account(other_region: str) -> str:
    return f"{CLEARING_REGION_PREFIX}{other_region}"


def is_known_account(account: str) -> bool:
    if account in CHART_OF_ACCOUNTS:
        return True
    other = account.removeprefix(CLEARING_REGION_PREFIX)
    return other != account and len(other) == 6 and other.isdigit()

FUND_ACCOUNTS = frozenset({FUND_POOLED, FUND_PERSONAL, *(f"fund.memo.{n}" for n in MEMO_FUND_NAMES)})

# Origins of money credited to a personal account (the balance projection splits by these).
ORIGIN_EMPLOYEE_SHARE = "employee_share"
ORIGIN_EMPLOYER_SHARE = "employer_share"
ORIGIN_RETIREE_CREDIT = "retiree_credit"
ORIGIN_INTEREST = "interest"
ORIGIN_TRANSFER_IN = "transfer_in"


@dataclass(frozen=True)
class Posting:
    """One line of a journal entry. Debit positive, credit negative."""

    account: str
    amount_fen: int
    item: str | None = None
    person_id: str | None = None
    origin: str | None = None  # credits to a personal account: where the money came from

    def as_dict(self) -> dict[str, Any]:
        stored: dict[str, Any] = {
            "account": self.account,
            "amount_fen": self.amount_fen,
            "item": self.item,
            "person_id": self.person_id,
        }
        if self.origin is not None:
            stored["origin"] = self.origin
        return stored


def entry(*postings: Posting) -> list[dict[str, Any]]:
    """A balanced journal entry as stored on an event. Zero lines are dropped."""
    lines = [posting for posting in postings if posting.amount_fen != 0]
    total_fen = sum(posting.amount_fen for posting in lines)
    assert total_fen == 0, f"unbalanced entry: {lines} sums to {total_fen} fen"
    for posting in lines:
        assert isinstance(posting.amount_fen, int), posting
        assert is_known_account(posting.account), posting.account
    return [posting.as_dict() for posting in lines]


def transfer(debit: str, credit: str, amount_fen: int, **tags: Any) -> tuple[Posting, Posting]:
    """The two postings that move ``amount_fen`` from ``credit`` to ``debit``.

    ``tags`` (``item``, ``person_id`` and their ``debit_``/``credit_`` variants) label the
    fund side(s).
    """
    item = tags.get("item")
    person_id = tags.get("person_id")
    return (
        Posting(debit, amount_fen, tags.get("debit_item", item), tags.get("debit_person_id", person_id)),
        Posting(credit, -amount_fen, tags.get("credit_item", item), tags.get("credit_person_id", person_id),
                tags.get("origin")),
    )


def trial_balance(postings: Iterable[Mapping[str, Any]]) -> dict[str, int]:
    """Sum of postings per account. In a sound ledger the sums add up to zero."""
    totals: dict[str, int] = defaultdict(int)
    for posting in postings:
        totals[posting["account"]] += posting["amount_fen"]
    return dict(sorted(totals.items()))


def fund_balance_fen(postings: Iterable[Mapping[str, Any]], account: str) -> int:
    """Credit balance of a fund or liability account (positive when the fund holds money)."""
    return -sum(p["amount_fen"] for p in postings if p["account"] == account)


def income_and_expenditure(postings: Iterable[Mapping[str, Any]]) -> dict[tuple[str, str, str], int]:
    """Totals per (fund account, item, side) of the fund postings, as positive amounts; side is
    ``"in"`` for credits to the fund (income) and ``"out"`` for debits (expenditure). Never
    netted: an item's credits and debits are kept apart, so a reversal shows as its own line."""
    totals: dict[tuple[str, str, str], int] = defaultdict(int)
    for posting in postings:
        if posting["account"] in FUND_ACCOUNTS and posting.get("item"):
            side = "in" if posting["amount_fen"] < 0 else "out"
            totals[(posting["account"], posting["item"], side)] += abs(posting["amount_fen"])
    return dict(sorted(totals.items()))
