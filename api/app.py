"""The HTTP service: a read-only API over every report, the finance officer's pages, health,
readiness and metrics, in one process (``fund-ledger serve``).

Authentication is a bearer token (``Authorization: Bearer flk_...``) or, for the pages and
their downloads (GET only), the same token in an HttpOnly, SameSite=Strict cookie set by the
login page. Every request for data, allowed or refused, is recorded in the access log (who,
what, when, the answer's status), which an auditor lists at ``/api/v1/audit/access-log``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping
from enum import StrEnum
from typing import Annotated, Any

import structlog
from fastapi import Depends, FastAPI, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from api import problems
from api.auth import DEFAULT_VALID_DAYS, MAX_VALID_DAYS, ROLES, Authenticators, Principal, now_text
from api.metrics import Metrics
from api.problems import NO_CONTROLS, ApiProblem
from api.service import Service
from ledger.errors import LedgerError
from projections import render
from projections.query import ReportAnswer, ReportRequest
from projections.reports import DEFAULT_PAGE, MAX_OFFSET, MAX_PAGE, PAGED, REPORTS

logger = structlog.get_logger()

SESSION_COOKIE = "fund_ledger_token"
UNRECORDED_PREFIXES = ("/static/", "/healthz", "/readyz", "/metrics", "/favicon")
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
# On every answer: the pages use no script and no asset from elsewhere, so the policy allows only
# their own style sheet and images (the charts are inline SVG), and no site may frame them
# (a cookie of SameSite=Strict still goes with a frame on another port of the same host).
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
                               "frame-ancestors 'none'; base-uri 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",  # (no-referrer would make a browser send "Origin: null" with the login form)
}
ACCESS_LOG_LIMIT_MAX = 1_000
API = "/api/v1"

ReportName = StrEnum("ReportName", {name.replace("-", "_"): name for name in sorted(REPORTS)})  # type: ignore[misc]


class Period(StrEnum):
    month = "month"
    quarter = "quarter"
    year = "year"


class Format(StrEnum):
    json = "json"
    csv = "csv"
    xlsx = "xlsx"


class ReportDocument(BaseModel):
    """A report in JSON: amounts in fen (integers), rates as strings, one list of rows per section."""

    model_config = ConfigDict(extra="allow")
    report: str
    title: str
    units: str
    position: int = Field(description="log position the projections had applied")
    head: int = Field(description="position of the last event in the log")
    lag_events: int = Field(description="events recorded but not yet in the projections")
    sections: dict[str, list[dict[str, Any]]]
    page: dict[str, Any] | None = Field(default=None, description="a report with a row per person: limit, offset, total_rows (each "
                                                                  "section's rows in every page), next_offset and next (the next "
                                                                  "page's address; absent on the last)")


class TokenRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    role: str = Field(description="finance, auditor or admin", max_length=16)
    name: str = Field(description="who holds it", min_length=1, max_length=100)
    regions: list[Annotated[str, Field(pattern=r"^[0-9]{6}$")]] = Field(default_factory=list, max_length=200)
    valid_days: int = Field(default=DEFAULT_VALID_DAYS, ge=1, le=MAX_VALID_DAYS, strict=True,
                            description="days until it stops working")


RegionQuery = Annotated[str | None, Query(description="pooling region code, e.g. 210100", max_length=32, pattern=NO_CONTROLS)]
YearQuery = Annotated[int | None, Query(description="the year (point-in-time reports: as at 31 December of it)", ge=1900, le=9999)]
PersonQuery = Annotated[str | None, Query(description="person id (personal, statement)", max_length=64, pattern=NO_CONTROLS)]
AsOfQuery = Annotated[str | None, Query(description="business date YYYY-MM-DD: the books at the end of that day", max_length=10)]
ClaimQuery = Annotated[str | None, Query(description="claim id (claim: one claim's arithmetic)", max_length=64, pattern=NO_CONTROLS)]
LimitQuery = Annotated[int | None, Query(description=f"the reports with a row per person ({', '.join(sorted(PAGED))}) come a page at a "
                                                     f"time: rows in the page (default {DEFAULT_PAGE:,}, at most {MAX_PAGE:,})",
                                         ge=1, le=MAX_PAGE)]
OffsetQuery = Annotated[int, Query(description="rows before the page, in the report's order (its rows' key); the answer's "
                                               "page.next names the next page", ge=0, le=MAX_OFFSET)]
REPORT_PARAMETERS = frozenset({"region", "year", "person", "period", "as_of", "format", "claim", "limit", "offset"})


def bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, credential = header.partition(" ")
    if scheme.lower() == "bearer" and credential.strip():
        return credential.strip()
    if request.method == "GET":  # the page's cookie never authorises a change (no cross-site writes)
        return request.cookies.get(SESSION_COOKIE)
    return None


def principal(request: Request) -> Principal:
    """The principal the request's bearer token (or the page's cookie) stands for, or 401."""
    credential = bearer(request)
    found = request.app.state.authenticators.authenticate(credential) if credential else None
    if found is None:
        raise ApiProblem(401, "unauthenticated", "a valid bearer token is needed (Authorization: Bearer <token>)",
                         headers={"WWW-Authenticate": 'Bearer realm="fund-ledger"'})
    request.state.principal = found
    return found


Authenticated = Annotated[Principal, Depends(principal)]


def with_role(*roles: str) -> Any:
    """A dependency: the principal, if its role is one of ``roles`` (else 403)."""
    def check(who: Authenticated) -> Principal:
        if who.role not in roles:
            raise ApiProblem(403, "forbidden", f"this needs a token of role {' or '.join(roles)}; yours is {who.role}")
        return who
    return check


SeesFigures = Annotated[Principal, Depends(with_role("finance", "auditor"))]
Auditor = Annotated[Principal, Depends(with_role("auditor"))]
Admin = Annotated[Principal, Depends(with_role("admin"))]


def app_from_environment() -> FastAPI:
    """The application as ``fund-ledger serve`` configures it through the environment (for
    uvicorn's worker processes): ``KAFKA_BOOTSTRAP_SERVERS``, ``FUND_LEDGER_SERVE_THREADS``."""
    return create_app(bootstrap_servers=os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or None,
                      threads=int(os.environ.get("FUND_LEDGER_SERVE_THREADS", "20")))


def create_app(environ: Mapping[str, str] | None = None, *, service: Service | None = None,
               bootstrap_servers: str | None = None, threads: int | None = None) -> FastAPI:
    """The application over a ``Service`` (built from the environment if not given), serving at
    most ``threads`` requests at once (the default thread pool's 40 if not given)."""
    service = service or Service(environ)
    authenticators = Authenticators(service.tokens)
    metrics = Metrics(service, bootstrap_servers)
    app = FastAPI(title="fund-ledger", version="1", docs_url=None, redoc_url=None,  # their pages load assets from a CDN
                  summary="Read-only API over the medical insurance fund's ledger",
                  description="Reports of the projections, as JSON (fen), CSV (UTF-8 with BOM, yuan) or xlsx. "
                              "Authenticate with `Authorization: Bearer <token>` (`fund-ledger token create`).")
    app.state.service = service
    app.state.authenticators = authenticators
    if threads is not None:
        async def size_thread_pool() -> None:
            import anyio.to_thread

            anyio.to_thread.current_default_thread_limiter().total_tokens = threads

        app.router.on_startup.append(size_thread_pool)
    app.add_exception_handler(ApiProblem, problems.on_api_problem)
    app.add_exception_handler(LedgerError, problems.on_ledger_error)
    app.add_exception_handler(RequestValidationError, problems.on_validation_error)
    app.add_exception_handler(StarletteHTTPException, problems.on_http_error)
    app.add_exception_handler(Exception, problems.on_unexpected)

    @app.middleware("http")
    async def record(request: Request, call_next: Any) -> Response:
        started = time.perf_counter()
        response: Response = await call_next(request)
        elapsed_s = time.perf_counter() - started
        route = request.scope.get("route")
        method = request.method if request.method in KNOWN_METHODS else "other"  # any name is sent: bound the series
        metrics.latency.labels(method, getattr(route, "path", "(unmatched)"), str(response.status_code)).observe(elapsed_s)
        for name, value in SECURITY_HEADERS.items():
            response.headers.setdefault(name, value)
        if not request.url.path.startswith(UNRECORDED_PREFIXES):
            who: Principal | None = getattr(request.state, "principal", None)
            await run_in_threadpool(record_access, service, request, who, response.status_code, elapsed_s)
        return response

    # ------------------------------------------------------------------ operations
    @app.get("/healthz", tags=["operations"], summary="The process is up")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], summary="The database answers; how far the projections are behind the log",
             responses={503: {"description": "not ready"}})
    def readyz() -> JSONResponse:
        try:
            lag = service.lag()
            built = service.projections_built()
        except Exception as error:  # noqa: BLE001 - not ready, and why
            return JSONResponse({"status": "unavailable", "database": f"unreachable ({type(error).__name__})"}, status_code=503)
        ready = built and lag.position <= lag.head
        return JSONResponse({"status": "ready" if ready else "not ready", "database": "reachable", "projections_built": built,
                             **lag.as_dict()}, status_code=200 if ready else 503)

    @app.get("/metrics", tags=["operations"], summary="Prometheus metrics", response_class=PlainTextResponse)
    def metrics_text() -> Response:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    # ------------------------------------------------------------------ reports
    @app.get(f"{API}/reports", tags=["reports"], summary="The reports there are")
    def list_reports(who: SeesFigures) -> dict[str, list[str]]:
        return {"reports": sorted(REPORTS)}

    @app.get(f"{API}/regions", tags=["reports"], summary="The regions this token may see")
    def regions(who: SeesFigures) -> dict[str, list[str]]:
        return {"regions": service.regions(who)}

    @app.get(f"{API}/status", tags=["reports"], summary="How far the projections are behind the log")
    def status(who: Authenticated) -> dict[str, int]:
        return service.lag().as_dict()

    @app.get(f"{API}/reports/{{name}}", tags=["reports"], summary="A report, with the command line's filters",
             response_model=ReportDocument,
             responses={200: {"content": {render.CSV_MEDIA_TYPE: {}, render.XLSX_MEDIA_TYPE: {}}},
                        401: {"description": "no valid token"}, 403: {"description": "a region not on the token"},
                        404: {"description": "unknown region or person"}, 422: {"description": "a filter that cannot be right"}})
    def report(name: Annotated[ReportName, Path(description="which report")],  # type: ignore[valid-type]
               who: SeesFigures, http_request: Request,
               region: RegionQuery = None, year: YearQuery = None, person: PersonQuery = None,
               period: Period = Period.month, as_of: AsOfQuery = None, format: Format = Format.json,
               claim: ClaimQuery = None, limit: LimitQuery = None, offset: OffsetQuery = 0) -> Response:
        from api.service import parse_day

        unknown = sorted(set(http_request.query_params) - REPORT_PARAMETERS)
        if unknown:  # a filter or a page misspelt would be answered as if it had not been asked for
            raise ApiProblem(422, "invalid_input", f"no query parameter {unknown[0]!r}; a report takes "
                                                   f"{', '.join(sorted(REPORT_PARAMETERS))}", unknown[0])
        report_name = str(name.value)
        if limit is None and report_name in PAGED:
            limit = DEFAULT_PAGE
        request = ReportRequest(report_name, region=region, year=year, person=person, period=str(period.value),
                                as_of=parse_day("as_of", as_of), claim=claim, limit=limit, offset=offset)
        answered, lag = service.report(who, request)
        page = answered.meta.get("page")
        if page is not None and page["next_offset"] is not None:
            page["next"] = str(http_request.url.include_query_params(limit=page["limit"], offset=page["next_offset"]))
        return report_response(answered, lag.as_dict(), format)

    # ------------------------------------------------------------------ audit
    @app.get(f"{API}/audit/access-log", tags=["audit"], summary="Who asked for what, and when (newest first)")
    def access_log(who: Auditor,
                   limit: Annotated[int, Query(ge=1, le=ACCESS_LOG_LIMIT_MAX)] = 100,
                   who_name: Annotated[str | None, Query(alias="who", max_length=100, pattern=NO_CONTROLS)] = None) -> dict[str, list[dict[str, Any]]]:
        clause, params = ("WHERE who = ?", [who_name]) if who_name else ("", [])
        rows = service.api_store.query(f"SELECT id, at, who, role, token_id, method, path, query, status, duration_ms, client "
                                       f"FROM api_access_log {clause} ORDER BY id DESC LIMIT {int(limit)}", params)
        return {"entries": rows}

    @app.get(f"{API}/audit/dead-letters", tags=["audit"], summary="Refused messages, with their code, field and reason")
    def dead_letters(who: Auditor) -> dict[str, list[dict[str, Any]]]:
        from consumers.dead_letters import list_dead_letters

        keep = ("dead_letter_id", "code", "field", "reason", "status", "topic", "partition", "offset", "message_id", "type")
        return {"dead_letters": [{key: dead.get(key) for key in keep} for dead in list_dead_letters(service.ledger)]}

    # ------------------------------------------------------------------ tokens
    @app.get(f"{API}/admin/tokens", tags=["admin"], summary="Every token (never its secret)")
    def tokens(who: Admin) -> dict[str, list[dict[str, Any]]]:
        return {"tokens": service.tokens.list()}

    @app.post(f"{API}/admin/tokens", tags=["admin"], summary="Create a token: its secret is shown once", status_code=201)
    def create_token(body: TokenRequest, who: Admin) -> dict[str, Any]:
        issued = service.tokens.create(body.role, body.name, body.regions, created_by=who.name, valid_days=body.valid_days)
        return {"token": issued.token, "token_id": issued.token_id, "name": issued.name, "role": issued.role,
                "regions": list(issued.regions), "expires_at": issued.expires_at}

    @app.delete(f"{API}/admin/tokens/{{token_id}}", tags=["admin"], summary="Revoke a token", status_code=204,
                responses={404: {"description": "no such token, or already revoked"}})
    def revoke_token(token_id: Annotated[str, Path(max_length=64)], who: Admin) -> Response:
        if not service.tokens.revoke(token_id):
            raise ApiProblem(404, "unknown_token", f"no live token {token_id!r}", "token_id")
        return Response(status_code=204)

    from api.pages import add_pages

    add_pages(app, service, authenticators)
    app.mount("/static", StaticFiles(packages=[("api", "static")]), name="static")
    assert set(ROLES) == {"finance", "auditor", "admin"}
    return app


