"""Public transaction logs from a package registry, for evaluating the predictive models.

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
"""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

CDNOW_PACKAGE = "lifetimes==0.11.3"
CDNOW_FILES = (
    "CDNOW_sample.txt",
    "CDNOW_master.txt",
    "cdnow_customers_summary.csv",
    "cdnow_customers_summary_with_transactions.csv",
)


def cdnow(directory: str | Path) -> Path:
    """The CDNOW files in ``directory`` (fetched from PyPI the first time); returns it.

    Raises :class:`RuntimeError` when the package cannot be downloaded.
    """
    target = Path(directory)
    if all((target / name).exists() for name in CDNOW_FILES):
        return target
    target.mkdir(parents=True, exist_ok=True)
    download = subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q",
         "-d", str(target), CDNOW_PACKAGE],
        capture_output=True,
        text=True,
    )  # fmt: skip
    wheels = sorted(target.glob("*.whl"))
    if download.returncode != 0 or not wheels:
        raise RuntimeError(f"cannot download {CDNOW_PACKAGE}: {download.stderr.strip()}")
    with zipfile.ZipFile(wheels[-1]) as wheel:
        for name in CDNOW_FILES:
            (target / name).write_bytes(wheel.read(f"lifetimes/datasets/{name}"))
    return target
