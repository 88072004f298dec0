"""First, do no harm: a plan's actions are released only where the campaign log confirms them.

The forecasters learned their effects from the log, and the optimiser picked the customers whose
effects looked best; both steps can buy noise. Before release, each action the plan uses is
checked on the log alone, for the customers the plan gives it to:

- Outcome of a logged customer-week i with action A_i and propensity e_i: its margin over the week
  and the K weeks after it, y_i = m (spend + later spend) - fixed[A_i] - discount[A_i] spend
  (K = `outcome_weeks`, shortened to what the log observes; at most `release.outcome_weeks`
  where the scenario caps it).
- Cross-fitted doubly robust scores: customers are split in two halves by a hash of their id; on
  each half an outcome model q_a(x) per action (weighted least squares on the anchor features)
  is fitted on the other half, and
      Gamma_i(a) = q_a(x_i) + 1[A_i = a] / e_i (y_i - q_a(x_i)).
- The action's gain per contact for its target customers T_a (those the plan gives a in some
  week): the mean of Gamma_i(a) - Gamma_i(none) over the logged weeks of customers in T_a (all
  logged rows where T_a has too few of them), with a standard error clustered by customer.
- Release if the one-sided lower bound mean - z se is above zero, z by Holm's step-down over
  the k actions checked (Holm 1979): the action with the strongest evidence is tested at
  1 - alpha / k, the next at 1 - alpha / (k - 1), and so on, until one fails; it and all after
  it are withheld.
- Rounds. Withheld actions are made ineligible, the plan re-solved, and the new plan checked
  again, until every action it uses passes. Where some actions of a round pass, all that fail
  are withheld; where none passes, only the weakest (lowest estimate in standard errors) is:
  a plan that spreads its budget over several actions gives each a target group too small to
  confirm, and withholding them all at once threw away the one the log could confirm once the
  budget moved to it (on `responsive`, e-mail with recommendations: 23,121 planned contacts,
  lower bound -0.04, withheld with the four others; alone, with 37,801 contacts, +0.009).
  Each round withholds at least one action, so there are at most R rounds, R the actions
  eligible for anyone; each round's step-down runs at alpha = (1 - `confidence`) / R, so the
  chance that a harmful action passes by luck in any round is at most 1 - `confidence`
  (Bonferroni over the rounds; strictly so where the rounds' plans do not depend on the
  check's outcomes, which they do only through which actions were withheld).
- Later windows. Where the check's window is shorter than others the log observes (by default
  it is capped at 5 weeks: `release.outcome_weeks: 4`), an action it confirms is still
  withheld where the log's estimate for the same customers over any longer window it observes
  is below zero: a gain that turns into a loss later (purchases pulled forward, customers who
  learn to wait for the next discount) is not released on its first weeks. This is a filter
  on point estimates, not a test: it adds no chance of releasing a harmful action, and it can
  only withhold more. A short window confirms what a long one cannot (a 5-week gain of e-mail with
  recommendations at 3 standard errors reads 0.9 over 13 weeks: docs/planner.md), while the
  longer windows' estimates, noisy as they are, are what shows a 5-week gain turning.

What this does not do: it cannot confirm value that shows only after the K weeks checked (a
retention effect over a year), so such value is withheld unless enough of it shows within K
weeks (5 by default; `release.outcome_weeks: 52` checks the longest window the log observes,
whose noise confirms less); the report says K. Nor is the later-window look a guarantee: a
loss that a longer window's noise hides, or that shows only after the longest window the log
observes, is not seen.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtri  # the normal quantile

from engine.off_policy import logged_examples, logged_margin, outcome_model
from forecasting.dr_effects import clustered_standard_error
from forecasting.features import ANCHOR_FEATURES, log_sample
from forecasting.propensity import fill_propensities
from optimization.problem import DecisionProblem
from optimization.solution import Solution
from shopdata.actions import Action
from shopdata.store import Store

log = logging.getLogger(__name__)

#: Each action needs at least this many logged rows of its own and of `none` to be checked.
MIN_ROWS = 30
#: A window is used only where at least this many logged weeks observed it.
MIN_LOGGED_WEEKS = 4 * MIN_ROWS
#: Outcome windows tried, longest first, until enough logged rows have theirs observed.
OUTCOME_WEEKS = (52, 26, 12, 8, 4)
#: The probability with which `ActionCheck.log_multiple_to_confirm` sizes the log.
POWER = 0.8


@dataclass(frozen=True)
class ActionCheck:
    """One action of the plan against the log. Money per contact (one customer-week)."""

    action: str
    contacts: int
    predicted_gain: float
    estimate: float | None
    low: float | None
    high: float | None
    rows: int
    released: bool
    reason: str
    #: The estimate's standard error (clustered by customer); None where none was estimated.
    standard_error: float | None = None
    #: The log's estimate per contact over each longer window it observes, for the same
    #: customers: (weeks after the contact's week, estimate), longest first (module docstring).
    later: tuple[tuple[int, float], ...] = ()

    @property
    def loses_later(self) -> bool:
        """Whether the log's estimate over some later window is below zero."""
        return any(m < 0 for _, m in self.later)

    @property
    def log_multiple_to_confirm(self) -> float | None:
        """For an action withheld for its lower bound: how many times the logged weeks of its
        customers the log would need to confirm it with probability POWER at the level it was
        checked at, were its gain per contact what the log estimates (the standard error falls
        with the square root of the rows): ((z + z_power) se / estimate)^2. None where the
        action was released, withheld for another reason, or the estimate is not above zero
        (more of the same log is not expected to confirm it)."""
        se = self.standard_error
        if self.released or not se or self.estimate is None or self.low is None:
            return None
        if not self.low <= 0 < self.estimate:
            return None
        z = (self.estimate - self.low) / se
        return float(((z + float(ndtri(POWER))) * se / self.estimate) ** 2)

    def to_dict(self) -> dict[str, object]:
        found = dataclasses.asdict(self)
        found["later"] = [{"outcome_weeks": k, "estimate": m} for k, m in self.later]
        found["log_multiple_to_confirm"] = self.log_multiple_to_confirm
        return found


