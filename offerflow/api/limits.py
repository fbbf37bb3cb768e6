"""Per-key rate limits: a token bucket per key, on each replica.

Each replica limits on its own (the service keeps no shared state), so behind a load balancer
of ``n`` replicas a key gets up to ``n`` times its rate; set the rate per replica.

Examples
--------

>>> now = [0.0]
>>> bucket = RateLimiter(clock=lambda: now[0])
>>> [bucket.take("k", rate=2) for _ in range(3)]  # a burst of one second's worth
[0.0, 0.0, 0.5]
>>> now[0] = 0.5  # half a second later one token is back
>>> bucket.take("k", rate=2)
0.0

"""

from __future__ import annotations

import time
from collections.abc import Callable


class RateLimiter:
    """Token buckets by key: ``rate`` tokens per second, holding at most ``rate``."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, as of)

    def take(self, key: str, rate: int) -> float:
        """Take one token for ``key``: 0.0 if granted, else the seconds until one is back."""
        now = self.clock()
        tokens, then = self._buckets.get(key, (float(rate), now))
        tokens = min(float(rate), tokens + (now - then) * rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / rate
