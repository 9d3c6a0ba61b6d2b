"""The ledger application and its core use cases: regions and policy, enrolment, idempotency.

Each use case takes a command (``ledger.commands``), checks it, computes with the rules of the
policy in force (``ledger.rules``), and records events on every aggregate it touches. A use case
called directly saves once, atomically; ``batch()`` runs many use cases and saves them together
(see ``ledger.unit_of_work``). Business ids are idempotent: the same id with the same payload
returns the first outcome and records nothing; with another payload it is refused.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple, cast
from uuid import UUID

import structlog
from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.domain import Aggregate, DomainEventProtocol
from eventsourcing.persistence import EventStore, JSONTranscoder, Mapper, ProcessRecorder, StoredEvent, Transcoding
from eventsourcing.utils import get_topic

from adapters.collector import cyclic_gc_paused
from ledger import accounts as acc
from ledger import bounds
from ledger.aggregates import BusinessRecord, PersonalAccount, PolicyBook, PooledFund, Postings
from ledger.commands import ChangeCategory, Enrol, PostRemittance
from ledger.errors import DuplicateBusinessId, UnknownPerson, UnknownRegion
from ledger.interest import DatedChanges
from ledger.policy import DateRules, Limits, PolicyFile, PolicyVersion, policy_to_stored
from ledger.records import InterestRateBook, MemoFund
from ledger.settings import whole_number_setting
from ledger.unit_of_work import EventWriter, PreparedSave, UnitOfWork

if TYPE_CHECKING:
    from adapters.event_reader import EventsAfter, LatestSnapshots


def reader_for(recorder: Any) -> EventsAfter:
    from adapters.event_reader import reader_for as adapter

    return adapter(recorder)


def latest_reader_for(recorder: Any, events_table: str) -> LatestSnapshots:
    from adapters.event_reader import latest_reader_for as adapter

    return adapter(recorder, events_table)


class Enrolment(NamedTuple):
    """A person's enrolment as the log holds it: where, whose account, and the event itself."""

    position: int  # the enrolment event's position in the log (its notification id)
    account_id: UUID
    person_id: str
    event: PersonalAccount.Enrolled  # the account's first event


def touched_ids(command: object) -> list[UUID]:
    """The personal accounts and business records a command will read: what ``prefetch`` loads."""
    region = getattr(command, "region", None) or getattr(command, "home_region", None)
    ids: list[UUID] = []
    if region is None:
        return ids
    person_id = getattr(command, "person_id", None)
    if person_id is not None:
        ids.append(PersonalAccount.id_for(region, person_id))
    if isinstance(command, PostRemittance):
        ids.append(BusinessRecord.id_for("remittance", region, command.remittance_id))
    for line in getattr(command, "lines", ()):
        line_person = getattr(line, "person_id", None)
        if line_person is not None:
            ids.append(PersonalAccount.id_for(region, line_person))
    claim_id = getattr(command, "claim_id", None)
    if claim_id is not None:
        ids.append(BusinessRecord.id_for("claim", region, claim_id))
    return ids


class DateAsISO(Transcoding):
    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class DatedChangesAsList(Transcoding):
    """A personal account's movements in a snapshot: day numbers and amounts in turn."""

    type = DatedChanges
    name = "dated_changes"

    def encode(self, obj: DatedChanges) -> list[int]:
        return obj.packed()

    def decode(self, data: list[int]) -> DatedChanges:
        return DatedChanges.from_packed(data)


logger = structlog.get_logger()

SNAPSHOT_EVERY_SETTING = "ACCOUNT_SNAPSHOT_EVERY"
MAX_SNAPSHOT_EVERY = 1_000


