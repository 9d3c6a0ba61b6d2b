"""The API gives the command line's figures (one report layer), in JSON, CSV and xlsx; refuses
what it cannot answer as problem+json naming the field; says how far behind the log it is."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from ledger.money import yuan_text
from projections.reports import REPORTS
from tests.api.service import HEAVY_PERSON, OTHER_REGION, REGION, RunningService, cli

CASES = [
    ("balances", {"region": REGION}), ("balances", {}), ("trial-balance", {"region": REGION}), ("personal", {"region": REGION}),
    ("statement", {"region": REGION, "person": HEAVY_PERSON}), ("income", {"region": REGION, "year": 2024}),
    ("income", {"region": OTHER_REGION, "year": 2024, "period": "quarter"}), ("expenditure", {"region": REGION, "year": 2024}),
    ("transfers", {"region": REGION}), ("budget", {"region": REGION, "year": 2024}),
    ("final-accounts", {"region": REGION, "year": 2024}), ("clearing", {}),
    ("balances", {"region": REGION, "as_of": "2024-06-30"}), ("final-accounts", {"region": REGION, "year": 2024, "as_of": "2024-03-31"}),
    ("statement", {"region": REGION, "person": HEAVY_PERSON, "as_of": "2024-05-31"}), ("budget", {"region": REGION, "as_of": "2024-09-30"}),
    ("claim", {"region": REGION, "claim": "IP-HEAVY-1"}), ("contributions", {"region": REGION, "person": HEAVY_PERSON}),
    ("memo-persons", {"region": REGION}), ("personal", {"region": REGION, "person": HEAVY_PERSON, "as_of": "2024-06-30"}),
]


def cli_report(service: RunningService, name: str, params: dict[str, object]) -> dict[str, object]:
    argv = [f"--{key.replace('_', '-')}={value}" for key, value in params.items()]
    return json.loads(cli(service.env, "report", name, "--format", "json", "--no-catch-up", *argv).stdout)  # type: ignore[no-any-return]


def test_every_report_is_served() -> None:
    assert {name for name, _ in CASES} == set(REPORTS)


@pytest.mark.parametrize(("name", "params"), CASES, ids=[f"{n}-{'-'.join(map(str, p.values()))}" for n, p in CASES])
def test_the_api_gives_the_command_lines_figures(service: RunningService, name: str, params: dict[str, object]) -> None:
    answer = service.as_role("auditor", f"/api/v1/reports/{name}", **params)
    assert answer.status_code == 200, answer.text
    document = answer.json()
    expected = cli_report(service, name, params)
    assert document["sections"] == expected["sections"] and any(document["sections"].values())
    assert (document["as_of"], document["units"]) == (expected["as_of"], "fen")
    assert document["lag_events"] == 0 and document["position"] == document["head"] == int(answer.headers["X-Projection-Position"])


def test_the_statement_is_in_business_date_order_with_recording_times_and_words(service: RunningService) -> None:
    lines = service.as_role("finance", "/api/v1/reports/statement", person=HEAVY_PERSON).json()["sections"]["lines"]
    dates = [line["business_date"] for line in lines]
    assert dates == sorted(dates) and len(lines) > 12
    assert all(line["recorded_at"] and line["recorded_at"].endswith(" UTC") for line in lines)
    assert "PersonalAccount" not in json.dumps([line["movement"] for line in lines])
    assert lines[0]["movement"] == "Contribution credited (缴费划入)"
    running = lines[0]["balance_fen"] - lines[0]["change_fen"]
    for line in lines:  # the balance after each line, in the order shown
        running += line["change_fen"]
        assert line["balance_fen"] == running


def test_csv_has_a_byte_order_mark_and_the_json_figures_in_yuan(service: RunningService) -> None:
    answer = service.as_role("finance", "/api/v1/reports/final-accounts", region=REGION, year=2024, format="csv")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/csv")
    assert answer.content.startswith(b"\xef\xbb\xbf") and 'filename="final-accounts-210100.csv"' in answer.headers["content-disposition"]
    text = answer.content.decode("utf-8-sig")
    funds = service.as_role("finance", "/api/v1/reports/final-accounts", region=REGION, year=2024).json()["sections"]["funds"]
    pooled = next(row for row in funds if row["fund"] == "pooled")
    assert text.splitlines()[0] == "# Funds" and "Closing balance (年末滚存结余)" in text.splitlines()[1]
    assert yuan_text(pooled["closing_fen"]).replace(",", "") in text


def test_xlsx_has_chinese_headers_number_formats_and_the_json_figures(service: RunningService) -> None:
    answer = service.as_role("finance", "/api/v1/reports/budget", region=REGION, year=2024, format="xlsx")
    assert answer.status_code == 200 and answer.content[:2] == b"PK"
    sheet = load_workbook(io.BytesIO(answer.content)).worksheets[0]
    headers = [cell.value for cell in sheet[2]]
    assert "执行预算\nBudget in force" in headers and "实际执行数\nActual to date" in headers
    lines = service.as_role("finance", "/api/v1/reports/budget", region=REGION, year=2024).json()["sections"]["lines"]
    actual = headers.index("实际执行数\nActual to date") + 1
    rate = headers.index("执行率%\nExecution rate %") + 1
    for number, line in enumerate(lines, start=3):
        cell = sheet.cell(row=number, column=actual)
        assert Decimal(str(cell.value)) * 100 == line["actual_fen"] and cell.number_format == "#,##0.00"
        if line["execution_rate_pct"] is not None:
            assert Decimal(str(sheet.cell(row=number, column=rate).value)) == Decimal(line["execution_rate_pct"])


@pytest.mark.parametrize(("params", "status", "field"), [
    ({"region": "999999"}, 404, "region"),
    ({"region": REGION, "person": "NOBODY"}, 404, "person"),
    ({"region": REGION, "year": 1999}, 422, "year"),
    ({"region": REGION, "year": 99}, 422, "year"),
    ({"region": REGION, "as_of": "2024-02-30"}, 422, "as_of"),
    ({"region": REGION, "as_of": "20240101"}, 422, "as_of"),
    ({"region": REGION, "period": "week"}, 422, "period"),
    ({"region": REGION, "format": "pdf"}, 422, "format"),
])
def test_what_cannot_be_answered_is_a_problem_naming_the_field(service: RunningService, params: dict[str, object], status: int,
                                                             field: str) -> None:
    answer = service.as_role("auditor", "/api/v1/reports/income" if "person" not in params else "/api/v1/reports/statement", **params)
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["field"] == field and answer.json()["detail"] and "Traceback" not in answer.text
    assert service.as_role("auditor", "/api/v1/reports/statement", region=REGION).json()["field"] == "person"
    assert service.as_role("auditor", "/api/v1/reports/no-such-report").status_code == 422


def test_readiness_and_metrics_say_how_far_behind_the_log_the_projections_are(service: RunningService) -> None:
    ready = service.get("/readyz").json()
    assert ready["status"] == "ready" and ready["lag_events"] == 0 and ready["position"] == ready["head"] > 1000
    assert service.get("/healthz").json() == {"status": "ok"}
    service.as_role("finance", "/api/v1/reports/balances")
    metrics = service.get("/metrics").text
    values = {line.split(" ")[0]: line.split(" ")[1] for line in metrics.splitlines() if line and not line.startswith("#")}
    assert float(values["fund_ledger_projection_lag_events"]) == 0
    assert float(values["fund_ledger_log_head_position"]) == ready["head"]
    assert "fund_ledger_events_per_second" in values
    assert 'fund_ledger_http_request_duration_seconds_count{method="GET",route="/api/v1/reports/{name}",status="200"}' in values
