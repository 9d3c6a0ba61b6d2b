"""Reports show an erased person as erased (``ledger.erasure``): their amounts stay, as every
amount does, and a column says whose personal data is gone, and since when.

The erasures are read from the log, by the accounts of the people a report shows (the events
table's key: one indexed look-up per person), so no projection table changes and no key is needed.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.utils import get_topic

from adapters.chain import as_bytes, as_uuid
from ledger.aggregates import PersonalAccount
from ledger.erasure import PersonalDataErased
from projections.reports import Column, Report

ERASED_TOPIC = get_topic(PersonalDataErased)
PERSON_REPORTS = frozenset({"personal", "statement"})
CHUNK = 500
STATUS_COLUMN = Column("personal_data", "Personal data")


def erased_people(ledger: Any, people: Iterable[tuple[str, str]]) -> dict[tuple[str, str], str]:
    """(region, person id) -> the day their personal data was erased, for those of ``people`` erased."""
    by_account = {PersonalAccount.id_for(region, person_id): (region, person_id) for region, person_id in people}
    found: dict[tuple[str, str], str] = {}
    accounts = list(by_account)
    for start in range(0, len(accounts), CHUNK):
        for stored in _erasure_events(ledger.recorder, accounts[start:start + CHUNK]):
            event = ledger.mapper.to_domain_event(stored)
            found[by_account[as_uuid(stored.originator_id)]] = event.on.isoformat()
    return found


def _erasure_events(recorder: Any, accounts: list[UUID]) -> list[StoredEvent]:
    """The ``PersonalDataErased`` events of ``accounts``; in memory, by reading each account."""
    datastore = getattr(recorder, "datastore", None)
    table = getattr(recorder, "events_table_name", None)
    if datastore is None or table is None:
        return [event for account in accounts for event in recorder.select_events(account) if event.topic == ERASED_TOPIC]
    if type(datastore).__name__.startswith("Postgres"):
        from psycopg.sql import SQL, Identifier

        statement = SQL("SELECT originator_id, originator_version, topic, state FROM {schema}.{table} "
                        "WHERE originator_id = ANY(%s) AND topic = %s").format(schema=Identifier(datastore.schema), table=Identifier(table))
        with datastore.get_connection() as connection, connection.cursor() as cursor:
            cursor.execute(statement, [accounts, ERASED_TOPIC])
            rows = cursor.fetchall()
    else:
        marks = ",".join("?" * len(accounts))
        with datastore.transaction(commit=False) as cursor:  # SQLite keeps the ids as 32 hex digits
            cursor.execute(f"SELECT originator_id, originator_version, topic, state FROM {table} "  # noqa: S608
                           f"WHERE originator_id IN ({marks}) AND topic = ?", [*(a.hex for a in accounts), ERASED_TOPIC])
            rows = cursor.fetchall()
    return [StoredEvent(originator_id=as_uuid(row["originator_id"]), originator_version=row["originator_version"], topic=row["topic"],
                        state=as_bytes(row["state"])) for row in rows]


def mark_erased(ledger: Any, report: Report) -> Report:
    """The report, with a column saying whose personal data is erased when someone in it is."""
    if report.name not in PERSON_REPORTS:
        return report
    people = {(row["region"], row["person_id"]) for section in report.sections for row in section.rows
              if row.get("region") and row.get("person_id")}
    erased = erased_people(ledger, people) if people else {}
    if not erased:
        return report
    for section in report.sections:
        if any(column.key == "person_id" for column in section.columns):
            section.columns.append(STATUS_COLUMN)
        for row in section.rows:
            on = erased.get((str(row.get("region")), str(row.get("person_id"))))
            row[STATUS_COLUMN.key] = f"erased {on}" if on else None
    return report
