"""Verify: recompute the hash chain, the trial balance and every ledger invariant over the whole
history, from the events alone.

- the hash chain (``adapters.chain``) over every stored row, from the lowest position (a row at 0
  or below, where the ledger never writes, is a break): the first position where the recorded
  hashes stop matching the events is named, and every anchor kept outside the database
  (``projections.anchors``) must agree with the chain recomputed here;
- each aggregate's events are its versions 1, 2, ... n, once each, in log order: what the
  ledger folds an aggregate from is what is checked here;
- each event's postings are whole fen and sum to zero (double entry);
- the trial balance is zero overall and per region;
- each clearing account (``clearing.*`` except the inter-region ``clearing.region.*``
  positions) is zero after each transaction. On PostgreSQL a transaction is known exactly (the
  ``xmin`` of the event rows); SQLite keeps no transaction id, so there it is checked at the end
  of the history only;
- no personal account is ever below zero, nor any region's pooled fund (Liao 1999 §II(4): a
  deficit the budget covers is a receivable, never an overdraft of the personal accounts' cash);
- each fund account is posted only by its own aggregate: ``fund.pooled`` by the region's
  ``PooledFund``, ``fund.personal`` by the person's own ``PersonalAccount``, ``fund.memo.<name>``
  by that ``MemoFund``; no other aggregate posts to a fund;
- if the live projection is at the head of the log, its account balances equal the trial
  balance recomputed here; a projection built past the log's end means events were removed
  from it (a failure, not a note).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from eventsourcing.persistence import Notification

from adapters import chain
from ledger import aggregates
from projections import anchors as anchors_module
from projections import schema
from projections.anchors import Anchor
from projections.store import ProjectionStore

BATCH_SIZE = 5_000
MAX_EXAMPLES = 10  # violations kept per kind (all are counted)

FUND_OWNERS = {"fund.pooled": "PooledFund", "fund.personal": "PersonalAccount"}
MEMO_FUND_PREFIX = "fund.memo."


@dataclass
class Verification:
    events: int = 0
    postings: int = 0
    transactions: int | None = None  # None: not known (SQLite)
    trial_balance: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    violations: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    counts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    notes: list[str] = field(default_factory=list)
    chain_head: tuple[int, bytes] | None = None  # (position, hash) recomputed; None: no chain on this store
    chain_events: int = 0
    first_break: chain.ChainBreak | None = None

    def fail(self, kind: str, text: str) -> None:
        self.counts[kind] += 1
        if len(self.violations[kind]) < MAX_EXAMPLES:
            self.violations[kind].append(text)

    @property
    def passed(self) -> bool:
        return not self.counts


def expected_owner(account: str) -> str | None:
    if account in FUND_OWNERS:
        return FUND_OWNERS[account]
    if account.startswith(MEMO_FUND_PREFIX):
        return "MemoFund"
    return None


def _owner_id(owner: str, region: str, posting: dict[str, Any]) -> UUID | None:
    """The id the posting's own aggregate must have (``None``: not checkable)."""
    if owner == "PooledFund":
        return aggregates.PooledFund.id_for(region)
    if owner == "PersonalAccount":
        return aggregates.PersonalAccount.id_for(region, posting.get("person_id") or "")
    memo = getattr(aggregates, "MemoFund", None)
    if owner == "MemoFund" and memo is not None:
        return memo.id_for(region, posting["account"][len(MEMO_FUND_PREFIX):])  # type: ignore[no-any-return]
    return None


