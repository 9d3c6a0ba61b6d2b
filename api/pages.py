"""The finance officer's pages, served by the same process as the API and from the same report
layer (``projections.query.answer`` through ``Service.report``): fund balances, income and
expenditure by month and item, budget versus actual, final accounts with months of payment
capacity over the year, and a personal account statement. Labels in Chinese and English,
amounts in yuan with separators, each table downloadable as xlsx and CSV (the API's own
routes). Everything the page needs is served here: no script, no external asset."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode, urlsplit

from fastapi import FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from markupsafe import Markup

from api import charts
from api.auth import Authenticators, Principal
from api.problems import NO_CONTROLS, STATUS_BY_CODE, ApiProblem
from api.service import Service, parse_day
from ledger.errors import InvalidInput, LedgerError
from ledger.money import yuan_text
from projections import schema
from projections.query import ReportAnswer, ReportRequest
from projections.render import column_title_zh
from projections.reports import Column, Section

TEMPLATES = Jinja2Templates(directory=str(__import__("pathlib").Path(__file__).parent / "templates"))
COOKIE = "fund_ledger_token"


@dataclass(frozen=True)
class Page:
    path: str
    title_zh: str
    title_en: str
    uses_year: bool = True
    uses_person: bool = False


PAGES = (
    Page("/balances", "基金余额", "Fund balances", uses_year=False),
    Page("/income-expenditure", "基金收支", "Income and expenditure"),
    Page("/budget", "预算执行", "Budget versus actual"),
    Page("/final-accounts", "基金决算", "Final accounts"),
    Page("/statement", "个人账户对账单", "Personal account statement", uses_person=True),
)


@dataclass
class Table:
    """A report section as the page shows it."""

    name: str
    title: str
    columns: list[Column]
    rows: list[dict[str, Any]]
    download: str = ""

    def heading(self, column: Column) -> Markup:
        return Markup("{}<br><small>{}</small>").format(column_title_zh(column), column.title)

    def cell(self, column: Column, row: dict[str, Any]) -> str:
        value = row.get(column.key)
        if value is None:
            return ""
        return yuan_text(int(value)) if column.kind == "fen" else str(value)


@dataclass
class View:
    page: Page
    principal: Principal
    regions: list[str]
    region: str | None = None
    year: int | None = None
    as_of: str = ""
    person: str = ""
    stands_at: str = ""
    tables: list[Table] = field(default_factory=list)
    figures: list[Markup] = field(default_factory=list)
    error: str = ""


def add_pages(app: FastAPI, service: Service, authenticators: Authenticators) -> None:
    def who(request: Request) -> Principal | None:
        from api.app import bearer

        credential = bearer(request)
        found = authenticators.authenticate(credential) if credential else None
        if found is not None:
            request.state.principal = found
        return found

    @app.get("/", include_in_schema=False)
    def home() -> Response:
        return RedirectResponse("/balances", status_code=303)

    @app.get("/login", include_in_schema=False, response_class=HTMLResponse)
    def login_form(request: Request) -> Response:
        return TEMPLATES.TemplateResponse(request, "login.html", {"error": ""})

    @app.post("/login", include_in_schema=False, response_class=HTMLResponse)
    def login(request: Request, token: Annotated[str, Form(max_length=200)]) -> Response:
        if not same_origin(request):
            return TEMPLATES.TemplateResponse(request, "login.html", {"error": "来源不符 Sent from another site"}, status_code=403)
        principal = authenticators.authenticate(token.strip())
        if principal is None:
            return TEMPLATES.TemplateResponse(request, "login.html", {"error": "无效的令牌 This token is not valid"}, status_code=401)
        request.state.principal = principal
        response = RedirectResponse("/balances", status_code=303)
        response.set_cookie(COOKIE, token.strip(), httponly=True, samesite="strict", secure=request.url.scheme == "https", path="/")
        return response

    @app.post("/logout", include_in_schema=False)
    def logout(request: Request) -> Response:
        if not same_origin(request):
            return Response("sent from another site", status_code=403)
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE, path="/")
        return response

    for page in PAGES:
        _add_page(app, service, page, who)


def _add_page(app: FastAPI, service: Service, page: Page, who: Any) -> None:
    @app.get(page.path, include_in_schema=False, response_class=HTMLResponse, name=page.path.strip("/"))
    def show(request: Request, region: Annotated[str | None, Query(max_length=32, pattern=NO_CONTROLS)] = None,
             year: Annotated[str | None, Query(max_length=8)] = None, as_of: Annotated[str | None, Query(max_length=10)] = None,
             person: Annotated[str | None, Query(max_length=64, pattern=NO_CONTROLS)] = None) -> Response:
        principal = who(request)
        if principal is None:
            return RedirectResponse("/login", status_code=303)
        view = View(page, principal, [], as_of=as_of or "", person=person or "")
        status = 200
        try:
            view.regions = service.regions(principal)
            view.region = region or (view.regions[0] if view.regions else None)
            if view.region is not None and principal.sees_figures and not principal.may_see(view.region):
                raise ApiProblem(403, "forbidden", f"this token does not cover region {view.region!r}", "region")
            if not principal.sees_figures:  # before anything is read: not even a region's latest year
                raise ApiProblem(403, "forbidden", f"a token of role {principal.role!r} does not see figures")
            view.year = _year(year) if year else (_latest_year(service, view.region) if page.uses_year else None)
            if page.uses_person and not person:
                view.error = "请输入个人编号 Enter a person id"
            else:
                fill(service, view)
        except ApiProblem as problem:
            view.error, status = problem.detail, problem.status
        except LedgerError as error:
            view.error = f"{error.field}: {error.reason}"
            status = STATUS_BY_CODE.get(error.code, 422)
        return TEMPLATES.TemplateResponse(request, "report.html", {"view": view, "pages": PAGES}, status_code=status)


def same_origin(request: Request) -> bool:
    """A form posted from this service's own pages: its ``Origin`` (which browsers send with a
    POST), or failing that its ``Referer``, names this host. Another site could otherwise log a
    user in under its own token, or out. A client sending neither (not a browser) is let through."""
    sent = request.headers.get("origin") or request.headers.get("referer")
    if not sent:
        return True
    parts = urlsplit(sent)
    return f"{parts.scheme}://{parts.netloc}" == f"{request.url.scheme}://{request.url.netloc}"


def _year(text: str) -> int:
    """Four ASCII digits (``str.isdigit`` also takes '²', which ``int`` refuses: a 500)."""
    if not re.fullmatch(r"[0-9]{4}", text):
        raise InvalidInput("year", f"must be a four-digit year, got {text!r}", value=text)
    return int(text)


def _latest_year(service: Service, region: str | None) -> int | None:
    if region is None:
        return None
    rows = service.store.query(f"SELECT MAX(year) AS year FROM {schema.LIVE_PREFIX}{schema.ACCOUNT_FLOWS.name} WHERE region = ? AND year > 0",
                               (region,))
    return int(rows[0]["year"]) if rows and rows[0]["year"] is not None else None


def fill(service: Service, view: View) -> None:
    """The page's tables and charts, from the report layer."""
    as_of = parse_day("as_of", view.as_of)

    def ask(name: str) -> ReportRequest:
        return ReportRequest(name, region=view.region, year=view.year, person=view.person or None, as_of=as_of)

    if view.page.path == "/balances":
        _tables(view, service.report(view.principal, ReportRequest("balances", region=view.region, as_of=as_of))[0])
    elif view.page.path == "/income-expenditure":
        income = _tables(view, service.report(view.principal, ask("income"))[0])
        spent = _tables(view, service.report(view.principal, ask("expenditure"))[0])
        view.figures.append(_monthly_chart(income, spent))
    elif view.page.path == "/budget":
        budget = _tables(view, service.report(view.principal, ask("budget"))[0])
        view.figures.append(_execution_chart(budget))
    elif view.page.path == "/final-accounts":
        final = _tables(view, service.report(view.principal, ask("final-accounts"))[0])
        view.figures.append(_capacity_chart(service, view, final, as_of))
    else:
        _tables(view, service.report(view.principal, ask("statement"))[0])