@dataclass(frozen=True)
class ReleaseReport:
    """Every check made (the last round's for released actions, the withholding one for the
    others), the confidence and the outcome window used."""

    confidence: float
    outcome_weeks: int
    checks: tuple[ActionCheck, ...]
    rounds: int
    #: Actions withheld without a check of their own (the log could check none).
    unchecked: tuple[str, ...] = ()
    note: str = ""
    #: The scenario's cap on the window (`release.outcome_weeks`), None where it set none.
    window_cap: int | None = None
    #: The rounds allowed (the actions eligible for anyone): each round's step-down runs at
    #: (1 - confidence) / round_budget (module docstring).
    round_budget: int = 1
    #: The longer windows (weeks after the contact's week) whose estimates may withhold an
    #: action the check confirmed (module docstring, "Later windows"); () where none is read.
    later_windows: tuple[int, ...] = ()
    #: The scenario's `release.later_harm` ("withhold" or "ignore").
    later_harm: str = "withhold"
    #: What the log confirms the released plan adds at least, in money over each contact's week
    #: and the `outcome_weeks` after it, undiscounted (`confirmed_floor`).
    confirmed_floor: float = 0.0

    @property
    def withheld(self) -> tuple[str, ...]:
        return tuple(c.action for c in self.checks if not c.released) + self.unchecked

    def to_dict(self) -> dict[str, object]:
        return {
            "confidence": self.confidence,
            "outcome_weeks": self.outcome_weeks,
            "rounds": self.rounds,
            "withheld": list(self.withheld),
            "checks": [c.to_dict() for c in self.checks],
            "note": self.note,
            "window_cap": self.window_cap,
            "round_budget": self.round_budget,
            "round_confidence": self.round_confidence,
            "later_windows": list(self.later_windows),
            "later_harm": self.later_harm,
            "confirmed_floor": self.confirmed_floor,
        }

    @property
    def round_confidence(self) -> float:
        """The level each round's step-down runs at: 1 - (1 - confidence) / round_budget."""
        return 1.0 - (1.0 - self.confidence) / max(self.round_budget, 1)


