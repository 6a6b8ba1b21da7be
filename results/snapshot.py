"""The published snapshot in the cache, and the lookups that read it.

Layout (Django cache keys, so KEY_PREFIX applies; values are JSON text):

    results:live                  pointer of the current session (see results.lookup)
    results:pointer:<session>     pointer of one session (signed-in candidates)
    results:p<ns>:<digest>        one candidate's entry, or an alias "@<digest>" (CNIE)
    results:p<ns>:names           session, track and subject names, coefficients
    results:p<ns>:ready           written once every entry of the namespace is in

`ns` is a publication's namespace: its id and creation time, so that keys never outlive the
publication they belong to. Entries and names never expire and never change once the namespace
is ready (a correction rewrites its candidate's entry only). Pointers expire after
RESULTS_POINTER_TTL_SECONDS and are rebuilt from the database (one query), so a lost pointer, a
changed current session or a missed update repairs itself. A namespace without its `ready` key
is cold (Redis restarted or evicted it): the lookup then answers from the database, and
`manage.py warm_results` refills it. Redis must not evict these keys (`maxmemory-policy
noeviction` or a `volatile-*` policy: the entries have no expiry).

On Redis the public lookup is ONE round trip: a Lua script counts the attempt against the
per-address and per-code limits (the same counters, keys and windows as
identity.ratelimit.RateLimit, which reads them), reads the pointer, compares the moment, and
reads the entry. Other caches (the embedded local-memory cache) do the same in several calls.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import partial
from socket import socket
from typing import Any

from django.conf import settings
from django.core.cache import DEFAULT_CACHE_ALIAS, caches
from django.core.signals import setting_changed
from django.db import transaction
from django.db.models import Count, Max
from django.dispatch import receiver
from django.utils import timezone

from bac.perthread import PerThread
from identity.ratelimit import RateLimit, address_bucket

from . import replica
from .lookup import (
    ALIAS,
    MASSAR,
    LivePublication,
    Query,
    build_pointer,
    decode_entry,
    entry_items,
    lookup_digest,
    public_publications,
    query_digest,
)

logger = logging.getLogger(__name__)

LIVE_POINTER = "results:live"


def pointer_key(session_id: int) -> str:
    return f"results:pointer:{session_id}"


def entry_key(ns: str, digest: str) -> str:
    return f"results:p{ns}:{digest}"


def ready_key(ns: str) -> str:
    return f"results:p{ns}:ready"


def names_key(ns: str) -> str:
    return f"results:p{ns}:names"


def namespace_of(publication) -> str:
    """A publication's cache namespace: its id and creation instant (in base 36)."""
    stamp = int(publication.created_at.timestamp() * 1_000_000)
    return f"{publication.pk}.{_base36(stamp)}"


def publication_id_of(ns: str) -> int:
    return int(ns.split(".", 1)[0])


