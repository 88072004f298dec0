"""The planner workflow end to end: scenario files, the weekly batch (idempotent, resumable),
the run folder's audit trail, the report, the registry."""

from __future__ import annotations

import json
import logging
import shutil
from html import escape
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from engine import pipeline
from engine.cli import app
from engine.pipeline import FAULT_INJECTION_ENV, InjectedFault, RunResult
from engine.registry import RunRegistry
from engine.report import write_reports
from engine.report_data import ReportData
from engine.run_reader import RunFolder
from engine.saved_models import choose_saved_model
from engine.scenario import ScenarioError, load_scenario
from forecasting.forecast_set import ForecastSet
from shopdata.calendar import horizon_start
from shopdata.validation import load_inputs
from tests.conftest import SMALL_AS_OF
from tests.run_helpers import SCENARIO, copy_runs, hand_run, plan_small

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture()
def scenario_file(tmp_path: Path) -> Path:
    path = tmp_path / "small.yaml"
    path.write_text(SCENARIO)
    return path


@pytest.mark.parametrize("path", sorted((REPO / "scenarios").glob("*.yaml")), ids=lambda p: p.stem)
def test_shipped_scenarios_are_valid(path: Path) -> None:
    scenario = load_scenario(path)
    assert scenario.actions[0].id == "none"
    assert path.read_text().startswith("#"), "each scenario opens with a comment for planners"


