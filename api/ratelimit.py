"""Per-client rate limit for tip intake (moving window, in memory, per process)."""

from __future__ import annotations

from limits import RateLimitItemPerMinute
from limits.storage import MemoryStorage
from limits.strategies import MovingWindowRateLimiter


class ClientLimiter:
    """At most ``per_minute`` hits per client key in any 60 s window."""

    def __init__(self, per_minute: int):
        self.item = RateLimitItemPerMinute(per_minute)
        self.limiter = MovingWindowRateLimiter(MemoryStorage())

    def hit(self, client: str) -> bool:
        return self.limiter.hit(self.item, "tips", client)
