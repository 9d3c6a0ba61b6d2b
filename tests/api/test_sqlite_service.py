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


def test_a_download_of_a_page_says_in_the_file_that_it_is_part_of_the_report(client: tuple[TestClient, dict[str, str]]) -> None:
    """A CSV or xlsx of a page (a finance officer opens it in a spreadsheet, which shows no
    header): its last line (CSV), or its title and a row after the rows (xlsx), say which rows of
    how many it holds and give the next page's address, itself a download; following them
    downloads every row once. The whole report in one page says nothing (before: no sign)."""
    import csv
    import io

    from openpyxl import load_workbook

    response = get(client, "/api/v1/reports/personal", region=REGION, limit=3, format="csv")
    people: list[str] = []
    notes = []
    while True:
        assert response.status_code == 200, response.text
        lines = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
        notes.append(lines[-1][0])
        people += [line[1] for line in lines[1:-1]]
        following = notes[-1].partition("next page: ")[2]
        if not following:
            break
        assert "format=csv" in following and "rows-" in response.headers["Content-Disposition"]
        response = client[0].get(following, headers=client[1])
    assert people == [A, B, "C0", "C1", "C2", "C3", "C4"]
    assert [note.partition("; ")[0] for note in notes] == [
        "PARTIAL DOWNLOAD (部分数据): rows 1-3 of 7", "PARTIAL DOWNLOAD (部分数据): rows 4-6 of 7",
        "PARTIAL DOWNLOAD (部分数据): rows 7-7 of 7"]
    assert "last page" in notes[-1]
    whole = get(client, "/api/v1/reports/personal", region=REGION, format="csv").content.decode("utf-8-sig")
    assert "PARTIAL" not in whole and whole.strip().splitlines()[-1].startswith(f"{REGION},C4,")
    xlsx = get(client, "/api/v1/reports/contributions", region=REGION, limit=5, format="xlsx")
    sheet = load_workbook(io.BytesIO(xlsx.content)).worksheets[0]
    cells = [str(row[0]) for row in sheet.iter_rows(values_only=True) if row and row[0]]
    assert "[PARTIAL DOWNLOAD (部分数据): rows 1-5 of 7]" in cells[0]
    note = next(cell for cell in cells if cell.startswith("PARTIAL DOWNLOAD"))
    assert "rows 1-5 of 7; next page: http" in note and "offset=5" in note and "format=xlsx" in note
    whole_xlsx = load_workbook(io.BytesIO(get(client, "/api/v1/reports/contributions", region=REGION, format="xlsx").content))
    assert not any("PARTIAL" in str(row[0]) for row in whole_xlsx.worksheets[0].iter_rows(values_only=True) if row and row[0])


def test_every_answer_forbids_framing_sniffing_and_scripts(client: tuple[TestClient, dict[str, str]]) -> None:
    # The pages sent none of these: another port of the same host (SameSite=Strict lets the
    # cookie go along) could frame them logged in.
    for path in ("/balances", "/login", "/api/v1/reports/balances", "/healthz"):
        headers = get(client, path, region=REGION).headers if path != "/healthz" else get(client, path).headers
        policy = headers["content-security-policy"]
        assert "frame-ancestors 'none'" in policy and "default-src 'none'" in policy and "script-src" not in policy, path
        assert (headers["x-frame-options"], headers["x-content-type-options"]) == ("DENY", "nosniff"), path


def test_a_method_of_any_name_adds_no_series_to_the_metrics(client: tuple[TestClient, dict[str, str]]) -> None:
    test_client, _ = client
    for n in range(20):
        test_client.request(f"M{n}", "/healthz")
    metrics = test_client.get("/metrics").text
    assert "M7" not in metrics and 'method="other"' in metrics  # each name made a series kept for ever