def _tables(view: View, answered: ReportAnswer) -> ReportAnswer:
    query = {key: value for key, value in (("region", answered.request.region), ("year", answered.request.year),
                                            ("person", answered.request.person),
                                            ("as_of", answered.request.as_of.isoformat() if answered.request.as_of else None))
             if value is not None}
    link = f"/api/v1/reports/{answered.report.name}?{urlencode(query)}"
    for section in answered.report.sections:
        view.tables.append(Table(f"{answered.report.name}.{section.name}", f"{answered.report.title}: {section.title}",
                                 section.columns, section.rows, link))
    as_of = answered.as_of
    view.stands_at = (f"截至 {as_of.isoformat()} As of {as_of.isoformat()}" if as_of is not None
                      else f"实时 Live: projections at log position {answered.position}")
    return answered


def _section(answered: ReportAnswer, name: str) -> Section:
    return next(section for section in answered.report.sections if section.name == name)


def _monthly_chart(income: ReportAnswer, spent: ReportAnswer) -> Markup:
    months: dict[str, list[Decimal]] = {}
    for index, answered in enumerate((income, spent)):
        for row in answered.report.sections[0].rows:
            if str(row["fund"]).startswith("memo."):  # memo funds are kept apart from the basic fund, never added to it
                continue
            months.setdefault(row["period"], [Decimal(0), Decimal(0)])[index] += Decimal(row["net_fen"]) / 10_000
    labels = sorted(months)
    return charts.grouped_columns("基本医疗保险基金按月收支（万元） The basic fund's income and expenditure by month (10,000 yuan)", [label[5:] for label in labels],
                                  [("收入 Income", [months[m][0] for m in labels]), ("支出 Expenditure", [months[m][1] for m in labels])],
                                  "万元")


def _execution_chart(budget: ReportAnswer) -> Markup:
    bars = [(f"{row['fund']} · {row['item_name']}", row["execution_rate_pct"]) for row in _section(budget, "lines").rows]
    return charts.horizontal_bars("预算执行率 Budget execution by item (%)", bars, "%", Decimal(100), "100%")


def _capacity_chart(service: Service, view: View, final: ReportAnswer, as_of: date | None) -> Markup:
    """Months of payment capacity at each month's end of the year (the same report, as of each
    month end), through the last month with postings (or the as-of date)."""
    year = final.request.year
    funds = [row for row in _section(final, "funds").rows if not str(row["fund"]).startswith("memo.")]
    months = max([int(row.get("months_elapsed") or 0) for row in funds] or [0])
    if as_of is not None and year == as_of.year:
        months = min(months, as_of.month)
    labels: list[str] = []
    series: dict[str, list[Decimal | None]] = {str(row["fund_name"]): [] for row in funds}
    for month in range(1, months + 1):
        end = date(year or 1, month, calendar.monthrange(year or 1, month)[1])
        answered, _ = service.report(view.principal, ReportRequest("final-accounts", region=view.region, year=year, as_of=end))
        labels.append(f"{month:02d}")
        by_fund = {str(row["fund_name"]): row["months_of_payment_capacity"] for row in _section(answered, "funds").rows}
        for name in series:
            series[name].append(by_fund.get(name))
    return charts.grouped_columns(f"{year} 可支付月数 Months of payment capacity at each month end", labels, list(series.items()), "月")
