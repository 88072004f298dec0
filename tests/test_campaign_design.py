"""Contacts-only campaign logs: derived with their declared design, they give the explicit log
and its effects; without a design they are refused (or, when asked, dropped with every effect
unidentified)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from forecasting.baseline import BaselineForecaster
from markets.demo.history import CAMPAIGN_NONE_SHARE_NEW, CAMPAIGN_NONE_SHARE_REPEAT
from shopdata.actions import DEMO_ACTIONS
from shopdata.calendar import horizon_start
from shopdata.campaign_design import FEW_CONTROLS, control_counts, few_controls
from shopdata.input_errors import InputValidationError
from shopdata.store import Store
from shopdata.validation import load_inputs
from tests.conftest import SMALL_AS_OF

ACTION_IDS = [a.id for a in DEMO_ACTIONS]


def _copy_without_log(source: Path, target: Path) -> Path:
    target.mkdir()
    for path in source.iterdir():
        if path.is_file() and not path.name.startswith("campaign_log"):
            shutil.copy(path, target / path.name)
    return target


@pytest.fixture(scope="module")
def explicit_log(small_market_dir: Path) -> pd.DataFrame:
    return pd.read_parquet(small_market_dir / "campaign_log.parquet")


def _stratum(log: pd.DataFrame) -> np.ndarray:
    """The demo's stratified design, read back off its propensities: repeat buyers had
    CAMPAIGN_NONE_SHARE_REPEAT chance of no contact, newcomers CAMPAIGN_NONE_SHARE_NEW."""
    contacts = len(ACTION_IDS) - 1
    repeat = np.where(
        log["action"] == "none",
        np.isclose(log["propensity"], CAMPAIGN_NONE_SHARE_REPEAT),
        np.isclose(log["propensity"], (1 - CAMPAIGN_NONE_SHARE_REPEAT) / contacts),
    )
    return np.where(repeat, "repeat", "new")


def _declared_design(log: pd.DataFrame) -> pd.DataFrame:
    weeks = np.sort(log["week_start"].unique())
    rows = []
    for stratum, none_share in (
        ("repeat", CAMPAIGN_NONE_SHARE_REPEAT),
        ("new", CAMPAIGN_NONE_SHARE_NEW),
    ):
        for action in ACTION_IDS[1:]:
            probability = (1 - none_share) / (len(ACTION_IDS) - 1)
            rows += [
                {"week_start": w, "stratum": stratum, "action": action, "probability": probability}
                for w in weeks
            ]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def contacts_only_dir(
    small_market_dir: Path, explicit_log: pd.DataFrame, tmp_path_factory: pytest.TempPathFactory
) -> Path:
    folder = _copy_without_log(small_market_dir, tmp_path_factory.mktemp("contacts") / "data")
    stratum = _stratum(explicit_log)
    eligible = explicit_log[["customer_id", "week_start"]].assign(stratum=stratum)
    eligible.to_parquet(folder / "campaign_eligible.parquet", index=False)
    contacts = explicit_log[explicit_log["action"] != "none"].drop(columns="propensity")
    contacts.to_parquet(folder / "campaign_log.parquet", index=False)
    _declared_design(explicit_log).to_csv(folder / "campaign_design.csv", index=False)
    return folder


def _canonical(log: pd.DataFrame) -> pd.DataFrame:
    frame = log[["customer_id", "week_start", "action", "propensity"]].astype(
        {"customer_id": str, "action": str, "propensity": float}
    )
    return frame.sort_values(["week_start", "customer_id"]).reset_index(drop=True)


@pytest.mark.slow
def test_contacts_with_a_declared_design_give_the_explicit_log_and_its_effects(
    small_market_dir: Path, contacts_only_dir: Path
) -> None:
    explicit = load_inputs(small_market_dir, as_of=SMALL_AS_OF, action_ids=ACTION_IDS)
    derived = load_inputs(contacts_only_dir, as_of=SMALL_AS_OF, action_ids=ACTION_IDS)
    assert "control rows derived from campaign_design" in derived.campaign_log_origin
    assert "stratified" in derived.campaign_log_origin
    pd.testing.assert_frame_equal(
        _canonical(derived.campaign_log), _canonical(explicit.campaign_log), check_exact=False
    )
    week = horizon_start(SMALL_AS_OF)
    effects = []
    for tables in (explicit, derived):
        with Store.create(tables) as store:
            forecaster = BaselineForecaster(horizon_weeks=4, device="cpu", seed=3)
            effects.append(forecaster.fit(store, week).effects_)
    for name in ("purchase_logit_shift", "spend_ratio", "future_spend_delta"):
        np.testing.assert_allclose(
            getattr(effects[1], name), getattr(effects[0], name), rtol=1e-5, atol=1e-6
        )


def test_a_fixed_rate_declared_once_is_the_same_rows_every_week(
    contacts_only_dir: Path, tmp_path: Path
) -> None:
    """A design without week_start holds in every campaign week: the demo's stratified rates
    declared once (ten rows) derive the same log as the same rates written for every week."""
    folder = tmp_path / "data"
    shutil.copytree(contacts_only_dir, folder)
    weekly = pd.read_csv(folder / "campaign_design.csv")
    once = weekly.drop(columns="week_start").drop_duplicates()
    assert len(once) == 10 < len(weekly)
    once.to_csv(folder / "campaign_design.csv", index=False)
    per_week = load_inputs(contacts_only_dir, as_of=SMALL_AS_OF, action_ids=ACTION_IDS)
    declared_once = load_inputs(folder, as_of=SMALL_AS_OF, action_ids=ACTION_IDS)
    assert "declared once for every campaign week" in declared_once.campaign_log_origin
    pd.testing.assert_frame_equal(
        _canonical(declared_once.campaign_log), _canonical(per_week.campaign_log)
    )
    # declared once, a rate is still checked once: a duplicated row is named at its own row
    pd.concat([once, once.iloc[[0]]]).to_csv(folder / "campaign_design.csv", index=False)
    with pytest.raises(InputValidationError, match="duplicated rows"):
        load_inputs(folder, as_of=SMALL_AS_OF, action_ids=ACTION_IDS)


def test_an_unstratified_design_makes_every_earlier_buyer_a_control(
    small_market_dir: Path, tmp_path: Path
) -> None:
    """A one-shot randomised campaign: one week, two e-mails at 1/3 each; without an
    eligibility file every customer with an earlier purchase was eligible."""
    folder = _copy_without_log(small_market_dir, tmp_path / "data")
    week = horizon_start(SMALL_AS_OF - pd.Timedelta(weeks=6))
    transactions = pd.read_parquet(folder / "transactions.parquet")
    buyers = np.sort(transactions.loc[transactions["ts"] < week, "customer_id"].unique())
    arm = np.random.default_rng(0).integers(0, 3, len(buyers))
    contacts = pd.DataFrame(
        {
            "customer_id": buyers[arm > 0],
            "week_start": week,
            "action": np.array(["", "email", "email_reco"])[arm[arm > 0]],
        }
    )
    contacts.to_csv(folder / "campaign_log.csv", index=False)
    pd.DataFrame(
        {
            "week_start": [week, week],
            "action": ["email", "email_reco"],
            "probability": [1 / 3, 1 / 3],
        }
    ).to_csv(folder / "campaign_design.csv", index=False)
    tables = load_inputs(folder, as_of=SMALL_AS_OF, action_ids=ACTION_IDS)
    log = tables.campaign_log
    assert len(log) == len(buyers)
    assert (
        log.loc[log["action"] == "none", "customer_id"].astype(str).to_numpy() == buyers[arm == 0]
    ).all()
    np.testing.assert_allclose(log["propensity"], 1 / 3)
    counts = control_counts(log)
    assert counts["email"]["controls"] == int((arm == 0).sum())
    assert few_controls(counts) == {}
    # the same rates declared without their week hold in the week the log has contacts in
    pd.DataFrame({"action": ["email", "email_reco"], "probability": [1 / 3, 1 / 3]}).to_csv(
        folder / "campaign_design.csv", index=False
    )
    once = load_inputs(folder, as_of=SMALL_AS_OF, action_ids=ACTION_IDS).campaign_log
    pd.testing.assert_frame_equal(_canonical(once), _canonical(log))


def test_send_times_are_read_as_their_monday_week(small_market_dir: Path, tmp_path: Path) -> None:
    """A CRM export stamps each contact with its send time (and a shop may start its weeks on
    Sunday): each is read as the Monday-based week it falls in, with a warning, and gives the
    log the Mondays give; two contacts of a customer in one such week are refused, saying so."""
    folder = _copy_without_log(small_market_dir, tmp_path / "data")
    week = horizon_start(SMALL_AS_OF - pd.Timedelta(weeks=6))
    transactions = pd.read_parquet(folder / "transactions.parquet")
    buyers = np.sort(transactions.loc[transactions["ts"] < week, "customer_id"].unique())
    rng = np.random.default_rng(1)
    contacted = buyers[rng.random(len(buyers)) < 0.5]
    contacts = pd.DataFrame({"customer_id": contacted, "week_start": week, "action": "email"})
    design = pd.DataFrame({"week_start": [week], "action": ["email"], "probability": [0.5]})
    contacts.to_csv(folder / "campaign_log.csv", index=False)
    design.to_csv(folder / "campaign_design.csv", index=False)
    mondays = load_inputs(folder, as_of=SMALL_AS_OF, action_ids=ACTION_IDS)
    assert mondays.warnings == ()

    seconds = rng.integers(0, 7 * 24 * 3600, len(contacted))
    stamped = contacts.assign(week_start=week + pd.to_timedelta(seconds, unit="s"))
    stamped.to_csv(folder / "campaign_log.csv", index=False)
    design.assign(week_start=week + pd.Timedelta(days=6, hours=9)).to_csv(
        folder / "campaign_design.csv", index=False
    )
    sent = load_inputs(folder, as_of=SMALL_AS_OF, action_ids=ACTION_IDS)
    pd.testing.assert_frame_equal(_canonical(sent.campaign_log), _canonical(mondays.campaign_log))
    warned = "\n".join(sent.warnings)
    assert f"campaign_log.csv, column 'week_start': {len(contacted):,} values" in warned
    assert f"(Sunday) -> {week:%Y-%m-%d}" in warned  # the design's Sunday

    twice = pd.concat([stamped, stamped.head(2).assign(week_start=week + pd.Timedelta(days=3))])
    twice.to_csv(folder / "campaign_log.csv", index=False)
    with pytest.raises(InputValidationError) as raised:
        load_inputs(folder, as_of=SMALL_AS_OF, action_ids=ACTION_IDS)
    message = str(raised.value)
    assert "campaign_log.csv, column 'customer_id, week_start'" in message
    assert "once week_start is read as the Monday-based week it falls in" in message
    assert "the engine plans one action per customer and week" in message
    assert f"in 2 rows (rows {len(stamped) + 1}, {len(stamped) + 2})" in message


def test_a_contacts_only_log_without_a_design_is_refused_naming_the_file(
    small_market_dir: Path, explicit_log: pd.DataFrame, tmp_path: Path
) -> None:
    folder = _copy_without_log(small_market_dir, tmp_path / "data")
    contacts = explicit_log[explicit_log["action"] != "none"]
    contacts.to_csv(folder / "campaign_log.csv", index=False)
    with pytest.raises(InputValidationError) as raised:
        load_inputs(folder, as_of=SMALL_AS_OF, action_ids=ACTION_IDS)
    message = str(raised.value)
    assert "campaign_log.csv, column 'action'" in message
    assert "campaign_design" in message and f"only contacts ({len(contacts)} rows" in message
    # Asked to, the engine plans without the log: every effect unidentified, said so.
    tables = load_inputs(
        folder, as_of=SMALL_AS_OF, action_ids=ACTION_IDS, unidentified_effects="zero"
    )
    assert tables.campaign_log is None
    assert tables.campaign_log_origin.startswith("dropped")


def test_design_errors_name_the_file_and_rows(
    small_market_dir: Path, explicit_log: pd.DataFrame, tmp_path: Path
) -> None:
    folder = _copy_without_log(small_market_dir, tmp_path / "data")
    contacts = explicit_log[explicit_log["action"] != "none"]
    contacts.to_parquet(folder / "campaign_log.parquet", index=False)
    first_week = contacts["week_start"].min()
    # Only the first week is declared, and there every customer is contacted: no control.
    pd.DataFrame({"week_start": first_week, "action": ACTION_IDS[1:], "probability": 0.2}).to_csv(
        folder / "campaign_design.csv", index=False
    )
    with pytest.raises(InputValidationError) as raised:
        load_inputs(folder, as_of=SMALL_AS_OF, action_ids=ACTION_IDS)
    message = str(raised.value)
    assert "campaign_design.csv, column 'probability'" in message
    assert "no control group" in message
    assert "campaign_log.parquet, column 'week_start'" in message  # contacts of undeclared weeks


def test_few_controls_are_flagged() -> None:
    week = pd.Timestamp("2026-01-05")
    log = pd.DataFrame(
        {
            "customer_id": [f"c{i}" for i in range(FEW_CONTROLS + 50)],
            "week_start": week,
            "action": ["none"] * 10 + ["coupon"] * (FEW_CONTROLS + 40),
        }
    )
    assert few_controls(control_counts(log)) == {"coupon": 10}


def test_an_explicit_log_without_a_propensity_column_is_learned_from(
    small_market_dir: Path, explicit_log: pd.DataFrame, tmp_path: Path
) -> None:
    """A CRM export with its 'none' rows but no propensity column: the learners estimate
    them (it crashed in the T-learner's SQL before the column was added at validation)."""
    folder = _copy_without_log(small_market_dir, tmp_path / "data")
    explicit_log.drop(columns="propensity").to_parquet(folder / "campaign_log.parquet")
    tables = load_inputs(folder, as_of=SMALL_AS_OF, action_ids=ACTION_IDS)
    assert any("have no propensity" in w for w in tables.warnings)
    with Store.create(tables) as store:
        forecaster = BaselineForecaster(horizon_weeks=4, device="cpu", seed=3)
        effects = forecaster.fit(store, horizon_start(SMALL_AS_OF)).effects_
    assert np.isfinite(effects.purchase_logit_shift).all()
    assert np.abs(effects.purchase_logit_shift[:, 1:]).max() > 0  # effects were learned
