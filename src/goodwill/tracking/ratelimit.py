"""An in-process token bucket per (client key, client address).

Each bucket holds up to ``per_minute`` tokens and refills continuously at ``per_minute / 60``
per second; a request takes one token or is refused with the seconds until the next one.
The buckets live in this process: with several server processes each one counts on its own,
so the effective limit is ``per_minute`` × processes. Idle buckets are forgotten (least
recently used first) beyond ``max_buckets``.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable


class RateLimiter:
    def __init__(
        self,
        per_minute: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_buckets: int = 100_000,
    ) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.clock = clock
        self.max_buckets = max_buckets
        self._buckets: OrderedDict[Hashable, tuple[float, float]] = OrderedDict()

    @property
    def enabled(self) -> bool:
        return self.capacity > 0

    def take(self, key: Hashable) -> int | None:
        """Take a token for ``key``: None if allowed, else the seconds to wait (at least 1)."""
        if not self.enabled:
            return None
        now = self.clock()
        tokens, last = self._buckets.pop(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - last) * self.rate)
        if tokens >= 1:
            self._store(key, tokens - 1, now)
            return None
        self._store(key, tokens, now)
        return max(1, math.ceil((1 - tokens) / self.rate))

    def _store(self, key: Hashable, tokens: float, now: float) -> None:
        self._buckets[key] = (tokens, now)
        while len(self._buckets) > self.max_buckets:
            self._buckets.popitem(last=False)
