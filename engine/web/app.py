"""`ltv serve`: the planner's web page (DESIGN §10), a FastAPI app over the same scenarios, runs,
registry and reports as the command line.

Pages: scenarios (list, a form generated from the schema, save as a new file, run), runs (the
registry, sortable), one run (KPIs, constraints in words, spend and revenue by week against
budget and floor, predicted against checked gains, the allocation filtered by week, action
and segment, downloads), compare (runs side by side, differences marked), frontier (sweep a
budget or floor and watch it fill), and jobs (a run in progress: stage, messages, log).

Security: it binds to 127.0.0.1 unless told otherwise, and then only with a token; requests
must name a loopback or the configured host (no DNS rebinding; on 0.0.0.0 any name, the token
guarding), and a form post must come from
the page itself (Origin); run ids are looked up in the registry and scenario names are slugs,
so no path from the browser leaves the runs or scenarios folder; downloads are a fixed list of
file names; every text from data is escaped by Jinja2; spreadsheets carry no formulas
(engine/spreadsheet.py).
"""

from __future__ import annotations

import hmac
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jinja2
import yaml
from fastapi import FastAPI, Form, HTTPException, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from markupsafe import Markup

from engine import run_folder, strict_yaml
from engine.registry import RunRegistry
from engine.report import png_images
from engine.report_data import ReportData
from engine.run_reader import RunFolder, RunFolderError
from engine.scenario import ScenarioError, load_scenario
from engine.sweep import SweepError, parse_sweep
from engine.web.forms import form_values, read_form, scenario_form
from engine.web.jobs import JobManager
from shopdata.atomic import write_text_atomically

HERE = Path(__file__).parent
#: Files of a run the page offers for download, by the name in the link.
DOWNLOADS = {
    "report.html": "text/html",
    "report.xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "report.pdf": "application/pdf",
    "allocation.csv": "text/csv",
    "allocation.parquet": "application/vnd.apache.parquet",
}
SCENARIO_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,59}$")
SORTABLE = ("created", "scenario", "week", "status", "objective", "gap", "contacts", "spend")
LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})
ALLOCATION_ROWS_SHOWN = 200