class LoggedOutcomes:
    """The log's rows with their outcome and cross-fitted doubly robust scores Gamma [R, A]."""

    def __init__(
        self,
        examples: pd.DataFrame,
        actions: tuple[Action, ...],
        gross_margin: float,
        sample_note: str = "",
    ) -> None:
        #: Says so where the rows are a sample of the log's customers (`log_sample`).
        self.sample_note = sample_note
        index = {a.id: i for i, a in enumerate(actions)}
        frame = examples[examples["action"].isin(list(index))].reset_index(drop=True)
        self.customer_ids = frame["customer_id"].to_numpy(dtype=str)
        self.action = frame["action"].map(index).to_numpy(dtype=np.int64)
        self.outcome = logged_margin(frame, self.action, actions, gross_margin)
        features = frame[list(ANCHOR_FEATURES)].to_numpy(dtype=np.float64)
        # Rows without a logged propensity: estimated from the features (propensity.py).
        self.propensity = fill_propensities(
            features, self.action, frame["propensity"].to_numpy(dtype=np.float64), len(actions)
        )
        design = np.hstack([np.ones((len(frame), 1)), features])  # [R, F + 1]
        fold = (pd.util.hash_array(self.customer_ids) % 2).astype(np.int64)  # halves by customer
        self.scores = np.zeros((len(frame), len(actions)))  # Gamma [R, A]
        for held_out in (0, 1):
            train, test = fold != held_out, fold == held_out
            for a in range(len(actions)):
                q = outcome_model(
                    design,
                    self.outcome,
                    self.propensity,
                    fit=train & (self.action == a),
                    predict=test,
                    min_rows=2 * design.shape[1] + 1,
                )
                taken = self.action[test] == a
                residual = self.outcome[test] - q
                self.scores[test, a] = q + taken / self.propensity[test] * residual
        _, self.clusters = np.unique(self.customer_ids, return_inverse=True)

    def __len__(self) -> int:
        return len(self.outcome)

    def gain(self, action: int, customers: np.ndarray) -> tuple[float, float, int, str] | str:
        """Mean gain per contact of `action` over none for the logged rows of `customers`
        (all rows where they have too few), its standard error (clustered by customer), the
        rows used and where from; or why it cannot be estimated."""
        own = np.isin(self.customer_ids, customers)
        where = "the planned customers' logged weeks"
        if min((own & (self.action == action)).sum(), (own & (self.action == 0)).sum()) < MIN_ROWS:
            own = np.ones(len(self), bool)
            where = "all logged weeks (the planned customers have too few)"
        taken, controls = (own & (self.action == action)).sum(), (own & (self.action == 0)).sum()
        if min(taken, controls) < MIN_ROWS:
            return (
                f"cannot be estimated: the log has {taken} rows of it and {controls} controls "
                f"(at least {MIN_ROWS} of each needed)"
            )
        values = self.scores[own, action] - self.scores[own, 0]
        mean = float(values.mean())
        se = clustered_standard_error(values, self.clusters[own])
        return mean, se, int(own.sum()), where


def logged_outcomes(
    read_examples: Callable[[int], pd.DataFrame],
    actions: tuple[Action, ...],
    gross_margin: float,
    windows: tuple[int, ...] = OUTCOME_WEEKS,
    sample_note: str = "",
) -> tuple[LoggedOutcomes, int] | None:
    """The log's outcomes over the longest of `windows` (weeks, longest first) that enough rows
    observe; `read_examples(K)` gives the log's anchor features with K-week outcomes (of a
    sample of the log's customers where `sample_note` says so). None without enough rows for
    any window."""
    for weeks in windows:
        examples = read_examples(weeks)
        usable = examples[examples["future_spend"].notna()]
        if len(usable) >= MIN_LOGGED_WEEKS and (usable["action"] == "none").sum() >= MIN_ROWS:
            return LoggedOutcomes(usable, actions, gross_margin, sample_note), weeks
    return None


def observable_windows(store: Store, observed_until: pd.Timestamp) -> tuple[int, ...]:
    """The windows of OUTCOME_WEEKS for which the campaign log has enough rows observed
    before `observed_until` (MIN_LOGGED_WEEKS rows, MIN_ROWS of them `none`), longest first:
    one count over the log, so that the anchor features are read once, not once per window
    tried (each read took 19 s of a 100,000-customer run)."""
    end = f"TIMESTAMP '{pd.Timestamp(observed_until):%Y-%m-%d %H:%M:%S}'"
    counts = ", ".join(
        f"count(*) FILTER (WHERE week_start + INTERVAL {7 * (k + 1)} DAY <= {end}), "
        f"count(*) FILTER (WHERE week_start + INTERVAL {7 * (k + 1)} DAY <= {end} "
        "AND action = 'none')"
        for k in OUTCOME_WEEKS
    )
    row = store.query(f"SELECT {counts} FROM campaign_log").iloc[0].to_numpy()
    return tuple(
        k
        for i, k in enumerate(OUTCOME_WEEKS)
        if row[2 * i] >= MIN_LOGGED_WEEKS and row[2 * i + 1] >= MIN_ROWS
    )


