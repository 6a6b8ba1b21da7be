"""Fixed-window rate limits kept in Django's cache, and the client's address.

Any service that looks something up by a guessable key (a Massar code with a birth date, a
share token, a diploma number) counts attempts here. The counters live in the shared cache
(Redis in production) so that every web worker sees the same numbers; on the embedded
local-memory cache they are per process, which is what a one-process demo needs.

Only `cache.add` and `cache.incr` are used: both are atomic on Redis and on local memory, so
two workers counting at once never lose a hit.

If the shared cache is unreachable (Redis down), counting goes on in a per-process local memory
until it is back: limits fail closed (still enforced, per worker) rather than open, and the
pages that count (sign-in, lookups) keep working instead of failing.
"""

from __future__ import annotations

import functools
import hashlib
import ipaddress
import logging
import math
import re
import time
from dataclasses import dataclass

from django.conf import settings
from django.core.cache import cache as shared_cache
from django.core.cache.backends.locmem import LocMemCache
from django.http import HttpRequest
from django.utils import timezone

# Counters outlive their window a little, so that a clock step between two workers does not
# drop a count that the other worker still reads.
_EXPIRY_SLACK_SECONDS = 5

logger = logging.getLogger(__name__)
# While the shared cache is down, counters live here (per process) and the shared cache is not
# tried again for a few seconds, so that each request does not pay a failed connection.
_LOCAL = LocMemCache("ratelimit-fallback", {"OPTIONS": {"MAX_ENTRIES": 100_000}})
_RETRY_SHARED_AFTER_SECONDS = 5.0
_shared_down_until = 0.0


class _FailoverCache:
    """The shared cache, or the process-local one while the shared one fails."""

    def _call(self, name: str, *args, **kwargs):
        global _shared_down_until
        if time.monotonic() >= _shared_down_until:
            try:
                return getattr(shared_cache, name)(*args, **kwargs)
            except ValueError:
                raise  # incr of a missing key: not an outage
            except Exception as exc:  # redis.ConnectionError, TimeoutError, OSError...
                _shared_down_until = time.monotonic() + _RETRY_SHARED_AFTER_SECONDS
                logger.warning("rate limits: shared cache unreachable (%s), counting locally", exc)
        return getattr(_LOCAL, name)(*args, **kwargs)

    def get(self, *args, **kwargs):
        return self._call("get", *args, **kwargs)

    def add(self, *args, **kwargs):
        return self._call("add", *args, **kwargs)

    def incr(self, *args, **kwargs):
        return self._call("incr", *args, **kwargs)

    def set(self, *args, **kwargs):
        return self._call("set", *args, **kwargs)

    def delete_many(self, *args, **kwargs):
        return self._call("delete_many", *args, **kwargs)


cache = _FailoverCache()


def _now() -> float:
    # Read through django.utils.timezone so that one patched clock drives codes and limits alike.
    return timezone.now().timestamp()


@dataclass(frozen=True)
class Decision:
    """The state of one subject under one limit."""

    allowed: bool
    count: int
    retry_after: int  # seconds until the subject may try again; 0 when allowed

    @property
    def retry_after_minutes(self) -> int:
        return max(1, math.ceil(self.retry_after / 60))