class CoreLedger(Application[UUID]):
    """The core of the fund ledger (``ledger.application.Ledger`` adds the lifecycle)."""

    name = "FundLedger"
    # An LRU cache of aggregates that hands out its own objects (no deep copy per get): the unit
    # of work evicts whatever a failed command or a failed save touched. Fast-forward stays on,
    # so several writer processes still see each other's events.
    # The stored JSON written and read by orjson, byte for byte what the library's transcoder
    # writes (adapters.transcoder); TRANSCODER_TOPIC=eventsourcing.persistence:JSONTranscoder
    # goes back to the library's.
    env: ClassVar[dict[str, str]] = {"AGGREGATE_CACHE_MAXSIZE": "50000", "DEEPCOPY_FROM_AGGREGATE_CACHE": "n",
                                     "TRANSCODER_TOPIC": "adapters.transcoder:OrjsonTranscoder"}
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {PooledFund: 500, PolicyBook: 100, InterestRateBook: 100}
    # A personal account is snapshotted by the unit of work that takes its version past a multiple
    # of this (about a year of its events: a month's contribution, the year-end interest, a claim
    # or two), in bulk after the save; a process that does not hold the account then reads its
    # last snapshot and the events after it, not its whole history (``UnitOfWork.prefetch``).
    # 0: none taken (those already stored are still read). ``ACCOUNT_SNAPSHOT_EVERY`` sets it.
    account_snapshot_interval: ClassVar[int] = 12

    recorder: ProcessRecorder  # see construct_recorder

    @property
    def events_after(self) -> EventsAfter:
        """Reads many aggregates' events in one round trip (``adapters.event_reader``)."""
        reader = self.__dict__.get("_events_after")
        if reader is None:
            reader = self.__dict__["_events_after"] = reader_for(self.recorder)
        return reader  # type: ignore[no-any-return]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.account_snapshot_every  # noqa: B018 (a wrong setting is refused before anything is stored)
        # The aggregates of saves handed over and not yet written (``consumers.save_behind``), by
        # how many such saves hold each: the cache is the only place their changes are until then.
        self._unwritten: Counter[UUID] = Counter()
        # Waits until every save handed over is written (set by ``consumers.save_behind`` while it
        # writes in the background): called before the store is read for an unwritten aggregate.
        self.wait_for_saves: Callable[[], None] | None = None

    def note_unwritten(self, aggregate_ids: Iterable[UUID]) -> None:
        """A save of these aggregates was handed over to be written later: keep them in the cache."""
        self._unwritten.update(aggregate_ids)

    def before_reading(self, aggregate_ids: Iterable[UUID]) -> None:
        """About to read these aggregates (the repository reads the cache first): if one is not in
        the cache and a save of it is handed over and not written yet, wait for the saves in
        flight, or the store would give it without that save's changes (a command that failed on
        an account evicts it, and the next command on it reads it again)."""
        if not self._unwritten or self.wait_for_saves is None:
            return
        cached = self.repository.cache.cache if self.repository.cache is not None else {}
        if any(i in self._unwritten and i not in cached for i in aggregate_ids):  # (the cache holds it as saved)
            self.wait_for_saves()

    def note_written(self, aggregate_ids: Iterable[UUID]) -> None:
        """That save was written (or will never be: its aggregates are then forgotten by the caller)."""
        self._unwritten.subtract(aggregate_ids)
        self._unwritten = +self._unwritten  # (drops the counts at zero)

    def _take_snapshots(self, processing_event: ProcessingEvent[UUID]) -> None:
        """The library's snapshots (pooled funds, policy books): one that cannot be taken (a
        process without keys cannot seal it) never fails the save it follows."""
        try:
            super()._take_snapshots(processing_event)
        except Exception as error:  # noqa: BLE001 (a snapshot is a shortcut: the save stands)
            logger.warning("snapshot_not_taken", error=type(error).__name__, detail=str(error)[:200])

    # ------------------------------------------------------------------ a unit of work's save, in steps
    @property
    def event_writer(self) -> EventWriter:
        """The event store, whose ``put`` is two steps: encode, then write (``adapters.crypto``)."""
        if not hasattr(self.events, "encode"):
            raise TypeError(f"{type(self.events).__name__}: the ledger's event store must encode and write in two steps "
                            "(adapters.crypto.TwoStepEventStore)")
        return cast(EventWriter, self.events)

    def write_save(self, prepared: PreparedSave) -> None:
        """Write a prepared save (``UnitOfWork.prepare``): its events and tracking record in one
        transaction, then, in one write after it, the personal accounts' snapshots it took. Uses
        only what was encoded and the recorders' connection pools: it may run in another thread
        while the applying thread goes on (``consumers.save_behind``). A snapshot is a
        shortcut: if writing them fails, the save stands."""
        processing_event = prepared.processing_event
        if processing_event.events or processing_event.tracking is not None:
            prepared.recordings = self.event_writer.write(processing_event.events, prepared.stored_events,
                                                          tracking=processing_event.tracking, **processing_event.saved_kwargs)
        if prepared.account_snapshots and self.snapshots is not None:
            try:
                self.snapshots.recorder.insert_events(prepared.account_snapshots)
            except Exception as error:  # noqa: BLE001
                logger.warning("account_snapshots_not_written", accounts=len(prepared.account_snapshots), error=type(error).__name__,
                               detail=str(error)[:200])

    def confirm_save(self, prepared: PreparedSave) -> None:
        """After ``write_save``, in the thread that applies commands: the library's snapshots
        (read back from the store at the saved versions) and its listeners."""
        if prepared.processing_event.events:
            self._take_snapshots(prepared.processing_event)
            self._notify(prepared.recordings)

    def forget(self, aggregate_ids: Iterable[UUID] | None = None) -> None:
        """Take these aggregates (all, if None) out of the cache: what a failed save touched, or
        everything when later work may have been built on it (``consumers.save_behind``). One
        at a time: the library's ``LRUCache.clear`` leaves its entries readable."""
        cache = self.repository.cache
        if cache is None:
            return
        for aggregate_id in list(cache.cache) if aggregate_ids is None else aggregate_ids:
            with suppress(KeyError):
                cache.get(aggregate_id, evict=True)

    def cache_is_current(self) -> bool:
        """Whether every aggregate in the repository's cache now holds every event stored for it,
        so that a batch may use them without asking the store for events after each: the store,
        if it watches its log (``written_by_others``), names the aggregates others wrote since it
        last looked, and those are evicted (the whole cache when it cannot tell). ``False`` for a
        store that does not watch: every cached aggregate is then checked against the store."""
        cache = self.repository.cache
        written_by_others = getattr(self.recorder, "written_by_others", None)
        if cache is None or written_by_others is None:
            return False
        named = written_by_others()  # everything (None) when the store cannot tell
        if not self._unwritten:
            self.forget(named)
            return True
        # Never an aggregate whose save is not written yet: the store can name it (its own save,
        # committed by the writing thread before it noted its position, or the save before it),
        # and read again it would lack the unwritten changes. Had someone else really written it,
        # that save fails on its version, and everything applied after it is forgotten.
        self.forget([aggregate_id for aggregate_id in (list(cache.cache) if named is None else named)
                     if aggregate_id not in self._unwritten])
        return True

    def warm_keys(self, aggregate_ids: list[UUID]) -> None:
        """The keys of these aggregates, about to be read cold, read ahead in a few queries."""
        warm = getattr(self.mapper, "warm_keys", None)
        if warm is not None:
            warm(aggregate_ids)

    def aggregate_from_snapshot(self, stored: StoredEvent) -> Aggregate:
        """The aggregate a stored snapshot holds, checked (``ledger.snapshots``); raises
        ``SnapshotUnusable`` if it may not be loaded."""
        return self.mapper.aggregate_from_snapshot(stored)  # type: ignore[attr-defined,no-any-return]

    @property
    def account_snapshot_every(self) -> int:
        """Events between two snapshots of a personal account (0: none taken): the setting
        ``ACCOUNT_SNAPSHOT_EVERY`` (0 to 1,000), else ``account_snapshot_interval``."""
        every = self.__dict__.get("_account_snapshot_every")
        if every is None:
            setting = self.env.get(SNAPSHOT_EVERY_SETTING)
            every = 0 if setting == "0" else whole_number_setting(SNAPSHOT_EVERY_SETTING, setting, self.account_snapshot_interval,
                                                                   MAX_SNAPSHOT_EVERY)
            self.__dict__["_account_snapshot_every"] = every
        return every  # type: ignore[no-any-return]

    @property
    def latest_snapshots(self) -> LatestSnapshots | None:
        """Reads many aggregates' last snapshots in one round trip (None: no snapshot store)."""
        if self.snapshots is None:
            return None
        reader = self.__dict__.get("_latest_snapshots")
        if reader is None:
            events_table = getattr(self.recorder, "events_table_name", "")  # (none in memory)
            reader = self.__dict__["_latest_snapshots"] = latest_reader_for(self.snapshots.recorder, events_table)
        return reader  # type: ignore[no-any-return]

    def prefetch(self, unit: UnitOfWork, commands: Iterable[object], messages: Iterable[tuple[str, str]] = ()) -> None:
        """Load everything ``commands`` will touch, and the records of ``messages`` ((source,
        message id) pairs), in one round trip (see ``UnitOfWork.prefetch``): a batch of messages
        then costs a query per batch, not one per person."""
        ids = [aggregate_id for command in commands for aggregate_id in touched_ids(command)]
        ids.extend(BusinessRecord.id_for("message", source, message_id) for source, message_id in messages)
        unit.prefetch(ids)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())
        transcoder.register(DatedChangesAsList())

    def construct_mapper(self) -> Mapper[UUID]:
        # Personal fields encrypted with a key per person, so that a person can be erased
        # (adapters.crypto; the keys from the settings, adapters.keys).
        from adapters.crypto import personal_data_mapper

        return personal_data_mapper(self.factory, self.construct_transcoder(), self.env)

    def construct_event_store(self) -> EventStore[UUID]:
        from adapters.crypto import event_store

        return event_store(self.mapper, self.recorder)

    def construct_snapshot_store(self) -> EventStore[UUID]:
        # Personal accounts are snapshotted in bulk (UnitOfWork): one statement a save on PostgreSQL.
        from adapters.crypto import snapshot_store
        from adapters.recorders import snapshot_recorder

        return snapshot_store(self.mapper, snapshot_recorder(self.factory))

    def construct_recorder(self) -> ProcessRecorder:
        # A process recorder also keeps tracking records (e.g. Kafka offsets) in the same
        # transaction as the events they caused; on PostgreSQL and SQLite it chains every event
        # (adapters.recorders).
        from adapters.recorders import process_recorder

        return process_recorder(self.factory, self.env)

    # ------------------------------------------------------------------ units of work
    @contextmanager
    def batch(self) -> Iterator[UnitOfWork]:
        """Run several use cases and save them in one transaction on leaving the block. An error
        in the block saves nothing, and what the block changed leaves memory (the cache) too.

        Python's cyclic garbage collector is paused until the unit is saved, as for a consumer's
        batch (``adapters.collector``): the unit's events live until then, and would otherwise set
        off full collections that walk every cached account, a cost that grows with the accounts."""
        unit = UnitOfWork(self)
        with cyclic_gc_paused():
            try:
                yield unit
            except BaseException:
                unit.discard()
                raise
            unit.commit()

    def _run(self, unit: UnitOfWork | None, use_case: Any, command: Any) -> Any:
        """Run ``use_case`` on ``command`` as one command of ``unit`` (or of a unit of its own,
        committed at once), after checking the command's bounds (``ledger.bounds``)."""
        if unit is not None:
            with unit.command():
                self._check_bounds(unit, command)
                return use_case(unit, command)
        own = UnitOfWork(self)
        with own.command():
            self._check_bounds(own, command)
            outcome = use_case(own, command)
        own.commit()
        return outcome

    @staticmethod
    def clock() -> datetime:
        """The ledger's clock: only bounds on when orders were issued read it."""
        return datetime.now(UTC)

    def _check_bounds(self, unit: UnitOfWork, command: object) -> None:
        """Dates in the region's window, amounts below its limits (``ledger.bounds``). A region
        that is not open is left to the use case to refuse."""
        if not bounds.is_command(command):
            return
        region = bounds.region_of(command)
        book = unit.find(PolicyBook.id_for(region), PolicyBook) if region is not None else None
        if region is not None and (book is None or not book.versions):
            return
        if book is None:
            rules, limits, opening = DateRules(), Limits(), None
        else:
            dated = [day for _, day in bounds.business_dates(command)]
            version = book.version_for_checks(min(dated) if dated else book.versions[-1]["effective_from"])
            rules, limits, opening = version.date_rules, version.limits, book.opening_date
        people = bounds.person_ids_of(command) if region is not None else []
        if region is not None and people:
            unit.prefetch(PersonalAccount.id_for(region, person_id) for person_id in people)
        accounts = {person_id: account for person_id in people if region is not None
                    and (account := unit.find(PersonalAccount.id_for(region, person_id), PersonalAccount)) is not None}
        bounds.check(command, bounds.Subject(opening, rules, limits, accounts, unit.reported_at), self.clock())

    def _new_unit(self) -> UnitOfWork:
        return UnitOfWork(self)

    # ------------------------------------------------------------------ regions and policy
    def open_region(self, policy_file: PolicyFile, unit: UnitOfWork | None = None) -> None:
        """Open a pooling region (its policy book and pooled fund) and adopt every version of
        its policy file that the book does not have yet. Safe to call again."""
        return self._run(unit, self._open_region, policy_file)  # type: ignore[no-any-return]

    def _open_region(self, unit: UnitOfWork, policy_file: PolicyFile) -> None:
        region = policy_file.region
        book = unit.find(PolicyBook.id_for(region), PolicyBook)
        if book is None:
            book = PolicyBook._create(PolicyBook.Opened, id=PolicyBook.id_for(region), region=region,
                                      region_name=policy_file.region_name, opened_on=policy_file.opening_date)
            unit.add(book)
            unit.add(PooledFund._create(PooledFund.Opened, id=PooledFund.id_for(region), region=region))
        for version in policy_file.versions:
            if not book.has_version(version.version):
                book.adopt(version, policy_to_stored(version))

    def policy_in_force(self, region: str, on: date, unit: UnitOfWork | None = None) -> PolicyVersion:
        return self._book(unit or UnitOfWork(self), region).in_force(on)

    def _book(self, unit: UnitOfWork, region: str) -> PolicyBook:
        book = unit.find(PolicyBook.id_for(region), PolicyBook)
        if book is None:
            raise UnknownRegion("region", f"region {region!r} has not been opened", region=region)
        return book

    # ------------------------------------------------------------------ enrolment
    def enrol(self, command: Enrol, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """Enrol an insured person: employee, retiree, or laid-off worker (paid for by a
        re-employment service centre). Enrolling the same person again with the same data is a
        no-op; with other data it is refused (use ``change_category``)."""
        return self._run(unit, self._enrol, command)  # type: ignore[no-any-return]

    def _enrol(self, unit: UnitOfWork, command: Enrol) -> dict[str, Any]:
        command.check()
        self._book(unit, command.region)
        account_id = PersonalAccount.id_for(command.region, command.person_id)
        existing = unit.find(account_id, PersonalAccount)
        if existing is not None:
            same = (existing.category, existing.birth_date, existing.employer_id, existing.enrolled_on, existing.pension_fen,
                    existing.months_brought) == (command.category, command.birth_date, command.employer_id, command.enrolled_on,
                                                 command.pension_fen, command.contribution_months_elsewhere)
            if not same:
                raise DuplicateBusinessId("person_id", "already enrolled with other data", region=command.region, person_id=command.person_id)
            return {"person_id": command.person_id, "created": False}
        account = PersonalAccount._create(
            PersonalAccount.Enrolled, id=account_id, region=command.region, person_id=command.person_id,
            category=command.category, birth_date=command.birth_date, employer_id=command.employer_id,
            enrolled_on=command.enrolled_on, pension_fen=command.pension_fen,
            contribution_months_elsewhere=command.contribution_months_elsewhere,
            contribution_history_reference=command.contribution_history_reference,
        )
        unit.add(account)
        return {"person_id": command.person_id, "created": True}

    def change_category(self, command: ChangeCategory, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """A person changes category (an employee retires, a laid-off worker is re-employed):
        from ``on``, remittances and claims apply the new category's rules."""
        return self._run(unit, self._change_category, command)  # type: ignore[no-any-return]

    def _change_category(self, unit: UnitOfWork, command: ChangeCategory) -> dict[str, Any]:
        Enrol(command.region, command.person_id, command.category, date(1900, 1, 1), command.employer_id,
              command.on, command.pension_fen).check()
        self._book(unit, command.region).check_open(command.on)
        account = self._account(unit, command.region, command.person_id)
        account.change_category(command.on, command.category, command.employer_id, command.pension_fen)
        return {"person_id": command.person_id, "category": command.category, "on": command.on.isoformat()}

    def _account(self, unit: UnitOfWork, region: str, person_id: str, field: str = "person_id") -> PersonalAccount:
        account = unit.find(PersonalAccount.id_for(region, person_id), PersonalAccount)
        if account is None:
            raise UnknownPerson(field, f"person {person_id!r} is not enrolled in region {region}", region=region, person_id=person_id)
        return account

    # ------------------------------------------------------------------ idempotency
    def _first_outcome(self, unit: UnitOfWork, kind: str, region: str, key: str, digest: str, field: str) -> dict[str, Any] | None:
        record = unit.find(BusinessRecord.id_for(kind, region, key), BusinessRecord)
        if record is None:
            return None
        if record.fingerprint != digest:
            raise DuplicateBusinessId(field, f"{key!r} was already applied with a different payload", region=region, business_id=key)
        return {**record.outcome, "duplicate": True}

    def _record_outcome(self, unit: UnitOfWork, kind: str, region: str, key: str, digest: str,
                        on: date, outcome: dict[str, Any], postings: Postings | None = None) -> dict[str, Any]:
        record = BusinessRecord._create(
            BusinessRecord.Recorded, id=BusinessRecord.id_for(kind, region, key), region=region, kind=kind,
            business_key=key, fingerprint=digest, on=on, outcome=outcome, postings=postings or [],
        )
        unit.add(record)
        return {**outcome, "duplicate": False}

    # ------------------------------------------------------------------ messages (provenance)
    def seen_message(self, unit: UnitOfWork, source: str, message_id: str, digest: str) -> dict[str, Any] | None:
        """The first outcome of message ``message_id`` from ``source`` (a producer or topic),
        or ``None`` if it is new. Raises ``DuplicateBusinessId`` if it came with another payload."""
        return self._first_outcome(unit, "message", source, message_id, digest, "message_id")

    def record_message(self, unit: UnitOfWork, source: str, message_id: str, digest: str, on: date,
                       provenance: dict[str, Any], caused: list[tuple[str, int]], outcome: dict[str, Any]) -> None:
        """Keep where a message came from (e.g. topic, partition, offset) and which events it
        caused, in the same transaction as those events."""
        self._record_outcome(unit, "message", source, message_id, digest, on,
                             {**outcome, "provenance": provenance, "caused": [list(c) for c in caused]})

    # ------------------------------------------------------------------ the pooled fund pays
    def _pooled_pays(self, unit: UnitOfWork, region: str, policy: PolicyVersion, event_class: type[PooledFund.MoneyEvent],
                     postings: Postings, paid_for: str, **details: Any) -> int:
        """Record a payment the pooled fund owes (a benefit, a retiree's credit, interest to the
        accounts). It never goes below zero (``PooledFund.record_money`` refuses, naming the
        shortfall) unless the region's policy books a deficit against a receivable from the
        fiscal budget (``pooled_deficit``): the shortfall is then covered first by a
        ``DeficitCovered`` event naming what it ``paid_for``, kept apart until a fiscal subsidy
        clears it. Returns the shortfall so covered (0: none)."""
        fund = unit.get(PooledFund.id_for(region), PooledFund)
        shortfall_fen = fund.shortfall_fen(postings)
        if shortfall_fen and policy.pooled_deficit == "fiscal_receivable":
            fund.record_money(
                PooledFund.DeficitCovered,
                acc.entry(*acc.transfer(acc.RECEIVABLE_FISCAL_BUDGET, acc.FUND_POOLED, shortfall_fen,
                                        credit_item=acc.INCOME_FISCAL_SUBSIDY_RECEIVABLE)),
                on=details["on"], reference=paid_for, shortfall_fen=shortfall_fen,
            )
        else:
            shortfall_fen = 0
        fund.record_money(event_class, postings, **details)
        return shortfall_fen

    def _memo_fund(self, unit: UnitOfWork, region: str, name: str) -> MemoFund:
        fund = unit.find(MemoFund.id_for(region, name), MemoFund)
        if fund is None:
            fund = MemoFund._create(MemoFund.Opened, id=MemoFund.id_for(region, name), region=region, name=name)
            unit.add(fund)
        return fund

    # ------------------------------------------------------------------ reading
    def _people_of(self, unit: UnitOfWork, region: str) -> list[str]:
        """Everyone enrolled in ``region``: stored, and enrolled earlier in this unit of work."""
        people = self.person_ids(region)
        known = set(people)
        for aggregate in list(unit.aggregates.values()):
            if isinstance(aggregate, PersonalAccount) and aggregate.region == region and aggregate.person_id not in known:
                people.append(aggregate.person_id)
                known.add(aggregate.person_id)
        return people

    def person_ids(self, region: str) -> list[str]:
        """Everyone ever enrolled in ``region``, in enrolment order (from the event log)."""
        return [enrolment.person_id for enrolment in self.enrolments(region)]

    def enrolments(self, region: str, after_position: int = 0, page_size: int = 5_000,
                   account_filter: Callable[[UUID], bool] | None = None) -> Iterator[Enrolment]:
        """Everyone enrolled in ``region`` after log position ``after_position``, in enrolment
        order, read ``page_size`` enrolments of the log at a time: a million people are streamed,
        never held. ``account_filter``: only the accounts whose id it accepts (asked before the
        enrolment is decoded)."""
        topic = get_topic(PersonalAccount.Enrolled)
        position = after_position + 1
        while True:
            notifications = self.recorder.select_notifications(start=position, limit=page_size, topics=[topic])
            if not notifications:
                return
            for notification in notifications:
                if account_filter is not None and not account_filter(_as_uuid(notification.originator_id)):
                    continue
                event = self.mapper.to_domain_event(notification)
                if event.region == region:  # type: ignore[attr-defined]
                    yield Enrolment(notification.id, event.originator_id, event.person_id, event)  # type: ignore[arg-type, attr-defined]
            position = notifications[-1].id + 1

    def personal_account(self, region: str, person_id: str) -> PersonalAccount:
        return self._account(UnitOfWork(self), region, person_id)

    def pooled_fund(self, region: str) -> PooledFund:
        self._book(UnitOfWork(self), region)
        return self.repository.get(PooledFund.id_for(region))  # type: ignore[no-any-return]

    def statement(self, region: str, person_id: str) -> list[dict[str, Any]]:
        """Every movement of a personal account with its running balance."""
        account = self.personal_account(region, person_id)
        lines: list[dict[str, Any]] = []
        balance_fen = 0
        for event in self.events.get(account.id):
            postings = getattr(event, "postings", None)
            if postings is None:
                continue
            change_fen = acc.fund_balance_fen(postings, acc.FUND_PERSONAL)
            balance_fen += change_fen
            lines.append({
                "on": event.on, "event": type(event).__name__, "version": event.originator_version,  # type: ignore[attr-defined]
                "reference": _reference(event),
                "change_fen": change_fen, "balance_fen": balance_fen,
            })
        return lines

    def stored_events(self, start: int = 1, batch_size: int = 1000) -> Iterator[tuple[int, DomainEventProtocol[UUID]]]:
        """Every event in the order it was recorded, with its notification id."""
        position = start
        while True:
            notifications = self.recorder.select_notifications(start=position, limit=batch_size)
            if not notifications:
                return
            for notification in notifications:
                yield notification.id, self.mapper.to_domain_event(notification)
            position = notifications[-1].id + 1

    def trial_balance(self) -> dict[str, int]:
        """Sum of all postings per account over the whole history: all sums add to zero."""
        return acc.trial_balance(
            posting for _, event in self.stored_events() for posting in getattr(event, "postings", ())
        )


def _as_uuid(value: UUID | str) -> UUID:
    return value if isinstance(value, UUID) else UUID(value)


def _reference(event: object) -> str | None:
    """The business id a statement line refers to."""
    for name in ("remittance_id", "claim_id", "transfer_id", "heirs_reference"):
        value = getattr(event, name, None)
        if value:
            return str(value)
    year = getattr(event, "year", None)
    return f"interest {year}" if year is not None and type(event).__name__ == "InterestCredited" else None