def store_outcomes(
    store: Store,
    actions: tuple[Action, ...],
    gross_margin: float,
    observed_until: pd.Timestamp,
    longest: int | None = None,
) -> tuple[LoggedOutcomes, int] | None:
    """`logged_outcomes` of the store's campaign log, with outcomes observed before
    `observed_until` (the planning week), over the longest window the log observes, or the
    longest up to `longest` weeks where given (`release.outcome_weeks`); None without a log or
    enough observed rows."""
    found = store_windows(store, actions, gross_margin, observed_until, longest)
    return None if found is None else found[:2]


def store_windows(
    store: Store,
    actions: tuple[Action, ...],
    gross_margin: float,
    observed_until: pd.Timestamp,
    longest: int | None = None,
    *,
    later: bool = False,
) -> tuple[LoggedOutcomes, int, dict[int, LoggedOutcomes]] | None:
    """`store_outcomes`, and with `later` the log's outcomes over each longer window it
    observes (weeks -> outcomes, longest first): what withholds a gain confirmed over the
    check's window that turns into a loss later (module docstring). The longer windows come
    from the same read of the log as the check's (`future_spend_{k}` columns)."""
    if not store.has_table("campaign_log"):
        return None
    observed = observable_windows(store, observed_until)
    windows = tuple(k for k in observed if longest is None or k <= longest)
    if not windows:
        return None
    sample = log_sample(store)
    if sample.note:
        log.warning("release check: %s", sample.note)
    also = tuple(k for k in observed if k > windows[0]) if later else ()
    examples = logged_examples(
        store, actions, windows[0], observed_until, sample.condition, also_outcome_weeks=also
    )

    def read(weeks: int) -> pd.DataFrame:
        if weeks == windows[0]:
            return examples
        if weeks in also:
            return examples.assign(future_spend=examples[f"future_spend_{weeks}"])
        # a shorter window, where the longest had too few rows of the sample: read on its own
        return logged_examples(store, actions, weeks, observed_until, sample.condition)

    found = logged_outcomes(read, actions, gross_margin, windows, sample.note)
    if found is None:
        return None
    outcomes, weeks = found
    longer: dict[int, LoggedOutcomes] = {}
    for k in observed if later else ():
        if k > weeks and (got := logged_outcomes(read, actions, gross_margin, (k,), sample.note)):
            longer[k] = got[0]
    return outcomes, weeks, longer


def withhold_all(
    problem: DecisionProblem,
    resolve: Callable[[DecisionProblem], Solution],
    *,
    confidence: float,
    first_campaign_week: pd.Timestamp | None = None,
) -> tuple[Solution, ReleaseReport]:
    """Where the log observes too little to check any action (`logged_outcomes` is None), first,
    do no harm withholds every contact: the plan re-solved with only `none` eligible. With the
    log's `first_campaign_week` the note says from which planning week on its first campaign
    week has the shortest window observed."""
    eligible = problem.eligible.copy()
    eligible[:, 1:] = False
    when = (
        ""
        if first_campaign_week is None
        else f"; the log's first campaign week, {first_campaign_week:%Y-%m-%d}, has them from "
        f"the planning week of "
        f"{first_campaign_week + pd.Timedelta(weeks=OUTCOME_WEEKS[-1] + 1):%Y-%m-%d} on"
    )
    note = (
        f"the campaign log observes too few outcomes (at least {MIN_LOGGED_WEEKS} logged weeks, "
        f"{MIN_ROWS} of them without contact, with {OUTCOME_WEEKS[-1]} weeks observed after"
        f"{when}) to check any action: every contact is withheld (release.check: false releases "
        "the plan unchecked)"
    )
    report = ReleaseReport(
        confidence,
        0,
        (),
        1,
        unchecked=tuple(str(a) for a in problem.action_ids[1:]),
        note=note,
    )
    solution = resolve(dataclasses.replace(problem, eligible=eligible))
    return dataclasses.replace(solution, notes=(*solution.notes, note)), report


