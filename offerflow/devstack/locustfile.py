"""Locust users for ``scripts/bench_api`` (:mod:`offerflow.devstack.api_load`): one scenario per
run, each user asking at random times at a set mean rate, so the load is an arrival rate, not
a concurrency.

The times are a Poisson process per user (exponential gaps on a schedule of its own, so a slow
answer does not lower the rate), and so, summed, for the server: independent clients arrive
like that. Locust's ``constant_throughput`` keeps every user on the same cadence, which on
this machine lines them up: at 1,000 requests/s from 50 users a ``/healthz`` p99 was 15 ms
that way and 4 ms with Poisson arrivals, a measure of the bursts and not of the server.

Configured by environment (the load runner sets it): ``BENCH_API_KEY``, ``BENCH_SCENARIO``
(``decide``, ``events`` or ``profile``), ``BENCH_RATE`` (requests/s per Locust user),
``BENCH_USERS`` (how many app users the requests are spread over) and ``BENCH_FIRST_USER``
(the first of them), ``BENCH_BATCH`` (events per ``/v1/events`` request).
"""

from __future__ import annotations

import itertools
import os
import random
import time

from locust import FastHttpUser, task

HEADERS = {"Authorization": f"Bearer {os.environ.get('BENCH_API_KEY', '')}"}
SCENARIO = os.environ.get("BENCH_SCENARIO", "decide")
USERS = int(os.environ.get("BENCH_USERS", "10000"))
FIRST = int(os.environ.get("BENCH_FIRST_USER", "0"))  # each run its own users: caps stay open
BATCH = int(os.environ.get("BENCH_BATCH", "100"))
_ids = itertools.count()


class ApiUser(FastHttpUser):
    """One client of the API at ``BENCH_RATE`` requests/s."""

    rate = float(os.environ.get("BENCH_RATE", "10"))

    def on_start(self) -> None:
        self.due = time.monotonic()

    def wait_time(self) -> float:
        self.due += random.expovariate(self.rate)
        return max(0.0, self.due - time.monotonic())

    @task
    def ask(self) -> None:
        user = f"bench-{FIRST + random.randrange(USERS)}"
        if SCENARIO == "decide":
            body = {"user_id": user, "channel": "web"}
            self.client.post("/v1/decide", json=body, headers=HEADERS, name="/v1/decide")
        elif SCENARIO == "events":
            now = int(time.time() * 1000)
            events = [
                {"event_id": f"load-{os.getpid()}-{next(_ids)}", "type": "product_view",
                 "user_id": f"bench-{random.randrange(USERS)}", "ts": now,
                 "properties": {"product_id": f"p{random.randrange(500)}"}}
                for _ in range(BATCH)
            ]  # fmt: skip
            self.client.post("/v1/events", json=events, headers=HEADERS, name="/v1/events")
        else:
            path = f"/v1/profiles/{user}"
            self.client.get(path, headers=HEADERS, name="/v1/profiles/{user_id}")