def create_app(
    runs_dir: Path,
    data_dir: Path,
    scenarios_dir: Path,
    *,
    token: str | None = None,
    host: str = "127.0.0.1",
) -> FastAPI:
    """The web app over `runs_dir` (runs and registry), `data_dir` (the inputs every run from
    the page plans on) and `scenarios_dir` (the scenario files it lists and saves)."""
    app = FastAPI(title="ltv-engine planner", docs_url=None, redoc_url=None, openapi_url=None)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True
    )
    registry = RunRegistry(runs_dir)
    jobs = JobManager(runs_dir, data_dir)
    allowed_hosts = LOOPBACK | {host}
    # Listening on every address: browsers name the machine as they know it; the token guards.
    any_host = host in ("0.0.0.0", "::") and token is not None

    @app.middleware("http")
    async def guard(request: Request, call_next: Any) -> Response:
        hostname = urlsplit(f"//{request.headers.get('host', '')}").hostname or ""
        if not any_host and hostname not in allowed_hosts:
            return Response("unknown host", status_code=400)
        if request.method == "POST":
            origin = request.headers.get("origin")
            if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
                return Response("cross-site form refused", status_code=403)
        if token is not None and not request.url.path.startswith("/static/"):
            given = request.query_params.get("token") or request.cookies.get("ltv_token", "")
            if not hmac.compare_digest(given.encode(), token.encode()):
                return Response("a token is needed: open the link `ltv serve` printed", 401)
            if request.query_params.get("token"):
                response = RedirectResponse(request.url.path, status_code=303)
                response.set_cookie("ltv_token", token, httponly=True, samesite="strict")
                return response
        response = await call_next(request)
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["X-Frame-Options"] = "DENY"
        return response

    def page(template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
        html = templates.get_template(template).render(**context)
        return HTMLResponse(html, status_code=status_code)

    def scenario_path(name: str) -> Path:
        if not SCENARIO_NAME.match(name):
            raise HTTPException(404, "no such scenario")
        path = scenarios_dir / f"{name}.yaml"
        if not path.is_file():
            raise HTTPException(404, "no such scenario")
        return path

    def finished_run(run_id: str) -> RunFolder:
        if registry.find(run_id) is None:
            raise HTTPException(404, "no such run in the registry")
        try:
            return RunFolder.open(run_folder.finished_folder(runs_dir, run_id))
        except (ValueError, RunFolderError) as error:
            raise HTTPException(404, str(error)) from None

    @app.get("/")
    def home() -> RedirectResponse:
        return RedirectResponse("/runs", status_code=303)

    # ------------------------------------------------------------------ scenarios
    @app.get("/scenarios", response_class=HTMLResponse)
    def scenarios() -> HTMLResponse:
        found = []
        for path in sorted(scenarios_dir.glob("*.yaml")):
            try:
                scenario = load_scenario(path)
                found.append((path.stem, scenario.description, ""))
            except ScenarioError as error:
                found.append((path.stem, "", str(error)))
        return page("scenarios.html.j2", title="Scenarios", scenarios=found)

    @app.get("/scenarios/{name}", response_class=HTMLResponse)
    def scenario(name: str) -> HTMLResponse:
        path = scenario_path(name)
        groups = scenario_form()
        raw = strict_yaml.load(path.read_text()) if path.stat().st_size else {}
        return page(
            "scenario.html.j2",
            title=f"Scenario {name}",
            name=name,
            groups=groups,
            values=form_values(raw if isinstance(raw, dict) else {}, groups),
            errors={},
            saved=False,
        )

    @app.post("/scenarios/{name}", response_class=HTMLResponse)
    async def save_scenario(name: str, request: Request) -> Response:
        scenario_path(name)
        submitted = {k: str(v) for k, v in (await request.form()).items()}
        groups = scenario_form()
        result = read_form(submitted, groups)
        errors = dict(result.errors)
        target = submitted.get("save_as", "").strip()
        if not SCENARIO_NAME.match(target):
            errors.setdefault("save_as", []).append(
                "a new file name: letters, digits, '-' and '_', at most 60"
            )
        elif (scenarios_dir / f"{target}.yaml").exists():
            errors.setdefault("save_as", []).append(f"{target}.yaml exists: choose a new name")
        if errors or result.scenario is None:
            return page(
                "scenario.html.j2",
                status_code=422,
                title=f"Scenario {name}",
                name=name,
                groups=groups,
                values={**result.values, "save_as": target},
                errors=errors,
                saved=False,
            )
        text = f"# Saved from the planner page, edited from {name}.yaml\n"
        text += yaml.safe_dump(result.mapping, sort_keys=False)
        write_text_atomically(scenarios_dir / f"{target}.yaml", text)
        return RedirectResponse(f"/scenarios/{target}?saved=1", status_code=303)

    def runnable(name: str) -> Path:
        """The scenario `name`, refused where it names a machine beyond this one (a Ray
        cluster's address): such a scenario runs only from the command line."""
        path = scenario_path(name)
        try:
            address = load_scenario(path).solver.execution.address
        except ScenarioError as error:
            raise HTTPException(422, str(error)) from None
        if address:
            raise HTTPException(
                403,
                f"{name}.yaml names a Ray cluster at {address!r} (solver.execution.address): a "
                "scenario that reaches beyond this machine runs only from the command line "
                f"(ltv plan {name}.yaml), never from the page",
            )
        return path

    @app.post("/scenarios/{name}/run")
    def run_scenario(name: str) -> RedirectResponse:
        job = jobs.start(runnable(name))
        return RedirectResponse(f"/jobs/{job}", status_code=303)

    # ------------------------------------------------------------------ jobs
    @app.get("/jobs", response_class=HTMLResponse)
    def job_list() -> HTMLResponse:
        return page("jobs.html.j2", title="Jobs", jobs=jobs.all())

    @app.get("/jobs/{job_id}", response_class=HTMLResponse)
    def job_page(job_id: str) -> HTMLResponse:
        job = jobs.get(job_id)
        if job is None:
            raise HTTPException(404, "no such job")
        return page("job.html.j2", title=f"Run of {job.scenario}", job=job)

    @app.get("/jobs/{job_id}/status", response_class=HTMLResponse)
    def job_status(job_id: str) -> HTMLResponse:
        job = jobs.get(job_id)
        if job is None:
            raise HTTPException(404, "no such job")
        return page("job_status.html.j2", job=job, points=_frontier_points(job.messages))

    # ------------------------------------------------------------------ runs
    @app.get("/runs", response_class=HTMLResponse)
    def runs(sort: str = "created", desc: int = 1) -> HTMLResponse:
        table = registry.table()
        if sort not in SORTABLE:
            sort = "created"
        if len(table):
            table = table.sort_values(sort, ascending=not desc, na_position="last")
        return page(
            "runs.html.j2",
            title="Runs",
            runs=table.to_dict("records"),
            sort=sort,
            desc=desc,
            columns=SORTABLE,
        )

    @app.get("/runs/{run_id}", response_class=HTMLResponse)
    def run_page(run_id: str, week: str = "", action: str = "", segment: str = "") -> HTMLResponse:
        run = finished_run(run_id)
        data = ReportData.read(run.path)
        promotions = run.promotions
        if data.customer_segments is not None:
            promotions = promotions.merge(data.customer_segments, on="customer_id", how="left")
        shown = promotions
        if week:
            shown = shown[shown["week"].astype(str) == week]
        if action:
            shown = shown[shown["action"].astype(str) == action]
        if segment and "segment" in shown:
            shown = shown[shown["segment"].astype(str) == segment]
        return page(
            "run.html.j2",
            title=f"Run {run.run_id}",
            run=run,
            data=data,
            images=png_images(data),
            tables=_run_tables(data),
            allocation=shown.head(ALLOCATION_ROWS_SHOWN).to_dict("records"),
            allocation_count=len(shown),
            filters={"week": week, "action": action, "segment": segment},
            choices={
                "week": sorted({str(w) for w in promotions["week"]}, key=int),
                "action": sorted({str(a) for a in promotions["action"]}),
                "segment": (
                    sorted({str(s) for s in promotions["segment"].dropna()})
                    if "segment" in promotions
                    else []
                ),
            },
            downloads=[name for name in DOWNLOADS if (run.path / name).is_file()],
        )

    @app.get("/runs/{run_id}/files/{name}")
    def download(run_id: str, name: str) -> FileResponse:
        if name not in DOWNLOADS:
            raise HTTPException(404, "not a file the page offers")
        run = finished_run(run_id)
        path = run.path / name
        if not path.is_file():
            raise HTTPException(404, f"this run has no {name}")
        return FileResponse(path, media_type=DOWNLOADS[name], filename=f"{run_id}-{name}")

    @app.get("/compare", response_class=HTMLResponse)
    def compare(request: Request) -> HTMLResponse:
        chosen = request.query_params.getlist("run")
        if len(chosen) < 2:
            return page(
                "compare.html.j2",
                title="Compare",
                error="tick two or more runs on the Runs page and press Compare",
                rows=[],
                runs=[],
            )
        summaries = [finished_run(run_id).summary().to_dict() for run_id in chosen]
        rows = []
        for key in summaries[0]:
            values = [s[key] for s in summaries]
            rows.append((key, values, len({str(v) for v in values}) > 1))
        return page("compare.html.j2", title="Compare", rows=rows, runs=chosen, error="")

    # ------------------------------------------------------------------ frontier
    @app.get("/frontier", response_class=HTMLResponse)
    def frontier_form() -> HTMLResponse:
        names = [p.stem for p in sorted(scenarios_dir.glob("*.yaml"))]
        return page("frontier.html.j2", title="Frontier", scenarios=names, error="")

    @app.post("/frontier")
    def frontier_start(
        scenario: str = Form(...), parameter: str = Form(...), levels: str = Form(...)
    ) -> Response:
        path = runnable(scenario)
        sweep = f"{parameter}={levels.strip()}"
        try:
            parse_sweep(sweep)  # bounded before anything is expanded
        except SweepError as error:
            names = [p.stem for p in sorted(scenarios_dir.glob("*.yaml"))]
            return page(
                "frontier.html.j2",
                status_code=422,
                title="Frontier",
                scenarios=names,
                error=f"levels: LOW:HIGH:N (e.g. 100:1000:5) or A,B,C ({error})",
            )
        return RedirectResponse(f"/jobs/{jobs.start(path, sweep=sweep)}", status_code=303)

    return app


def _run_tables(data: ReportData) -> dict[str, Markup]:
    """The report's tables as HTML (pandas escapes the cells)."""
    tables = {
        "constraints": data.constraint_table().to_html(
            index=False, float_format="{:,.3f}".format, classes="grid"
        ),
        "weekly": data.weekly().to_html(index=False, float_format="{:,.2f}".format, classes="grid"),
        "by_action": data.by_week_and_action().to_html(classes="grid"),
    }
    release = data.release_table()
    if release is not None:
        tables["release"] = release.to_html(
            index=False, float_format="{:,.4f}".format, na_rep="-", classes="grid"
        )
    attrition = data.attrition_table()
    if attrition is not None:
        tables["attrition"] = attrition.to_html(
            index=False, float_format="{:,.2f}".format, na_rep="-", classes="grid"
        )
    tests = data.test_table()
    if tests is not None:
        tables["tests"] = tests.to_html(
            index=False, float_format="{:,.4f}".format, na_rep="-", classes="grid"
        )
    policies = data.policy_table()
    if policies is not None:
        tables["policies"] = policies.to_html(
            index=False, float_format="{:,.1f}".format, classes="grid"
        )
    return {name: Markup(html) for name, html in tables.items()}


_POINT = re.compile(r"^frontier: (\w+) = ([\d,.]+): (\w+), CLV ([-\d,.na]+)$")


def _frontier_points(messages: tuple[dict[str, str], ...]) -> list[dict[str, str]]:
    """The sweep's points solved so far, from the job's messages (the page fills as they come)."""
    points = []
    for message in messages:
        found = _POINT.match(message.get("text", ""))
        if found:
            parameter, level, status, clv = found.groups()
            points.append({"parameter": parameter, "level": level, "status": status, "clv": clv})
    return points
