"""Folding events into the projection rows, in memory: pure, and the same for the live
projection, the replay and the as-of queries.

Keyed on postings and attributes, never on event classes, so new event types keep working:

- every event with ``postings`` moves the accounts of its ``region`` on its business date ``on``;
- a posting to ``fund.personal`` (with ``person_id``) moves that person's account: a credit
  (negative amount) is money in, by its ``origin`` (else the event's ``origin``); a debit is a
  payment out;
- a posting to any ``fund.*`` account is income (item ``income.*``), expenditure
  (``expenditure.*``) or an internal transfer (anything else), of the fund named by the account
  without ``fund.`` (``pooled``, ``personal``, ``memo.<name>``);
- an event with ``person_id`` and ``enrolled_on`` opens a personal account row;
- an event with ``budget_lines`` and ``budget_kind`` sets the budget of each line's item for its
  ``region``, ``fund`` and ``year``;
- an event with ``closed_year`` turns that region's current-year money into carried-over money;
- the facts of the contribution, claim and memo-fund tables (``schema.FOLDED_TABLES``): see
  ``_fold_records``.

A batch state holds only the rows its events touch: personal rows loaded in full (their split
between carried-over and current-year money depends on what came before), every other table as
deltas added to what is stored.

A rebuild on several cores (``projections.shards``) folds with an ``Owner``: each worker folds
what is keyed by a person only for its own persons, and the rest of an event (the region's sums,
claims, budgets, year closes) only for the events it owns, so that every fact is folded once.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Protocol

from ledger.rules import split_current_and_carried
from projections import schema
from projections.schema import ORIGIN_COLUMNS, OTHER_ORIGIN_COLUMN

FUND_PREFIX = "fund."
PERSONAL_FUND = "fund.personal"
MEMO_FUND_PREFIX = "fund.memo."
# The personal tables' credit columns, in order, and the index of each origin's column among them.
CREDIT_COLUMNS = (*ORIGIN_COLUMNS.values(), OTHER_ORIGIN_COLUMN)
OTHER_CREDIT_INDEX = len(CREDIT_COLUMNS) - 1
CREDIT_INDEX_OF_ORIGIN = {origin: CREDIT_COLUMNS.index(column) for origin, column in ORIGIN_COLUMNS.items()}


class Owner(Protocol):
    """What one worker of a rebuild split by person folds (``projections.shards``)."""

    def owns_event(self, event: Any) -> bool:
        """Fold the event's facts that are not keyed by a person (sums, claims, budgets...)."""
        ...

    def owns_person(self, region: str, person_id: str) -> bool:
        """Fold what the event does to this person (the account row, statements, months...)."""
        ...


def _mine(owner: Owner | None, region: str, person_id: str) -> bool:
    return owner is None or owner.owns_person(region, person_id)


def event_date(event: Any) -> date | None:
    """The business date of an event: ``on``, else ``enrolled_on``; ``None`` if it has neither."""
    on = getattr(event, "on", None)
    if on is None:
        on = getattr(event, "enrolled_on", None)
    return on if isinstance(on, date) else None


def quarter_of(month: int) -> int:
    return (month - 1) // 3 + 1


def line_kind(item: str) -> str:
    """Which report a fund posting belongs to, by its item's prefix."""
    if item.startswith("income."):
        return "income"
    if item.startswith("expenditure."):
        return "expenditure"
    return "transfer"


def event_reference(event: Any) -> str | None:
    """The business id an accountant looks an event up by."""
    for name in ("remittance_id", "claim_id", "transfer_id", "budget_id", "settlement_id", "business_key", "interest_id"):
        value = getattr(event, name, None)
        if value:
            return str(value)
    return None


