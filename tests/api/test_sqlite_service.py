"""The service over the embedded SQLite store (no server needed): a request that names a year
or a claim the ledger does not have is refused naming the parameter, never a 500 nor an empty
200; the reports with a row per person come a page at a time; a query parameter a report does
not take is refused."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.service import Service
from ledger.application import Ledger
from ledger.commands import Enrol
from projections.projector import Projector
from projections.reports import DEFAULT_PAGE, MAX_PAGE
from projections.store import open_store
from tests.projections.scenario import OTHER_REGION, REGION, WAGE_A_FEN, WAGE_B_FEN, A, B, enrol_both, inpatient, open_regions, remit


@pytest.fixture(scope="module")
def books(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("books") / "ledger.sqlite"
    ledger = Ledger(env={"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": str(path)})
    open_regions(ledger)
    enrol_both(ledger)
    for month in (1, 2):
        remit(ledger, f"2024-{month:02d}", {A: WAGE_A_FEN, B: WAGE_B_FEN}, 64_000)
    inpatient(ledger, "IP1", B, date(2024, 2, 10), 100_000)
    for n in range(5):
        ledger.enrol(Enrol(REGION, f"C{n}", "employee", date(1980, 1, 1), "E1", date(2023, 12, 1)))
    store = open_store(ledger)
    Projector(ledger, store).catch_up()
    store.close()
    ledger.close()
    return path


@pytest.fixture(scope="module")
def client(books: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    service = Service({"FUND_LEDGER_SQLITE": str(books)})
    auditor = service.tokens.create("auditor", "test-auditor").token
    with TestClient(create_app(service=service), raise_server_exceptions=False) as test_client:
        yield test_client, {"Authorization": f"Bearer {auditor}"}
    service.close()


def get(client: tuple[TestClient, dict[str, str]], path: str, **params: Any) -> Any:
    test_client, headers = client
    return test_client.get(path, params=params, headers=headers)


@pytest.mark.parametrize(("page", "year"), [("/budget", "²"), ("/balances", "³"), ("/final-accounts", "2024²"), ("/income-expenditure", "٢٠٢٤"),
                                            ("/budget", "24"), ("/budget", "abcd")])
def test_a_page_refuses_a_year_of_other_digits_naming_it(client: tuple[TestClient, dict[str, str]], page: str, year: str) -> None:
    response = get(client, page, region=REGION, year=year)
    assert response.status_code == 422, response.text[:300]  # 500 before, for the digits int() refuses
    assert "year" in response.text and "four-digit year" in response.text


def test_a_page_and_the_api_take_a_plain_year(client: tuple[TestClient, dict[str, str]]) -> None:
    assert get(client, "/final-accounts", region=REGION, year="2024").status_code == 200
    assert get(client, "/api/v1/reports/final-accounts", region=REGION, year="2024").status_code == 200
    refused = get(client, "/api/v1/reports/final-accounts", region=REGION, year="²")
    assert refused.status_code == 422 and refused.json()["field"] == "year"


def test_the_claim_report_refuses_a_claim_it_does_not_have_naming_it(client: tuple[TestClient, dict[str, str]]) -> None:
    found = get(client, "/api/v1/reports/claim", claim="IP1")
    assert found.status_code == 200 and [row["claim_id"] for row in found.json()["sections"]["claim"]] == ["IP1"]
    assert get(client, "/api/v1/reports/claim", claim="IP1", region=REGION).status_code == 200
    for params in ({"claim": "NO-SUCH-CLAIM"}, {"claim": "IP1", "region": OTHER_REGION}):
        refused = get(client, "/api/v1/reports/claim", **params)
        assert refused.status_code == 404, refused.text  # 200 with an empty list before
        body = refused.json()
        assert (body["code"], body["field"]) == ("unknown_claim", "claim") and params["claim"] in body["detail"]


def test_the_reports_with_a_row_per_person_come_a_page_at_a_time(client: tuple[TestClient, dict[str, str]]) -> None:
    first = get(client, "/api/v1/reports/personal", region=REGION, limit=3)
    assert first.status_code == 200
    body = first.json()
    assert [row["person_id"] for row in body["sections"]["accounts"]] == [A, B, "C0"]
    assert {key: body["page"][key] for key in ("limit", "offset", "total_rows", "next_offset")} == {
        "limit": 3, "offset": 0, "total_rows": {"accounts": 7}, "next_offset": 3}
    assert first.headers["X-Total-Count"] == "7" and 'rel="next"' in first.headers["Link"]
    seen = [row["person_id"] for row in body["sections"]["accounts"]]
    following = body["page"].get("next")
    while following:  # the next page's address, as given
        response = client[0].get(following, headers=client[1])
        seen += [row["person_id"] for row in response.json()["sections"]["accounts"]]
        following = response.json()["page"].get("next")
    assert seen == [A, B, "C0", "C1", "C2", "C3", "C4"]
    default = get(client, "/api/v1/reports/contributions", region=REGION).json()["page"]  # a page whatever is asked
    assert (default["limit"], default["next_offset"], default["total_rows"]) == (DEFAULT_PAGE, None, {"people": 7})
    csv = get(client, "/api/v1/reports/personal", region=REGION, limit=2, offset=2, format="csv")
    assert csv.status_code == 200 and csv.headers["X-Total-Count"] == "7" and "offset=4" in csv.headers["Link"]


@pytest.mark.parametrize(("params", "field"), [({"limit": MAX_PAGE + 1}, "limit"), ({"limit": 0}, "limit"), ({"offset": -1}, "offset"),
                                               ({"page": 2}, "page"), ({"regoin": REGION}, "regoin")])
def test_a_page_past_the_limits_or_a_parameter_a_report_does_not_take_is_refused(
        client: tuple[TestClient, dict[str, str]], params: dict[str, Any], field: str) -> None:
    refused = get(client, "/api/v1/reports/personal", **{"region": REGION, **params})
    assert refused.status_code == 422 and refused.json()["field"] == field, refused.text  # "page" and "regoin" ignored before


def test_a_report_without_a_row_per_person_has_no_pages(client: tuple[TestClient, dict[str, str]]) -> None:
    refused = get(client, "/api/v1/reports/balances", region=REGION, limit=5)
    assert refused.status_code == 422 and refused.json()["field"] == "limit"
    assert "page" not in get(client, "/api/v1/reports/balances", region=REGION).json()
