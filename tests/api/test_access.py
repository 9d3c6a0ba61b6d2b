"""Access by role, against the running service: no figure without a valid token on any route
the API documents, a finance officer sees only the regions on the token, an auditor every
region and the audit views, an admin the tokens; every data request is in the access log."""

from __future__ import annotations

import hashlib

import httpx
import pytest

from tests.api.service import OTHER_REGION, REGION, RunningService, cli
from tests.conftest import connect

OPERATIONS = {"/healthz", "/readyz", "/metrics"}  # no figures: for the probes and Prometheus
SAMPLE_PARAMETERS = {"name": "balances", "token_id": "0123456789ab"}


def documented_routes(service: RunningService) -> list[tuple[str, str]]:
    document = httpx.get(service.url + "/openapi.json", timeout=10).json()
    routes = []
    for path, operations in document["paths"].items():
        for method in operations:
            concrete = path
            for name, value in SAMPLE_PARAMETERS.items():
                concrete = concrete.replace("{" + name + "}", value)
            assert "{" not in concrete, f"no sample value for a parameter of {path}"
            routes.append((method.upper(), concrete))
    return routes


def test_every_documented_data_route_answers_401_without_a_valid_token(service: RunningService) -> None:
    routes = [(method, path) for method, path in documented_routes(service) if path not in OPERATIONS]
    assert len(routes) >= 8 and ("GET", "/api/v1/reports/balances") in routes
    for credential in (None, "flk_0123456789ab_" + "A" * 43, "not a token", service.tokens["admin"] + "x"):
        headers = {"Authorization": f"Bearer {credential}"} if credential else {}
        for method, path in routes:
            answer = httpx.request(method, service.url + path, headers=headers, json={}, timeout=30)
            assert answer.status_code == 401, (credential, method, path, answer.text)
            assert answer.headers["content-type"] == "application/problem+json"
            assert answer.headers["www-authenticate"].startswith("Bearer")
            assert answer.json()["code"] == "unauthenticated"


def test_the_pages_send_a_visitor_without_a_token_to_the_login_page(service: RunningService) -> None:
    for page in ("/balances", "/income-expenditure", "/budget", "/final-accounts", "/statement"):
        answer = httpx.get(service.url + page, follow_redirects=False, timeout=30)
        assert answer.status_code == 303 and answer.headers["location"] == "/login", page
        assert "余额" not in answer.text


def test_a_finance_token_sees_its_region_and_no_other(service: RunningService) -> None:
    own = service.as_role("finance", "/api/v1/reports/balances", region=REGION)
    assert own.status_code == 200 and {row["region"] for row in own.json()["sections"]["funds"]} == {REGION}
    defaulted = service.as_role("finance", "/api/v1/reports/balances")  # one region on the token: that is the default
    assert defaulted.json()["sections"] == own.json()["sections"]
    for path, params in (("/api/v1/reports/balances", {"region": OTHER_REGION}),
                         ("/api/v1/reports/income", {"region": OTHER_REGION, "year": 2024}),
                         ("/api/v1/reports/balances", {"region": "999999"})):  # unknown, but not its to ask about either
        refused = service.as_role("finance", path, **params)
        assert refused.status_code == 403, refused.text
        assert refused.json()["field"] == "region" and refused.headers["content-type"] == "application/problem+json"
    assert service.as_role("finance", "/api/v1/regions").json() == {"regions": [REGION]}
    assert service.as_role("finance-other", "/api/v1/reports/balances", region=REGION).status_code == 403
    assert service.as_role("finance", "/api/v1/audit/access-log").status_code == 403
    assert service.as_role("finance", "/api/v1/admin/tokens").status_code == 403


