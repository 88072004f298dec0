"""Generate a shop's history (the input tables of DESIGN §2) from the synthetic market."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from markets.demo.config import MarketConfig
from markets.demo.dynamics import MarketState, WeekNoise, step
from markets.demo.population import CHANNELS, REGIONS, Population, draw_population
from markets.demo.reviews import draw_reviews

CATEGORY_NAMES = np.array(
    [
        "books",
        "music",
        "electronics",
        "home",
        "garden",
        "toys",
        "fashion",
        "beauty",
        "sports",
        "food",
        "games",
        "outdoor",
    ]
)
# Randomised campaigns: customers with a repeat purchase get more promotions (a stratified
# design, so a naive comparison of treated and untreated is biased and propensities matter).
CAMPAIGN_NONE_SHARE_REPEAT = 0.55
CAMPAIGN_NONE_SHARE_NEW = 0.80


@dataclass(frozen=True)
class DemoMarket:
    """A generated shop: its input tables, and the truth behind them (population and state)."""

    config: MarketConfig
    population: Population
    final_state: MarketState
    customer_ids: np.ndarray
    transactions: pd.DataFrame
    customers: pd.DataFrame
    campaign_log: pd.DataFrame
    reviews: pd.DataFrame
    catalog: pd.DataFrame
    #: Customers the shop must not contact at all (a do-not-contact list; scenario
    #: `policies.suppress` with `file: do_not_contact.csv`).
    do_not_contact: pd.DataFrame

    def contacts_only(self) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
        """The campaign log as a CRM exports it (contacts only, no propensities) with the
        declaration that identifies it: `campaign_design` (per week and stratum, each action's
        assignment probability) and `campaign_eligible` (who was eligible, in which stratum)."""
        log = self.campaign_log
        stratum = np.where(log["repeat_buyer"].to_numpy(), "repeat", "new")
        eligible = pd.DataFrame(
            {
                "customer_id": log["customer_id"].to_numpy(),
                "week_start": log["week_start"].to_numpy(),
                "stratum": stratum,
            }
        )
        contacts = log.loc[
            log["action"] != "none", ["customer_id", "week_start", "action", "channel"]
        ]
        weeks = np.sort(log["week_start"].unique())
        contact_ids = [a.id for a in self.config.actions if a.id != "none"]
        rows = []
        for name, none_share in (
            ("repeat", CAMPAIGN_NONE_SHARE_REPEAT),
            ("new", CAMPAIGN_NONE_SHARE_NEW),
        ):
            probability = (1 - none_share) / len(contact_ids)
            for action in contact_ids:
                rows.append(
                    pd.DataFrame(
                        {
                            "week_start": weeks,
                            "stratum": name,
                            "action": action,
                            "probability": probability,
                        }
                    )
                )
        design = pd.concat(rows, ignore_index=True) if rows else pd.DataFrame()
        return contacts.reset_index(drop=True), design, eligible


#: The share of customers who opted out of e-mail, among those e-mail puts off and the rest.
OPT_OUT_PUT_OFF, OPT_OUT_OTHERS = 0.5, 0.09
#: The share of customers on the shop's do-not-contact list.
DO_NOT_CONTACT_SHARE = 0.01


def _email_opt_in(config: MarketConfig, population: Population) -> np.ndarray:
    """Whether each customer agreed to e-mail ([N] bool; about 15 % did not): customers whom
    e-mail puts off (their e-mail lift below zero) opt out more often, as in a real shop. Drawn
    from a stream of its own, so the market's other draws are those of a market without it."""
    email = [i for i, a in enumerate(config.actions) if a.id == "email"]
    put_off = population.lift[:, email[0]] < 0 if email else np.zeros(len(population), bool)
    draw = np.random.default_rng([config.seed, 1]).random(len(population))
    return draw >= np.where(put_off, OPT_OUT_PUT_OFF, OPT_OUT_OTHERS)


def _do_not_contact(config: MarketConfig, customer_ids: np.ndarray) -> pd.DataFrame:
    """The shop's do-not-contact list: DO_NOT_CONTACT_SHARE of the customers, from a stream of
    its own."""
    draw = np.random.default_rng([config.seed, 2]).random(len(customer_ids))
    return pd.DataFrame({"customer_id": customer_ids[draw < DO_NOT_CONTACT_SHARE]})


