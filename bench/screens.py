"""Screenshots of the planner's web page for the README (docs/screens/), taken in Debian's
Chromium through Playwright on a small generated shop.

    python bench/screens.py --out docs/screens

A planner's afternoon: the scenario list, a scenario form with an error named at its field,
a run in progress and finished, the runs list, one run, two runs compared, and a budget
frontier filled point by point. Nothing is asserted (tests/test_web.py does that).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml
from playwright.sync_api import sync_playwright

from engine.web.app import create_app
from engine.web.threaded import serving

FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/screens"))
    parser.add_argument("--customers", type=int, default=3000)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        ltv = str(Path(sys.executable).with_name("ltv"))
        subprocess.run(
            [ltv, "data", "demo", "--customers", str(args.customers), "--weeks", "80",
             "--seed", "5", "--as-of", "2026-11-30", "--out", str(work / "data")],
            check=True, capture_output=True,
        )  # fmt: skip
        scenarios = work / "scenarios"
        scenarios.mkdir()
        base = yaml.safe_load(Path("scenarios/base.yaml").read_text())
        base.pop("sweep", None)
        base["horizon_weeks"] = 6
        base["release"] = {"check": False}  # the small shop's log confirms nothing; show a plan
        for name, budget in (("spring_push", 150), ("lean_spring", 60)):
            spec = {**base, "name": name, "constraints": {**base["constraints"]}}
            spec["description"] = f"Six weeks at {budget} a week."
            spec["constraints"]["weekly_budget"] = budget
            (scenarios / f"{name}.yaml").write_text(yaml.safe_dump(spec, sort_keys=False))
        app = create_app(work / "runs", work / "data", scenarios)
        with serving(app) as url, sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=shutil.which("chromium"), args=FLAGS
            )
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.set_default_timeout(300_000)

            def shot(name: str, full: bool = False) -> None:
                page.screenshot(path=str(args.out / f"{name}.png"), full_page=full)

            page.goto(f"{url}/scenarios")
            shot("scenarios")
            page.click("text=spring_push")
            page.fill("#f-constraints\\.weekly_budget", "a lot")
            page.fill("#f-save_as", "spring_push")
            page.click("#save")
            page.locator(".field.invalid").first.scroll_into_view_if_needed()
            shot("scenario_error")
            runs = []
            for name in ("spring_push", "lean_spring"):
                page.goto(f"{url}/scenarios/{name}")
                page.click("#run")
                page.wait_for_url("**/jobs/*")
                if not runs:
                    page.wait_for_timeout(1500)
                    shot("run_in_progress")
                page.wait_for_selector("#status[data-state='finished']")
                page.click("#open-run")
                page.wait_for_url("**/runs/*")
                runs.append(page.url)
            shot("run")
            page.goto(f"{url}/runs")
            shot("runs")
            for box in page.locator("#runs input[type=checkbox]").all():
                box.check()
            page.click("#compare")
            page.wait_for_url("**/compare?*")
            shot("compare")
            page.goto(f"{url}/frontier")
            page.select_option("select[name=scenario]", "spring_push")
            page.fill("input[name=levels]", "20:200:5")
            page.click("#frontier-form button")
            page.wait_for_selector("#status[data-state='finished']")
            shot("frontier_job")
            page.click("#open-run")
            page.locator("#plot-frontier").scroll_into_view_if_needed()
            shot("frontier")
            browser.close()
    print(f"screenshots in {args.out}: {sorted(p.name for p in args.out.glob('*.png'))}")


if __name__ == "__main__":
    main()