@dataclass
class PersonalRow:
    region: str
    person_id: str
    enrolled_on: str | None = None
    balance_fen: int = 0
    carried_over_fen: int = 0
    current_year_fen: int = 0
    current_year: int | None = None
    credited_fen: dict[str, int] = field(default_factory=dict)  # by column name
    debited_fen: int = 0
    movements: int = 0
    last_movement_on: str | None = None
    last_position: int | None = None
    opened_position: int | None = None  # where in the log the row began (a year closed before it does not roll it)

    @classmethod
    def from_stored(cls, stored: dict[str, Any]) -> PersonalRow:
        credited = {column: int(stored[column]) for column in CREDIT_COLUMNS}
        return cls(stored["region"], stored["person_id"], stored["enrolled_on"], stored["balance_fen"],
                   stored["carried_over_fen"], stored["current_year_fen"], stored["current_year"], credited,
                   stored["debited_fen"], stored["movements"], stored["last_movement_on"], stored["last_position"],
                   stored["opened_position"])

    def as_values(self) -> tuple[Any, ...]:
        credited_fen = self.credited_fen
        credited = tuple(credited_fen.get(column, 0) for column in CREDIT_COLUMNS)
        return (self.region, self.person_id, self.enrolled_on, self.balance_fen, self.carried_over_fen,
                self.current_year_fen, self.current_year, *credited, self.debited_fen, self.movements,
                self.last_movement_on, self.last_position, self.opened_position)

    def roll_into(self, year: int) -> None:
        """A new year: the current year's money becomes carried-over money (DOMAIN: year end)."""
        if self.current_year is None or self.current_year < year:
            self.carried_over_fen += self.current_year_fen
            self.current_year_fen = 0
            self.current_year = year

    def move(self, on: date | None, credits_fen: dict[str, int], debit_fen: int, day: str | None = None) -> None:
        """Credits add to the current year's money (or to carried-over money when the event is
        dated in an earlier year than the account's current year); payments draw on
        carried-over money first (``rules.split_current_and_carried``). ``day``: ``on`` in ISO
        form, if the caller has it already."""
        if on is not None:
            self.roll_into(on.year)
        credit_fen = sum(credits_fen.values())
        if on is not None and self.current_year is not None and on.year < self.current_year:
            self.carried_over_fen += credit_fen
        else:
            self.carried_over_fen, self.current_year_fen = split_current_and_carried(
                self.carried_over_fen, self.current_year_fen, credit_fen)
        self.carried_over_fen, self.current_year_fen = split_current_and_carried(
            self.carried_over_fen, self.current_year_fen, -debit_fen)
        credited_fen = self.credited_fen
        for origin, amount_fen in credits_fen.items():
            column = CREDIT_COLUMNS[CREDIT_INDEX_OF_ORIGIN.get(origin, OTHER_CREDIT_INDEX)]
            credited_fen[column] = credited_fen.get(column, 0) + amount_fen
        self.debited_fen += debit_fen
        self.balance_fen += credit_fen - debit_fen
        self.movements += 1
        if on is not None:
            self.last_movement_on = day or on.isoformat()


def _zeros(count: int) -> list[int]:
    return [0] * count


@dataclass
class BatchState:
    """What a batch of events changes. ``personal`` must hold every touched person's stored row
    (see ``touched_people``) before folding."""

    personal: dict[tuple[str, str], PersonalRow] = field(default_factory=dict)
    statements: list[tuple[Any, ...]] = field(default_factory=list)
    # Every posting is summed once, by (region, account, item, business day, year, quarter,
    # month); the account totals, the monthly flows and the income, expenditure and transfer
    # lines are sums of these (``accounts``, ``flows``, ``lines``).
    daily: dict[tuple[Any, ...], list[int]] = field(default_factory=lambda: defaultdict(lambda: _zeros(3)))
    budgets: dict[tuple[str, str, int, str], dict[str, Any]] = field(default_factory=dict)
    year_rolls: list[tuple[str, int]] = field(default_factory=list)  # (region, closed year), in order
    # The rows of schema.FOLDED_TABLES by table name and key: a full row ("insert") or deltas ("add").
    folded: dict[str, dict[tuple[Any, ...], list[Any]]] = field(default_factory=dict)
    last_position: int = 0
    events: int = 0

    @property
    def accounts(self) -> dict[tuple[str, str], list[int]]:
        """Per (region, account): debit, credit, debit - credit, postings."""
        totals: dict[tuple[str, str], list[int]] = defaultdict(lambda: _zeros(4))
        for (region, account, *_), (debit_fen, credit_fen, postings) in self.daily.items():
            total = totals[(region, account)]
            total[0] += debit_fen
            total[1] += credit_fen
            total[2] += debit_fen - credit_fen
            total[3] += postings
        return totals

    @property
    def flows(self) -> dict[tuple[str, str, int, int], list[int]]:
        """Per (region, account, year, month): debit, credit, postings."""
        totals: dict[tuple[str, str, int, int], list[int]] = defaultdict(lambda: _zeros(3))
        for (region, account, _, _, year, _, month), values in self.daily.items():
            total = totals[(region, account, year, month)]
            for index, value in enumerate(values):
                total[index] += value
        return totals

    @property
    def lines(self) -> dict[str, dict[tuple[Any, ...], list[int]]]:
        """The fund accounts' postings by report (income, expenditure, transfer) and (region, fund,
        item, year, quarter, month): the amount on the item's normal side (credit for income and
        transfers in, debit for expenditure), the amount on the other (reversals), postings."""
        lines: dict[str, dict[tuple[Any, ...], list[int]]] = {kind: defaultdict(lambda: _zeros(3))
                                                              for kind in ("income", "expenditure", "transfer")}
        for (region, account, item, _, year, quarter, month), (debit_fen, credit_fen, postings) in self.daily.items():
            if not account.startswith(FUND_PREFIX):
                continue
            kind = line_kind(item)
            normal_fen, other_fen = (debit_fen, credit_fen) if kind == "expenditure" else (credit_fen, debit_fen)
            line = lines[kind][(region, account[len(FUND_PREFIX):], item, year, quarter, month)]
            line[0] += normal_fen
            line[1] += other_fen
            line[2] += postings
        return lines

    def folded_row(self, table: schema.Table, key: tuple[Any, ...], values: tuple[Any, ...]) -> None:
        """A fact recorded once: within a batch too, the first row of a key is kept."""
        self.folded.setdefault(table.name, {}).setdefault(key, list(values))

    def folded_add(self, table: schema.Table, key: tuple[Any, ...], deltas: tuple[int, ...]) -> None:
        row = self.folded.setdefault(table.name, {}).setdefault(key, [0] * len(deltas))
        for index, delta in enumerate(deltas):
            row[index] += delta

    def folded_rows(self, table: schema.Table) -> list[tuple[Any, ...]]:
        return [(*key, *values) for key, values in sorted(self.folded.get(table.name, {}).items(), key=lambda kv: str(kv[0]))]


