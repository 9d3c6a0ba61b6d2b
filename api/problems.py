"""Every error the service answers, rendered one way: ``application/problem+json`` (RFC 9457)
with the ``field`` it is about and a stable ``code``. Never a stack trace."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.errors import LedgerError

logger = structlog.get_logger()

PROBLEM_MEDIA_TYPE = "application/problem+json"
# A refusal's HTTP status, by the LedgerError's code (422 for the rest: the request cannot be answered).
STATUS_BY_CODE = {"unknown_region": 404, "unknown_person": 404, "unknown_claim": 404, "projections_ahead_of_log": 503,
                  "projections_not_ready": 503}


class ApiProblem(Exception):
    """A refusal with an HTTP status (401, 403, 404, 503...)."""

    def __init__(self, status: int, code: str, detail: str, field: str | None = None, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.status, self.code, self.detail, self.field, self.headers = status, code, detail, field, headers or {}


def problem(status: int, code: str, detail: str, instance: str, field: str | None = None,
            headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    body: dict[str, Any] = {"type": f"/problems/{code}", "title": code.replace("_", " "), "status": status, "detail": detail,
                            "code": code, "instance": instance}
    if field is not None:
        body["field"] = field
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


async def on_api_problem(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, ApiProblem)
    return problem(error.status, error.code, error.detail, request.url.path, error.field, error.headers)


async def on_ledger_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, LedgerError)
    return problem(STATUS_BY_CODE.get(error.code, 422), error.code, error.reason, request.url.path, error.field,
                   context=error.as_dict()["context"])


async def on_validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    errors = [{"field": ".".join(str(part) for part in item.get("loc", ())[1:]) or "request", "reason": str(item.get("msg", ""))}
              for item in error.errors()]
    first = errors[0] if errors else {"field": "request", "reason": "invalid request"}
    return problem(422, "invalid_input", f"{first['field']}: {first['reason']}", request.url.path, first["field"], errors=errors)


async def on_http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(error.status_code, "http_error")
    return problem(error.status_code, code, str(error.detail), request.url.path, headers=getattr(error, "headers", None))


async def on_unexpected(request: Request, error: Exception) -> JSONResponse:
    from eventsourcing.persistence import InterfaceError, OperationalError

    if isinstance(error, (OperationalError, InterfaceError)):
        logger.warning("api.database_unreachable", path=request.url.path, error=type(error).__name__)
        return problem(503, "database_unavailable", "the ledger's database cannot be reached; try again shortly", request.url.path)
    logger.error("api.internal_error", path=request.url.path, exc_info=True)
    return problem(500, "internal_error", "internal error; it has been logged", request.url.path)


# Free-text request parameters take no control characters: PostgreSQL refuses a NUL in text,
# and nothing a person looks up contains one (a 422 naming the parameter, never a 500).
NO_CONTROLS = r"^[^\x00-\x1f\x7f]*$"
