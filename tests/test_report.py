"""The report: a summary a manager reads in a minute, and a PDF printed from the same HTML."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine import report as report_module
from engine.report import write_reports
from engine.report_data import ReportData
from tests.run_helpers import hand_run


def test_the_summary_says_what_the_plan_does_costs_earns_and_what_binds(tmp_path: Path) -> None:
    folder, _ = hand_run(tmp_path / "hand-2026-11-30-abc")
    summary = ReportData.read(folder).summary()
    assert summary["does"] == "Over 2 weeks the plan contacts 2 of 2 customers (100.0%): a1 2."
    assert summary["costs"].startswith("It costs 3.00 in contacts and discounts")
    earns = "The forecast puts what its promotions add at 4.00 of discounted lifetime value"
    assert earns in summary["earns"]
    # Week 1's budget is spent whole on the best customer: it binds, and says what it is worth.
    assert summary["binds"].startswith("What binds: budget[w1]: one more euro of this budget")
    html = (write_reports(folder, ("html",))[0]).read_text()
    assert html.index('id="summary"') < html.index("<h2>Result</h2>")
    # the release decision: the released plan's expected gain and risk, and its tests
    kpis = json.loads((folder / "kpis.json").read_text())
    kpis["release"] = _release(released=["a1"])
    (folder / "kpis.json").write_text(json.dumps(kpis))
    earns = ReportData.read(folder).summary()["earns"]
    assert "the released promotions (a1) are expected to add 3.50 a week" in earns
    assert (
        "the probability that they lose more than 25.00 a week is 1.2% (the scenario allows 5%)"
        in earns
    )
    kpis["release"] = _release(released=[], tested=["a1"], tests=[_TEST])
    (folder / "kpis.json").write_text(json.dumps(kpis))
    earns = ReportData.read(folder).summary()["earns"]
    assert "expected to add" not in earns
    assert (
        "a1 goes out as a randomised test: 40 of its 200 chosen customers at random this week "
        "(the other 160 are its control group), expected cost 1.20, read out after 2 weeks; "
        "were its gain what is expected, the test would release it with probability 64%."
    ) in earns
    html = (write_reports(folder, ("html",))[0]).read_text()
    assert "Randomised tests: what the log cannot yet tell" in html and "assignment.parquet" in html


_TEST = {
    "action": "a1", "candidates": 200, "propensity": 0.2, "treated": 40, "controls": 160,
    "expected_cost": 1.2, "readout_weeks": 2, "power": 0.64, "note": "sized to answer",
}  # fmt: skip


def _release(
    released: list[str], tested: tuple[str, ...] = (), withheld: tuple[str, ...] = (),
    tests: tuple[dict, ...] = (),
) -> dict[str, object]:  # fmt: skip
    """kpis.json's `release` as the decision writes it, with one decision per action named."""
    decisions = [
        {"action": a, "decision": kind, "contacts": 2, "contacts_per_week": 1.0,
         "predicted_gain": 2.0, "calibration": 0.5, "calibration_note": "", "prior_mean": 1.0,
         "prior_sd": 2.0, "expected_gain": 1.5 if kind != "withhold" else -0.5, "gain_sd": 0.6,
         "loss_probability": 0.012, "evidence": [], "missing_evidence": [], "reason": "",
         "expected_gain_per_week": 1.5}
        for kind, names in (("release", released), ("test", tested), ("withhold", withheld))
        for a in names
    ]  # fmt: skip
    return {
        "rule": "posterior", "risk": 0.05, "max_loss": 25.0, "test_weeks": 2, "test_budget": 100.0,
        "later_uncertainty": 0.5, "value_weeks": 52, "windows": [0, 4, 52], "rounds": 1,
        "released": list(released), "tested": list(tested), "withheld": list(withheld),
        "decisions": decisions, "tests": list(tests), "note": "",
        "plan": {"expected_gain_per_week": 3.5 if released else 0.0, "sd_per_week": 1.5,
                 "loss_probability": 0.012 if released else 0.0},
    }  # fmt: skip


