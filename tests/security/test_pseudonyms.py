"""No person's id in a log line: a keyed pseudonym in its place."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from consumers.pseudonyms import PEOPLE_CONTEXT, Pseudonymiser, _known, _pattern, replace_ids

REPO = Path(__file__).resolve().parents[2]


def _pseudonymiser() -> Pseudonymiser:
    return Pseudonymiser(key=lambda: b"k" * 32)


def test_person_fields_and_every_bound_id_in_any_text_are_replaced() -> None:
    clean = _pseudonymiser()
    line = clean(None, "warning", {"event": "x", "person_id": "P1", "message_id": "hr-P1", PEOPLE_CONTEXT: ("P10", "P1"),
                                   "exception": "UnknownPerson: person 'P1' is not enrolled", "context": {"note": ["P10 and P1"]}})
    text = json.dumps(line)
    assert "P1" not in text.replace("person:", "")
    assert line["person_id"] == clean.pseudonym("P1") and line["message_id"] == f"hr-{clean.pseudonym('P1')}"
    assert line["context"]["note"] == [f"{clean.pseudonym('P10')} and {clean.pseudonym('P1')}"]
    assert PEOPLE_CONTEXT not in line


def test_an_id_inside_a_longer_id_is_left_alone() -> None:
    line = _pseudonymiser()(None, "info", {"event": "x", "message_id": "P12-batch", PEOPLE_CONTEXT: ("P1",)})
    assert line["message_id"] == "P12-batch"


def test_the_same_person_has_the_same_pseudonym_and_no_key_no_pseudonym() -> None:
    one, other = _pseudonymiser(), Pseudonymiser(key=lambda: b"j" * 32)
    assert one.pseudonym("P1") == one.pseudonym("P1") != one.pseudonym("P2")
    assert one.pseudonym("P1") != other.pseudonym("P1")  # keyed: a list of ids does not turn it back


def test_ingest_logs_no_person_id_at_info_and_the_same_pseudonym_across_processes(tmp_path: Path) -> None:
    """A claim for a person not enrolled: the refusal's reason names them; the log line must not."""
    claim = {"message_id": "op-P4711-1", "producer": "his", "type": "claim.outpatient", "schema_version": 1, "region": "210100",
             "occurred_at": "2024-05-01T08:00:00+08:00",
             "payload": {"claim_id": "C1", "person_id": "P4711", "kind": "outpatient", "on": "2024-05-01", "amount_fen": 300}}
    messages = tmp_path / "m.jsonl"
    messages.write_text(json.dumps(claim) + "\n")
    env = {**{k: v for k, v in os.environ.items() if k != "PERSISTENCE_MODULE"}, "FUND_LEDGER_SQLITE": str(tmp_path / "l.sqlite"),
           "PYTHONPATH": str(REPO)}
    runs = [subprocess.run([sys.executable, "-m", "cli.main", "--log-format", "json", "--log-level", "info", "ingest", str(messages),
                            "--dead-letter-file", str(tmp_path / "dl.jsonl")], cwd=tmp_path, env=env, capture_output=True, text=True,
                           timeout=120) for _ in range(2)]
    assert [run.returncode for run in runs] == [1, 1]  # refused (recorded once), in both runs
    lines = [json.loads(line) for run in runs for line in run.stderr.splitlines() if line.startswith("{")]
    assert lines and all("P4711" not in json.dumps(line) for line in lines)
    message_ids = {line["message_id"] for line in lines if "message_id" in line}
    assert len(message_ids) == 1 and message_ids.pop().startswith("op-person:")  # one pseudonym, in both processes


def test_a_message_about_nobody_whose_id_names_an_enrolled_person_logs_the_id_as_a_pseudonym(tmp_path: Path) -> None:
    """A fund's message (about nobody) whose producer put an enrolled person's id in its message
    id: the id was logged as it came (the fuzz found "P2" on a refused interest run)."""
    enrol = {"message_id": "enrol-P2", "producer": "registry", "type": "person.enrolled", "schema_version": 1,
             "region": "210100", "occurred_at": "2024-01-01T08:00:00+08:00",
             "payload": {"person_id": "P2", "category": "employee", "birth_date": "1980-01-01", "employer_id": "E1",
                         "enrolled_on": "2024-01-01"}}
    interest = [{"message_id": message_id, "producer": "agency", "type": "interest.posting_requested", "schema_version": 1,
                 "region": "210100", "occurred_at": "2024-12-31T09:30:00+08:00", "payload": {"year": 2024}}
                for message_id in ("P2", "interest-P2-2024")]  # no rates announced: refused (policy_error)
    messages = tmp_path / "m.jsonl"
    messages.write_text("".join(json.dumps(message) + "\n" for message in (enrol, *interest)))
    env = {**{k: v for k, v in os.environ.items() if k != "PERSISTENCE_MODULE"}, "FUND_LEDGER_SQLITE": str(tmp_path / "l.sqlite"),
           "PYTHONPATH": str(REPO)}
    run = subprocess.run([sys.executable, "-m", "cli.main", "--log-format", "json", "--log-level", "info", "ingest", str(messages),
                          "--dead-letter-file", str(tmp_path / "dl.jsonl")], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)
    lines = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    refused = [line for line in lines if line.get("event") == "message.dead_lettered"]
    assert [line["code"] for line in refused] == ["policy_error", "policy_error"]
    assert all("P2" not in json.dumps(line) for line in lines)
    first, second = (line["message_id"] for line in refused)
    assert first.startswith("person:") and second.startswith("interest-person:") and second.endswith("-2024")


# ---------------------------------------------------------------------------- the id matcher
ID_CHARS = "Pp019._:-"
ids = st.from_regex(r"[Pp01][Pp019._:-]{0,5}", fullmatch=True)


@settings(max_examples=400, deadline=None)
@given(people=st.lists(ids, min_size=1, max_size=6, unique=True),
       fragments=st.lists(st.one_of(ids, st.text(ID_CHARS + " ,'张", max_size=4)), max_size=12))
def test_ids_are_found_in_a_text_as_the_patterns_of_every_id_found_them(people: list[str], fragments: list[str]) -> None:
    """The matcher looks ids up run by run instead of compiling a pattern of a message's ids per
    message: on any text it replaces exactly what that pattern replaced."""
    text = "".join(fragments)
    known = _known(tuple(people))
    assert known.pattern is None  # every one shaped as an id: the runs are used
    mark = "<{}>".format
    assert replace_ids(text, known, mark) == _pattern(tuple(people)).sub(lambda match: mark(match.group(0)), text)


def test_a_person_id_not_shaped_as_an_id_is_still_replaced() -> None:
    clean = _pseudonymiser()
    line = clean(None, "warning", {"event": "x", "error": "person_id: '张 三' does not match; P1 neither",
                                   PEOPLE_CONTEXT: ("张 三", "P1")})
    assert line["error"] == f"person_id: '{clean.pseudonym('张 三')}' does not match; {clean.pseudonym('P1')} neither"