def release(
    problem: DecisionProblem,
    solution: Solution,
    outcomes: LoggedOutcomes,
    outcome_weeks: int,
    resolve: Callable[[DecisionProblem], Solution],
    *,
    confidence: float,
    later: Mapping[int, LoggedOutcomes] | None = None,
    round_budget: int | None = None,
) -> tuple[Solution, ReleaseReport]:
    """Check each action of `solution`'s plan against the log and withhold those whose lower
    bound is not above zero, or whose estimate over a `later` window (weeks -> that window's
    outcomes, `store_windows`) is below zero, re-solving (`resolve`) without them, in rounds
    (module docstring). `round_budget`: the R whose (1 - confidence) / R each round runs at;
    by default the actions `problem` makes eligible for anyone (a frontier level whose problem
    lacks the actions withheld at the scenario's own level passes the scenario's R, to be
    checked at the same level). Returns the plan to release and the report."""
    if not 0.5 <= confidence < 1.0:
        raise ValueError(
            f"The 'confidence' parameter of release must be in [0.5, 1). Got {confidence} instead."
        )
    eligible = int(problem.eligible[:, 1:].any(axis=0).sum())  # rounds at most
    budget = max(round_budget or eligible, 1)  # R
    level = 1.0 - (1.0 - confidence) / budget
    withheld: dict[str, ActionCheck] = {}
    current, checks, rounds = solution, (), 0
    for rounds in range(1, max(eligible, 1) + 1):  # noqa: B007 (reported after)
        if not current.has_plan:
            break
        checks = check_plan(problem, current.plan(), outcomes, level, later)
        failing = [c for c in checks if not c.released]
        if not failing:
            break
        if len(failing) == len(checks):  # none passed: only the weakest goes
            # (by its evidence over the check's window: the later windows' estimates are too
            # noisy to rank by; withholding every action one of them put below zero withheld
            # all five on responsive seed 0, where e-mail with reco passes once alone)
            failing = [min(failing, key=_strength)]
        for check in failing:
            withheld[check.action] = check
        current = resolve(without_actions(problem, withheld))
    # Each round withholds at least one of the R actions, so by the last the plan re-solved
    # after it can use none: no plan leaves unchecked.
    released = tuple(c for c in checks if c.action not in withheld)
    report = ReleaseReport(
        confidence,
        outcome_weeks,
        released + tuple(withheld.values()),
        rounds,
        note=outcomes.sample_note,
        round_budget=budget,
        later_windows=tuple(later or ()),
        confirmed_floor=confirmed_floor(problem, current, released, outcome_weeks),
    )
    if withheld:
        note = (
            f"withheld after checking on the campaign log (lower bound of the gain per contact "
            f"over {outcome_weeks + 1} weeks not above zero, at {confidence:.0%} over all "
            f"rounds, or a loss over a longer window): " + ", ".join(withheld)
        )
        current = dataclasses.replace(current, notes=(*current.notes, note))
    return current, report


def confirmed_floor(
    problem: DecisionProblem,
    solution: Solution,
    checks: Iterable[ActionCheck],
    outcome_weeks: int,
) -> float:
    """What the log confirms `solution`'s plan adds at least: each released action's lower
    bound per contact times its contacts that lie outside one another's outcome windows (a
    customer's contact counts where it comes `outcome_weeks` + 1 or more weeks after the last
    one counted: the check measured one contact against none over that window, not what a
    second contact inside it adds). The released bounds hold together at the check's
    confidence (Holm's step-down, the rounds' Bonferroni), so their sum is a lower bound at that
    confidence too. Money over each counted contact's week and the `outcome_weeks` after it,
    undiscounted; 0 where nothing was released."""
    released = [c for c in checks if c.released and c.low is not None and c.low > 0]
    if not released or not solution.has_plan:
        return 0.0
    choice = solution.plan()  # [N, H]
    ids = list(problem.action_ids)
    floor = 0.0
    for check in released:
        planned = choice == ids.index(check.action)
        counted = np.zeros(len(choice), dtype=np.int64)
        last = np.full(len(choice), -np.inf)
        for week in range(choice.shape[1]):  # weeks, vectorised over customers
            take = planned[:, week] & (week >= last + outcome_weeks + 1)
            counted += take
            last = np.where(take, week, last)
        floor += float(counted.sum()) * float(check.low)
    return floor