def test_a_plan_that_contacts_no_one_says_why(tmp_path: Path) -> None:
    folder, _ = hand_run(tmp_path / "hand-2026-11-30-abc")
    kpis = json.loads((folder / "kpis.json").read_text())
    kpis.update(customers_contacted=0, contacts_by_action={"a1": 0})
    (folder / "kpis.json").write_text(json.dumps(kpis))

    def does() -> str:
        return ReportData.read(folder).summary()["does"]

    assert does().endswith(
        "no promotion at all. No contact is forecast to add more lifetime value than it costs "
        "under these constraints."
    )
    kpis["release"] = _release(released=[], withheld=["a1"])
    (folder / "kpis.json").write_text(json.dumps(kpis))
    assert does().endswith(
        "The release decision released none of the actions the plan chose (below)."
    )
    # A shop with transactions only (CDNOW's, say): the missing log is the reason.
    log = {"origin": "no campaign log: no effect is learned", "actions": {}, "few_controls": {}}
    (folder / "campaign_log.json").write_text(json.dumps(log))
    assert "There is no campaign log, and without one no action's effect" in does()
    # A contacts-only log with no control, kept as asked with every effect set to zero.
    log["origin"] = "dropped: 12 contacts with no control group and no campaign_design"
    (folder / "campaign_log.json").write_text(json.dumps(log))
    assert "No action's effect could be learned from the campaign log (dropped: 12" in does()
    # A log too small for the deep forecasters' effect learner: the forecast says so.
    log.update(origin="explicit", actions={"a1": 40})
    (folder / "campaign_log.json").write_text(json.dumps(log))
    note = "campaign log too small: 60 usable rows (customer-weeks after a first purchase)"
    (folder / "forecast.json").write_text(json.dumps({"parameters": {"effects": note}}))
    assert f"The forecaster learned no action's effect ({note}): every contact" in does()


def test_the_report_says_how_much_the_campaigns_inflated_the_history(tmp_path: Path) -> None:
    folder, _ = hand_run(tmp_path / "hand-2026-11-30-abc")
    log = {"origin": "explicit", "actions": {"a1": 40}, "few_controls": {}}
    (folder / "campaign_log.json").write_text(json.dumps(log))
    inflation = {
        "factor": 0.75,
        "added_purchase_weeks": 250.0,
        "standard_error": 20.0,
        "purchase_weeks": 1000,
        "logged_rows": 5000,
        "logged_customers": 200,
        "weeks": 26,
        "applied": False,
    }
    forecast = {"parameters": {"contact_inflation": inflation}}
    (folder / "forecast.json").write_text(json.dumps(forecast))
    note = ReportData.read(folder).inflation_note()
    assert note.startswith("In the last 26 weeks the campaigns added 25.0% (+- 2.0%)")
    assert "about 33% above what these customers would buy with no contact" in note
    html = (write_reports(folder, ("html",))[0]).read_text()
    assert "campaigns added 25.0% (+- 2.0%) of the logged customers" in html
    assert "about 33% above what these customers would buy with no contact" in html
    inflation["applied"] = True
    (folder / "forecast.json").write_text(json.dumps(forecast))
    assert ReportData.read(folder).inflation_note().endswith("scaled by 0.750 to take that out.")
    (folder / "forecast.json").write_text(json.dumps({"parameters": {}}))
    assert ReportData.read(folder).inflation_note() == ""


@pytest.mark.skipif(report_module.chromium_path() is None, reason="no chromium to print with")
def test_the_pdf_is_the_html_printed_by_chromium_summary_first(tmp_path: Path) -> None:
    folder, _ = hand_run(tmp_path / "hand-2026-11-30-abc")
    (pdf,) = write_reports(folder, ("pdf",))
    body = pdf.read_bytes()
    assert body.startswith(b"%PDF") and b"Skia/PDF" in body  # Chromium's PDF backend
    pages = body.count(b"/Type /Page") - body.count(b"/Type /Pages")
    assert pages >= 2  # the summary page, then the figures


def test_without_chromium_the_pdf_is_still_written(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, _ = hand_run(tmp_path / "hand-2026-11-30-abc")
    monkeypatch.setattr(report_module, "chromium_path", lambda: None)
    (pdf,) = write_reports(folder, ("pdf",))
    body = pdf.read_bytes()
    assert body.startswith(b"%PDF") and b"Skia/PDF" not in body and b"Matplotlib" in body
