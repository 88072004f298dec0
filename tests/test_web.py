"""The planner's web page in a real browser: Debian's Chromium driven by Playwright against
`ltv serve`'s app on a free loopback port, on a small generated shop."""

from __future__ import annotations

import dataclasses
import io
import shutil
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest

from engine.pipeline import RunResult
from engine.registry import RunRegistry
from engine.web.app import create_app
from engine.web.threaded import serving
from tests.run_helpers import SCENARIO

sync_api = pytest.importorskip("playwright.sync_api")

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="Debian's chromium is not installed (`make test` installs it)"
)
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


@pytest.fixture()
def server(small_market_dir: Path, tmp_path: Path) -> Iterator[str]:
    """The app on a free loopback port, over a scenarios folder holding `small`."""
    scenarios = tmp_path / "scenarios"
    scenarios.mkdir()
    # With the PDF the pipeline tests leave out: the page's runs write and offer all three.
    (scenarios / "small.yaml").write_text(
        SCENARIO.replace("formats: [html, xlsx]", "formats: [html, xlsx, pdf]")
    )
    app = create_app(tmp_path / "runs", small_market_dir, scenarios)
    with serving(app) as base:
        yield base


@pytest.fixture()
def browser_page() -> Iterator[object]:
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        page = browser.new_page()
        page.set_default_timeout(20_000)
        yield page
        browser.close()


def _run_to_the_end(page: object, base: str, scenario: str) -> str:
    """Open the scenario, press Run, watch the job finish; returns the run's page address."""
    page.goto(f"{base}/scenarios/{scenario}")
    page.click("#run")
    page.wait_for_url("**/jobs/*")
    page.wait_for_selector("#status[data-state='finished']", timeout=240_000)
    page.click("#open-run")
    page.wait_for_url("**/runs/*")
    return page.url


@pytest.mark.slow
def test_a_planner_edits_runs_opens_compares_and_downloads(
    server: str, browser_page, small_run: RunResult, tmp_path: Path
) -> None:
    page = browser_page
    # A scenario with an error: named at its field, nothing saved.
    page.goto(f"{server}/scenarios")
    page.click("text=small")
    page.fill("#f-horizon_weeks", "0")
    page.fill("#f-constraints\\.weekly_budget", "lots")
    page.fill("#f-save_as", "small_edited")
    page.click("#save")
    horizon = page.locator(".field[data-field='horizon_weeks'] .error")
    assert "greater than or equal to 1" in horizon.inner_text()
    budget = page.locator(".field[data-field='constraints.weekly_budget'] .error")
    assert budget.count() >= 1
    assert "nothing was saved" in page.inner_text("#form-errors")
    # Fixed: saved as a new scenario, which the list then shows.
    page.fill("#f-horizon_weeks", "3")
    page.fill("#f-constraints\\.weekly_budget", "30")
    page.click("#save")
    page.wait_for_url("**/scenarios/small_edited?saved=1")
    page.goto(f"{server}/scenarios")
    assert page.locator("#scenarios a", has_text="small_edited").count() == 1
    # Run both to the end, watching each job's page.
    first = _run_to_the_end(page, server, "small_edited")
    assert page.inner_text("#status") == "optimal"
    assert "shadow_price" in page.inner_text("table.dataframe >> nth=0")
    # Every download opens as what it says it is.
    for name, check in (
        ("report.html", lambda body: b"<html" in body[:200].lower()),
        ("report.xlsx", lambda body: zipfile.ZipFile(io.BytesIO(body)).testzip() is None),
        ("report.pdf", lambda body: body.startswith(b"%PDF")),
        ("allocation.csv", lambda body: body.startswith(b"customer_id,")),
        ("allocation.parquet", lambda body: len(pd.read_parquet(io.BytesIO(body))) > 0),
    ):
        link = page.locator("a.download", has_text=name)
        response = page.request.get(server + link.get_attribute("href"))
        assert response.ok and check(response.body()), name
    # The allocation filters by week.
    page.select_option("#filters select[name=week]", "2")
    page.click("#filters button")
    weeks = page.locator("#allocation tr td:nth-child(2)").all_inner_texts()
    assert weeks and set(weeks) == {"2"}
    # Compare with another run of the folder: the session's run of the pipeline tests' scenario
    # (conftest), registered here as a run from the command line would be.
    runs = tmp_path / "runs"
    shutil.copytree(small_run.folder, runs / small_run.folder.name)
    record = RunRegistry(small_run.folder.parent).find(small_run.run_id)
    assert record is not None
    RunRegistry(runs).record(dataclasses.replace(record, folder=str(runs / small_run.folder.name)))
    assert small_run.run_id not in first
    # Compare: tick both on the Runs page; the rows that differ are marked.
    page.goto(f"{server}/runs")
    for box in page.locator("#runs input[type=checkbox]").all():
        box.check()
    page.click("#compare")
    page.wait_for_url("**/compare?*")
    assert page.locator("#comparison tr.differs").count() >= 1


def test_the_page_refuses_what_leaves_its_folders(server: str, browser_page) -> None:
    page = browser_page
    for path in (
        "/runs/..%2F..%2Fetc",
        "/runs/nothing/files/report.html",
        "/scenarios/..%2Fsecret",
        "/jobs/..%2F..%2Fx",
    ):
        assert page.request.get(server + path).status == 404, path
    forged = page.request.post(
        f"{server}/scenarios/small/run", headers={"Origin": "http://evil.example"}
    )
    assert forged.status == 403
    assert page.request.get(server + "/runs", headers={"Host": "evil.example"}).status == 400


@pytest.mark.slow
def test_a_frontier_fills_point_by_point_and_plots(server: str, browser_page) -> None:
    page = browser_page
    page.goto(f"{server}/frontier")
    page.fill("input[name=levels]", "-5")
    page.click("#frontier-form button")
    assert ">= 0; got -5.0" in page.inner_text(".error")  # refused, named, nothing started
    page.select_option("select[name=scenario]", "small")
    page.fill("input[name=levels]", "10,40")
    page.click("#frontier-form button")
    page.wait_for_url("**/jobs/*")
    page.wait_for_selector("#status[data-state='finished']", timeout=240_000)
    levels = page.locator("#points tr td:first-child").all_inner_texts()
    assert levels == ["10.00", "40.00"]
    page.click("#open-run")
    assert page.locator("#plot-frontier").count() == 1