def test_an_auditor_sees_every_region_and_the_audit_views_an_admin_no_figures(service: RunningService) -> None:
    every = service.as_role("auditor", "/api/v1/reports/balances").json()
    assert {row["region"] for row in every["sections"]["funds"]} == {REGION, OTHER_REGION}
    assert service.as_role("auditor", "/api/v1/regions").json() == {"regions": [REGION, OTHER_REGION]}
    assert service.as_role("auditor", "/api/v1/audit/dead-letters").status_code == 200
    assert service.as_role("auditor", "/api/v1/admin/tokens").status_code == 403
    assert service.as_role("admin", "/api/v1/reports/balances", region=REGION).status_code == 403
    assert service.as_role("admin", "/api/v1/admin/tokens").status_code == 200


def test_every_data_request_is_in_the_access_log_with_who_what_and_when(service: RunningService) -> None:
    asked = service.as_role("finance", "/api/v1/reports/budget", region=REGION, year=2024)
    refused = service.as_role("finance", "/api/v1/reports/budget", region=OTHER_REGION, year=2024)
    anonymous = service.get("/api/v1/reports/clearing")
    assert (asked.status_code, refused.status_code, anonymous.status_code) == (200, 403, 401)
    entries = service.as_role("auditor", "/api/v1/audit/access-log", limit=20).json()["entries"]
    mine = [e for e in entries if e["path"] == "/api/v1/reports/budget" and e["who"] == "Finance officer 沈阳"]
    assert [(e["query"], e["status"], e["role"]) for e in mine[:2]] == [
        (f"region={OTHER_REGION}&year=2024", 403, "finance"), (f"region={REGION}&year=2024", 200, "finance")]
    assert mine[0]["at"][:4] >= "2025" and mine[0]["at"].endswith("+00:00")
    assert any(e["path"] == "/api/v1/reports/clearing" and e["who"] == "(anonymous)" and e["status"] == 401 for e in entries)
    printed = cli(service.env, "token", "log", "--limit", "50").stdout
    assert f"Finance officer 沈阳 (finance)  GET /api/v1/reports/budget?region={OTHER_REGION}&year=2024  403" in printed


def test_tokens_are_stored_hashed_shown_once_and_revoked(service: RunningService) -> None:
    made = httpx.post(service.url + "/api/v1/admin/tokens", json={"role": "finance", "name": "Temp", "regions": [REGION]},
                      headers={"Authorization": f"Bearer {service.tokens['admin']}"}, timeout=30)
    assert made.status_code == 201, made.text
    token, token_id = made.json()["token"], made.json()["token_id"]
    assert service.get("/api/v1/reports/balances", token, region=REGION).status_code == 200
    with connect(service.env, "superuser") as connection:
        stored = connection.execute("SELECT * FROM api_tokens WHERE token_id = %s", (token_id,)).fetchone()
    secret = token[len(f"flk_{token_id}_"):]  # the secret may hold "_" itself
    assert secret not in repr(stored) and hashlib.sha256(secret.encode()).hexdigest() in stored
    listed = {t["token_id"]: t for t in service.as_role("admin", "/api/v1/admin/tokens").json()["tokens"]}
    assert listed[token_id]["regions"] == [REGION] and "secret_sha256" not in listed[token_id]
    revoked = httpx.delete(f"{service.url}/api/v1/admin/tokens/{token_id}", headers={"Authorization": f"Bearer {service.tokens['admin']}"},
                           timeout=30)
    assert revoked.status_code == 204
    assert service.get("/api/v1/reports/balances", token, region=REGION).status_code == 401
    assert token_id in cli(service.env, "token", "list").stdout


@pytest.mark.parametrize(("argv", "field"), [
    (("--role", "finance", "--name", "Nobody"), "region"),  # a finance token must name its regions
    (("--role", "auditor", "--region", REGION, "--name", "A"), "region"),
    (("--role", "finance", "--region", "21010", "--name", "A"), "region"),
    (("--role", "finance", "--region", REGION, "--name", "bell\x07"), "name"),
])
def test_token_create_refuses_what_cannot_be_right(service: RunningService, argv: tuple[str, ...], field: str) -> None:
    done = cli(service.env, "token", "create", *argv, check=False)
    assert done.returncode == 2 and done.stderr.startswith(f"error: {field}:"), done.stderr
