"""A bounded schemathesis run over every operation in ``/openapi.json`` of the running service,
as an auditor, a finance officer, an admin and nobody: no request, however malformed, makes the
service fail (no 5xx), and every refusal is problem+json. ``API_FUZZ_EXAMPLES`` sets the number
of cases per operation (default 30; ``make fuzz`` runs more)."""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from hypothesis import HealthCheck, given, settings

from tests.api.service import RunningService

EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "30"))


def test_no_request_makes_the_service_fail(service: RunningService) -> None:
    schema = schemathesis.openapi.from_url(service.url + "/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 11
    for operation in operations:
        check_operation(service, operation)


def check_operation(service: RunningService, operation: Any) -> None:
    @given(case=operation.as_strategy())
    @settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True, database=None)
    def no_server_error(case: Any) -> None:
        for role in ("auditor", "finance", "admin", None):
            headers = {"Authorization": f"Bearer {service.tokens[role]}"} if role else {}
            response = case.call(base_url=service.url, headers=headers, timeout=60)
            where = (role, case.method, case.formatted_path, case.query, response.content[:300])  # bytes: an xlsx is no text
            assert response.status_code < 500, where
            if response.status_code >= 400:
                assert response.headers["content-type"] in ("application/problem+json", ["application/problem+json"]), where

    no_server_error()