def without_actions(problem: DecisionProblem, actions: Iterable[str]) -> DecisionProblem:
    """`problem` with `actions` (ids) made ineligible for every customer, to be solved again."""
    eligible = problem.eligible.copy()
    ids = list(problem.action_ids)
    for action in actions:
        eligible[:, ids.index(action)] = False
    return dataclasses.replace(problem, eligible=eligible)


def _later_estimates(
    action: int, customers: np.ndarray, later: Mapping[int, LoggedOutcomes]
) -> tuple[tuple[int, float], ...]:
    """The estimate per contact of `action` for `customers` over each later window the log can
    estimate it on, longest first."""
    found = ((weeks, outcomes.gain(action, customers)) for weeks, outcomes in later.items())
    return tuple((weeks, float(g[0])) for weeks, g in found if not isinstance(g, str))


def _strength(check: ActionCheck) -> float:
    """A check's estimate in standard errors (-inf where it has none)."""
    if check.estimate is None or check.standard_error is None:
        return -np.inf
    return _standardised(check.estimate, check.standard_error)


def _standardised(mean: float, se: float) -> float:
    """The estimate in standard errors (infinite where it has none: the sign decides)."""
    if se > 0:
        return mean / se
    return np.inf if mean > 0 else -np.inf


def check_plan(
    problem: DecisionProblem,
    choice: np.ndarray,
    outcomes: LoggedOutcomes,
    confidence: float,
    later: Mapping[int, LoggedOutcomes] | None = None,
) -> tuple[ActionCheck, ...]:
    """Each action that `choice` ([N, H] action indices of `problem`) uses, checked on the log
    for the customers it is given to, and its estimates over the `later` windows read for them
    (module docstring); predicted gains from problem.value."""
    used = [a for a in range(1, problem.shape[1]) if (choice == a).any()]
    if not used:
        return ()
    n, _, h = problem.shape
    value = problem.value[np.arange(n)[:, None], choice, np.arange(h)[None, :]]  # [N, H]
    found, common = {}, {}
    for a in used:
        planned = choice == a
        targets = problem.customer_ids[planned.any(axis=1)].astype(str)
        common[a] = {
            "action": str(problem.action_ids[a]),
            "contacts": int(planned.sum()),
            "predicted_gain": float(value[planned].mean()),
        }
        found[a] = outcomes.gain(a, targets)
        common[a]["later"] = _later_estimates(a, targets, later or {})
    # Holm's step-down (module docstring): strongest evidence first, each at its own level
    strength = {
        a: -np.inf if isinstance(f, str) else _standardised(f[0], f[1]) for a, f in found.items()
    }
    ranked = sorted(used, key=lambda a: -strength[a])
    alpha, stopped_at = 1.0 - confidence, None
    checks: dict[int, ActionCheck] = {}
    for rank, a in enumerate(ranked):
        z = float(ndtri(1.0 - alpha / (len(used) - rank)))
        estimate = found[a]
        if isinstance(estimate, str):
            checks[a] = ActionCheck(**common[a], estimate=None, low=None, high=None, rows=0,
                                    released=False, reason=estimate)  # fmt: skip
            stopped_at = stopped_at or common[a]["action"]
            continue
        mean, se, rows, where = estimate
        low, high = mean - z * se, mean + z * se
        passes = low > 0 and stopped_at is None
        losses = [(k, m) for k, m in common[a]["later"] if m < 0]  # longest first
        if passes and losses:
            weeks, loss = losses[0]
            reason = (
                f"lower bound {low:,.4f} > 0 on {where}, but withheld: over {weeks + 1} weeks "
                f"the log's estimate is {loss:,.4f} per contact (the gain turns into a loss)"
            )
            passes = False
        elif passes:
            reason = f"lower bound {low:,.4f} > 0 on {where}"
        elif low > 0:
            reason = (
                f"lower bound {low:,.4f} > 0 on {where}, but withheld: the step-down stopped at "
                f"{stopped_at}, whose evidence is stronger"
            )
        else:
            reason = f"lower bound {low:,.4f} not above zero on {where}"
        # a later loss withholds the action but is no evidence against the next one's gain
        stopped_at = stopped_at or (None if low > 0 else common[a]["action"])
        checks[a] = ActionCheck(**common[a], estimate=mean, low=low, high=high, rows=rows,
                                released=passes, reason=reason, standard_error=se)  # fmt: skip
    return tuple(checks[a] for a in used)  # in the plan's action order
