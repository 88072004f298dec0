"""The solver report (HTML, XLSX, PDF), rebuilt from a run folder's files alone.

Written for a reader who never saw the code: what was asked (scenario), what the data and the
forecast were, whether the plan is provably good (status, bound, gap), what each constraint
costs in words, where the money goes by week and action, and the chance of meeting each floor.
"""

from __future__ import annotations

import base64
import io
import logging
import shutil
from pathlib import Path

import jinja2
import pandas as pd
from markupsafe import Markup
from matplotlib.figure import Figure

from engine.report_data import ReportData
from engine.spreadsheet import EXCEL_OPTIONS
from optimization.rows import RowKind
from optimization.solution import RECOMMEND
from shopdata.atomic import write_atomically, write_text_atomically

log = logging.getLogger("ltv.report")

FORMATS = ("html", "xlsx", "pdf")
#: Rows of the allocation the spreadsheet shows at most (Excel holds 1,048,576 a sheet, and a
#: report is read by people; the allocation files hold every row).
MAX_SHEET_ROWS = 100_000


def figures(data: ReportData) -> list[tuple[str, Figure]]:
    """The report's plots (name, matplotlib figure): spend and revenue by week against budget
    and floor, contacts by action, the frontier and the reliability curve where present."""
    figures = []
    weekly = data.weekly()
    fig = Figure(figsize=(8, 3.6))
    axis = fig.subplots()
    axis.bar(weekly["week"], weekly["spend"], color="#4c72b0")
    budget = data.scenario.get("constraints", {}).get("weekly_budget")
    if budget is not None:
        axis.plot(
            weekly["week"],
            pd.Series(budget if isinstance(budget, list) else [budget] * len(weekly)),
            "k--",
            label="budget",
        )
        axis.legend()
    axis.set(title="Planned spend by week", xlabel="week", ylabel="euros")
    figures.append(("spend", fig))

    fig = Figure(figsize=(8, 3.6))
    axis = fig.subplots()
    axis.plot(weekly["week"], weekly["expected_revenue"], "o-", label="plan")
    axis.plot(weekly["week"], weekly["revenue_without_promotions"], "s--", label="no promotions")
    floors = data.solution.of_kind(RowKind.REVENUE_FLOOR)
    if floors:
        axis.plot([r.week for r in floors], [r.rhs for r in floors], "k:", label="floor")
    axis.set(title="Expected short-term revenue by week", xlabel="week", ylabel="euros")
    axis.legend()
    figures.append(("revenue", fig))

    table = data.by_week_and_action()
    if not table.empty:
        fig = Figure(figsize=(8, 3.6))
        axis = fig.subplots()
        table.plot(kind="bar", stacked=True, ax=axis, width=0.8)
        axis.set(title="Contacts by week and action", xlabel="week", ylabel="customers")
        figures.append(("contacts", fig))
    if data.frontier is not None and len(data.frontier):
        fig = Figure(figsize=(9, 3.6))
        axes = fig.subplots(1, 2)
        frontier = data.frontier
        axes[0].plot(frontier["short_term_revenue"], frontier["clv"], "o-")
        axes[0].set(
            title="CLV against short-term revenue", xlabel="horizon revenue", ylabel="CLV gain"
        )
        axes[1].plot(frontier["level"], frontier["clv"], "o-")
        axes[1].set(
            title=f"CLV against {frontier['parameter'].iloc[0]}", xlabel="level", ylabel="CLV gain"
        )
        if "withheld" in frontier.columns:  # written with each level's plan as released
            fig.suptitle("Each level's plan as released: checked on the campaign log")
        fig.tight_layout()
        figures.append(("frontier", fig))
    reliability = data.reliability()
    if reliability:
        fig = Figure(figsize=(5, 4))
        axis = fig.subplots()
        bins = reliability["bins"]
        top = max(max(b["predicted"] for b in bins), max(b["observed"] for b in bins))
        axis.plot([0, top], [0, top], "k:", label="perfect")
        axis.plot(
            [b["predicted"] for b in bins], [b["observed"] for b in bins], "o-", label="held out"
        )
        axis.set(
            title=f"Purchase probability reliability (ECE {reliability['ece']:.4f})",
            xlabel="predicted",
            ylabel="observed",
        )
        axis.legend()
        figures.append(("reliability", fig))
    for _, figure in figures:
        figure.tight_layout()
    return figures


_TEMPLATES = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent / "templates"), autoescape=True
)


def png_images(data: ReportData) -> list[tuple[str, str]]:
    """The report's plots as (name, base64 PNG), for HTML pages."""
    images = []
    for name, figure in figures(data):
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=110)
        images.append((name, base64.b64encode(buffer.getvalue()).decode("ascii")))
    return images


