"""Write a generated market to a data folder, atomically: the folder appears only once complete."""

from __future__ import annotations

from pathlib import Path

from markets.demo.ground_truth import FILE_NAME, GroundTruth
from markets.demo.history import DemoMarket
from shopdata.atomic import staged_folder

TABLES = ("transactions", "customers", "campaign_log", "reviews", "catalog")


def write_market(
    market: DemoMarket, out_dir: Path, *, file_format: str = "parquet", log: str = "explicit"
) -> Path:
    """Write the five input tables (Parquet or CSV), `ground_truth.npz` and the shop's
    do-not-contact list (`do_not_contact.csv`) into `out_dir`.

    `log`: `explicit` writes every eligible customer-week with its action and propensity;
    `contacts` writes the contacts only, as a CRM exports them, with the `campaign_design` and
    `campaign_eligible` tables that identify them (docs/inputs.md).

    Everything is written to a hidden sibling folder first and renamed into place, replacing an
    earlier folder of the same name only once the new one is complete.
    """
    if log not in ("explicit", "contacts"):
        raise ValueError(
            f"The 'log' parameter must be 'explicit' or 'contacts'. Got {log!r} instead."
        )
    if file_format not in ("parquet", "csv"):
        raise ValueError(
            f"The 'file_format' parameter must be 'parquet' or 'csv'. Got {file_format!r} instead."
        )
    out_dir = Path(out_dir)
    with staged_folder(out_dir) as staging:
        tables = {name: getattr(market, name) for name in TABLES}
        tables["campaign_log"] = tables["campaign_log"].drop(columns="repeat_buyer")
        if log == "contacts":
            contacts, design, eligible = market.contacts_only()
            tables |= {
                "campaign_log": contacts,
                "campaign_design": design,
                "campaign_eligible": eligible,
            }
        for name, frame in tables.items():
            if file_format == "parquet":
                frame.to_parquet(staging / f"{name}.parquet", index=False)
            else:
                frame.to_csv(staging / f"{name}.csv", index=False)
        # not an input table: the file a scenario's do-not-contact rule names
        market.do_not_contact.to_csv(staging / "do_not_contact.csv", index=False)
        GroundTruth.of(market).save(staging / FILE_NAME)
    return out_dir