def touched_people(event: Any, owner: Owner | None = None) -> set[tuple[str, str]]:
    """The personal rows the event moves (of ``owner``'s persons, if given)."""
    region: str = getattr(event, "region", "") or ""
    people = {(region, p.get("person_id") or "") for p in getattr(event, "postings", None) or () if p["account"] == PERSONAL_FUND}
    if getattr(event, "enrolled_on", None) is not None and getattr(event, "person_id", None):
        people.add((region, event.person_id))
    if owner is not None:
        people = {key for key in people if owner.owns_person(*key)}
    return people


def fold(state: BatchState, position: int, event: Any, owner: Owner | None = None) -> None:
    """Apply one event (at notification id ``position``) to the batch state: all of it, or what
    ``owner`` folds of it."""
    state.last_position = position
    state.events += 1
    region = getattr(event, "region", None)
    if region is None:
        return
    on = event_date(event)
    day = on.isoformat() if on is not None else None
    person_id = getattr(event, "person_id", None)
    enrolled_on = getattr(event, "enrolled_on", None)
    whole = owner is None or owner.owns_event(event)
    if enrolled_on is not None and person_id and (region, person_id) not in state.personal and _mine(owner, region, person_id):
        state.personal[(region, person_id)] = PersonalRow(region, person_id, enrolled_on.isoformat(), opened_position=position)
    postings = getattr(event, "postings", None) or ()
    reference = event_reference(event) if postings else None  # what the statements and contribution months cite
    if postings:
        _fold_postings(state, position, event, region, on, day, reference, postings, whole, owner)
    _fold_records(state, position, event, region, on, day, reference, postings, whole, owner)
    lines = getattr(event, "budget_lines", None)
    if lines is not None and getattr(event, "budget_kind", None) and whole:
        _fold_budget(state, position, event, region, on, lines)
    closed_year = getattr(event, "closed_year", None)
    if closed_year is not None:
        if whole:
            state.folded_row(schema.YEAR_CLOSES, (region, int(closed_year)), (position, day))
        state.year_rolls.append((region, int(closed_year)))
        for row in state.personal.values():
            if row.region == region:
                row.roll_into(int(closed_year) + 1)