def _labels(prefix: str, count: int, digits: int) -> np.ndarray:
    """`prefix` + zero-padded 0..count-1 (e.g. C0000042), without a Python loop."""
    return np.char.add(prefix, np.char.zfill(np.arange(count).astype(str), digits))


def _draw_catalog(config: MarketConfig, rng: np.random.Generator) -> pd.DataFrame:
    names = np.resize(CATEGORY_NAMES, config.categories)
    per = config.items_per_category
    category = np.repeat(np.arange(config.categories), per)
    return pd.DataFrame(
        {
            "item_id": _labels("I", config.categories * per, 5),
            "category": names[category],
            "price": np.round(rng.lognormal(3.0, 0.5, len(category)), 2),
            "margin_rate": np.round(rng.uniform(0.2, 0.5, len(category)), 3),
            "weekly_capacity": rng.choice(
                [50.0, 200.0, 1000.0, 1e6], len(category), p=[0.1, 0.2, 0.3, 0.4]
            ),
        }
    )


def _campaign_assignment(
    repeat_buyer: np.ndarray, actions: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    none_share = np.where(repeat_buyer, CAMPAIGN_NONE_SHARE_REPEAT, CAMPAIGN_NONE_SHARE_NEW)
    treated = rng.random(len(repeat_buyer)) >= none_share
    action = np.where(treated, rng.integers(1, actions, len(repeat_buyer)), 0)
    propensity = np.where(treated, (1 - none_share) / (actions - 1), none_share)
    return action, propensity


def generate_market(config: MarketConfig) -> DemoMarket:
    """Simulate `config.weeks` weeks of history ending the Sunday before `config.as_of`."""
    rng = np.random.default_rng(config.seed)
    population = draw_population(config, rng)
    catalog = _draw_catalog(config, rng)
    n, n_actions = config.customers, len(config.actions)
    customer_ids = _labels("C", n, 7)
    discounted = np.array([a.discount_rate > 0 for a in config.actions])

    state = MarketState.initial(n)
    purchase_count = np.zeros(n, dtype=np.int64)
    purchases: list[tuple[np.ndarray, np.ndarray, int]] = []
    campaigns: list[tuple[np.ndarray, np.ndarray, np.ndarray, int, np.ndarray]] = []
    first_campaign_week = config.weeks - config.campaign_weeks
    for week in range(config.weeks):
        action = np.zeros(n, dtype=np.int64)
        if week >= first_campaign_week:
            eligible = np.flatnonzero(state.acquired)
            repeat_buyer = purchase_count[eligible] >= 2
            assigned, propensity = _campaign_assignment(repeat_buyer, n_actions, rng)
            action[eligible] = assigned
            campaigns.append((eligible, assigned, propensity, week, repeat_buyer))
        noise = WeekNoise.draw(config.seed, week, n, config.spend_p)
        outcome, state = step(population, state, action, week, noise, discounted=discounted)
        buyers = np.flatnonzero(outcome.purchased)
        purchases.append((buyers, outcome.spend[buyers], week))
        purchase_count[buyers] += 1

    transactions, buyer_index, categories = _transactions_table(
        config, purchases, customer_ids, population, catalog, rng
    )
    reviews = _reviews_table(config, transactions, buyer_index, categories, population, rng)
    return DemoMarket(
        config=config,
        population=population,
        final_state=state,
        customer_ids=customer_ids,
        transactions=transactions,
        customers=pd.DataFrame(
            {
                "customer_id": customer_ids,
                "region": REGIONS[population.region],
                "acquisition_channel": CHANNELS[population.channel],
                "signup_date": config.first_week_start
                + pd.to_timedelta(population.acquisition_week * 7, unit="D"),
                "email_opt_in": _email_opt_in(config, population),
            }
        ),
        do_not_contact=_do_not_contact(config, customer_ids),
        campaign_log=_campaign_table(config, campaigns, customer_ids),
        reviews=reviews,
        catalog=catalog,
    )


def _transactions_table(
    config: MarketConfig,
    purchases: list[tuple[np.ndarray, np.ndarray, int]],
    customer_ids: np.ndarray,
    population: Population,
    catalog: pd.DataFrame,
    rng: np.random.Generator,
) -> tuple[pd.DataFrame, np.ndarray, np.ndarray]:
    buyer = np.concatenate([p[0] for p in purchases])
    spend = np.concatenate([p[1] for p in purchases])
    week = np.concatenate([np.full(len(p[0]), p[2]) for p in purchases])
    # Category by the customer's preference (inverse CDF), item by Zipf-like popularity.
    cumulative = np.cumsum(population.category_preference[buyer], axis=1)  # [P, C]
    category = (rng.random(len(buyer))[:, None] > cumulative).sum(axis=1)
    category = np.minimum(category, config.categories - 1)
    per = config.items_per_category
    popularity = 1.0 / np.arange(1, per + 1)
    item_in_category = rng.choice(per, len(buyer), p=popularity / popularity.sum())
    item = category * per + item_in_category
    seconds = rng.integers(0, 7 * 24 * 3600, len(buyer))
    ts = (
        config.first_week_start
        + pd.to_timedelta(week * 7, unit="D")
        + pd.to_timedelta(seconds, unit="s")
    )
    frame = pd.DataFrame(
        {
            "customer_id": customer_ids[buyer],
            "order_id": _labels("O", len(buyer), 8),
            "ts": ts,
            "amount": np.round(np.maximum(spend, 0.01), 2),
            "item_id": catalog["item_id"].to_numpy()[item],
            "category": catalog["category"].to_numpy()[item],
            "quantity": 1.0,
        }
    )
    return frame, buyer, category


def _reviews_table(
    config: MarketConfig,
    transactions: pd.DataFrame,
    buyer: np.ndarray,
    category: np.ndarray,
    population: Population,
    rng: np.random.Generator,
) -> pd.DataFrame:
    reviewed = np.flatnonzero(rng.random(len(buyer)) < config.review_probability)
    delay = pd.to_timedelta(rng.integers(3600, 10 * 24 * 3600, len(reviewed)), unit="s")
    ts = transactions["ts"].to_numpy()[reviewed] + delay
    keep = ts < config.as_of
    reviewed, ts = reviewed[keep], ts[keep]
    names = np.resize(CATEGORY_NAMES, config.categories)
    ratings, texts = draw_reviews(
        population.satisfaction[buyer[reviewed]], category[reviewed], names, rng
    )
    return pd.DataFrame(
        {
            "customer_id": transactions["customer_id"].to_numpy()[reviewed],
            "ts": ts,
            "text": texts.astype(str),
            "rating": ratings.astype(float),
        }
    )


def _campaign_table(
    config: MarketConfig,
    campaigns: list[tuple[np.ndarray, np.ndarray, np.ndarray, int, np.ndarray]],
    customer_ids: np.ndarray,
) -> pd.DataFrame:
    """The explicit log (every eligible customer-week, `none` included, with propensities) and
    `repeat_buyer`, the design's stratum, which `DemoMarket.contacts_only` declares and
    `write_market` leaves out of the written log."""
    action_ids = np.array([a.id for a in config.actions])
    channels = np.array([a.channel for a in config.actions])
    if not campaigns:
        return pd.DataFrame(
            {
                "customer_id": [],
                "week_start": pd.to_datetime([]),
                "action": [],
                "propensity": [],
                "channel": [],
                "repeat_buyer": np.zeros(0, bool),
            }
        )
    customer = np.concatenate([c[0] for c in campaigns])
    action = np.concatenate([c[1] for c in campaigns])
    propensity = np.concatenate([c[2] for c in campaigns])
    week = np.concatenate([np.full(len(c[0]), c[3]) for c in campaigns])
    return pd.DataFrame(
        {
            "customer_id": customer_ids[customer],
            "week_start": config.first_week_start + pd.to_timedelta(week * 7, unit="D"),
            "action": action_ids[action],
            "propensity": propensity,
            "channel": channels[action],
            "repeat_buyer": np.concatenate([c[4] for c in campaigns]),
        }
    )