class Verifier:
    def __init__(self, ledger: Any) -> None:
        self.ledger = ledger
        self.result = Verification()
        self.clearing: dict[tuple[str, str], int] = defaultdict(int)
        self.personal: dict[tuple[str, str], int] = defaultdict(int)
        self.pooled: dict[str, int] = defaultdict(int)  # each region's pooled fund, credit +
        self.transaction: str | None = None
        self.transaction_start = 0
        self.versions: dict[UUID | str, int] = {}  # each aggregate's last version read, in log order
        self.unhashable: set[int] = set()  # positions of rows with a column of a type never written (a chain break)

    def transaction_ids(self, first: int, last: int) -> dict[int, str] | None:
        """The inserting transaction of each event row (PostgreSQL ``xmin``), else ``None``."""
        recorder = self.ledger.recorder
        datastore = getattr(recorder, "datastore", None)
        if datastore is None or not type(datastore).__name__.startswith("Postgres"):
            return None
        table = f'"{datastore.schema}"."{recorder.events_table_name}"'
        with datastore.transaction(commit=False) as cursor:
            cursor.execute(f"SELECT notification_id, xmin::text AS tx FROM {table} "
                           "WHERE notification_id BETWEEN %s AND %s", (first, last))
            return {row["notification_id"]: row["tx"] for row in cursor.fetchall()}

    def run(self, progress: Callable[[int, int], None] | None = None, anchors: list[Anchor] | None = None,
            stop: int | None = None) -> Verification:
        """Check every stored event, from the lowest position (through ``stop``): the hash chain (on the stores
        that keep one) and the anchors, then the books' invariants."""
        recorder = self.ledger.recorder
        head = stop if stop is not None else recorder.max_notification_id() or 0
        chained = chain.keeps_chain(recorder)
        never = chain.not_chained_yet(recorder) if chained else None
        if never is not None:  # a store of before the chain: not a break at every row, a user's error
            raise never
        check = chain.ChainCheck() if chained else None
        wanted = {anchor.position for anchor in anchors or ()}
        recomputed: dict[int, bytes] = {}
        position: int | None = None  # every row, from the lowest position stored (0 and below included)
        exact = True
        while True:
            notifications = self._read(position, stop, check, wanted, recomputed)
            if not notifications:
                break
            transactions = self.transaction_ids(notifications[0].id, notifications[-1].id)
            exact = exact and transactions is not None
            for notification in notifications:
                if transactions is not None:
                    self._transaction_boundary(transactions.get(notification.id), notification.id)
                if notification.id in self.unhashable:
                    continue  # a column of a type the ledger never writes: the chain's break names it
                self.check_version(notification)
                try:
                    event = self.ledger.mapper.to_domain_event(notification)
                except Exception as error:  # noqa: BLE001 - a tampered event may not decode at all
                    self.result.fail("event cannot be decoded", f"position {notification.id}: {type(error).__name__}: {error}"[:500])
                    continue
                self.check_event(notification.id, event)
            position = notifications[-1].id
            if progress is not None:
                progress(position, head)
        self._end_of_transaction(position or 0)
        self._finish(exact)
        self._finish_chain(check, anchors, recomputed, position or 0)
        return self.result

    def check_version(self, notification: Notification) -> None:
        """Each aggregate's events, in log order, are its versions 1, 2, ... n, each once: what
        the ledger folds an aggregate from is then exactly what is checked here."""
        due = self.versions.get(notification.originator_id, 0) + 1
        if notification.originator_version != due:
            self.result.fail("aggregate versions not 1..n in log order",
                             f"position {notification.id}: {notification.originator_id} v{notification.originator_version} where "
                             f"v{due} was due: a version missing, repeated or out of order (inserted or moved around the recorder)")
        self.versions[notification.originator_id] = notification.originator_version

    def _read(self, position: int | None, stop: int | None, check: chain.ChainCheck | None, wanted: set[int],
              recomputed: dict[int, bytes]) -> list[Notification]:
        """The next batch of events after ``position`` (``None``: from the first row stored), the
        chain checked over it when the store keeps one."""
        if check is None:
            start = 1 if position is None else position + 1
            return list(self.ledger.recorder.select_notifications(start=start, limit=BATCH_SIZE, stop=stop))
        rows = chain.read_chain(self.ledger.recorder, position, BATCH_SIZE, stop)
        for row in rows:
            computed = check.feed(row)
            if row.row_problem is not None:
                self.unhashable.add(row.position)
            if row.position in wanted:
                recomputed[row.position] = computed
        return [Notification(id=r.position, originator_id=r.originator_id, originator_version=r.originator_version,
                             topic=r.topic, state=r.state) for r in rows]

    def _finish_chain(self, check: chain.ChainCheck | None, anchors: list[Anchor] | None, recomputed: dict[int, bytes],
                      last_position: int) -> None:
        result = self.result
        if check is None:
            result.notes.append("this store keeps no hash chain (in memory): the history's integrity is not checked")
            if anchors:
                result.fail("anchor contradicted", "anchors given, but this store keeps no chain to check them against")
            return
        result.chain_head = (check.head_position, check.recomputed)
        result.chain_events = check.rows
        if check.first_break is not None:
            result.first_break = check.first_break
            result.fail("hash chain broken", f"first break at position {check.first_break.position}: {check.first_break.reason}")
            if check.breaks > 1:
                result.notes.append(f"the chain breaks at {check.breaks} positions in all")
        for problem in anchors_module.check_anchors(anchors or [], recomputed, last_position):
            result.fail("anchor contradicted", problem)
        if anchors:
            result.notes.append(f"{len(anchors)} anchor{'' if len(anchors) == 1 else 's'} checked against the chain")

    def _transaction_boundary(self, transaction: str | None, position: int) -> None:
        if transaction != self.transaction:
            if self.transaction is not None:
                self._end_of_transaction(position - 1)
            self.transaction = transaction
            self.transaction_start = position
            self.result.transactions = (self.result.transactions or 0) + 1

    def _end_of_transaction(self, position: int) -> None:
        for (region, account), balance_fen in self.clearing.items():
            if balance_fen:
                self.result.fail("clearing account not zero after a transaction",
                                 f"{region} {account} holds {balance_fen} fen after the transaction ending at position {position}")
        self.clearing.clear()

    def check_event(self, position: int, event: Any) -> None:
        result = self.result
        result.events += 1
        postings = getattr(event, "postings", None)
        if not postings:
            return
        region = getattr(event, "region", "?")
        where = f"position {position} ({type(event).__qualname__} {event.originator_id} v{event.originator_version})"
        owner = type(event).__qualname__.split(".")[0]
        total_fen = 0
        for posting in postings:
            account, amount_fen = posting["account"], posting["amount_fen"]
            result.postings += 1
            if isinstance(amount_fen, bool) or not isinstance(amount_fen, int):
                result.fail("amount not a whole number of fen", f"{where}: {account} {amount_fen!r}")
                continue
            total_fen += amount_fen
            result.trial_balance[(region, account)] += amount_fen
            if account.startswith("clearing.") and not account.startswith("clearing.region."):
                self.clearing[(region, account)] += amount_fen
            if account == "fund.personal":
                self.personal[(region, posting.get("person_id") or "")] -= amount_fen
            elif account == "fund.pooled":
                self.pooled[region] -= amount_fen
            if account.startswith("fund."):
                self._check_owner(where, owner, event, region, posting)
        if total_fen != 0:
            result.fail("event postings do not sum to zero", f"{where}: sum {total_fen} fen")
        for posting in postings:
            if posting["account"] == "fund.personal":
                key = (region, posting.get("person_id") or "")
                if self.personal[key] < 0:
                    result.fail("personal account below zero", f"{where}: {key[1]} at {self.personal[key]} fen")
        touches_pooled = any(posting["account"] == "fund.pooled" for posting in postings)
        if touches_pooled and self.pooled[region] < 0:  # Liao 1999 §II(4): a deficit is a receivable, never an overdraft
            result.fail("pooled fund below zero", f"{where}: region {region} at {self.pooled[region]} fen")

    def _check_owner(self, where: str, owner: str, event: Any, region: str, posting: dict[str, Any]) -> None:
        expected = expected_owner(posting["account"])
        if expected is None:
            self.result.fail("fund account posted by the wrong aggregate", f"{where}: unknown fund account {posting['account']}")
        elif owner != expected:
            self.result.fail("fund account posted by the wrong aggregate", f"{where}: {owner} posted {posting['account']}")
        else:
            own_id = _owner_id(owner, region, posting)
            if own_id is not None and own_id != event.originator_id:
                self.result.fail("fund account posted by the wrong aggregate",
                                 f"{where}: {posting['account']} of {posting.get('person_id') or region} posted by another {owner}")

    def _finish(self, exact: bool) -> None:
        result = self.result
        by_region: dict[str, int] = defaultdict(int)
        for (region, _), amount_fen in result.trial_balance.items():
            by_region[region] += amount_fen
        for region, total_fen in sorted(by_region.items()):
            if total_fen:
                result.fail("trial balance not zero", f"region {region}: {total_fen} fen")
        if sum(by_region.values()):
            result.fail("trial balance not zero", f"overall: {sum(by_region.values())} fen")
        if not exact:
            result.notes.append("clearing accounts checked at the end of the history only (this store keeps no transaction ids)")

    def compare_projection(self, store: ProjectionStore) -> None:
        """If the live projection is at the head, its balances must equal the trial balance."""
        head = self.ledger.recorder.max_notification_id() or 0
        position = store.position(schema.LIVE_PREFIX)
        if not head and not position:
            return
        if position > head:
            self.result.fail("projection ahead of the log",
                             f"the live projection was built through position {position}, but the log now ends at {head}: "
                             "events were removed from the end of the log")
            return
        if position != head:
            self.result.notes.append(f"live projection at position {position}, log at {head}: not compared (run `fund-ledger project`)")
            return
        stored = {(r["region"], r["account"]): r["balance_fen"]
                  for r in store.query(f"SELECT region, account, balance_fen FROM {schema.LIVE_PREFIX}account_balances")}
        for key in sorted(set(stored) | set(self.result.trial_balance)):
            if stored.get(key, 0) != self.result.trial_balance.get(key, 0):
                self.result.fail("projection differs from the events",
                                 f"{key[0]} {key[1]}: projection {stored.get(key, 0)} fen, events {self.result.trial_balance.get(key, 0)} fen")