def render_html(data: ReportData) -> str:
    """The report as one self-contained HTML page (plots inlined), summary first."""
    images = png_images(data)
    backtest = data.forecast.get("backtest") or {}
    policies = data.policy_table()
    return _TEMPLATES.get_template("report.html.j2").render(
        d=data,
        images=images,
        # pandas writes these tables (escaping their cells itself); the template must not
        # escape them a second time.
        constraints=Markup(
            data.constraint_table().to_html(index=False, float_format="{:,.3f}".format)
        ),
        weekly=Markup(data.weekly().to_html(index=False, float_format="{:,.2f}".format)),
        by_action=Markup(data.by_week_and_action().to_html()),
        by_segment=(Markup(data.segments.to_html()) if data.segments is not None else ""),
        policies=(
            Markup(policies.to_html(index=False, float_format="{:,.1f}".format))
            if policies is not None
            else ""
        ),
        release=(
            Markup(release.to_html(index=False, float_format="{:,.4f}".format, na_rep="-"))
            if (release := data.release_table()) is not None
            else ""
        ),
        tests=(
            Markup(tests.to_html(index=False, float_format="{:,.4f}".format, na_rep="-"))
            if (tests := data.test_table()) is not None
            else ""
        ),
        attrition=(
            Markup(attrition.to_html(index=False, float_format="{:,.2f}".format, na_rep="-"))
            if (attrition := data.attrition_table()) is not None
            else ""
        ),
        off_policy=(
            Markup(off_policy.to_html(index=False, float_format="{:,.4f}".format, na_rep="-"))
            if (off_policy := data.off_policy_table()) is not None
            else ""
        ),
        backtest=Markup(pd.Series(backtest).to_frame("value").to_html()) if backtest else "",
        effects=(
            Markup(effects.to_html(index=False, float_format="{:,.4f}".format, na_rep=""))
            if (effects := data.effect_table()) is not None
            else ""
        ),
    )


def write_html(data: ReportData, path: Path, html: str | None = None) -> Path:
    """report.html: `html` when the caller rendered it already, else `render_html(data)`."""
    return write_text_atomically(path, render_html(data) if html is None else html)


def write_xlsx(data: ReportData, path: Path) -> Path:
    return write_atomically(path, lambda temporary: _write_xlsx(data, temporary))


def _write_xlsx(data: ReportData, path: Path) -> None:
    summary = pd.Series(
        {
            k: v
            for k, v in data.solution.raw.items()
            if k not in ("constraints", "notes", "recommendations")
        }
    )
    with pd.ExcelWriter(
        path, engine="xlsxwriter", engine_kwargs={"options": EXCEL_OPTIONS}
    ) as writer:
        summary.to_frame("value").to_excel(writer, sheet_name="summary")
        data.constraint_table().to_excel(writer, sheet_name="constraints", index=False)
        data.weekly().to_excel(writer, sheet_name="weekly", index=False)
        data.by_week_and_action().to_excel(writer, sheet_name="contacts_by_action")
        if data.segments is not None:
            data.segments.to_excel(writer, sheet_name="contacts_by_segment")
        policies = data.policy_table()
        if policies is not None:
            policies.to_excel(writer, sheet_name="policies", index=False)
        release = data.release_table()
        if release is not None:
            release.to_excel(writer, sheet_name="release_decision", index=False)
        tests = data.test_table()
        if tests is not None:
            tests.to_excel(writer, sheet_name="randomised_tests", index=False)
        attrition = data.attrition_table()
        if attrition is not None:
            attrition.to_excel(writer, sheet_name="attrition", index=False)
        off_policy = data.off_policy_table()
        if off_policy is not None:
            off_policy.to_excel(writer, sheet_name="off_policy", index=False)
        effects = data.effect_table()
        if effects is not None:
            effects.to_excel(writer, sheet_name="effects", index=False)
        promotions = data.promotions
        if len(promotions) > MAX_SHEET_ROWS:  # the whole plan is in allocation.parquet/.csv
            pd.DataFrame(
                {
                    "note": [
                        f"the plan has {len(promotions):,} contacts; this sheet shows the first "
                        f"{MAX_SHEET_ROWS:,}; allocation.parquet and allocation.csv hold them all"
                    ]
                }
            ).to_excel(writer, sheet_name="allocation_note", index=False)
            promotions = promotions.head(MAX_SHEET_ROWS)
        promotions.to_excel(writer, sheet_name="allocation", index=False)
        shown = data.allocation[data.allocation["action"] == RECOMMEND]
        if len(shown):  # one row per week and item; every shown item is in allocation.parquet
            (
                shown.groupby(["week", "item"])
                .agg(customers=("customer_id", "count"), value=("value", "sum"))
                .reset_index()
                .to_excel(writer, sheet_name="recommendations", index=False)
            )
        if data.frontier is not None:
            data.frontier.to_excel(writer, sheet_name="frontier", index=False)