def _fold_postings(state: BatchState, position: int, event: Any, region: str, on: date | None, day: str | None,
                   reference: str | None, postings: Any, whole: bool = True, owner: Owner | None = None) -> None:
    year, month = (on.year, on.month) if on is not None else (0, 0)
    business_day = year * 10_000 + month * 100 + on.day if on is not None else 0
    quarter = quarter_of(month) if month else 0
    daily = state.daily
    people: dict[str, list[Any]] = {}
    for posting in postings:
        account, amount_fen = posting["account"], posting["amount_fen"]
        if whole:
            sums = daily[(region, account, posting.get("item") or "", business_day, year, quarter, month)]
            if amount_fen > 0:
                sums[0] += amount_fen
            else:
                sums[1] -= amount_fen
            sums[2] += 1
        if account == PERSONAL_FUND:
            people.setdefault(posting.get("person_id") or "", []).append(posting)
    for person_id, own in sorted(people.items()):
        if _mine(owner, region, person_id):
            _fold_person(state, position, event, region, on, day, reference, person_id, own)


def _fold_person(state: BatchState, position: int, event: Any, region: str, on: date | None, day: str | None,
                 reference: str | None, person_id: str, postings: list[Any]) -> None:
    row = state.personal.get((region, person_id))
    if row is None:
        row = state.personal[(region, person_id)] = PersonalRow(region, person_id, opened_position=position)
    credits_fen: dict[str, int] = {}
    debit_fen = 0
    for posting in postings:
        if posting["amount_fen"] < 0:
            origin = posting.get("origin") or getattr(event, "origin", None) or "other"
            credits_fen[origin] = credits_fen.get(origin, 0) - posting["amount_fen"]
        else:
            debit_fen += posting["amount_fen"]
    row.move(on, credits_fen, debit_fen, day)
    row.last_position = position
    credit_fen = sum(credits_fen.values())
    items = ",".join(sorted({p.get("item") or "" for p in postings}))
    state.statements.append((
        region, person_id, position, day, type(event).__qualname__,
        str(event.originator_id), event.originator_version, reference, items,
        ",".join(sorted(credits_fen)), credit_fen, debit_fen, credit_fen - debit_fen, row.balance_fen,
        row.carried_over_fen, row.current_year_fen, *credits_by_column(credits_fen),
    ))


def credits_by_column(credits_fen: dict[str, int]) -> tuple[int, ...]:
    """Credits by origin as the personal tables' credit columns (``ORIGIN_COLUMNS``, then other)."""
    columns = [0] * len(CREDIT_COLUMNS)
    for origin, amount_fen in credits_fen.items():
        columns[CREDIT_INDEX_OF_ORIGIN.get(origin, OTHER_CREDIT_INDEX)] += amount_fen
    return tuple(columns)


def _fold_budget(state: BatchState, position: int, event: Any, region: str, on: date | None, lines: Any) -> None:
    kind = str(event.budget_kind)
    for line in lines:
        key = (region, str(event.fund), int(event.year), str(line["item"]))
        state.folded_row(schema.BUDGET_HISTORY, (*key, position), (kind, int(line["amount_fen"]), on.isoformat() if on else None))
        budget = state.budgets.setdefault(key, {"approved_fen": None, "adjusted_fen": None})
        budget["approved_fen" if kind == "approved" else "adjusted_fen"] = int(line["amount_fen"])
        budget.update(budget_fen=int(line["amount_fen"]), budget_kind=kind,
                      business_date=on.isoformat() if on else None, position=position)


# ---------------------------------------------------------------------------- the folded tables
CONTRIBUTION_ORIGINS = ("employee_share", "employer_share")


def _fold_records(state: BatchState, position: int, event: Any, region: str, on: date | None, day: str | None,
                  reference: str | None, postings: Any, whole: bool = True, owner: Owner | None = None) -> None:
    """The facts of ``schema.FOLDED_TABLES``, keyed on attributes like the rest:

    - a credit to ``fund.personal`` from a contribution share on an event with a ``period``: that
      person contributed that month (counted once: the first line keeps it);
    - ``contribution_months_elsewhere`` (enrolment), ``contribution_months`` with a
      ``transfer_id`` (transfer in) and ``contribution_months_out`` (transfer out): months moving;
    - an ``outcome`` of ``kind`` ``claim`` (a claim's arithmetic) or ``reversal``;
    - a posting to a memo fund with a ``person_id``: that person's money in the memo fund; a
      ``referred_fen`` with a ``claim_id`` and ``fund``: a referral above the ceiling, and a memo
      fund's debit on an event with a ``claim_id``: a payment on it.

    What is keyed by a person is folded by the person's ``owner``, the rest if ``whole``.
    """
    period = getattr(event, "period", None)
    if isinstance(period, str):
        for posting in postings:
            if posting["account"] == PERSONAL_FUND and posting["amount_fen"] < 0 and posting.get("origin") in CONTRIBUTION_ORIGINS:
                key = (region, posting.get("person_id") or "", period)
                if _mine(owner, region, key[1]):
                    state.folded_row(schema.CONTRIBUTION_PERIODS, key, (reference, day, position))
    _fold_contribution_moves(state, position, event, region, day, postings, owner)
    _fold_memo_funds(state, event, region, on, postings, whole, owner)
    if not whole:
        return
    outcome = getattr(event, "outcome", None)
    if isinstance(outcome, dict) and getattr(event, "kind", None) == "claim":
        state.folded_row(schema.CLAIMS, (region, str(event.business_key)), _claim_values(outcome, day, position))
    elif isinstance(outcome, dict) and getattr(event, "kind", None) == "reversal":
        state.folded_row(schema.CLAIM_REVERSALS, (region, str(event.business_key)), (
            outcome.get("correction_id"), day, outcome.get("account_refund_fen", 0), outcome.get("pooled_refund_fen", 0),
            outcome.get("reason"), position))