def _base36(value: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while value:
        value, rest = divmod(value, 36)
        out = digits[rest] + out
    return out or "0"


@functools.cache
def _lookup_key(value: str) -> bytes:
    return value.encode()


def lookup_key() -> bytes:
    return _lookup_key(settings.RESULTS_LOOKUP_KEY)


_django_now = timezone.now


def clock() -> float:
    """Now, in POSIX seconds, read through django.utils.timezone (tests freeze it there)."""
    now = timezone.now
    if now is _django_now:
        return time.time()  # what timezone.now() would say, without making a datetime
    return now().timestamp()


_LIMITS: dict[str, RateLimit] = {}


@receiver(setting_changed)
def _forget_limits(**kwargs) -> None:
    _LIMITS.clear()


def address_limit() -> RateLimit:
    """Attempts per client address (or IPv6 /64) and window."""
    limit = _LIMITS.get("address")
    if limit is None:
        limit = _LIMITS["address"] = RateLimit(
            "results-lookup-address",
            settings.RESULTS_LOOKUP_PER_ADDRESS,
            settings.RESULTS_LOOKUP_ADDRESS_WINDOW_SECONDS,
        )
    return limit


def code_limit() -> RateLimit:
    """Failed attempts per Massar code (or CNIE number) and window."""
    limit = _LIMITS.get("code")
    if limit is None:
        limit = _LIMITS["code"] = RateLimit(
            "results-lookup-code",
            settings.RESULTS_LOOKUP_FAILURES_PER_CODE,
            settings.RESULTS_LOOKUP_CODE_WINDOW_SECONDS,
        )
    return limit


# --- stores -----------------------------------------------------------------------------------

OK = "ok"
LIMITED_ADDRESS = "limited_address"
LIMITED_CODE = "limited_code"
NO_POINTER = "no_pointer"


@dataclass
class Attempt:
    """What one public lookup found in the cache."""

    state: str
    namespaces: list[str] = field(default_factory=list)
    values: list[str | None] = field(default_factory=list)
    ready: list[bool] = field(default_factory=list)
    failure_counted: bool = False
    retry_after: int = 0
    moments: list[float] = field(default_factory=list)  # publish_at of each namespace


def _window_left(limit: RateLimit, now: float) -> int:
    return limit._window(now)[1]


class Store:
    """The snapshot on any Django cache (the embedded default), a few calls per lookup."""

    def __init__(self, backend) -> None:
        self.cache = backend

    # writes
    def put_entries(self, ns: str, items: Sequence[tuple[str, str]]) -> None:
        self.cache.set_many({entry_key(ns, d): v for d, v in items}, timeout=None)

    def put_names(self, ns: str, names: dict[str, Any]) -> None:
        self.cache.set(names_key(ns), json.dumps(names, ensure_ascii=False), timeout=None)

    def mark_ready(self, ns: str) -> None:
        self.cache.set(ready_key(ns), "1", timeout=None)

    def set_pointer(self, key: str, pointer: dict[str, Any], ttl: int) -> None:
        self.cache.set(key, json.dumps(pointer), timeout=ttl)

    def delete_entries(self, ns: str, digests: Sequence[str]) -> None:
        self.cache.delete_many([entry_key(ns, d) for d in digests])

    def drop(self, ns: str, digests: Iterable[str]) -> None:
        self.cache.delete_many([ready_key(ns), names_key(ns)])
        batch: list[str] = []
        for digest in digests:
            batch.append(entry_key(ns, digest))
            if len(batch) >= 1000:
                self.cache.delete_many(batch)
                batch = []
        if batch:
            self.cache.delete_many(batch)

    # reads
    def get_pointer(self, key: str) -> dict[str, Any] | None:
        raw = self.cache.get(key)
        return None if raw is None else json.loads(raw)

    def get_names(self, ns: str) -> dict[str, Any] | None:
        raw = self.cache.get(names_key(ns))
        return None if raw is None else json.loads(raw)

    def fetch(self, namespaces: Sequence[str], digest: str) -> tuple[list[str | None], list[bool]]:
        if not namespaces:
            return [], []
        keys = [entry_key(ns, digest) for ns in namespaces]
        readies = [ready_key(ns) for ns in namespaces]
        found = self.cache.get_many(keys + readies)
        values: list[str | None] = []
        for ns, key in zip(namespaces, keys, strict=True):
            value = found.get(key)
            if value is not None and value.startswith(ALIAS):
                value = self.cache.get(entry_key(ns, value[1:]))
            values.append(value)
        return values, [key in found for key in readies]

    def attempt(self, address: str, query: Query, digest: str, pointer: str, now: float) -> Attempt:
        by_address, by_code = address_limit(), code_limit()
        hit = by_address.hit(address_bucket(address))
        if not hit.allowed:
            return Attempt(LIMITED_ADDRESS, retry_after=hit.retry_after)
        check = by_code.check(query.subject)
        if not check.allowed:
            return Attempt(LIMITED_CODE, retry_after=check.retry_after)
        loaded = self.get_pointer(pointer)
        if loaded is None:
            return Attempt(NO_POINTER)
        namespaces = public_publications(loaded, now)
        values, ready = self.fetch(namespaces, digest)
        attempt = Attempt(OK, namespaces, values, ready)
        attempt.moments = [_publish_at(loaded, ns) or 0.0 for ns in namespaces]
        if namespaces and not any(values) and all(ready):
            by_code.hit(query.subject)
            attempt.failure_counted = True
        return attempt


# One round trip: count the attempt, read the pointer, compare the moment, read the entry.
# KEYS: address counter, code failure counter, pointer.
# ARGV: address limit, address counter TTL, code limit, code counter TTL, now, key prefix, digest.
# Reply: {state, address hits, code failures, [ns, publish_at, value, ready]...}; state 0 looked up,
# 1 address limited, 2 code limited, 3 no pointer, 4 looked up and a failure counted.
LOOKUP_SCRIPT = """
local hits = redis.call('INCR', KEYS[1])
if hits == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
if hits > tonumber(ARGV[1]) then return {1, hits, 0} end
local state = redis.call('MGET', KEYS[2], KEYS[3])
local failures = tonumber(state[1] or '0')
if failures >= tonumber(ARGV[3]) then return {2, hits, failures} end
if not state[2] then return {3, hits, failures} end
local pointer = cjson.decode(state[2])
local now = tonumber(ARGV[5])
local reply = {0, hits, failures}
local seen = {}
local found = false
local cold = false
for _, e in ipairs(pointer['e']) do
  local sitting = e[3]
  if e[2] <= now and not seen[sitting] then
    seen[sitting] = true
    local base = ARGV[6] .. 'results:p' .. e[1] .. ':'
    local got = redis.call('MGET', base .. ARGV[7], base .. 'ready')
    local value = got[1]
    if value and string.sub(value, 1, 1) == '@' then
      value = redis.call('GET', base .. string.sub(value, 2))
    end
    if value then found = true end
    if not got[2] then cold = true end
    reply[#reply + 1] = e[1]
    reply[#reply + 1] = tostring(e[2])
    reply[#reply + 1] = value or false
    reply[#reply + 1] = got[2] and 1 or 0
  end
end
if #reply > 3 and not found and not cold then
  reply[3] = redis.call('INCR', KEYS[2])
  if reply[3] == 1 then redis.call('EXPIRE', KEYS[2], ARGV[4]) end
  reply[1] = 4
end
return reply
"""


try:
    import hiredis as _hiredis
except ImportError:  # pragma: no cover (a dependency; redis-py's parser is the fallback)
    _hiredis = None


def _is_error(reply: Any, prefix: str = "") -> bool:
    return (
        _hiredis is not None
        and isinstance(reply, _hiredis.ReplyError)
        and str(reply).startswith(prefix)
    )


class RedisStore(Store):
    """The snapshot on Redis: raw JSON values (not pickled) that the Lua script can read."""

    def __init__(self, backend, prefix: str) -> None:
        super().__init__(backend)
        self.prefix = prefix
        self.client = backend._cache.get_client(None, write=True)
        self.sha = hashlib.sha1(LOOKUP_SCRIPT.encode()).hexdigest()  # noqa: S324 (Redis's name)
        self._connection = None
        self._reader = None
        self._pid = 0

    def _connect(self) -> Any:
        """A connection of our own (this store belongs to one thread), set up by redis-py
        (authentication, database, timeouts), then spoken to directly: the pool's checkout
        probes the socket with three system calls per command and redis-py's layers cost more
        than the lookup's own work, which is one command and one reply."""
        connection = self.client.connection_pool.make_connection()
        connection.connect()
        self._connection = connection
        # The socket is redis-py's private attribute: should a release rename it, the lookup
        # still works through redis-py's own parser, only slower.
        direct = _hiredis is not None and isinstance(getattr(connection, "_sock", None), socket)
        self._reader = _hiredis.Reader() if direct else None
        self._pid = os.getpid()
        return connection

    def _drop_connection(self) -> None:
        if self._connection is not None:
            self._connection.disconnect()
        self._connection = self._reader = None

    def _call(self, connection, reader, command: tuple) -> Any:
        if reader is None:  # no hiredis: redis-py's own parser
            connection.send_command(*command)
            return connection.read_response(disable_decoding=True)
        sock = connection._sock
        sock.sendall(_hiredis.pack_command(command))
        while True:
            reply = reader.gets()
            if reply is not False:
                return reply
            data = sock.recv(65536)
            if not data:
                raise ConnectionError("Redis closed the connection")
            reader.feed(data)

    def _eval(self, *args) -> Any:
        """EVALSHA of the lookup script (EVAL once if Redis lost it), with one retry on a fresh
        connection if the first one failed."""
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import NoScriptError, ResponseError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        for attempt in (1, 2):
            connection = self._connection
            if connection is None or self._pid != os.getpid():
                self._connection = None  # a forked child must not use its parent's socket
                connection = self._connect()
            try:
                try:
                    reply = self._call(connection, self._reader, ("EVALSHA", self.sha, *args))
                    if _is_error(reply, "NOSCRIPT"):
                        raise NoScriptError(str(reply))
                except NoScriptError:
                    reply = self._call(connection, self._reader, ("EVAL", LOOKUP_SCRIPT, *args))
                if _is_error(reply):
                    raise ResponseError(str(reply))
                return reply
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                self._drop_connection()
                if attempt == 2:
                    raise RedisConnectionError(str(exc)) from exc
        raise AssertionError("unreachable")

    def k(self, key: str) -> str:
        return self.prefix + key

    def put_entries(self, ns: str, items: Sequence[tuple[str, str]]) -> None:
        pipe = self.client.pipeline(transaction=False)
        # Every key of the batch starts alike: entry_key's text, made once (a publication
        # writes a million of them).
        head = self.k(entry_key(ns, ""))
        for start in range(0, len(items), 1000):
            chunk = items[start : start + 1000]
            pipe.mset({head + d: v for d, v in chunk})
        pipe.execute()

    def put_names(self, ns: str, names: dict[str, Any]) -> None:
        self.client.set(self.k(names_key(ns)), json.dumps(names, ensure_ascii=False))

    def mark_ready(self, ns: str) -> None:
        self.client.set(self.k(ready_key(ns)), "1")

    def set_pointer(self, key: str, pointer: dict[str, Any], ttl: int) -> None:
        self.client.set(self.k(key), json.dumps(pointer), ex=ttl)

    def delete_entries(self, ns: str, digests: Sequence[str]) -> None:
        if digests:
            self.client.unlink(*(self.k(entry_key(ns, d)) for d in digests))

    def drop(self, ns: str, digests: Iterable[str]) -> None:
        batch: list[bytes] = []
        for key in self.client.scan_iter(match=self.k(f"results:p{ns}:*"), count=1000):
            batch.append(key)
            if len(batch) >= 1000:
                self.client.unlink(*batch)
                batch = []
        if batch:
            self.client.unlink(*batch)

    def get_pointer(self, key: str) -> dict[str, Any] | None:
        raw = self.client.get(self.k(key))
        return None if raw is None else json.loads(raw)

    def get_names(self, ns: str) -> dict[str, Any] | None:
        raw = self.client.get(self.k(names_key(ns)))
        return None if raw is None else json.loads(raw)

    def fetch(self, namespaces: Sequence[str], digest: str) -> tuple[list[str | None], list[bool]]:
        if not namespaces:
            return [], []
        pipe = self.client.pipeline(transaction=False)
        for ns in namespaces:
            pipe.get(self.k(entry_key(ns, digest)))
            pipe.exists(self.k(ready_key(ns)))
        replies = pipe.execute()
        values: list[str | None] = []
        for index, ns in enumerate(namespaces):
            raw = replies[2 * index]
            value = raw.decode() if raw is not None else None
            if value is not None and value.startswith(ALIAS):
                target = self.client.get(self.k(entry_key(ns, value[1:])))
                value = target.decode() if target is not None else None
            values.append(value)
        return values, [bool(replies[2 * i + 1]) for i in range(len(namespaces))]

    def attempt(self, address: str, query: Query, digest: str, pointer: str, now: float) -> Attempt:
        by_address, by_code = address_limit(), code_limit()
        # address_bucket only changes IPv6 addresses (to their /64): skip its parse for IPv4.
        bucket = address if ":" not in address else address_bucket(address)
        address_subject = by_address._subject_key(bucket)
        code_subject = by_code._subject_key(query.subject)
        address_index, address_left = by_address._window(now)
        code_index, code_left = by_code._window(now)
        # Same keys and expiry as RateLimit.hit (its counters are these).
        reply = self._eval(
            3,
            self.k(f"{address_subject}:{address_index}"),
            self.k(f"{code_subject}:{code_index}"),
            self.k(pointer),
            by_address.limit,
            by_address.window + 5,
            by_code.limit,
            by_code.window + 5,
            repr(now),
            self.prefix,
            digest,
        )
        state = int(reply[0])
        if state == 1:
            return Attempt(LIMITED_ADDRESS, retry_after=address_left)
        if state == 2:
            return Attempt(LIMITED_CODE, retry_after=code_left)
        if state == 3:
            return Attempt(NO_POINTER)
        rest = reply[3:]
        namespaces = [rest[i].decode() for i in range(0, len(rest), 4)]
        moments = [float(rest[i]) for i in range(1, len(rest), 4)]
        values = [rest[i].decode() if rest[i] is not None else None for i in range(2, len(rest), 4)]
        ready = [bool(rest[i]) for i in range(3, len(rest), 4)]
        return Attempt(OK, namespaces, values, ready, state == 4, moments=moments)


_store_lock = threading.Lock()


def _current_store() -> Store:
    backend = caches[DEFAULT_CACHE_ALIAS]
    store = getattr(backend, "_results_store", None)
    if store is None:
        with _store_lock:
            store = _make_store(backend)
            backend._results_store = store
    return store


# Remembered per thread for the hot path (caches[...] goes through asgiref's Local).
_thread_store = PerThread(_current_store)


def get_store() -> Store:
    """The store for the default cache (one per cache object, i.e. per thread)."""
    return _thread_store.get()


def _make_store(backend) -> Store:
    try:
        from django.core.cache.backends.redis import RedisCache
    except ImportError:  # pragma: no cover
        RedisCache = ()  # noqa: N806
    if isinstance(backend, RedisCache):
        prefix = backend.make_key("")
        if backend.make_key("x") == prefix + "x":
            return RedisStore(backend, prefix)
        logger.warning("custom cache KEY_FUNCTION: results lookups use several round trips")
    return Store(backend)


# --- names (per publication, immutable: kept in process) ---------------------------------------

_NAMES: OrderedDict[str, dict[str, Any]] = OrderedDict()
_NAMES_LIMIT = 32


def names_for(ns: str) -> dict[str, Any]:
    names = _NAMES.get(ns)
    if names is not None:
        return names
    try:
        names = get_store().get_names(ns)
    except _CACHE_DOWN:
        names = None  # Redis down: the database has them
    if names is None:
        from .models import Publication
        from .publication import build_names

        publication = Publication.objects.select_related("session").get(pk=publication_id_of(ns))
        names = build_names(publication)
    _NAMES[ns] = names
    while len(_NAMES) > _NAMES_LIMIT:
        _NAMES.popitem(last=False)
    return names


# --- pointers ---------------------------------------------------------------------------------


def live_publications(session_id: int, now: float | None = None) -> list[LivePublication]:
    """The full publications a session's pointer must list: per sitting, the ready ones down to
    the first already public (older ones can never show again)."""
    from .models import Publication

    now = clock() if now is None else now
    settle(session_id, now)
    rows = Publication.objects.filter(
        session_id=session_id, kind=Publication.Kind.FULL, status=Publication.Status.READY
    ).order_by("sitting", "-version")
    chosen = []
    done: set[str] = set()
    for publication in rows:
        if publication.sitting in done:
            continue
        chosen.append(publication)
        if publication.publish_at.timestamp() <= now:
            done.add(publication.sitting)
    corrections = {
        row["base_id"]: f"{row['n']}.{row['last']}.{row['withdrawn'] or ''}"
        for row in Publication.objects.filter(
            base_id__in=[p.pk for p in chosen], kind=Publication.Kind.CORRECTION
        )
        .values("base_id")
        .annotate(n=Count("pk"), last=Max("pk"), withdrawn=Max("withdrawn_at"))
        .order_by()
    }
    return [
        LivePublication(
            namespace_of(p),
            p.publish_at.timestamp(),
            p.sitting,
            p.version,
            corrections.get(p.pk, ""),
        )
        for p in chosen
    ]


def settle(session_id: int, now: float) -> list[int]:
    """Mark as replaced the ready full publications a newer public version has superseded;
    returns their ids (their cache namespaces can be purged)."""
    from .models import Publication

    ready = list(
        Publication.objects.filter(
            session_id=session_id, kind=Publication.Kind.FULL, status=Publication.Status.READY
        ).order_by("sitting", "-version")
    )
    replaced: list[int] = []
    current: dict[str, Any] = {}
    for publication in ready:
        winner = current.get(publication.sitting)
        if winner is not None:
            Publication.objects.filter(pk=publication.pk, status=Publication.Status.READY).update(
                status=Publication.Status.REPLACED, replaced_at=winner.publish_at
            )
            replaced.append(publication.pk)
            transaction.on_commit(partial(_purge_later, publication.pk), robust=True)
        elif publication.publish_at.timestamp() <= now:
            current[publication.sitting] = publication
    return replaced


def _purge_later(publication_id: int) -> None:
    from .publication import purge_publication_task

    purge_publication_task.delay(publication_id)


def refresh_pointers(session_id: int | None = None, now: float | None = None) -> dict[str, Any]:
    """Rebuild the pointer of a session (and the live pointer when it is the current one) from
    the database; returns the session's pointer."""
    from exams.models import ExamSession

    current = ExamSession.objects.filter(is_current=True).values_list("pk", flat=True).first()
    if session_id is None:
        session_id = current
    store = get_store()
    ttl = settings.RESULTS_POINTER_TTL_SECONDS
    pointer = build_pointer(
        session_id, live_publications(session_id, now) if session_id is not None else []
    )
    if session_id is not None:
        store.set_pointer(pointer_key(session_id), pointer, ttl)
    if session_id == current:
        store.set_pointer(LIVE_POINTER, pointer, ttl)
    return pointer


def _pointer_for(session_id: int, now: float) -> dict[str, Any]:
    pointer = get_store().get_pointer(pointer_key(session_id))
    if pointer is None:
        pointer = refresh_pointers(session_id, now)
    return pointer


# --- lookups ----------------------------------------------------------------------------------

FOUND = "found"
NOT_FOUND = "not_found"
NOT_PUBLISHED = "not_published"
LIMITED = "limited"


@dataclass
class Outcome:
    status: str
    entry: dict[str, Any] | None = None
    namespace: str = ""
    publish_at: float | None = None
    retry_after: int = 0

    @property
    def found(self) -> bool:
        return self.status == FOUND

    @property
    def names(self) -> dict[str, Any]:
        return names_for(self.namespace) if self.namespace else {}


def _publish_at(pointer: dict[str, Any], ns: str) -> float | None:
    for entry_ns, at, _sitting in pointer.get("e", ()):
        if entry_ns == ns:
            return at
    return None


def lookup_public(query: Query, address: str, now: float | None = None) -> Outcome:
    """The public lookup (anyone, Massar code or CNIE number and birth date), rate-limited.

    A wrong pair and an unknown code get the same answer after the same work (one HMAC, one
    round trip on Redis); before the moment, the answer is that of a session without results.
    """
    now = clock() if now is None else now
    digest = query_digest(lookup_key(), query)
    on_host = replica.current()
    if on_host is not None:
        return on_host.lookup(query, digest, address, now)
    store = get_store()
    try:
        attempt = store.attempt(address, query, digest, LIVE_POINTER, now)
    except _CACHE_DOWN as exc:
        logger.warning("results cache unreachable (%s): looking up in the database", exc)
        return _lookup_without_cache(query, address, now)
    if attempt.state == LIMITED_ADDRESS or attempt.state == LIMITED_CODE:
        return Outcome(LIMITED, retry_after=max(1, attempt.retry_after))
    if attempt.state == NO_POINTER:
        # Cold or expired pointer: rebuild it (one query) and read the entries.
        pointer = refresh_pointers(None, now)
        attempt.namespaces = public_publications(pointer, now)
        attempt.moments = [_publish_at(pointer, ns) or 0.0 for ns in attempt.namespaces]
        attempt.values, attempt.ready = store.fetch(attempt.namespaces, digest)
    if not attempt.namespaces:
        return Outcome(NOT_PUBLISHED)
    for ns, at, value in zip(attempt.namespaces, attempt.moments, attempt.values, strict=True):
        if value:
            return Outcome(FOUND, decode_entry(value), ns, at)
    if not all(attempt.ready):
        # A namespace is cold: answer from the database snapshot (and say so in the logs).
        logger.warning("results cache cold for %s: run `manage.py warm_results`", attempt.ready)
        for ns, at in zip(attempt.namespaces, attempt.moments, strict=True):
            payload = _payload_from_database(publication_id_of(ns), query)
            if payload is not None:
                return Outcome(FOUND, decode_entry(payload), ns, at)
    if not attempt.failure_counted:
        code_limit().hit(query.subject)
    return Outcome(NOT_FOUND)


try:
    from redis.exceptions import ConnectionError as _RedisConnectionError
    from redis.exceptions import TimeoutError as _RedisTimeoutError

    _CACHE_DOWN: tuple[type[BaseException], ...] = (
        _RedisConnectionError,
        _RedisTimeoutError,
        ConnectionError,
        TimeoutError,
    )
except ImportError:  # pragma: no cover
    _CACHE_DOWN = (ConnectionError, TimeoutError)


def live_pointer_from_database(now: float) -> dict[str, Any]:
    """The live pointer as the database says it, for when the cache cannot."""
    from exams.models import ExamSession

    session_id = ExamSession.objects.filter(is_current=True).values_list("pk", flat=True).first()
    return build_pointer(
        session_id, live_publications(session_id, now) if session_id is not None else []
    )


def _lookup_without_cache(query: Query, address: str, now: float) -> Outcome:
    """The public lookup while Redis is down: slower (the database answers), still rate-limited
    (identity.ratelimit counts per process then: limits fail closed, never open)."""
    hit = address_limit().hit(address_bucket(address))
    if not hit.allowed:
        return Outcome(LIMITED, retry_after=max(1, hit.retry_after))
    check = code_limit().check(query.subject)
    if not check.allowed:
        return Outcome(LIMITED, retry_after=max(1, check.retry_after))
    pointer = live_pointer_from_database(now)
    namespaces = public_publications(pointer, now)
    if not namespaces:
        return Outcome(NOT_PUBLISHED)
    for ns in namespaces:
        payload = _payload_from_database(publication_id_of(ns), query)
        if payload is not None:
            return Outcome(FOUND, decode_entry(payload), ns, _publish_at(pointer, ns))
    code_limit().hit(query.subject)
    return Outcome(NOT_FOUND)


def _payload_from_database(publication_id: int, query: Query) -> str | None:
    from django.db.models import Q

    from .models import Publication, PublishedResult

    rows = PublishedResult.objects.filter(
        Q(publication_id=publication_id)
        | Q(publication__base_id=publication_id, publication__status=Publication.Status.READY)
    )
    if query.kind == MASSAR:
        rows = rows.filter(candidate__massar_code=query.identifier)
    else:
        rows = rows.filter(candidate__cnie_number=query.identifier)
    for massar, cnie, birth, payload in rows.order_by("-publication__version").values_list(
        "massar_code", "cnie_number", "birth_date", "payload"
    ):
        identifier = massar if query.kind == MASSAR else cnie
        if identifier == query.identifier and birth == query.birth_date:
            return payload
    return None


def result_for_candidate(candidate, now: float | None = None) -> Outcome:
    """A signed-in candidate's current result (no rate limit: it is their own)."""
    now = clock() if now is None else now
    try:
        pointer = _pointer_for(candidate.session_id, now)
    except _CACHE_DOWN:  # Redis down: the database knows which publications are live
        pointer = build_pointer(candidate.session_id, live_publications(candidate.session_id, now))
    namespaces = public_publications(pointer, now)
    if not namespaces:
        return Outcome(NOT_PUBLISHED)
    digest = lookup_digest(lookup_key(), MASSAR, candidate.massar_code, candidate.birth_date)
    try:
        values, _ready = get_store().fetch(namespaces, digest)
    except _CACHE_DOWN:
        values = [None] * len(namespaces)
    for ns, value in zip(namespaces, values, strict=True):
        if value:
            return Outcome(FOUND, decode_entry(value), ns, _publish_at(pointer, ns))
    # Not in the cache (cold, or the file's code or birth date changed since publication).
    from django.db.models import Q

    from .models import Publication, PublishedResult

    for ns in namespaces:
        pub_id = publication_id_of(ns)
        payload = (
            PublishedResult.objects.filter(candidate_id=candidate.pk)
            .filter(
                Q(publication_id=pub_id)
                | Q(publication__base_id=pub_id, publication__status=Publication.Status.READY)
            )
            .order_by("-publication__version")
            .values_list("payload", flat=True)
            .first()
        )
        if payload is not None:
            return Outcome(FOUND, decode_entry(payload), ns, _publish_at(pointer, ns))
    return Outcome(NOT_FOUND)


# --- filling the cache ------------------------------------------------------------------------


def items_for(rows: Iterable, key: bytes | None = None) -> list[tuple[str, str]]:
    """Cache items for (row, payload) pairs; a row has the identifiers and the birth date
    (lookup.Identified: a SnapshotRow, a PublishedResult, what the publication's SQL returns)."""
    key = lookup_key() if key is None else key
    items: list[tuple[str, str]] = []
    for row, payload in rows:
        items.extend(entry_items(key, row, payload))
    return items


def corrections_of(publication_id: int):
    """The rows of a full publication's live corrections, oldest version first (a later row of
    the same candidate replaces an earlier one)."""
    from .models import Publication, PublishedResult

    return PublishedResult.objects.filter(
        publication__base_id=publication_id, publication__status=Publication.Status.READY
    ).order_by("publication__version")


def warm_publication(publication, batch_size: int = 5000) -> int:
    """Write a full publication's entries (with its corrections on top), names and ready mark
    from the database snapshot; returns the number of candidates written."""
    from .models import PublishedResult
    from .publication import build_names

    ns = namespace_of(publication)
    store = get_store()
    key = lookup_key()
    count = 0
    last = 0
    while True:
        batch = list(
            PublishedResult.objects.filter(publication=publication, pk__gt=last).order_by("pk")[
                :batch_size
            ]
        )
        if not batch:
            break
        last = batch[-1].pk
        store.put_entries(ns, items_for(((r, r.payload) for r in batch), key))
        count += len(batch)
    store.put_entries(ns, items_for(((r, r.payload) for r in corrections_of(publication.pk)), key))
    store.put_names(ns, build_names(publication))
    store.mark_ready(ns)
    return count


def drop_publication(publication) -> None:
    from .models import PublishedResult

    key = lookup_key()

    def digests():
        rows = PublishedResult.objects.filter(publication=publication).values_list(
            "massar_code", "cnie_number", "birth_date"
        )
        for massar, cnie, birth in rows.iterator(chunk_size=5000):
            yield lookup_digest(key, MASSAR, massar, birth)
            if cnie:
                yield lookup_digest(key, "c", cnie, birth)

    get_store().drop(namespace_of(publication), digests())
