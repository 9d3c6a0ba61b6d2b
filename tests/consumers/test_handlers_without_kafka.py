"""The handlers on a SQLite file, without Kafka: batches, tracking, duplicates, dead letters."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.persistence import IntegrityError

from consumers import contract, handlers, ingest, schemas
from consumers.dead_letters import list_dead_letters
from consumers.handlers import Delivery, apply_batch
from consumers.ingest import ingest_file
from consumers.runtime import open_ledger
from ledger.application import Ledger

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "examples" / "messages.jsonl"
REGION = "210100"


def _message(message_id: str, type_name: str, payload: dict[str, object], occurred_at: str = "2024-05-01T08:00:00+08:00") -> bytes:
    return json.dumps({"message_id": message_id, "producer": "test", "type": type_name, "schema_version": 1, "region": REGION,
                       "occurred_at": occurred_at, "payload": payload}).encode()


def _enrol(person_id: str) -> bytes:
    return _message(f"enrol-{person_id}", "person.enrolled", {"person_id": person_id, "category": "employee", "birth_date": "1980-01-01",
                                                             "employer_id": "E1", "enrolled_on": "2024-01-01"})


def _outpatient(n: int, person_id: str = "P1", amount: object = 300) -> bytes:
    return _message(f"op-{n}", "claim.outpatient", {"claim_id": f"OP{n}", "person_id": person_id, "kind": "outpatient",
                                                    "on": "2024-05-01", "amount_fen": amount})


def _remittance(remittance_id: str, person_ids: list[str], declared_fen: int) -> bytes:
    return _message(f"rem-{remittance_id}-{declared_fen}", "contribution.remittance", {
        "remittance_id": remittance_id, "payer_kind": "employer", "payer_id": "E1", "period": "2024-04", "received_on": "2024-04-15",
        "declared_total_fen": declared_fen, "lines": [{"person_id": p, "wage_base_fen": 500_000} for p in person_ids]})


# A stream of every type from producer "test": no topic of the ledger's, whose owners would refuse
# that (consumers.publishers; tests/security has the check).
def _deliveries(values: list[bytes], start: int = 0, topic: str = "stream") -> list[Delivery]:
    return [Delivery(value=v, topic=topic, partition=0, offset=start + i) for i, v in enumerate(values)]


def _state(ledger: Ledger) -> tuple[dict[str, int], int]:
    return ledger.trial_balance(), ledger.recorder.max_notification_id() or 0


def test_the_sample_file_applies_once_and_a_second_ingest_changes_nothing(store: Ledger, tmp_path: Path) -> None:
    first = ingest_file(store, SAMPLE, batch_size=4, dead_letter_file=tmp_path / "dl.jsonl")
    assert (first.applied, first.duplicates, first.dead_letters, first.batches) == (12, 1, 0, 4)
    books = _state(store)
    assert store.personal_account(REGION, "P001").balance_fen > 0
    again = ingest_file(store, SAMPLE, dead_letter_file=tmp_path / "dl.jsonl")
    assert (again.applied, again.duplicates, again.events) == (0, 13, 0)
    assert _state(store) == books


def test_a_bad_message_is_rolled_back_alone_and_recorded_as_a_dead_letter_with_its_bytes(store: Ledger) -> None:
    bad_total = _remittance("R1", ["P1", "P2"], declared_fen=1)  # touches both accounts, then fails the total
    values = [_enrol("P1"), _enrol("P2"), bad_total, b"\xff\xfe not json", _outpatient(1, "NOBODY"), _outpatient(2)]
    result = apply_batch(store, _deliveries(values), tracking_name="ledger.claims:0")
    assert [o.status for o in result.outcomes] == ["applied", "applied", "dead_letter", "dead_letter", "dead_letter", "applied"]
    assert [d["code"] for d in result.dead_letters] == ["declared_total_mismatch", "not_json", "unknown_person"]
    assert store.personal_account(REGION, "P1").balance_fen == 0  # the failed remittance left nothing
    assert [line["reference"] for line in store.statement(REGION, "P1")] == ["OP2"]
    assert store.recorder.max_tracking_id("ledger.claims:0") == 6

    recorded = {d["dead_letter_id"]: d for d in list_dead_letters(store)}
    assert set(recorded) == {"stream:0:2", "stream:0:3", "stream:0:4"}
    assert base64.b64decode(recorded["stream:0:3"]["value_b64"]) == b"\xff\xfe not json"
    mismatch = recorded["stream:0:2"]
    assert mismatch["field"] == "declared_total_fen" and mismatch["provenance"]["message_id"] == "rem-R1-1"
    schemas.DeadLetterRecord.model_validate({k: v for k, v in mismatch.items() if k not in ("status", "resolved_by")})


def test_the_position_commits_with_the_events_and_a_replayed_batch_is_refused_whole(store: Ledger) -> None:
    batch = _deliveries([_enrol("P1"), _outpatient(1), _outpatient(2)], start=10)
    apply_batch(store, batch, tracking_name="t:0")
    books = _state(store)
    with pytest.raises(IntegrityError):  # a second owner of the partition, or a crash replaying a committed batch
        apply_batch(store, batch, tracking_name="t:0")
    assert _state(store) == books
    assert store.recorder.max_tracking_id("t:0") == 13


def test_duplicates_are_acknowledged_and_conflicts_dead_lettered(store: Ledger) -> None:
    apply_batch(store, _deliveries([_enrol("P1"), _outpatient(1)]))
    books = _state(store)
    conflicting = _outpatient(1, amount=301)
    result = apply_batch(store, _deliveries([_outpatient(1), conflicting], start=5))
    assert [o.status for o in result.outcomes] == ["duplicate", "dead_letter"]
    assert result.dead_letters[0]["code"] == "message_conflict"
    assert store.trial_balance() == books[0]


def test_each_applied_message_keeps_its_provenance_and_the_events_it_caused(store: Ledger) -> None:
    delivery = Delivery(value=_enrol("P1"), topic="stream", partition=2, offset=41, key=b"210100/P1",
                        headers=(("republished-from", b"x:0:1"),))
    apply_batch(store, [delivery])
    records = [e for _, e in store.stored_events() if type(e).__qualname__ == "BusinessRecord.Recorded" and e.kind == "message"]
    (record,) = records
    provenance = record.outcome["provenance"]
    assert provenance == {"topic": "stream", "partition": 2, "offset": 41, "key": "210100/P1", "message_id": "enrol-P1",
                          "producer": "test", "type": "person.enrolled", "region": REGION, "republished_from": "x:0:1"}
    assert len(record.outcome["caused"]) == 1


def test_a_dead_letter_is_recorded_once_however_often_the_file_is_ingested(store: Ledger, tmp_path: Path) -> None:
    path = tmp_path / "in.jsonl"
    path.write_bytes(b"\n".join([_enrol("P1"), b"[1, 2]", _outpatient(1)]) + b"\n")
    for _ in range(2):
        report = ingest_file(store, path, dead_letter_file=tmp_path / "dl.jsonl")
        assert report.dead_letters == 1
    (dead,) = list_dead_letters(store)
    assert dead["code"] == "invalid_schema" and dead["dead_letter_id"].startswith("file:in.jsonl:0:2@")
    assert len((tmp_path / "dl.jsonl").read_text().splitlines()) == 2  # the local file is a log of every run


def test_every_message_type_reaches_its_use_case_when_the_ledger_has_it(store: Ledger) -> None:
    """The command built from each example fits its use case: the ledger may refuse it for its
    own reasons (the example's person is not enrolled here), never for a wiring error."""
    values = [json.dumps(kind.example).encode() for kind in contract.MESSAGE_TYPES.values()]
    result = apply_batch(store, _deliveries(values))
    for kind, outcome in zip(contract.MESSAGE_TYPES.values(), result.outcomes, strict=True):
        code = outcome.dead_letter["code"] if outcome.dead_letter else None
        if hasattr(store, kind.use_case):
            assert code not in ("internal_error", "unsupported_type", "invalid_schema"), (kind.name, outcome.dead_letter)
        else:
            assert code == "unsupported_type"


def test_lifecycle_messages_apply_through_their_use_cases(store: Ledger, tmp_path: Path) -> None:
    from ledger.policy import DEFAULT_POLICY_FILE, load_policy_file

    beijing = tmp_path / "beijing.toml"
    beijing.write_text(DEFAULT_POLICY_FILE.read_text().replace('region = "210100"', 'region = "110100"'))
    store.open_region(load_policy_file(beijing))  # the treating region of the cross-region claim
    declared_fen = _declared(store, 3)
    day = "2024-05-0"
    steps = [
        _enrol("P1"), _enrol("P2"), _enrol("P3"),
        _remittance("R1", ["P1", "P2", "P3"], declared_fen=declared_fen),
        _message("inc-1", "income.recorded", {"income_id": "INC1", "fund": "pooled", "item": "fiscal_subsidy", "amount_fen": 1_000_000, "on": day + "1"}),
        _message("mv-1", "bank.movement", {"movement_id": "MV1", "kind": "income_to_fiscal_special", "amount_fen": declared_fen + 1_000_000, "on": day + "2"}),
        _message("mv-2", "bank.movement", {"movement_id": "MV2", "kind": "fiscal_special_to_expenditure", "amount_fen": declared_fen + 1_000_000, "on": day + "3"}),
        _message("death-P1", "person.deceased", {"person_id": "P1", "died_on": day + "4", "heirs_reference": "will 1"}),
        _message("out-P2", "transfer.out", {"transfer_id": "T1", "person_id": "P2", "to_region": "210200", "on": day + "4"}),
        _message("cat-P3", "person.category_changed", {"person_id": "P3", "on": day + "5", "category": "retiree", "employer_id": "E1", "pension_fen": 300_000}),
        _message("exp-1", "expenditure.recorded", {"expenditure_id": "EXP1", "fund": "pooled", "item": "remittance_to_upper_level", "amount_fen": 1_000, "on": day + "6"}),
        json.dumps(contract.MESSAGE_TYPES["budget.approved"].example).encode(),
        json.dumps(contract.MESSAGE_TYPES["budget.adjusted"].example).encode(),
        json.dumps(contract.MESSAGE_TYPES["interest.rates_announced"].example).encode(),
        _message("xr-1", "claim.cross_region", {"treating_region": "110100", "claim_id": "XR1", "person_id": "P3", "hospital_level": 3,
                                                "admitted_on": day + "6", "discharged_on": day + "8", "total_cost_fen": 300_000}),
        # ... once the year is over (sent in May, they are refused: the year is not over).
        _message("int-2024", "interest.posting_requested", {"year": 2024}, occurred_at="2025-01-05T09:00:00+08:00"),
        _message("close-2024", "year.close_requested", {"year": 2024}, occurred_at="2025-01-05T09:00:00+08:00"),
    ]
    result = apply_batch(store, _deliveries(steps))
    assert result.dead_letters == []
    assert store.personal_account(REGION, "P1").balance_fen == 0  # paid to the heirs
    assert store.personal_account(REGION, "P2").balance_fen == 0  # in transit to 210200
    assert store.personal_account(REGION, "P3").category == "retiree"
    assert sum(store.trial_balance().values()) == 0


def _declared(store: Ledger, people: int) -> int:
    from datetime import date

    from ledger.rules import age_on, contribution_split

    policy = store.policy_in_force(REGION, date(2024, 4, 1))
    return people * contribution_split(policy, "employee", age_on(date(1980, 1, 1), date(2024, 4, 1)), 500_000).payable_fen


def test_a_batch_larger_than_one_save_commits_in_parts_each_with_its_position(store: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    from consumers import handlers

    monkeypatch.setattr(handlers, "MAX_EVENTS_PER_SAVE", 5)
    monkeypatch.setattr(handlers, "SAVE_SIZE_CHECK_EVERY", 1)
    people = [f"P{i}" for i in range(12)]
    # 12 enrolments: each is 1 account event + 1 message record, so a save holds at most 3 of them
    # before it passes 5 events; then 12 claims on those people in the same batch.
    values = [_enrol(p) for p in people] + [_outpatient(i, person_id=p) for i, p in enumerate(people)]
    result = apply_batch(store, _deliveries(values), tracking_name="ledger.claims:0")
    assert result.count("applied") == 24
    assert store.recorder.max_tracking_id("ledger.claims:0") == 24  # the position after the last delivery
    # The first save closed after the 3rd enrolment (6 events >= 5): its position was written with it.
    assert store.recorder.has_tracking_id("ledger.claims:0", 3)
    # Every claim found its person, enrolled earlier in the same poll but in an earlier save.
    assert all(store.personal_account(REGION, p).enrolled_on.isoformat() == "2024-01-01" for p in people)
    assert not result.dead_letters


def _records_in_memory() -> int:
    import gc

    from ledger.aggregates import BusinessRecord

    gc.collect()
    return sum(1 for obj in gc.get_objects() if isinstance(obj, BusinessRecord))


def test_the_records_of_applied_messages_leave_memory_with_their_batch_and_still_catch_duplicates(store: Ledger) -> None:
    """A message's record (its provenance and every event it caused) is written once and read
    again only for a duplicate: a long-running consumer that kept them all would grow with every
    message it applied."""
    apply_batch(store, _deliveries([_enrol("P1")]))
    held_after_first_batch = _records_in_memory()
    for batch in range(1, 4):
        claims = [_outpatient(batch * 100 + n) for n in range(20)]
        result = apply_batch(store, _deliveries(claims, start=batch * 100), tracking_name="claims:0")
        assert result.count("applied") == 20
        assert _records_in_memory() == held_after_first_batch == 0  # right after the batch, not only at the end
    books = _state(store)
    again = apply_batch(store, _deliveries([_outpatient(101), _outpatient(101, amount=301)], start=1000))
    assert [o.status for o in again.outcomes] == ["duplicate", "dead_letter"]
    assert again.dead_letters[0]["code"] == "message_conflict"
    assert _state(store)[0] == books[0]
    assert _records_in_memory() == 0


def test_a_large_poll_is_parsed_a_window_at_a_time_with_the_same_outcome(store: Ledger, tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """A poll's messages are parsed (and their commands built) a window at a time, not all at
    once: the consumer's memory is bounded by the window, whatever a poll brings. Across windows,
    a claim still finds the person enrolled in an earlier one, a bad message fails alone, and the
    books come out as from one window."""
    from consumers import handlers

    people = [f"P{i}" for i in range(6)]
    values = [_enrol(p) for p in people] + [b"\xff not json"] + [_outpatient(i, person_id=p) for i, p in enumerate(people)]
    monkeypatch.setenv("FUND_LEDGER_SQLITE", str(tmp_path / "one-window.sqlite"))
    one_window = open_ledger()
    whole = apply_batch(one_window, _deliveries(values), tracking_name="claims:0")

    window_bytes = 2 * max(len(v) for v in values)
    fits = max(n for n in range(1, len(values)) if any(sum(map(len, values[i:i + n])) <= window_bytes for i in range(len(values) - n + 1)))
    assert fits < len(values) // 2  # several windows
    monkeypatch.setattr(handlers, "PARSE_WINDOW_BYTES", window_bytes)
    parse, apply = handlers._parse_quietly, handlers.apply_delivery
    counts = {"parsed": 0, "applied": 0}
    parsed_ahead: list[int] = []

    def counting_parse(delivery: Delivery) -> object:
        counts["parsed"] += 1
        return parse(delivery)

    def counting_apply(*args: object, **kwargs: object) -> handlers.Outcome:
        parsed_ahead.append(counts["parsed"] - counts["applied"])
        counts["applied"] += 1
        return apply(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(handlers, "_parse_quietly", counting_parse)
    monkeypatch.setattr(handlers, "apply_delivery", counting_apply)
    windowed = apply_batch(store, _deliveries(values), tracking_name="claims:0")
    assert counts == {"parsed": len(values), "applied": len(values)}
    assert max(parsed_ahead) <= fits  # never more than a window parsed ahead of what is applied
    assert [o.status for o in windowed.outcomes] == [o.status for o in whole.outcomes] == ["applied"] * 6 + ["dead_letter"] + ["applied"] * 6
    assert store.recorder.max_tracking_id("claims:0") == len(values)
    assert store.trial_balance() == one_window.trial_balance()
    assert [store.personal_account(REGION, p).balance_fen for p in people] == [one_window.personal_account(REGION, p).balance_fen for p in people]
    one_window.close()


def test_the_cyclic_collector_is_paused_from_the_first_message_to_the_commit_and_on_again_after(
        store: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    """A batch's events live until its save: with the collector on they were promoted and set off
    a full collection of every cached account every batch or two (``adapters.collector``)."""
    import gc

    from ledger.unit_of_work import UnitOfWork

    seen: list[tuple[str, bool]] = []
    commit = UnitOfWork.commit

    def watched_commit(unit: UnitOfWork, *args: object, **kwargs: object) -> int:
        seen.append(("commit", gc.isenabled()))
        return commit(unit, *args, **kwargs)  # type: ignore[arg-type]

    enrol = Ledger.enrol

    def watched_enrol(ledger: Ledger, *args: object, **kwargs: object) -> object:
        seen.append(("enrol", gc.isenabled()))
        return enrol(ledger, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(UnitOfWork, "commit", watched_commit)
    monkeypatch.setattr(Ledger, "enrol", watched_enrol)
    gc.enable()
    try:
        apply_batch(store, _deliveries([_enrol("P1"), _enrol("P2")]), tracking_name="stream:0")
        assert seen == [("enrol", False), ("enrol", False), ("commit", False)]
        assert gc.isenabled()

        def failing_commit(unit: UnitOfWork, *args: object, **kwargs: object) -> int:
            raise IntegrityError("the store refused the save")

        monkeypatch.setattr(UnitOfWork, "commit", failing_commit)
        with pytest.raises(IntegrityError):
            apply_batch(store, _deliveries([_enrol("P3")], start=2), tracking_name="stream:0")
        assert gc.isenabled()  # on again after a batch that failed
    finally:
        gc.enable()


def _remittance_for(remittance_id: str, period: str, declared_fen: int) -> bytes:
    return _remittance(remittance_id, ["P1"], declared_fen).replace(b'"period": "2024-04"', f'"period": "{period}"'.encode())


def test_a_batch_that_fails_before_its_save_leaves_nothing_behind_and_applies_once_when_tried_again(store: Ledger) -> None:
    """Its dead letters could not be published (the broker down): nothing of the batch is saved,
    and nothing of it may stay in the accounts held in memory either. Before the fix the accounts
    kept the failed attempt's unsaved credit: tried again, the remittance was dead-lettered as a
    duplicate contribution of itself and the stale credit was saved with the next batch, without
    its income (the clearing account left holding 15,000 fen)."""
    from kafka.errors import KafkaTimeoutError

    apply_batch(store, _deliveries([_enrol("P1")]), tracking_name="stream:0")
    declared_fen = _declared(store, 1)
    batch = _deliveries([_remittance_for("R1", "2024-03", declared_fen), b"not json"], start=1)

    def broker_down(dead_letters: list[dict[str, object]]) -> None:
        raise KafkaTimeoutError("the dead letters could not be published")

    with pytest.raises(KafkaTimeoutError):
        apply_batch(store, batch, tracking_name="stream:0", publish_dead_letters=broker_down)
    assert store.personal_account(REGION, "P1").balance_fen == 0  # right after the failure, as it is stored
    assert store.recorder.max_tracking_id("stream:0") == 1

    again = apply_batch(store, batch, tracking_name="stream:0", publish_dead_letters=lambda dead_letters: None)
    assert [o.status for o in again.outcomes] == ["applied", "dead_letter"]
    credited_fen = again.outcomes[0].result["to_personal_accounts_fen"]
    assert credited_fen > 0
    assert store.personal_account(REGION, "P1").balance_fen == credited_fen
    books = store.trial_balance()
    assert books["clearing.personal_accounts"] == 0 and books["bank.income"] == declared_fen, books


def test_a_ledger_batch_pauses_the_cyclic_collector_until_its_save_and_turns_it_on_again_after(
        store: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    """``Ledger.batch()`` as a consumer's batch: its events live until the save, and with the
    collector on they set off full collections that walk every cached account, a cost that grew
    with the accounts (``adapters.collector``)."""
    import gc
    from datetime import date

    from ledger.commands import Enrol
    from ledger.unit_of_work import UnitOfWork

    seen: list[tuple[str, bool]] = []
    commit = UnitOfWork.commit

    def watched_commit(unit: UnitOfWork, *args: object, **kwargs: object) -> int:
        seen.append(("commit", gc.isenabled()))
        return commit(unit, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(UnitOfWork, "commit", watched_commit)
    gc.enable()
    try:
        with store.batch() as unit:
            seen.append(("block", gc.isenabled()))
            store.enrol(Enrol(REGION, "P1", "employee", date(1980, 1, 1), "E1", date(2024, 1, 1)), unit)
        assert seen == [("block", False), ("commit", False)]
        assert gc.isenabled()  # right after the save
        assert store.personal_account(REGION, "P1").enrolled_on == date(2024, 1, 1)

        with pytest.raises(RuntimeError), store.batch():
            raise RuntimeError("the caller gave up")
        assert gc.isenabled()  # on again after a block that failed

        gc.disable()
        with store.batch():
            pass
        assert not gc.isenabled()  # left as the caller had it
    finally:
        gc.enable()


def test_a_ledger_batch_left_by_an_error_leaves_nothing_in_memory(store: Ledger) -> None:
    """``Ledger.batch()``: an error inside the block saves nothing, and the accounts the block
    changed are read again as stored."""
    from datetime import date

    from ledger.commands import PostRemittance, RemittanceLine

    apply_batch(store, _deliveries([_enrol("P1")]))
    with pytest.raises(RuntimeError), store.batch() as unit:
        store.post_remittance(PostRemittance(REGION, "R1", "employer", "E1", "2024-03", date(2024, 3, 15), _declared(store, 1),
                                             (RemittanceLine("P1", 500_000),)), unit)
        raise RuntimeError("the caller gave up")
    assert store.personal_account(REGION, "P1").balance_fen == 0
    assert store.trial_balance().get("bank.income", 0) == 0


def test_more_deferred_lines_than_a_batch_may_hold_are_tried_again_in_batches(store: Ledger, tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A file of claims before its persons defers every line: they are tried again in batches no
    larger than ``MAX_BATCH`` (once all in one: an AssertionError, exit 70, every line left
    'retrying'). The limit is made small here; the 10,001 claims of the review behave the same."""
    monkeypatch.setattr(handlers, "MAX_BATCH", 50)
    monkeypatch.setattr(ingest, "MAX_BATCH", 50)
    claims = [_outpatient(n, person_id=f"NOBODY{n}") for n in range(120)]
    path = tmp_path / "claims.jsonl"
    path.write_bytes(b"".join(claim + b"\n" for claim in claims))
    report = ingest_file(store, path, batch_size=50, dead_letter_file=tmp_path / "dl.jsonl")
    assert (report.lines, report.applied, report.dead_letters) == (120, 0, 120)
    assert report.deferred == 120 * ingest.INGEST_RETRY_PLAN.attempts
    dead = list_dead_letters(store)
    assert len(dead) == 120 and {(d["code"], d["status"]) for d in dead} == {("unknown_person", "open")}
    assert sorted(base64.b64decode(d["value_b64"]) for d in dead) == sorted(claims)


def _from(producer: str, value: bytes) -> bytes:
    return json.dumps({**json.loads(value), "producer": producer}).encode()


def test_a_message_from_a_reserved_producer_is_refused_and_one_applied_before_does_not_break_the_listing(
        store: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    """The handlers record refusals under the sources 'deferred' and 'dead-letters', in the
    namespace of producers: a message from a producer of that name is refused (invalid_schema,
    naming 'producer'); one applied before the names were reserved is listed as what it is, not
    read as a refusal (``dead-letters`` once failed on it with KeyError: 'deferred')."""
    reserved = [_from("deferred", _outpatient(1)), _from("dead-letters", _outpatient(2))]
    result = apply_batch(store, _deliveries([_enrol("P1"), *reserved]))
    assert [o.status for o in result.outcomes] == ["applied", "dead_letter", "dead_letter"]
    assert {(d["code"], d["field"]) for d in result.dead_letters} == {("invalid_schema", "producer")}
    assert "'deferred' is reserved" in result.dead_letters[0]["reason"]

    monkeypatch.setattr(schemas, "RESERVED_PRODUCERS", ())  # as a store written before they were reserved
    applied = apply_batch(store, _deliveries([*reserved, b"not json"], start=10))
    assert [o.status for o in applied.outcomes] == ["applied", "applied", "dead_letter"]
    listed = {d["dead_letter_id"]: d for d in list_dead_letters(store)}
    assert {key: (d["code"], d["status"]) for key, d in listed.items()} == {
        "stream:0:1": ("invalid_schema", "open"), "stream:0:2": ("invalid_schema", "open"), "stream:0:12": ("not_json", "open")}


def test_a_deferred_message_whose_retry_finds_it_applied_by_a_redelivery_is_resolved(store: Ledger, tmp_path: Path) -> None:
    """A claim before its person's enrolment is deferred; a redelivery of it after the enrolment
    is applied; the first copy's retry is then a duplicate. Its deferral is resolved, naming the
    message (it stayed 'retrying' for ever), and the claim is paid once."""
    claim = _outpatient(9, person_id="P9")
    path = tmp_path / "redelivered.jsonl"
    path.write_bytes(b"".join(line + b"\n" for line in (claim, _enrol("P9"), claim)))
    report = ingest_file(store, path, dead_letter_file=tmp_path / "dl.jsonl")
    assert (report.applied, report.duplicates, report.deferred, report.dead_letters) == (2, 1, 1, 0)
    (deferral,) = list_dead_letters(store)
    assert (deferral["code"], deferral["status"], deferral["resolved_by"]) == ("unknown_person", "resolved", "test/op-9")
    assert deferral["dead_letter_id"].startswith("file:redelivered.jsonl:0:1@")
    again = ingest_file(store, path, dead_letter_file=tmp_path / "dl.jsonl")  # nothing new, nothing recorded twice
    assert (again.applied, again.duplicates, again.deferred, again.events) == (0, 3, 0, 0)
    assert [d["status"] for d in list_dead_letters(store)] == ["resolved"]


def test_a_batch_of_messages_about_nobody_reads_no_account_one_key_at_a_time(store: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    # Their ids are looked for among the enrolled people (their log lines' pseudonyms): each of an
    # id's parts was read on its own, uncached, about ten reads a message; now together, once.
    apply_batch(store, _deliveries([_enrol("P1")]))
    reads = {"get": 0}
    get = store.repository.get

    def counting(*args: Any, **kwargs: Any) -> Any:
        reads["get"] += 1
        return get(*args, **kwargs)

    monkeypatch.setattr(store.repository, "get", counting)
    steps = [_message(f"fin-INC-2024-03-{i:05d}-pooled", "income.recorded",
                      {"income_id": f"INC-{i}", "fund": "pooled", "item": "fiscal_subsidy", "amount_fen": 100, "on": "2024-03-31"})
             for i in range(50)]
    result = apply_batch(store, _deliveries(steps))
    assert result.count("applied") == 50
    assert reads["get"] <= 50 + 5  # a read of the message's own record each, and the fund's (was over 500)
