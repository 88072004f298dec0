"""A shop's own one-shot randomised campaign, end to end from the command line: two e-mail
versions and no e-mail at 1/3 each in one week, logged as contacts only with its design; most
customers bought once; the shop's own action catalogue comes from the scenario."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from engine.cli import app
from engine.run_reader import RunFolder
from forecasting.forecast_set import ForecastSet

AS_OF = pd.Timestamp("2026-11-30")
CAMPAIGN_WEEK = AS_OF - pd.Timedelta(weeks=6)
SCENARIO = """
name: one_shot
horizon_weeks: 4
actions:
  - {id: none}
  - {id: mail_a, fixed_cost: 0.01, channel: email}
  - {id: mail_b, fixed_cost: 0.01, channel: email}
constraints:
  weekly_budget: 1.5
  contact_cap: 1
solver: {backend: highs, time_limit_s: 60}
recommendations: {slots: 0}
"""


def _shop(folder: Path, customers: int = 3000, seed: int = 0) -> None:
    """52 weeks of history; 80 % of customers bought once. In the campaign week every earlier
    buyer was e-mailed version a, b or nothing (1/3 each); version a quadruples the chance to buy
    again in the two weeks after for customers in the north, b does nothing."""
    rng = np.random.default_rng(seed)
    ids = np.array([f"K{i:05d}" for i in range(customers)])
    area = rng.choice(["north", "south"], customers)
    first = AS_OF - pd.to_timedelta(rng.integers(8 * 7, 52 * 7, customers), unit="D")
    repeat = rng.random(customers) < 0.2
    again = first + pd.to_timedelta(rng.integers(1, 30, customers), unit="D")
    eligible = first < CAMPAIGN_WEEK
    arm = np.where(eligible, rng.integers(0, 3, customers), -1)
    responds = (arm == 1) & (area == "north")
    base_rate = 0.06
    buys_after = rng.random(customers) < np.where(responds, 4 * base_rate, base_rate)
    after = CAMPAIGN_WEEK + pd.to_timedelta(rng.integers(0, 14, customers), unit="D")
    rows = [
        pd.DataFrame({"customer_id": ids, "ts": first, "amount": rng.gamma(4, 10, customers)}),
        pd.DataFrame(
            {
                "customer_id": ids[repeat],
                "ts": again[repeat],
                "amount": rng.gamma(4, 10, repeat.sum()),
            }
        ),
        pd.DataFrame(
            {
                "customer_id": ids[eligible & buys_after],
                "ts": after[eligible & buys_after],
                "amount": rng.gamma(4, 10, (eligible & buys_after).sum()),
            }
        ),
    ]
    transactions = pd.concat(rows, ignore_index=True)
    transactions = transactions[transactions["ts"] < AS_OF]
    transactions.to_csv(folder / "transactions.csv", index=False)
    pd.DataFrame({"customer_id": ids, "area": area, "newcomer": ~repeat, "channel": "web"}).to_csv(
        folder / "customers.csv", index=False
    )
    contacted = arm > 0
    pd.DataFrame(
        {
            "customer_id": ids[contacted],
            "week_start": CAMPAIGN_WEEK,
            "action": np.where(arm[contacted] == 1, "mail_a", "mail_b"),
        }
    ).to_csv(folder / "campaign_log.csv", index=False)
    pd.DataFrame(
        {
            "week_start": [CAMPAIGN_WEEK] * 2,
            "action": ["mail_a", "mail_b"],
            "probability": [1 / 3] * 2,
        }
    ).to_csv(folder / "campaign_design.csv", index=False)


@pytest.mark.slow
@pytest.mark.parametrize("model", ["baseline", "ziln"])
def test_a_one_shot_campaign_with_its_own_actions_runs_from_the_command_line(
    tmp_path: Path, model: str
) -> None:
    data = tmp_path / "data"
    data.mkdir()
    _shop(data)
    scenario = tmp_path / "one_shot.yaml"
    scenario.write_text(SCENARIO + f"forecast: {{model: {model}, reviews: false}}\n")
    runner = CliRunner()
    as_of = f"{AS_OF:%Y-%m-%d}"

    result = runner.invoke(
        app, ["validate", "--data", str(data), "--scenario", str(scenario), "--as-of", as_of]
    )
    assert result.exit_code == 0, result.output
    assert "control rows derived from campaign_design" in result.output

    # Without the scenario the shop's actions are not the demo catalogue: a clear error.
    result = runner.invoke(app, ["validate", "--data", str(data), "--as-of", as_of])
    assert result.exit_code == 2 and "unknown actions ['mail_a', 'mail_b']" in result.output

    fitted = tmp_path / "fitted"
    result = runner.invoke(
        app,
        [
            "forecast", "fit", "--data", str(data), "--scenario", str(scenario),
            "--out", str(fitted), "--as-of", as_of, "--device", "cpu", "--model", model,
            "--no-reviews",
        ],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    if model == "ziln":  # the learned effects' calibration on held-out customers is reported
        assert "effect calibration on held-out customers" in result.output
    else:  # a 6-week-old campaign: follow-on effects learned over 4 weeks, not dropped for 8
        parameters = json.loads((fitted / "forecast.json").read_text())["parameters"]
        assert parameters["future_weeks"] == 4
        assert parameters["effects"]["future_effect_not_identified"] == []
    forecast = ForecastSet.load(fitted)
    assert list(forecast.action_ids) == ["none", "mail_a", "mail_b"]
    assert forecast.shape[2] == 4
    for name in ("purchase_prob", "spend", "future_margin_delta"):
        assert np.isfinite(getattr(forecast, name)).all(), name

    if model == "ziln":  # the plan scores with the networks just fitted (no second training)
        scenario.write_text(
            SCENARIO
            + f"forecast: {{model: ziln, reviews: false, saved_model: {fitted / 'model'}}}\n"
        )
    result = runner.invoke(
        app,
        [
            "plan", str(scenario), "--data", str(data), "--runs-dir", str(tmp_path / "runs"),
            "--as-of", as_of, "--device", "cpu",
        ],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    folder = Path(result.output.strip().splitlines()[-1])
    kpis = json.loads((folder / "kpis.json").read_text())
    assert kpis["customers"] > 2000
    campaign = json.loads((folder / "campaign_log.json").read_text())
    assert set(campaign["actions"]) == {"mail_a", "mail_b"}
    assert campaign["few_controls"] == {}
    # The e-mail that does nothing is never released; what is released is expected to gain
    # with a probability of loss within the scenario's risk.
    allocation = pd.read_parquet(folder / "allocation.parquet")
    assert "mail_b" not in set(allocation["action"])
    release = RunFolder.open(folder).release
    assert release is not None
    for decision in release.decisions:
        if decision["decision"] == "release":
            assert decision["expected_gain"] > 0
            assert decision["loss_probability"] <= release.risk
    if model == "ziln":
        # The doubly robust learner, with the customers' attributes as features, finds who the
        # e-mail works on: the plan's contacts go to the north (half the customers), and the
        # log's evidence releases it.
        customers = pd.read_csv(data / "customers.csv")
        area = allocation.merge(customers, on="customer_id")["area"]
        assert (area == "north").mean() >= 0.7
        assert "mail_a" in release.released
        (decision,) = (d for d in release.decisions if d["action"] == "mail_a")
        assert decision["evidence"] and decision["evidence"][-1]["window"] == 4
        html = (folder / "report.html").read_text()
        assert "The release decision: expected gain and the risk of loss" in html
        assert "the probability that they lose more than" in html


@pytest.mark.slow
def test_a_shop_too_small_for_the_deep_forecaster_is_told_what_to_use(tmp_path: Path) -> None:
    """Eight customers cannot train the deep purchase model: exit 2 saying so and naming the
    forecaster that fits; sixty can, but their log is too small for the deep effect learner,
    which then learns no effect and says so (the plan contacts no one, the report says why)
    instead of failing the run."""
    runner = CliRunner()
    for customers, expected in ((8, 2), (60, 0)):
        data = tmp_path / f"data{customers}"
        data.mkdir()
        _shop(data, customers=customers)
        scenario = tmp_path / f"small{customers}.yaml"
        scenario.write_text(SCENARIO + "forecast: {model: ziln, reviews: false}\n")
        result = runner.invoke(
            app,
            [
                "plan", str(scenario), "--data", str(data), "--runs-dir", str(tmp_path / "runs"),
                "--as-of", f"{AS_OF:%Y-%m-%d}", "--device", "cpu",
            ],
        )  # fmt: skip
        assert result.exit_code == expected, result.output
        if customers == 8:
            assert "too little data for this scenario" in result.output
            assert "at most 8" in result.output and "forecast: {model: baseline}" in result.output
            assert "Traceback" not in result.output
            continue
        folder = Path(result.output.strip().splitlines()[-1])
        note = json.loads((folder / "forecast.json").read_text())["parameters"]["effects"]
        assert note.startswith("campaign log too small: ") and "needs 100" in note
        assert "forecast.effects: campaign log too small" in (folder / "run.log").read_text()
        assert "The forecaster learned no action" in (folder / "report.html").read_text()


@pytest.mark.parametrize("model", ["baseline", pytest.param("ziln", marks=pytest.mark.slow)])
def test_a_one_shot_test_read_out_after_two_weeks_ships_a_plan_that_beats_no_contact(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, model: str
) -> None:
    """The campaign 3 weeks before the planning week: the log has seen the campaign's week and
    the two weeks after it (a test read out after two weeks, the plan made the week after).
    That is evidence with a wider posterior, not a reason to withhold: the plan ships, with
    either forecaster, the e-mail that works (mail_a, in the north) and never the one that does
    nothing, and its value on the randomised log (inverse propensity, paired with no contact
    row by row) beats no contact with an interval above zero. The customers were chosen with
    effects learned without their own logged week (cross-fitted), so the log's rows are
    held out from the choice."""
    import tests.test_one_shot_campaign as shop_module
    from engine.logged_outcomes import read_logged_outcomes
    from engine.off_policy import first_contacts
    from shopdata.store import Store

    recent = AS_OF - pd.Timedelta(weeks=3)
    monkeypatch.setattr(shop_module, "CAMPAIGN_WEEK", recent)
    data = tmp_path / "data"
    data.mkdir()
    _shop(data)
    scenario = tmp_path / "recent.yaml"
    scenario.write_text(
        SCENARIO.replace("name: one_shot", "name: recent")
        + f"forecast: {{model: {model}, reviews: false}}\n"
    )
    result = CliRunner().invoke(
        app,
        [
            "plan", str(scenario), "--data", str(data), "--runs-dir", str(tmp_path / "runs"),
            "--as-of", f"{AS_OF:%Y-%m-%d}", "--device", "cpu",
        ],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "release: released mail_a: expected gain" in result.output
    folder = RunFolder.open(Path(result.output.strip().splitlines()[-1]))
    release = folder.release
    assert release is not None and release.windows == (0, 1, 2)
    assert "mail_a" in release.released and "mail_b" not in release.released
    assert release.loss_probability <= release.risk
    allocation = folder.promotions
    assert set(allocation["action"]) == {"mail_a"}
    area = allocation.merge(pd.read_csv(data / "customers.csv"), on="customer_id")["area"]
    assert (area == "north").mean() >= 0.7
    problem = folder.problem()
    with Store.open(folder.store_path) as store:
        outcomes = read_logged_outcomes(
            store, folder.settings.catalogue(), folder.settings.gross_margin, AS_OF
        )
    assert outcomes is not None
    planned = pd.Series(first_contacts(folder.plan(problem)), index=problem.customer_ids)
    target = planned.reindex(outcomes.customer_ids).fillna(0).to_numpy(dtype=np.int64)
    gain = outcomes.policy_gain(target, window=2)
    assert gain.ipw_ci is not None and gain.ipw_ci[0] > 0, gain
