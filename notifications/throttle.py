"""A rate limit shared by every worker, kept in the Django cache (Redis in production).

Time is cut into slots of `window` seconds, each holding `capacity` tokens, with
capacity / window equal to the provider's rate. A sender takes a token with one atomic
`add` + `incr` on the slot's key; when the slot is empty it sleeps until the next slot. So the
workers together never exceed the rate over any slot, and over any one second they exceed it by
at most one slot's worth at the boundary (one message for rates up to 19 per second).

Slots are at most a tenth of a second long, so that bursts stay small: a provider that counts
per rolling second sees a steady stream, not the whole second's quota at once.

The clock and the sleep are injectable, so tests drive it with a fake clock.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from django.conf import settings
from django.core.cache import caches

MAX_SLOT_SECONDS = 0.1
# Sleep a hair past the slot boundary so that float rounding never lands us back in it.
_EPSILON = 1e-4


class RateLimiter:
    def __init__(
        self,
        name: str,
        per_second: int,
        *,
        cache_alias: str = "default",
        clock: Callable[[], float] | None = None,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        if per_second < 1:
            raise ValueError("the rate must be at least one per second")
        self.name = name
        self.per_second = per_second
        self.capacity = max(1, math.floor(per_second * MAX_SLOT_SECONDS))
        self.window = self.capacity / per_second
        self.cache = caches[cache_alias]
        self.clock = clock or time.time
        self.sleep = sleep or time.sleep
        # Keys outlive their slot a little, then expire by themselves.
        self._timeout = max(2, math.ceil(self.window * 2))

    def _key(self, slot: int) -> str:
        return f"notifications:rate:{self.name}:{slot}"

    def acquire(self) -> float:
        """Take one token, waiting for it if needed; returns the seconds waited."""
        waited = 0.0
        while True:
            now = self.clock()
            slot = math.floor(now / self.window)
            key = self._key(slot)
            self.cache.add(key, 0, timeout=self._timeout)
            try:
                taken = self.cache.incr(key)
            except ValueError:  # the key expired between add and incr: start over
                continue
            if taken <= self.capacity:
                return waited
            pause = (slot + 1) * self.window - now + _EPSILON
            self.sleep(pause)
            waited += pause


class _NoLimit:
    def acquire(self) -> float:
        return 0.0


NO_LIMIT = _NoLimit()


def limiter_for(channel: str) -> RateLimiter | _NoLimit:
    """The shared limiter of a channel, or no limit when settings.NOTIFICATIONS_THROTTLE is off
    (the default when tasks run eagerly in-process: the demo and the tests)."""
    if not settings.NOTIFICATIONS_THROTTLE:
        return NO_LIMIT
    rate = (
        settings.NOTIFICATIONS_SMS_PER_SECOND
        if channel == "sms"
        else settings.NOTIFICATIONS_EMAIL_PER_SECOND
    )
    return RateLimiter(channel, rate, clock=_clock, sleep=_sleep)


# The wall clock, replaced by a fake one in tests.
_clock: Callable[[], float] = time.time
_sleep: Callable[[float], None] = time.sleep
