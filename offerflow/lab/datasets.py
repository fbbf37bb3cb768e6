"""Public logs from a package registry, for evaluating the predictive models and the
recommender.

The CDNOW data of Fader, Hardie & Lee (2005), the standard benchmark for BG/NBD and
Gamma-Gamma, ships inside the MIT-licensed ``lifetimes`` package on PyPI. It is fetched with
``pip download`` (no install, no dependencies) and the data files are extracted; the library
itself is not used.

- ``CDNOW_sample.txt``: the 2,357-customer cohort's transactions, 1997-01-01 to 1998-06-30
  (columns: customer id, sample id, date ``YYYYMMDD``, CDs bought, dollar value);
- ``CDNOW_master.txt``: the same for all 23,570 customers;
- ``cdnow_customers_summary.csv``: the cohort's 39-week calibration summary (``frequency``,
  ``recency``, ``T`` in weeks), ``cdnow_customers_summary_with_transactions.csv`` adds the
  mean repeat-transaction value (``x``, ``zbar``).

MovieLens-100k (GroupLens: 100,000 ratings of 1,682 films by 943 users, 1997-98) ships
inside the MIT-licensed ``recbole`` wheel as its example data set; it is fetched the same
way and written as an interaction log for ``offerflow recommend evaluate``
(``movielens-100k.csv``: user, item, timestamp in epoch milliseconds, the rating as weight,
the first genre as category, every genre as tags).
"""

from __future__ import annotations

import contextlib
import csv
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path

CDNOW_PACKAGE = "lifetimes==0.11.3"
CDNOW_FILES = (
    "CDNOW_sample.txt",
    "CDNOW_master.txt",
    "cdnow_customers_summary.csv",
    "cdnow_customers_summary_with_transactions.csv",
)


MOVIELENS_PACKAGE = "recbole==1.2.1"
MOVIELENS_LOG = "movielens-100k.csv"


def cdnow(directory: str | Path) -> Path:
    """The CDNOW files in ``directory`` (fetched from PyPI the first time); returns it.

    Raises :class:`RuntimeError` when the package cannot be downloaded.
    """
    target = Path(directory)
    if all((target / name).exists() for name in CDNOW_FILES):
        return target
    with _wheel(CDNOW_PACKAGE, target) as wheel:
        for name in CDNOW_FILES:
            (target / name).write_bytes(wheel.read(f"lifetimes/datasets/{name}"))
    return target


def movielens(directory: str | Path) -> Path:
    """The MovieLens-100k interaction log in ``directory`` (fetched from PyPI the first
    time); returns its path. Raises :class:`RuntimeError` when the package cannot be
    downloaded."""
    target = Path(directory)
    log = target / MOVIELENS_LOG
    if log.exists():
        return log
    with _wheel(MOVIELENS_PACKAGE, target) as wheel:
        base = "recbole/dataset_example/ml-100k/ml-100k"
        items = wheel.read(f"{base}.item").decode("utf-8", "replace").splitlines()[1:]
        ratings = wheel.read(f"{base}.inter").decode().splitlines()[1:]
    genres = {}
    for line in items:  # item_id, title, year, genres (space-separated)
        fields = line.split("\t")
        genres[fields[0]] = fields[3].split() if len(fields) > 3 else []
    with open(log, "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(("user", "item", "timestamp", "weight", "category", "tags"))
        for line in ratings:  # user_id, item_id, rating, timestamp (epoch seconds)
            user, item, rating, ts = line.split("\t")
            kinds = genres.get(item, [])
            out.writerow((user, item, int(float(ts)) * 1000, rating, kinds[0] if kinds else "",
                          "|".join(kinds)))  # fmt: skip
    return log


@contextlib.contextmanager
def _wheel(package: str, target: Path) -> Iterator[zipfile.ZipFile]:
    """``package``'s wheel from PyPI (no install, no dependencies), opened."""
    target.mkdir(parents=True, exist_ok=True)
    download = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
         "-d", str(target), package],
        capture_output=True,
        text=True,
    )  # fmt: skip
    name = package.split("==")[0].replace("-", "_").lower()  # wheel names keep their case
    wheels = sorted(w for w in target.glob("*.whl") if w.name.lower().startswith(f"{name}-"))
    if download.returncode != 0 or not wheels:
        raise RuntimeError(f"cannot download {package}: {download.stderr.strip()}")
    with zipfile.ZipFile(wheels[-1]) as wheel:
        yield wheel