def test_scenario_errors_name_file_and_key(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(SCENARIO.replace("contact_cap: 2", "contact_cap: -1\n  colour: red"))
    with pytest.raises(ScenarioError) as caught:
        load_scenario(path)
    message = str(caught.value)
    assert str(path) in message
    assert "constraints.contact_cap" in message and "constraints.colour" in message
    path.write_text(SCENARIO + "forecast: {model: baseline, saved_model: runs/x/model}\n")
    with pytest.raises(ScenarioError, match=r"forecast: .*set model to ziln or sequence"):
        load_scenario(path)
    path.write_text(SCENARIO + "forecast: {model: ziln, max_model_age_weeks: 4}\n")
    with pytest.raises(ScenarioError, match=r"max_model_age_weeks .* set saved_model: latest"):
        load_scenario(path)
    for formats, expected in (("[html, docx]", "report.formats.1"), ("[pdf, pdf]", "once")):
        path.write_text(SCENARIO.replace("formats: [html, xlsx]", f"formats: {formats}"))
        with pytest.raises(ScenarioError, match=expected):
            load_scenario(path)


def _recompute(folder: Path) -> None:
    """Objective and every constraint activity from problem.npz and allocation.parquet alone."""
    arrays = np.load(folder / "problem.npz")
    allocation = pd.read_parquet(folder / "allocation.parquet")
    report = json.loads((folder / "solution.json").read_text())
    promotions = allocation[allocation["action"] != "recommend"]
    index = {c: i for i, c in enumerate(arrays["customer_ids"])}
    actions = {a: i for i, a in enumerate(arrays["action_ids"])}
    u = promotions["customer_id"].map(index).to_numpy(dtype=np.int64)
    a = promotions["action"].map(actions).to_numpy(dtype=np.int64)
    t = promotions["week"].to_numpy(dtype=np.int64) - 1
    value, cost, revenue = arrays["value"], arrays["cost"], arrays["revenue"]
    objective = value[:, 0, :].sum() + (value[u, a, t] - value[u, 0, t]).sum()
    assert objective == pytest.approx(report["objective"], rel=1e-9)
    # the items recommended carry their expected margin on their own, not in the CLV gain
    shown = allocation.loc[allocation["action"] == "recommend", "value"].sum()
    if report["recommendations"] is not None:
        assert shown == pytest.approx(report["recommendations"]["value"], rel=1e-9)
    h = value.shape[2]
    spend = cost[:, 0, :].sum(axis=0) + np.bincount(t, cost[u, a, t] - cost[u, 0, t], minlength=h)
    income = revenue[:, 0, :].sum(axis=0) + np.bincount(
        t, revenue[u, a, t] - revenue[u, 0, t], minlength=h
    )
    rows = {r["name"]: r for r in report["constraints"]}
    labels = arrays["week_labels"]
    for week in range(h):
        assert rows[f"budget[{labels[week]}]"]["activity"] == pytest.approx(spend[week])
        assert rows[f"revenue_floor[{labels[week]}]"]["activity"] == pytest.approx(income[week])
        assert spend[week] <= arrays["weekly_budget"][week] + 1e-6
        assert income[week] >= arrays["weekly_revenue_floor"][week] - 1e-6
    assert rows["capacity[coupon_20]"]["activity"] == (promotions["action"] == "coupon_20").sum()


def test_weekly_run_is_complete_idempotent_and_recomputable(
    small_market_dir: Path, small_run: RunResult, scenario_file: Path, tmp_path: Path
) -> None:
    first = small_run  # the session's run of this scenario (conftest)
    assert not first.reused
    for name in (
        "problem.npz",
        "solution.json",
        "allocation.parquet",
        "allocation.csv",
        "kpis.json",
        "report.html",
        "report.xlsx",
        "run.log",
        "scenario.yaml",
    ):
        assert (first.folder / name).is_file(), name
    assert not (first.folder / "report.pdf").exists()  # report.formats leaves it out
    progress = json.loads((first.folder / "progress.json").read_text())
    stages = [m["message"].split(":")[0] for m in progress["messages"]]
    assert stages[:2] == ["ingest", "forecast"] and progress["stage"] == "report"
    assert [m["seconds"] for m in progress["messages"]] == sorted(
        m["seconds"] for m in progress["messages"]
    )
    _recompute(first.folder)
    runs = copy_runs(first.folder, tmp_path / "runs").parent
    again = plan_small(scenario_file, small_market_dir, runs)
    assert again.reused and again.run_id == first.run_id
    assert len(RunRegistry(runs).table()) == 1
    backtest = json.loads((first.folder / "forecast.json").read_text())["backtest"]
    assert backtest["holdout_weeks"] == 13 and backtest["customers"] > 100
    html = (first.folder / "report.html").read_text()
    assert "spend_gini" in html
    # The CLV gain is the promotions' alone: the recommendations' expected item margin is shown
    # on its own line and said not to be a gain (no effect of a recommendation is learned).
    kpis = json.loads((first.folder / "kpis.json").read_text())
    solution = json.loads((first.folder / "solution.json").read_text())
    assert kpis["recommendations_shown"] > 0 and kpis["recommendation_margin"] > 0
    assert kpis["clv_gain"] == pytest.approx(solution["objective"])
    assert kpis["recommendation_margin"] == pytest.approx(solution["recommendations"]["value"])
    assert "which is not counted as a gain" in html
    constraints = RunFolder.open(first.folder).solution.constraints
    assert constraints  # every budget and floor row is in the report, with its meaning
    for constraint in constraints:
        assert escape(constraint.meaning()) in html, constraint.name


@pytest.mark.slow
def test_deep_weekly_run_saves_its_model_and_reports_its_effects(
    small_market_dir: Path, tmp_path: Path
) -> None:
    path = tmp_path / "small_deep.yaml"
    path.write_text(
        SCENARIO.replace("name: small", "name: small_deep")
        + "forecast: {model: ziln, reviews: false}\n"
    )
    result = plan_small(path, small_market_dir, tmp_path / "runs")
    forecast = json.loads((result.folder / "forecast.json").read_text())
    assert forecast["model"] == "ziln"
    assert forecast["backtest"]["model"] == "ziln"  # the run's own model, not BG/NBD
    assert forecast["backtest"]["reliability"]["bins"]
    assert set(forecast["parameters"]["effects"]["calibration"]) == {
        "email",
        "email_reco",
        "free_shipping",
        "coupon_10",
        "coupon_20",
    }
    assert (result.folder / "forecast" / "model" / "model.json").is_file()
    html = (result.folder / "report.html").read_text()
    assert "Action effects learned from the campaign log" in html and 'alt="reliability"' in html

    # A later run scores with the saved model instead of training one; the report carries the
    # backtest the model scored when it was trained.
    model_dir = result.folder / "forecast" / "model"
    reuse = tmp_path / "small_reuse.yaml"
    reuse.write_text(
        SCENARIO.replace("name: small", "name: small_reuse")
        + f"forecast: {{model: ziln, saved_model: {model_dir}}}\n"
    )
    reused = plan_small(reuse, small_market_dir, tmp_path / "runs")
    again = json.loads((reused.folder / "forecast.json").read_text())
    assert again["parameters"]["deep"]["retrained"] is False
    assert again["backtest"] == forecast["backtest"]
    assert not (reused.folder / "forecast" / "model").exists()
    assert (
        "The deep networks were not trained in this run"
        in (reused.folder / "report.html").read_text()
    )
    np.testing.assert_allclose(
        ForecastSet.load(reused.folder / "forecast").purchase_prob,
        ForecastSet.load(result.folder / "forecast").purchase_prob,
        rtol=1e-5,
    )

    # A model of another kind (or catalogue) is refused before any run folder is made.
    other = tmp_path / "small_other.yaml"
    other.write_text(
        SCENARIO.replace("name: small", "name: small_other")
        + f"forecast: {{model: sequence, saved_model: {model_dir}}}\n"
    )
    folders = sorted((tmp_path / "runs").iterdir())
    with pytest.raises(ScenarioError, match=r"forecast.saved_model: .* holds a ziln model"):
        plan_small(other, small_market_dir, tmp_path / "runs")
    assert sorted((tmp_path / "runs").iterdir()) == folders

    # `latest`: the newest model of this kind and catalogue in the runs folder, trained on or
    # before the run's week and young enough; otherwise the run trains its own.
    latest = tmp_path / "small_latest.yaml"
    latest.write_text(
        SCENARIO.replace("name: small", "name: small_latest")
        + "forecast: {model: ziln, saved_model: latest, max_model_age_weeks: 4}\n"
    )
    chosen = plan_small(latest, small_market_dir, tmp_path / "runs")
    assert (
        json.loads((chosen.folder / "forecast.json").read_text())["parameters"]["deep"]["retrained"]
        is False
    )
    scenario, runs = load_scenario(latest), tmp_path / "runs"
    week = horizon_start(pd.Timestamp(SMALL_AS_OF))
    found = choose_saved_model(scenario, latest, runs, week)
    assert found is not None and found.folder == model_dir and found.trained_as_of == week
    assert choose_saved_model(scenario, latest, runs, week - pd.Timedelta(weeks=1)) is None
    assert choose_saved_model(scenario, latest, runs, week + pd.Timedelta(weeks=4)) is not None
    assert choose_saved_model(scenario, latest, runs, week + pd.Timedelta(weeks=5)) is None
    # A named model trained after the run's week would score with what it should not know.
    with pytest.raises(ScenarioError, match=r"trained on data up to .* after this run's week"):
        choose_saved_model(load_scenario(reuse), reuse, runs, week - pd.Timedelta(weeks=1))


@pytest.mark.slow
def test_killed_run_resumes_to_the_same_result(
    small_market_dir: Path, small_run: RunResult, scenario_file: Path, tmp_path: Path, monkeypatch
) -> None:
    reference = small_run  # the same scenario run without a fault (conftest)
    runs = tmp_path / "runs"
    monkeypatch.setenv(FAULT_INJECTION_ENV, "value")
    with pytest.raises(InjectedFault):
        plan_small(scenario_file, small_market_dir, runs)
    assert not any(p.name == reference.run_id for p in runs.iterdir())  # nothing looks done
    assert RunRegistry(runs).table().empty
    monkeypatch.delenv(FAULT_INJECTION_ENV)
    resumed = plan_small(scenario_file, small_market_dir, runs)
    assert resumed.run_id == reference.run_id and not resumed.reused
    log = (resumed.folder / "run.log").read_text()
    assert log.count("stage forecast done") == 1  # not redone after the kill
    pd.testing.assert_frame_equal(
        pd.read_parquet(resumed.folder / "allocation.parquet"),
        pd.read_parquet(reference.folder / "allocation.parquet"),
    )


def test_a_shop_with_transactions_only_is_told_why_no_one_is_contacted(
    small_market_dir: Path, scenario_file: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """CDNOW's shape: purchases, no campaign log. The run completes, and the console (the
    caller's logging), run.log and the report's summary each say why the plan contacts no
    one. An absurd amount the scenario keeps (`amount_outliers: warn`) is warned of the same
    ways."""
    data = tmp_path / "data"
    shutil.copytree(small_market_dir, data)
    (data / "campaign_log.parquet").unlink()
    transactions = pd.read_parquet(data / "transactions.parquet")
    transactions.loc[3, "amount"] = 1e12
    transactions.to_parquet(data / "transactions.parquet", index=False)
    scenario = tmp_path / "kept.yaml"
    scenario.write_text(scenario_file.read_text() + "validation: {amount_outliers: warn}\n")
    said = "no campaign log: no action's effect can be learned"
    checked = CliRunner().invoke(
        app, ["validate", "--data", str(data), "--amount-outliers", "warn"]
    )
    assert checked.exit_code == 0 and said in checked.output
    with caplog.at_level(logging.WARNING):
        result = plan_small(scenario, data, tmp_path / "runs")
    assert any(said in r.getMessage() for r in caplog.records if r.name == "ltv.pipeline")
    assert said in (result.folder / "run.log").read_text()
    progress = json.loads((result.folder / "progress.json").read_text())
    assert [w for w in progress["warnings"] if said in w]  # for a caller polling the folder
    kept = [w for w in progress["warnings"] if w.startswith("input: ")]
    assert kept and "amount" in kept[0] and kept[0] in (result.folder / "run.log").read_text()
    kpis = json.loads((result.folder / "kpis.json").read_text())
    assert kpis["customers_contacted"] == 0
    summary = ReportData.read(result.folder).summary()["does"]
    assert "There is no campaign log, and without one no action's effect" in summary


def test_cli_plan_runs_report_compare(
    small_market_dir: Path, scenario_file: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    runs = tmp_path / "runs"
    result = runner.invoke(
        app,
        [
            "plan",
            str(scenario_file),
            "--data",
            str(small_market_dir),
            "--runs-dir",
            str(runs),
            "--as-of",
            f"{SMALL_AS_OF:%Y-%m-%d}",
            "--device",
            "cpu",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    folder = Path(result.output.strip().splitlines()[-1])
    assert folder.is_dir() and folder.parent == runs
    result = runner.invoke(app, ["runs", "--runs-dir", str(runs)])
    assert result.exit_code == 0 and "small" in result.output and "optimal" in result.output
    result = runner.invoke(app, ["report", str(folder), "--format", "html"])
    assert result.exit_code == 0 and "report.html" in result.output
    result = runner.invoke(app, ["compare", str(folder), str(folder)])
    assert result.exit_code == 0 and "CLV gain" in result.output
    result = runner.invoke(
        app,
        [
            "weekly",
            "--scenario",
            str(scenario_file),
            "--as-of",
            f"{SMALL_AS_OF:%Y-%m-%d}",
            "--data",
            str(small_market_dir),
            "--runs-dir",
            str(runs),
        ],
    )
    assert result.exit_code == 0 and "not recomputed" in result.output


def test_evaluate_replays_every_policy(
    small_market_dir: Path, small_run: RunResult, tmp_path: Path
) -> None:
    folder = copy_runs(small_run.folder, tmp_path / "runs")  # evaluate writes into the run
    out_json = tmp_path / "evaluation.json"
    cli = CliRunner().invoke(
        app,
        [
            "evaluate",
            str(folder),
            "--data",
            str(small_market_dir),
            "--json",
            str(out_json),
            "--replications",
            "3",
        ],
        catch_exceptions=False,
    )
    assert cli.exit_code == 0, cli.output
    figures = json.loads(out_json.read_text())
    assert set(figures["policies"]) == {
        "no_action",
        "random",
        "short_term_greedy",
        "uplift_top_k",
        "engine",
        "engine_without_tests",
        "oracle",
    }
    for name, policy in figures["policies"].items():
        low, high = policy["gain_ci"]
        assert low <= policy["gain"] <= high, name
        assert len(policy["revenue_by_week"]) == len(policy["spend_by_week"]) == 4
        assert 0.0 <= policy["weeks_over_budget"] <= 1.0
    nothing = figures["policies"]["no_action"]
    # Doing nothing is the reference: its paired gain is exactly zero and it spends nothing.
    assert nothing["gain"] == 0.0 and nothing["gain_ci"] == [0.0, 0.0]
    assert nothing["budget_used"] == 0.0 and nothing["weeks_over_budget"] == 0.0
    # The oracle optimises the true coefficients: it does at least as well as doing nothing,
    # up to the noise of the replay, and no policy beats it beyond noise here.
    assert figures["policies"]["oracle"]["gain_ci"][1] >= 0.0
    assert figures["oracle_beaten_by"] == []
    capture = figures["engine_capture_of_oracle_gain"]
    assert capture is None or capture <= 1.0 + 1e-9 or figures["oracle_beaten_by"]
    assert (folder / "evaluation.json").is_file()
    html = (folder / "report.html").read_text()
    assert "policies replayed in the true market" in html and "uplift_top_k" in html
    assert "Off-policy estimates on the campaign log" in html
    assert "Contacts by segment and action" in html
    assert "evaluation saved to" in cli.output and "off-policy estimates" in cli.output
    off_policy = figures["off_policy"]
    assert set(off_policy) == {"no_action", "logged", "engine", "engine_over_no_action"}
    for estimate in off_policy.values():
        if estimate["dr"] is None:
            assert estimate["reason"].startswith("cannot be estimated")
        else:
            assert estimate["dr_ci"][0] <= estimate["dr"] <= estimate["dr_ci"][1]


def test_cli_frontier_sweeps_the_budget(
    small_market_dir: Path, scenario_file: Path, tmp_path: Path
) -> None:
    runner = CliRunner()
    result = runner.invoke(
        app,
        [
            "frontier",
            str(scenario_file),
            "--sweep",
            "weekly_budget=0:40:3",
            "--data",
            str(small_market_dir),
            "--runs-dir",
            str(tmp_path / "runs"),
            "--as-of",
            f"{SMALL_AS_OF:%Y-%m-%d}",
            "--device",
            "cpu",
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    folder = Path(result.output.strip().splitlines()[-1])
    curve = pd.read_csv(folder / "frontier.csv")
    assert curve["level"].tolist() == [0.0, 20.0, 40.0]
    assert curve["spend"].iloc[0] == pytest.approx(0.0, abs=1e-9)
    assert (curve["clv"].diff().dropna() >= -1e-6).all()  # more budget never hurts (exact)
    assert "sweep given on the command line" in (folder / "scenario.yaml").read_text()
    bad = runner.invoke(app, ["frontier", str(scenario_file), "--sweep", "budget=1:2:3"])
    assert bad.exit_code != 0 and "PARAMETER=LOW:HIGH:N" in bad.output


def _checked_scenario(folder: Path, name: str, release: str) -> Path:
    """The small scenario named `name`, its plan checked on the log with `release`'s keys."""
    path = folder / f"{name}.yaml"
    path.write_text(
        SCENARIO.replace("name: small", f"name: {name}").replace(
            "release: {check: false}", f"release: {{check: true, {release}}}"
        )
    )
    return path


def test_the_release_decision_ships_what_is_worth_it_and_states_its_risk(
    small_market_dir: Path, tmp_path: Path
) -> None:
    """Every action of the plan decided on its posterior: released where its expected gain is
    above zero within the risk, tested at random where expected but riskier, withheld where
    not expected to gain; the allocation holds only the released and the tests (these in the
    first week), its figures recompute from the folder, the tests' rows follow the campaign
    log's contract (appended to the log, the shop validates), and the report explains it."""
    # A customer who signed up but has not bought yet is counted as left out, with the reason.
    data = tmp_path / "data"
    shutil.copytree(small_market_dir, data)
    customers = pd.read_parquet(data / "customers.parquet")
    newcomer = customers.iloc[:1].assign(customer_id="NEWBIE")
    pd.concat([customers, newcomer]).to_parquet(data / "customers.parquet", index=False)
    path = _checked_scenario(tmp_path, "decided", "risk: 0.1, outcome_weeks: 26, test_budget: 5")
    result = plan_small(path, data, tmp_path / "runs")
    kpis = json.loads((result.folder / "kpis.json").read_text())
    assert kpis["left_out"]["customers"] == 1 and kpis["left_out"]["examples"] == ["NEWBIE"]
    release = RunFolder.open(result.folder).release
    assert release is not None and release.risk == 0.1 and release.test_budget == 5.0
    assert release.windows and max(release.windows) <= 26  # the planner's cap holds
    assert release.decisions
    for d in release.decisions:
        if d["decision"] == "release":
            assert d["expected_gain"] > 0 and d["loss_probability"] <= 0.1
        elif d["decision"] == "test":
            assert d["expected_gain"] > 0 and d["loss_probability"] > 0.1
        else:
            assert d["expected_gain"] <= 0
        assert d["evidence"], d  # the small shop's log measures every action it planned
    promotions = pd.read_parquet(result.folder / "allocation.parquet")
    promotions = promotions[promotions["action"] != "recommend"]
    assert set(promotions["action"]) <= set(release.released) | set(release.tested)
    _recompute(result.folder)
    assignment = result.folder / "assignment.parquet"
    if release.tests:
        rows = pd.read_parquet(assignment)
        assert len(rows) == sum(t["candidate_weeks"] for t in release.tests)
        sent = rows[rows["action"] != "none"].merge(promotions, on="customer_id")
        # a tested action the budgets left no room for has no treated row
        assert len(sent) >= 1 and set(sent["action_x"]) <= set(release.tested)
        assert sum(t["expected_cost"] for t in release.tests) <= 5.0 + 1e-9
        # the first week's rows, once sent, appended to the log: the next week's run reads them
        week = rows["week_start"].min()
        assert week == horizon_start(SMALL_AS_OF)
        log = pd.read_parquet(data / "campaign_log.parquet")
        sent = rows[rows["week_start"] == week]
        pd.concat([log, sent[log.columns.intersection(sent.columns)]]).to_parquet(
            data / "campaign_log.parquet", index=False
        )
        ids = [a.id for a in load_scenario(path).actions]
        load_inputs(data, as_of=week + pd.Timedelta(weeks=1), action_ids=ids)
    else:
        assert not assignment.exists()
    html = (result.folder / "report.html").read_text()
    assert "The release decision: expected gain and the risk of loss" in html
    assert "P(loss &gt; tolerance)" in html


def test_an_action_the_log_never_shows_is_named(
    small_market_dir: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A scenario's new channel (sms) that the shop never tried: no effect can be learned, so
    no plan uses it; the run says so (run log, campaign_log.json, the report's warning)."""
    ids = ["none", "email", "email_reco", "free_shipping", "coupon_10", "coupon_20"]
    tables = load_inputs(small_market_dir, as_of=SMALL_AS_OF, action_ids=ids)
    path = tmp_path / "campaign_log.json"
    before, pipeline.log.propagate = pipeline.log.propagate, True  # a batch turns it off
    try:
        with caplog.at_level(logging.WARNING, logger="ltv.pipeline"):
            pipeline._write_campaign_log_summary(path, tables, (*ids, "sms"))
    finally:
        pipeline.log.propagate = before
    summary = json.loads(path.read_text())
    assert summary["never_logged"] == ["sms"]
    assert summary["unlogged_propensities"] == 0  # the demo logs its propensities
    summary["unlogged_propensities"] = 12345  # as a CRM export without them would
    assert "the campaign log never shows sms" in caplog.text
    folder = tmp_path / "hand-2026-11-30-abc"
    hand_run(folder)
    (folder / "campaign_log.json").write_text(json.dumps(summary))
    (html,) = write_reports(folder, ("html",))
    text = html.read_text()
    assert "the campaign log never shows sms: its effect cannot be learned" in text
    assert "12,345 logged rows do not say how likely\ntheir action was" in text