class RateLimit:
    """At most `limit` hits per `window` seconds for each subject.

    Two ways to use it:

    * throttle an action: `hit(subject)` before doing it and refuse when not `allowed`;
    * lock out after failures: `check(subject)` before trying, `hit(subject)` on each failure.
      With `lockout`, reaching the limit locks the subject for that many seconds from that
      moment, so a burst at the end of a window does not buy a fresh allowance a second later.
    """

    def __init__(self, scope: str, limit: int, window: int, lockout: int | None = None) -> None:
        if limit < 1 or window < 1:
            raise ValueError("a rate limit needs a positive limit and window")
        self.scope = scope
        self.limit = limit
        self.window = window
        self.lockout = lockout

    def _subject_key(self, subject: str) -> str:
        # Hashed: subjects are Massar codes and addresses, which have no business in a cache dump,
        # and arbitrary user input must not produce an invalid memcached/Redis key.
        digest = hashlib.sha256(subject.encode()).hexdigest()[:32]
        return f"ratelimit:{self.scope}:{digest}"

    def _window(self, now: float) -> tuple[int, int]:
        index = int(now // self.window)
        return index, math.ceil((index + 1) * self.window - now)

    def _lock_remaining(self, base: str, now: float) -> int:
        until = cache.get(f"{base}:lock")
        if until is None or until <= now:
            return 0
        return math.ceil(until - now)

    def check(self, subject: str) -> Decision:
        """Whether the subject may try now, without counting anything."""
        now = _now()
        base = self._subject_key(subject)
        index, window_left = self._window(now)
        count = cache.get(f"{base}:{index}", 0)
        locked_for = self._lock_remaining(base, now)
        if locked_for:
            return Decision(False, count, locked_for)
        if count >= self.limit:
            return Decision(False, count, window_left)
        return Decision(True, count, 0)

    def hit(self, subject: str) -> Decision:
        """Count one hit; `allowed` says whether it stayed within the limit."""
        now = _now()
        base = self._subject_key(subject)
        index, window_left = self._window(now)
        key = f"{base}:{index}"
        timeout = self.window + _EXPIRY_SLACK_SECONDS
        cache.add(key, 0, timeout)
        try:
            count = cache.incr(key)
        except ValueError:
            # The counter expired between add and incr (a window boundary): start it again.
            cache.add(key, 1, timeout)
            count = 1
        if self.lockout and count >= self.limit:
            until = now + self.lockout
            cache.set(f"{base}:lock", until, self.lockout + _EXPIRY_SLACK_SECONDS)
        if count > self.limit:
            return Decision(False, count, self._lock_remaining(base, now) or window_left)
        return Decision(True, count, 0)

    def reset(self, subject: str) -> None:
        """Forget the subject's current count and lock (e.g. after a successful sign-in)."""
        base = self._subject_key(subject)
        index, _ = self._window(_now())
        cache.delete_many([f"{base}:{index}", f"{base}:lock"])


def client_address(request: HttpRequest) -> str:
    """The address of the client ("" if unknown), believing X-Forwarded-For only as far as our
    own proxies.

    With N trusted proxies in front of us, each appended the address it received the request
    from, so the client is the N-th entry from the right; anything further left was written by
    the client and may be forged.
    """
    remote = request.META.get("REMOTE_ADDR", "")
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < proxies:
        # The request did not come through all our proxies: trust only the socket.
        return remote
    return _canonical_address(forwarded[-proxies]) or remote


# A dotted IPv4 address already in canonical form (no leading zeros, each part at most 255).
_CANONICAL_IPV4 = re.compile(
    r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
)


def _canonical_address(text: str) -> str:
    """The address in its canonical form, or "" if `text` is not one."""
    # Most clients are IPv4: a regular expression answers them without ipaddress's parse.
    if _CANONICAL_IPV4.fullmatch(text):
        return text
    return _parsed_address(text)


@functools.lru_cache(maxsize=16384)
def _parsed_address(text: str) -> str:
    # Cached: on results day the same clients come back many times.
    try:
        return str(ipaddress.ip_address(text))
    except ValueError:
        return ""


def address_bucket(address: str) -> str:
    """The unit an address-based limit counts: the address, or its /64 for IPv6.

    One IPv6 subscriber routinely holds a whole /64, so counting single addresses would give
    them billions of allowances.
    """
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address
    if parsed.version == 6 and parsed.ipv4_mapped is None:
        return str(ipaddress.ip_network(f"{parsed}/64", strict=False))
    if parsed.version == 6 and parsed.ipv4_mapped is not None:
        return str(parsed.ipv4_mapped)
    return str(parsed)