def write_pdf(data: ReportData, path: Path, html: str | None = None) -> Path:
    """report.pdf: the HTML report (`html` when the caller rendered it already) printed by
    headless Chromium (its first page the summary), or, where Chromium or Playwright is
    missing, a plain text-and-plots PDF (matplotlib)."""
    browser = chromium_path()
    if browser is not None:
        page = render_html(data) if html is None else html
        try:
            return write_atomically(path, lambda temporary: _print_pdf(page, temporary, browser))
        except ImportError:
            pass  # no Playwright (the web extra): the plain PDF
        except Exception as error:  # Chromium failed or took too long: still a report
            log.warning("printing report.pdf with Chromium failed (%s); plain PDF written", error)
    return write_atomically(path, lambda temporary: _write_pdf(data, temporary))


#: Flags that run Chromium headless as root, in a container, with no GPU and no network chatter.
CHROMIUM_FLAGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
)
#: Longest a PDF may take to print before the report falls back to the plain one.
PRINT_TIMEOUT_MS = 60_000


def chromium_path() -> str | None:
    """The system Chromium (Debian's `chromium`), or None."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def _print_pdf(html: str, path: Path, browser_path: str) -> None:
    from playwright.sync_api import sync_playwright  # the web extra's; ImportError without

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=browser_path, args=list(CHROMIUM_FLAGS), timeout=PRINT_TIMEOUT_MS
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(PRINT_TIMEOUT_MS)
            page.set_content(html, wait_until="load")
            page.pdf(
                path=str(path),
                format="A4",
                print_background=True,
                margin={"top": "14mm", "bottom": "14mm", "left": "12mm", "right": "12mm"},
            )
        finally:
            browser.close()


def _write_pdf(data: ReportData, path: Path) -> None:
    # Imported here: the fallback's writer, half a second of every command's start otherwise.
    from matplotlib.backends.backend_pdf import PdfPages

    with PdfPages(path) as pdf:
        page = Figure(figsize=(8.27, 11.69))
        s = data.solution
        lines = [
            f"Promotion plan: {data.scenario.get('name')}",
            "",
            str(data.scenario.get("description", "")),
            "",
            f"Status: {s.status}    solver: {s.backend}",
            f"CLV gain of the promotions over doing nothing: {s.objective or 0:,.2f}",
            f"Proven bound: {s.bound:,.2f}    gap: {(s.gap or 0):.4%}",
            f"Customers: {data.kpis['customers']:,}   contacted: "
            f"{data.kpis['customers_contacted']:,}",
            "",
            "Constraints:",
        ]
        for row in data.constraint_table().to_dict("records")[:24]:
            lines.append(
                f"  {row['name']}: {row['activity']:,.1f} {row['sense']} "
                f"{row['rhs']:,.1f}; {row['meaning']}"
            )
        policies = data.policy_table()
        if policies is not None:
            lines += ["", "Policies replayed in the true market (gain over none, paired 95 % CI):"]
            for row in policies.to_dict("records"):
                lines.append(
                    f"  {row['policy']:<18} {row['gain vs none']:>10,.1f}  "
                    f"[{row['CI low']:,.1f}; {row['CI high']:,.1f}]  "
                    f"spend {row['spend']:,.1f}, over budget {row['weeks over budget']:.0%}"
                )
            lines.append("  " + data.evaluation_headline())
        if data.segments is not None:
            lines += ["", f"Contacts by {data.segments.index.name} and action:"]
            lines += ["  " + line for line in data.segments.to_string().splitlines()]
        page.text(0.06, 0.96, "\n".join(lines), va="top", family="monospace", fontsize=7.5)
        pdf.savefig(page)
        for _, figure in figures(data):
            pdf.savefig(figure)


def write_reports(folder: Path, formats: tuple[str, ...] | None = None) -> list[Path]:
    """The run folder's report in each of `formats` (report.html, .xlsx, .pdf; None: those
    its scenario's `report.formats` asks for, all three by default); the HTML page (its plots
    drawn) once for both the page and the PDF printed from it."""
    unknown = [f for f in formats or () if f not in FORMATS]
    if unknown:
        raise ValueError(f"The 'format' option must name some of {FORMATS}. Got {unknown}.")
    data = ReportData.read(folder)
    if formats is None:
        formats = tuple(data.scenario.get("report", {}).get("formats", FORMATS))
    html = render_html(data) if {"html", "pdf"} & set(formats) else None
    writers = {
        "html": lambda path: write_html(data, path, html),
        "xlsx": lambda path: write_xlsx(data, path),
        "pdf": lambda path: write_pdf(data, path, html),
    }
    return [writers[f](folder / f"report.{f}") for f in formats]