def test_a_token_that_sees_no_figures_learns_nothing_from_a_page_not_even_the_latest_year(books: Path) -> None:
    service = Service({"FUND_LEDGER_SQLITE": str(books)})
    admin = service.tokens.create("admin", "test-admin").token
    try:
        with TestClient(create_app(service=service), raise_server_exceptions=False) as test_client:
            page = test_client.get("/budget", params={"region": REGION}, headers={"Authorization": f"Bearer {admin}"})
    finally:
        service.close()
    assert page.status_code == 403
    assert "2024" not in page.text  # the year box held the region's latest year


def test_the_login_and_logout_forms_are_refused_from_another_site(books: Path) -> None:
    service = Service({"FUND_LEDGER_SQLITE": str(books)})
    token = service.tokens.create("finance", "test-finance", regions=[REGION]).token
    try:
        with TestClient(create_app(service=service), raise_server_exceptions=False) as test_client:
            foreign = test_client.post("/login", data={"token": token}, headers={"Origin": "http://evil.example"}, follow_redirects=False)
            assert foreign.status_code == 403 and "set-cookie" not in foreign.headers
            assert test_client.post("/logout", headers={"Origin": "http://evil.example"}, follow_redirects=False).status_code == 403
            own = test_client.post("/login", data={"token": token}, headers={"Origin": "http://testserver"}, follow_redirects=False)
            assert own.status_code == 303 and "set-cookie" in own.headers
    finally:
        service.close()


def test_a_token_stops_working_when_its_days_are_over(books: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # Tokens never expired: one nobody remembered to revoke opened the books for ever.
    from datetime import UTC, datetime, timedelta

    from api import auth

    service = Service({"FUND_LEDGER_SQLITE": str(books)})
    try:
        issued = service.tokens.create("finance", "test-expiry", regions=[REGION], valid_days=30)
        made = datetime.fromisoformat(issued.expires_at) - timedelta(days=30)
        assert abs((made - datetime.now(UTC)).total_seconds()) < 60
        assert service.tokens.authenticate(issued.token) is not None
        later = (datetime.now(UTC) + timedelta(days=31)).isoformat(timespec="seconds")
        monkeypatch.setattr(auth, "now_text", lambda: later)
        assert service.tokens.authenticate(issued.token) is None
        with TestClient(create_app(service=service), raise_server_exceptions=False) as test_client:
            answer = test_client.get("/api/v1/reports/balances", params={"region": REGION},
                                     headers={"Authorization": f"Bearer {issued.token}"})
        assert answer.status_code == 401
        listed = {token["token_id"]: token for token in service.tokens.list()}
        assert listed[issued.token_id]["expires_at"] == issued.expires_at
        with pytest.raises(auth.InvalidInput) as error:
            service.tokens.create("finance", "too-long", regions=[REGION], valid_days=auth.MAX_VALID_DAYS + 1)
        assert error.value.field == "valid_days"
    finally:
        service.close()



def test_a_tokens_table_made_before_tokens_expired_gains_the_column_and_keeps_its_tokens(tmp_path: Path) -> None:
    import sqlite3

    from api.auth import TokenBook, secret_digest
    from api.store import ApiStore

    path = tmp_path / "ledger.api.sqlite"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE api_tokens (token_id TEXT PRIMARY KEY, name TEXT NOT NULL, role TEXT NOT NULL, regions TEXT NOT NULL, "
                "secret_sha256 TEXT NOT NULL, created_at TEXT NOT NULL, created_by TEXT NOT NULL, revoked_at TEXT)")
    old.execute("INSERT INTO api_tokens VALUES ('0123456789ab', 'old', 'auditor', '', ?, '2024-01-01T00:00:00+00:00', 'cli', NULL)",
                (secret_digest("s" * 43),))
    old.commit()
    old.close()
    store = ApiStore({"FUND_LEDGER_API_SQLITE": str(path), "SQLITE_DBNAME": str(tmp_path / "ledger.sqlite")})
    try:
        store.create_tables()
        store.create_tables()  # again: nothing to add
        book = TokenBook(store)
        assert book.authenticate("flk_0123456789ab_" + "s" * 43) is not None  # no expiry: revoke and re-issue it
        assert book.list()[0]["expires_at"] is None
    finally:
        store.close()