def _fold_contribution_moves(state: BatchState, position: int, event: Any, region: str, day: str | None, postings: Any,
                             owner: Owner | None = None) -> None:
    elsewhere = getattr(event, "contribution_months_elsewhere", 0) or 0
    months_in = getattr(event, "contribution_months", 0) or 0
    months_out = getattr(event, "contribution_months_out", 0) or 0
    if not (elsewhere or months_in or months_out):
        return
    moves = (("enrolment", elsewhere, "contribution_history_reference"),
             ("transfer_in", months_in if getattr(event, "transfer_id", None) else 0, "transfer_id"),
             ("transfer_out", -months_out, "transfer_id"))
    for kind, months, reference in moves:
        if not months:
            continue
        person_id = getattr(event, "person_id", None) or next(
            (p.get("person_id") for p in postings if p["account"] == PERSONAL_FUND), None)
        if person_id and _mine(owner, region, person_id):
            state.folded_row(schema.CONTRIBUTION_MOVES, (region, person_id, position),
                             (kind, int(months), getattr(event, reference, None), day))


def _claim_values(outcome: dict[str, Any], day: str | None, position: int) -> tuple[Any, ...]:
    """A claim's row of ``proj_claims`` from its recorded outcome (older outcomes lack some keys)."""
    money = ("total_cost_fen", "excluded_fen", "deductible_fen", "copay_fen", "pooled_fen", "account_fen", "out_of_pocket_fen",
             "above_ceiling_fen")
    total_fen = outcome.get("total_cost_fen", outcome.get("amount_fen", 0))
    return (outcome.get("person_id", ""), outcome.get("kind", ""), day, outcome.get("policy_version"), outcome.get("treating_region"),
            outcome.get("institution_id"), outcome.get("hospital_level"), outcome.get("condition_code"), outcome.get("admission_number"),
            total_fen, *(outcome.get(name, 0) for name in money[1:]), outcome.get("referred_to"),
            outcome.get("annual_ceiling_fen"), outcome.get("ceiling_remaining_before_fen"), outcome.get("fiscal_receivable_fen", 0),
            json.dumps(outcome.get("tiers", []), sort_keys=True), position)


def _fold_memo_funds(state: BatchState, event: Any, region: str, on: date | None, postings: Any, whole: bool = True,
                     owner: Owner | None = None) -> None:
    year = on.year if on else 0
    claim_id = getattr(event, "claim_id", None)
    for posting in postings:
        if not posting["account"].startswith(MEMO_FUND_PREFIX):
            continue
        fund = posting["account"][len(MEMO_FUND_PREFIX):]
        amount_fen = posting["amount_fen"]
        if posting.get("person_id") and _mine(owner, region, posting["person_id"]):
            paid_fen, received_fen = (amount_fen, 0) if amount_fen > 0 else (0, -amount_fen)
            state.folded_add(schema.MEMO_FUND_PERSONS, (region, fund, posting["person_id"], year), (paid_fen, received_fen, 1))
        if claim_id and amount_fen > 0 and whole:
            state.folded_add(schema.MEMO_FUND_REFERRALS, (region, fund, claim_id, posting.get("person_id") or ""), (0, amount_fen))
    referred_fen = getattr(event, "referred_fen", None)
    if referred_fen is not None and claim_id and getattr(event, "fund", None) and whole:
        state.folded_add(schema.MEMO_FUND_REFERRALS, (region, str(event.fund), claim_id, str(event.person_id)), (int(referred_fen), 0))