def report_response(answered: ReportAnswer, lag: dict[str, int], format: Format) -> Response:
    """A report as JSON, CSV (with a BOM) or xlsx, with the projections' position in headers."""
    headers = {"X-Projection-Position": str(lag["position"]), "X-Projection-Lag": str(lag["lag_events"])}
    page = answered.meta.get("page")
    if page is not None:  # a page of a report with a row per person: how many rows there are, and the next page
        headers["X-Total-Count"] = str(max(page["total_rows"].values()))
        if page.get("next"):
            headers["Link"] = f'<{page["next"]}>; rel="next"'
    if format == Format.json:
        return JSONResponse(render.as_document(answered.report, {**answered.meta, **lag}), headers=headers)
    # A download holding a page says so in the file (a last line, on a sheet a row and its title),
    # with the next page's address: a spreadsheet shows no header.
    notes = render.partial_notes(answered.report, page, page.get("next") if page is not None else None)
    parts = [answered.report.name, answered.request.region, answered.meta.get("as_of")]
    if notes and page is not None:
        parts.append(f"rows-{page['offset'] + 1}-{page['offset'] + max(len(s.rows) for s in answered.report.sections)}")
    stem = "-".join(part for part in parts if part)
    if format == Format.csv:
        headers["Content-Disposition"] = f'attachment; filename="{stem}.csv"'
        return Response(render.as_csv(answered.report, notes).encode("utf-8"), media_type=render.CSV_MEDIA_TYPE, headers=headers)
    headers["Content-Disposition"] = f'attachment; filename="{stem}.xlsx"'
    return Response(render.as_xlsx(answered.report, answered.heading, notes), media_type=render.XLSX_MEDIA_TYPE, headers=headers)


def record_access(service: Service, request: Request, who: Principal | None, status: int, elapsed_s: float) -> None:
    """One row of the access log. A failure to write it is logged loudly (the answer is already sent)."""
    try:
        service.api_store.execute(
            "INSERT INTO api_access_log (at, token_id, who, role, method, path, query, status, duration_ms, client) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (now_text(), who.token_id if who else None, who.name if who else "(anonymous)", who.role if who else None,
             request.method, request.url.path[:500], request.url.query[:1000], status, round(elapsed_s * 1000),
             request.client.host if request.client else None))
    except Exception:  # noqa: BLE001
        logger.error("api.access_log_not_written", path=request.url.path, exc_info=True)
