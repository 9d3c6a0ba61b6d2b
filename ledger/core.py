"""The ledger's core use cases: regions and policy, enrolment, contributions, claims.

Each use case takes a command (``ledger.commands``), checks it, computes with the rules of the
policy in force (``ledger.rules``), and records events on every aggregate it touches. A use case
called directly saves once, atomically; ``batch()`` runs many use cases and saves them together
(see ``ledger.unit_of_work``). Business ids are idempotent: the same id with the same payload
returns the first outcome and records nothing; with another payload it is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.domain import DomainEventProtocol
from eventsourcing.persistence import EventStore, JSONTranscoder, Mapper, ProcessRecorder, Transcoding

from ledger import accounts as acc
from ledger import bounds
from ledger.aggregates import (
    BusinessRecord,
    ClearingPosition,
    InterestRateBook,
    PersonalAccount,
    PolicyBook,
    PooledFund,
    Postings,
    check_ceiling,
)
from ledger.commands import (
    ChangeCategory,
    Enrol,
    PayOutpatient,
    PostRemittance,
    SettleInpatient,
    check_period,
    fingerprint,
)
from ledger.errors import (
    DeclaredTotalMismatch,
    DuplicateBusinessId,
    InvalidInput,
    UnknownPerson,
    UnknownRegion,
)
from ledger.policy import DateRules, Limits, PolicyFile, PolicyVersion, policy_to_stored
from ledger.rules import LineSplit, age_on, contribution_split, laid_off_wage_base_fen, pay_from_account, settle_inpatient
from ledger.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from adapters.event_reader import EventsAfter


def reader_for(recorder: Any) -> EventsAfter:
    from adapters.event_reader import reader_for as adapter

    return adapter(recorder)


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
        ids.extend(PersonalAccount.id_for(region, line.person_id) for line in command.lines)
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


class CoreLedger(Application[UUID]):
    """The core of the fund ledger (``ledger.application.Ledger`` adds the lifecycle)."""

    name = "FundLedger"
    # An LRU cache of aggregates that hands out its own objects (no deep copy per get): the unit
    # of work evicts whatever a failed command or a failed save touched. Fast-forward stays on,
    # so several writer processes still see each other's events.
    env: ClassVar[dict[str, str]] = {"AGGREGATE_CACHE_MAXSIZE": "50000", "DEEPCOPY_FROM_AGGREGATE_CACHE": "n"}
    snapshotting_intervals: ClassVar[dict[type[Any], int]] = {PooledFund: 500, PolicyBook: 100, InterestRateBook: 100}

    recorder: ProcessRecorder  # see construct_recorder

    @property
    def events_after(self) -> EventsAfter:
        """Reads many aggregates' events in one round trip (``adapters.event_reader``)."""
        reader = self.__dict__.get("_events_after")
        if reader is None:
            reader = self.__dict__["_events_after"] = reader_for(self.recorder)
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

    def construct_mapper(self) -> Mapper[UUID]:
        # Personal fields encrypted with a key per person, so that a person can be erased
        # (adapters.crypto; the keys from the settings, adapters.keys).
        from adapters.crypto import personal_data_mapper

        return personal_data_mapper(self.factory, self.construct_transcoder(), self.env)

    def construct_event_store(self) -> EventStore[UUID]:
        from adapters.crypto import event_store

        return event_store(self.mapper, self.recorder)

    def construct_recorder(self) -> ProcessRecorder:
        # A process recorder also keeps tracking records (e.g. Kafka offsets) in the same
        # transaction as the events they caused; on PostgreSQL and SQLite it chains every event
        # (adapters.recorders).
        from adapters.recorders import process_recorder

        return process_recorder(self.factory, self.env)

    # ------------------------------------------------------------------ units of work
    @contextmanager
    def batch(self) -> Iterator[UnitOfWork]:
        """Run several use cases and save them in one transaction on leaving the block."""
        unit = UnitOfWork(self)
        yield unit
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
            same = (existing.category, existing.birth_date, existing.employer_id, existing.enrolled_on, existing.pension_fen) == (
                command.category, command.birth_date, command.employer_id, command.enrolled_on, command.pension_fen)
            if not same:
                raise DuplicateBusinessId("person_id", "already enrolled with other data", region=command.region, person_id=command.person_id)
            return {"person_id": command.person_id, "created": False}
        account = PersonalAccount._create(
            PersonalAccount.Enrolled, id=account_id, region=command.region, person_id=command.person_id,
            category=command.category, birth_date=command.birth_date, employer_id=command.employer_id,
            enrolled_on=command.enrolled_on, pension_fen=command.pension_fen,
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
        expected_payer = "reemployment_centre" if account.category == "laid_off" else "employer"
        if command.payer_kind != expected_payer:
            raise InvalidInput(
                f"{field}.person_id",
                f"a {account.category} is paid for by the {expected_payer.replace('_', ' ')}, not by the {command.payer_kind.replace('_', ' ')}",
                person_id=account.person_id,
            )
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

    # ------------------------------------------------------------------ claims
    def pay_outpatient(self, command: PayOutpatient, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """Outpatient or pharmacy: the personal account pays while its balance lasts, the rest
        is the patient's own payment (Liao 1999 §II(4)). The pooled fund never pays these."""
        return self._run(unit, self._pay_outpatient, command)  # type: ignore[no-any-return]

    def _pay_outpatient(self, unit: UnitOfWork, command: PayOutpatient) -> dict[str, Any]:
        command.check()
        digest = fingerprint(command)
        first = self._first_outcome(unit, "claim", command.region, command.claim_id, digest, "claim_id")
        if first is not None:
            return first
        self._book(unit, command.region).check_open(command.on)
        account = self._account(unit, command.region, command.person_id)
        account_fen, out_of_pocket_fen = pay_from_account(account.balance_fen, command.amount_fen)
        item = acc.EXPENDITURE_OUTPATIENT if command.kind == "outpatient" else acc.EXPENDITURE_PHARMACY
        account.record_money(
            PersonalAccount.ClaimPaid,
            acc.entry(*acc.transfer(acc.FUND_PERSONAL, acc.PAYABLE_HOSPITALS, account_fen, debit_item=item, debit_person_id=account.person_id)),
            on=command.on, origin="claim", claim_id=command.claim_id, kind=command.kind, account_fen=account_fen,
        )
        outcome = {"claim_id": command.claim_id, "person_id": command.person_id, "kind": command.kind,
                   "amount_fen": command.amount_fen, "account_fen": account_fen, "out_of_pocket_fen": out_of_pocket_fen,
                   "pooled_fen": 0}
        memo = acc.entry(*acc.transfer(acc.MEMO_PATIENT_OUT_OF_POCKET, acc.MEMO_HOSPITAL_CHARGES_OUTSIDE_FUND, out_of_pocket_fen, person_id=command.person_id))
        return self._record_outcome(unit, "claim", command.region, command.claim_id, digest, command.on, outcome, memo)

    def settle_inpatient(self, command: SettleInpatient, unit: UnitOfWork | None = None) -> dict[str, Any]:
        """Settle an inpatient bill (Liao 1999 §II(4)) by ``rules.settle_inpatient``: the pooled
        fund pays its share up to the annual ceiling; the personal account pays the patient's
        share while it lasts; the rest is out of pocket; above the ceiling is referred."""
        return self._run(unit, self._settle_inpatient, command)  # type: ignore[no-any-return]

    def _settle_inpatient(self, unit: UnitOfWork, command: SettleInpatient) -> dict[str, Any]:
        command.check()
        return self._settle_bill(unit, command, command.region, treating_region=None)

    def _settle_bill(self, unit: UnitOfWork, command: Any, home_region: str, treating_region: str | None) -> dict[str, Any]:
        """Settle an inpatient bill of a person of ``home_region`` under its policy. Treated at
        home, the fund owes the hospital; treated in ``treating_region`` (cross-region direct
        settlement), the home fund owes the treating region, which owes its hospital."""
        digest = fingerprint(command)
        first = self._first_outcome(unit, "claim", home_region, command.claim_id, digest, "claim_id")
        if first is not None:
            return first
        book = self._book(unit, home_region)
        book.check_open(command.discharged_on, "discharged_on")
        policy = book.in_force(command.admitted_on)
        account = self._account(unit, home_region, command.person_id)
        year = command.admitted_on.year
        breakdown = settle_inpatient(
            policy, hospital_level=command.hospital_level, admission_number=account.admissions_in(year) + 1,
            total_cost_fen=command.total_cost_fen, excluded_fen=command.excluded_fen,
            is_retiree=account.category == "retiree", pooled_paid_this_year_fen=account.pooled_paid_in(year),
        )
        check_ceiling(account, year, breakdown.pooled_fen, policy.annual_ceiling_fen)
        patient_fen = breakdown.patient_share_fen
        account_fen, out_of_pocket_fen = (
            pay_from_account(account.balance_fen, patient_fen) if policy.personal_account_pays_inpatient_self_pay else (0, patient_fen)
        )
        on = command.discharged_on
        person = command.person_id
        owed_to = acc.PAYABLE_HOSPITALS if treating_region is None else acc.region_clearing_account(treating_region)
        account.record_money(
            PersonalAccount.InpatientClaimRecorded,
            acc.entry(*acc.transfer(acc.FUND_PERSONAL, owed_to, account_fen,
                                    debit_item=acc.EXPENDITURE_INPATIENT_SELF_PAY, debit_person_id=person)),
            on=on, origin="claim", claim_id=command.claim_id, year=year, pooled_fen=breakdown.pooled_fen, account_fen=account_fen,
        )
        if breakdown.pooled_fen:
            fund = unit.get(PooledFund.id_for(home_region), PooledFund)
            pooled_postings = acc.entry(*acc.transfer(acc.FUND_POOLED, owed_to, breakdown.pooled_fen, debit_item=acc.EXPENDITURE_INPATIENT))
            if treating_region is None:
                fund.record_money(PooledFund.InpatientBenefitPaid, pooled_postings, on=on, claim_id=command.claim_id,
                                  person_id=person, pooled_fen=breakdown.pooled_fen)
            else:
                fund.record_money(PooledFund.CrossRegionBenefitPaid, pooled_postings, on=on, claim_id=command.claim_id,
                                  person_id=person, treating_region=treating_region, pooled_fen=breakdown.pooled_fen)
        if treating_region is not None:
            self._advance_clearing(unit, treating_region, home_region, command.claim_id, on, account_fen + breakdown.pooled_fen)
        outcome = {"claim_id": command.claim_id, "person_id": person, "kind": "inpatient", "year": year,
                   "policy_version": policy.version, "treating_region": treating_region or home_region,
                   **breakdown.as_dict(), "account_fen": account_fen, "out_of_pocket_fen": out_of_pocket_fen}
        memo = acc.entry(
            *acc.transfer(acc.MEMO_PATIENT_OUT_OF_POCKET, acc.MEMO_HOSPITAL_CHARGES_OUTSIDE_FUND, out_of_pocket_fen, person_id=person),
            *acc.transfer(acc.MEMO_REFERRED_ABOVE_CEILING, acc.MEMO_HOSPITAL_CHARGES_OUTSIDE_FUND, breakdown.above_ceiling_fen, person_id=person),
        )
        return self._record_outcome(unit, "claim", home_region, command.claim_id, digest, on, outcome, memo)

    def _advance_clearing(self, unit: UnitOfWork, creditor: str, debtor: str, claim_id: str, on: date, amount_fen: int) -> None:
        position = unit.find(ClearingPosition.id_for(creditor, debtor), ClearingPosition)
        if position is None:
            position = ClearingPosition._create(ClearingPosition.Opened, id=ClearingPosition.id_for(creditor, debtor),
                                                creditor_region=creditor, debtor_region=debtor)
            unit.add(position)
        position.trigger_event(
            ClearingPosition.ClaimAdvanced, region=creditor, on=on, claim_id=claim_id, amount_fen=amount_fen,
            postings=acc.entry(*acc.transfer(acc.region_clearing_account(debtor), acc.PAYABLE_HOSPITALS, amount_fen)),
        )

    # ------------------------------------------------------------------ reading
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



def _reference(event: object) -> str | None:
    """The business id a statement line refers to."""
    for name in ("remittance_id", "claim_id", "transfer_id", "heirs_reference"):
        value = getattr(event, name, None)
        if value:
            return str(value)
    year = getattr(event, "year", None)
    return f"interest {year}" if year is not None and type(event).__name__ == "InterestCredited" else None
