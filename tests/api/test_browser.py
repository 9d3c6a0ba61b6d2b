"""The finance officer's pages in a real headless browser (Debian's ``chromium``, driven by
selenium through Debian's ``chromium-driver``): log in with a token, open each page from the
menu, and check that every figure shown equals the API's JSON for the same request. Screenshots
are kept in ``.run/test-artefacts/api/``."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger.money import yuan_text
from tests.api.service import HEAVY_PERSON, REGION, RunningService

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--no-first-run", "--disable-sync", "--disable-dev-shm-usage", "--window-size=1400,1000")
PAGES = [  # page, the API reports its tables show, query
    ("balances", ["balances"], {}),
    ("income-expenditure", ["income", "expenditure"], {"year": 2024}),
    ("budget", ["budget"], {"year": 2024}),
    ("final-accounts", ["final-accounts"], {"year": 2024}),
]
READ_TABLES = """
return Array.from(document.querySelectorAll('section.report')).map(s => ({
  name: s.dataset.table,
  rows: Array.from(s.querySelectorAll('tbody tr[data-row]')).map(r =>
    Object.fromEntries(Array.from(r.querySelectorAll('td[data-col]')).map(td => [td.dataset.col, td.textContent])))
}));
"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        pytest.fail("Debian's chromium and chromium-driver are needed: `make browser` (make test does it) installs them")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="fund-ledger-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


def click_and_load(driver: Any, element: Any) -> None:
    """Click, and wait until the page it leads to has replaced this one."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.wait import WebDriverWait

    page = driver.find_element(By.TAG_NAME, "html")
    element.click()
    WebDriverWait(driver, 30).until(lambda _: is_gone(page))
    WebDriverWait(driver, 30).until(lambda d: d.execute_script("return document.readyState") == "complete")


def is_gone(element: Any) -> bool:
    """Whether ``element``'s page has been replaced. Asked in the middle of the navigation,
    Chromium may answer that the node "does not belong to the document" instead of calling it
    stale (selenium's ``staleness_of`` lets that error through: a clean clone's run failed on it)."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as error:
        if "does not belong to the document" in str(error):
            return True
        raise
    return False


def shown(value: Any, kind_is_fen: bool) -> str:
    if value is None:
        return ""
    return yuan_text(int(value)) if kind_is_fen else str(value)


def assert_tables_equal_the_api(driver: Any, service: RunningService, reports: list[str], query: dict[str, Any]) -> int:
    """Every cell of every table on the page is the API's JSON value, formatted; the cells compared."""
    tables = {table["name"]: table["rows"] for table in driver.execute_script(READ_TABLES)}
    compared = 0
    for name in reports:
        document = service.as_role("finance", f"/api/v1/reports/{name}", **query).json()
        assert document.get("sections"), document
        for section, rows in document["sections"].items():
            page_rows = tables.pop(f"{name}.{section}")
            assert len(page_rows) == len(rows), (name, section)
            for page_row, row in zip(page_rows, rows, strict=True):
                for key, text in page_row.items():
                    assert text == shown(row[key], key.endswith("_fen")), (name, section, key, row)
                    compared += 1
    assert not tables, f"tables on the page the test did not compare: {sorted(tables)}"
    return compared


def screenshot(driver: Any, artefacts: Path, name: str) -> None:
    height = driver.execute_script("return document.documentElement.scrollHeight")
    driver.set_window_size(1400, min(max(int(height), 800), 6000))
    path = artefacts / f"{name}.png"
    assert driver.save_screenshot(str(path)) and path.stat().st_size > 10_000


def test_a_finance_officer_logs_in_and_every_page_shows_the_apis_figures(browser: Any, service: RunningService,
                                                                          artefacts: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.get(service.url + "/balances")
    assert browser.current_url.endswith("/login")  # no token yet
    browser.find_element(By.ID, "token").send_keys("flk_000000000000_" + "x" * 43)
    click_and_load(browser, browser.find_element(By.ID, "login"))
    assert "无效的令牌" in browser.find_element(By.ID, "error").text
    browser.find_element(By.ID, "token").send_keys(service.tokens["finance"])
    click_and_load(browser, browser.find_element(By.ID, "login"))
    assert browser.current_url.endswith("/balances")
    assert "Finance officer 沈阳 (finance)" in browser.find_element(By.CLASS_NAME, "who").text

    compared = 0
    for page, reports, query in PAGES:
        click_and_load(browser, browser.find_element(By.CSS_SELECTOR, f'nav a[href^="/{page}"]'))
        assert f"/{page}" in browser.current_url
        assert browser.find_element(By.ID, "as-of").text.startswith("实时 Live")
        assert [option.text for option in browser.find_elements(By.CSS_SELECTOR, "#region option")] == [REGION]
        compared += assert_tables_equal_the_api(browser, service, reports, {"region": REGION, **query})
        if page != "balances":
            assert browser.find_elements(By.CSS_SELECTOR, "figure svg rect"), f"no chart on {page}"
        downloads = [link.get_attribute("href") for link in browser.find_elements(By.CSS_SELECTOR, "p.downloads a")]
        assert downloads and all(link.endswith(("format=xlsx", "format=csv")) for link in downloads)
        screenshot(browser, artefacts, page)

    click_and_load(browser, browser.find_element(By.CSS_SELECTOR, 'nav a[href^="/statement"]'))
    browser.find_element(By.ID, "person").send_keys(HEAVY_PERSON)
    click_and_load(browser, browser.find_element(By.ID, "show"))
    compared += assert_tables_equal_the_api(browser, service, ["statement"], {"region": REGION, "person": HEAVY_PERSON, "year": 2024})
    screenshot(browser, artefacts, "statement")
    assert compared > 500


def test_a_date_chosen_on_the_page_shows_the_books_as_of_that_date(browser: Any, service: RunningService, artefacts: Path) -> None:
    from selenium.webdriver.common.by import By

    browser.get(f"{service.url}/final-accounts?region={REGION}&year=2024&as_of=2024-06-30")
    if browser.current_url.endswith("/login"):  # a browser of its own (the test run alone)
        browser.find_element(By.ID, "token").send_keys(service.tokens["finance"])
        click_and_load(browser, browser.find_element(By.ID, "login"))
        browser.get(f"{service.url}/final-accounts?region={REGION}&year=2024&as_of=2024-06-30")
    assert browser.find_element(By.ID, "as-of").text == "截至 2024-06-30 As of 2024-06-30"
    assert_tables_equal_the_api(browser, service, ["final-accounts"], {"region": REGION, "year": 2024, "as_of": "2024-06-30"})
    assert len(browser.find_elements(By.CSS_SELECTOR, "figure svg text")) > 6  # six month ends, and the legend
    screenshot(browser, artefacts, "final-accounts-as-of-2024-06-30")
    browser.get(f"{service.url}/balances?region=210200")
    assert browser.find_element(By.ID, "error").text == "this token does not cover region '210200'"
