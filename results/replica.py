"""The host's own replica of the published results, for the public lookup on results day.

With RESULTS_LOOKUP_REPLICA on, a public lookup makes no network round trip at all:

* the live publications' entries are read from an immutable hash table per publication
  (results.replica_file, `<ns>.replica` in RESULTS_REPLICA_DIR, best on a tmpfs), one read per
  lookup, shared by the host's processes through the kernel; a file is written once from the
  database snapshot (by `manage.py build_results_replica`, or in the background by the first
  web process that needs it: the shared cache answers until the file is in place, renamed there
  whole);
* corrections published since (one candidate each, rare) are held in memory on top of it,
  re-read from the database when the live pointer says they changed;
* the live pointer (which publications are public from which moment) is re-read every
  RESULTS_REPLICA_REFRESH_MS; the switch at a publication's moment stays a comparison with the
  clock on every request, so it is exact to the second whatever the delay;
* the per-address and per-code limits are counted in one memory-mapped file shared by every
  process of the host, under a file lock: a count-min sketch per limit (two rows of 2^20
  counters, keyed hashes, conservative update), reset when its window turns. Such a sketch never
  counts less than the truth: a collision can only make a limit bite early, and with 2^20
  counters per row that takes hundreds of thousands of attempts in one window.

The trade-off, chosen for results day: the limits hold per host. Behind a load balancer that
sends each address to one host (docs/deployment.md, "Results day"), the per-address limit is
exact; a code can be tried at most (hosts) x RESULTS_LOOKUP_FAILURES_PER_CODE times per window.
The shared-cache lookup (results.snapshot, one Redis round trip) counts exactly across hosts, at
a higher cost per lookup (bench/results_day.py measures both).
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import logging
import mmap
import os
import re
import stat
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.signals import setting_changed
from django.dispatch import receiver

from identity.ratelimit import address_bucket

from . import replica_file, snapshot
from .lookup import ALIAS, Query, decode_entry, entry_items, public_publications

logger = logging.getLogger(__name__)

_NAMESPACE = re.compile(r"\d+\.[0-9a-z]+")
FILE_SUFFIX = ".replica"


class ReplicaDirectoryError(RuntimeError):
    """RESULTS_REPLICA_DIR is not a directory of this user's alone."""


def own_directory(path: Path) -> Path:
    """`path`, created if need be (mode 0700), once checked to be a directory that only this
    user can write to: it may sit in a shared tmpfs such as /dev/shm, where another user could
    have made it first to feed the lookup results or read its counters."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = os.lstat(path)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.geteuid() or info.st_mode & 0o022:
        raise ReplicaDirectoryError(
            f"{path} must be a directory owned by this user and writable by it alone"
        )
    return path


# --- the counters -------------------------------------------------------------------------------

ADDRESS, CODE = 0, 1
DEPTH = 2
WIDTH_BITS = 20
WIDTH = 1 << WIDTH_BITS
_MASK = WIDTH - 1
HEADER_WORDS = 16  # word 0: magic; words 1 + kind: the window each kind's counts belong to
_MAGIC = 0xBAC0_0002
_REGION = DEPTH * WIDTH

ALLOWED, LIMITED_ADDRESS, LIMITED_CODE = 0, 1, 2


def _bump(words: memoryview, first: int, second: int) -> int:
    """Under the lock: count one more for the key of these two counters; returns its count.
    Conservative update: a counter shared with a busier key is left as it is."""
    count = min(words[first], words[second]) + 1
    if words[first] < count:
        words[first] = count
    if words[second] < count:
        words[second] = count
    return count


class Counters:
    """The lookup's two limits, counted in a file opened by every process of the host."""

    SIZE = (HEADER_WORDS + 2 * _REGION) * 4

    def __init__(self, path: Path, secret: bytes) -> None:
        own_directory(path.parent)
        self.path = path
        # Keyed hashes: nobody can craft codes or addresses that share a victim's counters.
        key = hashlib.blake2b(secret, person=b"bac-limits").digest()[:32]
        # Keyed once: a copy of the keyed state costs less than keying each hash.
        self._keyed = hashlib.blake2b(digest_size=8, key=key)
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        try:
            if os.fstat(self.fd).st_size != self.SIZE:
                os.ftruncate(self.fd, 0)
                os.ftruncate(self.fd, self.SIZE)  # zeroes
            self.map = mmap.mmap(self.fd, self.SIZE, mmap.MAP_SHARED)
            self.words = memoryview(self.map).cast("I")
            if self.words[0] != _MAGIC:  # new, or another layout's: start from zero
                self.map[:] = bytes(self.SIZE)
                self.words[0] = _MAGIC
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def close(self) -> None:
        self.words.release()
        self.map.close()
        os.close(self.fd)

    def _slots(self, kind: int, key: str) -> tuple[int, int]:
        hashed = self._keyed.copy()
        hashed.update(key.encode())
        bits = int.from_bytes(hashed.digest(), "little")
        base = HEADER_WORDS + kind * _REGION
        return base + (bits & _MASK), base + WIDTH + ((bits >> 32) & _MASK)

    def _turn(self, kind: int, window: int) -> None:
        """Under the lock: start the kind's new window (its counts start from zero)."""
        words = self.words
        if words[1 + kind] != window:
            start = (HEADER_WORDS + kind * _REGION) * 4
            self.map[start : start + _REGION * 4] = bytes(_REGION * 4)
            words[1 + kind] = window

    def attempt(
        self,
        address: str,
        address_window: int,
        address_limit: int,
        code: str,
        code_window: int,
        code_limit: int,
    ) -> tuple[int, int, int]:
        """Count one attempt of `address`, then say whether the address or the code is over its
        limit: (ALLOWED | LIMITED_ADDRESS | LIMITED_CODE, attempts of the address, failures of
        the code so far)."""
        a0, a1 = self._slots(ADDRESS, address)
        c0, c1 = self._slots(CODE, code)
        words = self.words
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        try:
            if words[1 + ADDRESS] != address_window:
                self._turn(ADDRESS, address_window)
            hits = _bump(words, a0, a1)
            if hits > address_limit:
                return LIMITED_ADDRESS, hits, 0
            if words[1 + CODE] != code_window:
                self._turn(CODE, code_window)
            failures = min(words[c0], words[c1])
            if failures >= code_limit:
                return LIMITED_CODE, hits, failures
            return ALLOWED, hits, failures
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def fail(self, code: str, window: int) -> int:
        """Count one failed attempt on `code`; returns its failures in the window."""
        c0, c1 = self._slots(CODE, code)
        words = self.words
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        try:
            if words[1 + CODE] != window:
                self._turn(CODE, window)
            return _bump(words, c0, c1)
        finally:
            fcntl.flock(self.fd, fcntl.LOCK_UN)

    def count(self, kind: int, key: str, window: int) -> int:
        """What the limit sees for `key` in `window` (0 once the window has turned)."""
        s0, s1 = self._slots(kind, key)
        if self.words[1 + kind] != window:
            return 0
        return min(self.words[s0], self.words[s1])


# --- the files ----------------------------------------------------------------------------------


def replica_path(directory: Path, ns: str) -> Path:
    return directory / f"{ns}{FILE_SUFFIX}"


def _rows_of(publication) -> Iterator[tuple[Any, str]]:
    from .models import PublishedResult

    rows = (
        PublishedResult.objects.filter(publication=publication)
        .order_by("pk")
        .only("massar_code", "cnie_number", "birth_date", "payload")
    )
    for row in rows.iterator(chunk_size=5000):
        yield row, row.payload


def write_replica(publication, directory: Path, key: bytes | None = None) -> Path:
    """Write a full publication's replica file (its own rows, not its corrections) and put it in
    place whole; returns its path."""
    key = snapshot.lookup_key() if key is None else key
    own_directory(directory)
    final = replica_path(directory, snapshot.namespace_of(publication))
    partial = final.with_name(f".{final.name}.{os.getpid()}.{threading.get_ident()}")
    items = (
        item for row, payload in _rows_of(publication) for item in entry_items(key, row, payload)
    )
    try:
        replica_file.write(partial, items)
        os.chmod(partial, 0o600)
        os.replace(partial, final)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return final


def build_missing(namespaces: Iterable[str], directory: Path) -> list[Path]:
    """Write the replica files of `namespaces` that this host lacks, one process at a time (a
    lock file per namespace); returns the files written."""
    from .models import Publication

    namespace_of, publication_id_of = snapshot.namespace_of, snapshot.publication_id_of

    written: list[Path] = []
    own_directory(directory)
    for ns in namespaces:
        if not _NAMESPACE.fullmatch(ns) or replica_path(directory, ns).exists():
            continue
        lock = os.open(directory / f".{ns}.lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as exc:
                if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN):
                    continue  # another process of the host is writing it
                raise
            if replica_path(directory, ns).exists():
                continue
            publication = Publication.objects.filter(pk=publication_id_of(ns)).first()
            if publication is None or namespace_of(publication) != ns:
                continue
            started = time.perf_counter()
            written.append(write_replica(publication, directory))
            logger.info(
                "results replica of %s written in %.1f s", ns, time.perf_counter() - started
            )
        finally:
            os.close(lock)  # releases the lock
    return written


def remove_stale(directory: Path, keep: set[str]) -> list[str]:
    """Delete the replica files of publications no longer live; returns their namespaces."""
    removed = []
    if not directory.is_dir():
        return removed
    for path in directory.glob(f"*{FILE_SUFFIX}"):
        ns = path.name[: -len(FILE_SUFFIX)]
        if _NAMESPACE.fullmatch(ns) and ns not in keep:
            path.unlink(missing_ok=True)
            removed.append(ns)
    # The writers' lock files (build_missing), one per publication ever written.
    for path in directory.glob(".*.lock"):
        ns = path.name[1 : -len(".lock")]
        if _NAMESPACE.fullmatch(ns) and ns not in keep:
            path.unlink(missing_ok=True)
    # Files a process died writing (a writer renames its file within a minute or so).
    for path in directory.glob(f".*{FILE_SUFFIX}.*"):
        try:
            if time.time() - path.stat().st_mtime > 3600:
                path.unlink(missing_ok=True)
        except FileNotFoundError:
            pass
    return removed


# --- the lookup ---------------------------------------------------------------------------------

_MISSING = object()
BUILD_RETRY_SECONDS = 60


class Replica:
    """One process's view of the host's replica (a process after fork makes its own)."""

    def __init__(self, directory: Path, refresh_seconds: float, auto_build: bool) -> None:
        self.directory = directory
        self.refresh_seconds = refresh_seconds
        self.auto_build = auto_build
        self.counters = Counters(directory / "lookup-limits.v2", snapshot.lookup_key())
        self._lock = threading.RLock()
        self._pointer: dict[str, Any] = {"e": []}
        self._pointer_until = 0.0  # monotonic
        self._corrections_seen: tuple | None = None
        self._overlay: dict[str, dict[str, str]] = {}
        self._files: dict[str, replica_file.ReplicaFile | None] = {}
        self._building: threading.Thread | None = None
        self._build_again_at = 0.0

    def close(self) -> None:
        self.counters.close()
        for opened in self._files.values():
            if opened is not None:
                opened.close()
        self._files = {}

    # pointer and corrections
    def pointer(self) -> dict[str, Any]:
        if time.monotonic() >= self._pointer_until:
            with self._lock:
                if time.monotonic() >= self._pointer_until:
                    self.refresh()
        return self._pointer

    def refresh(self) -> None:
        """Re-read the live pointer and the corrections of its publications (and start writing
        the files this host lacks)."""
        now = snapshot.clock()
        try:
            pointer = snapshot.get_store().get_pointer(
                snapshot.LIVE_POINTER
            ) or snapshot.refresh_pointers(None, now)
        except snapshot._CACHE_DOWN:
            pointer = snapshot.live_pointer_from_database(now)
        namespaces = [row[0] for row in pointer.get("e", ())]
        self._refresh_corrections(pointer)
        if pointer != self._pointer:
            remove_stale(self.directory, set(namespaces))
            # Closed once no reader holds them any more (ReplicaFile.__del__).
            self._files = {ns: f for ns, f in self._files.items() if ns in namespaces}
        self._forget_files()
        self._pointer = pointer
        self._pointer_until = time.monotonic() + self.refresh_seconds
        missing = [ns for ns in namespaces if self.file(ns) is None]
        if missing and self.auto_build:
            self._build_in_background(missing)

    def _refresh_corrections(self, pointer: dict[str, Any]) -> None:
        """Re-read the corrections of the live publications when the pointer says they changed
        (the pointer carries their state: no query otherwise)."""
        signature = (tuple(row[0] for row in pointer.get("e", ())), pointer.get("c") or {})
        if signature == self._corrections_seen:
            return
        overlay: dict[str, dict[str, str]] = {}
        for ns in signature[1]:
            rows = snapshot.corrections_of(snapshot.publication_id_of(ns))
            items = snapshot.items_for((row, row.payload) for row in rows)
            if items:
                overlay[ns] = dict(items)
        self._overlay = overlay
        self._corrections_seen = signature

    def _build_in_background(self, namespaces: list[str]) -> None:
        if self._building is not None and self._building.is_alive():
            return
        if time.monotonic() < self._build_again_at:
            return  # the last attempt failed: not again at once (it reads every row)

        def build() -> None:
            from django.db import connections

            try:
                build_missing(namespaces, self.directory)
            except Exception:
                logger.exception("results replica: writing %s failed", namespaces)
                self._build_again_at = time.monotonic() + BUILD_RETRY_SECONDS
            finally:
                connections.close_all()
                self._forget_files()

        self._building = threading.Thread(target=build, name="results-replica", daemon=True)
        self._building.start()

    # entries
    def file(self, ns: str) -> replica_file.ReplicaFile | None:
        """The publication's file, opened (None while this host has none)."""
        try:
            return self._files[ns]
        except KeyError:
            pass
        with self._lock:
            if ns not in self._files:
                path = replica_path(self.directory, ns)
                try:
                    self._files[ns] = replica_file.ReplicaFile(path)
                except FileNotFoundError:
                    self._files[ns] = None
                except replica_file.ReplicaFileError:
                    logger.exception("results replica: %s is unreadable; rewriting it", path)
                    path.unlink(missing_ok=True)
                    self._files[ns] = None
            return self._files[ns]

    def _forget_files(self) -> None:
        """Look again for the files not found before (one may have been written since); the open
        ones stay open (a removed file stays readable while open)."""
        self._files = {ns: opened for ns, opened in self._files.items() if opened is not None}

    def entry(self, ns: str, digest: str) -> Any:
        """The entry stored under `digest` in a publication (None if there is none), or
        _MISSING when this host has no file for it yet."""
        overlay = self._overlay.get(ns)
        if overlay is not None and digest in overlay:
            value = overlay[digest]
        else:
            opened = self.file(ns)
            if opened is None:
                return _MISSING
            value = opened.get(digest)
        if value is not None and value.startswith(ALIAS):
            return self.entry(ns, value[1:])
        return value

    def lookup(self, query: Query, digest: str, address: str, now: float) -> snapshot.Outcome:
        by_address, by_code = snapshot.address_limit(), snapshot.code_limit()
        address_window, address_left = by_address._window(now)
        code_window, code_left = by_code._window(now)
        state, _hits, _failures = self.counters.attempt(
            address if ":" not in address else address_bucket(address),
            address_window,
            by_address.limit,
            query.subject,
            code_window,
            by_code.limit,
        )
        if state == LIMITED_ADDRESS:
            return snapshot.Outcome(snapshot.LIMITED, retry_after=max(1, address_left))
        if state == LIMITED_CODE:
            return snapshot.Outcome(snapshot.LIMITED, retry_after=max(1, code_left))
        pointer = self.pointer()
        namespaces = public_publications(pointer, now)
        if not namespaces:
            return snapshot.Outcome(snapshot.NOT_PUBLISHED)
        cold = []
        for ns in namespaces:
            value = self.entry(ns, digest)
            if value is _MISSING:  # no file yet: the shared cache has it
                try:
                    values, ready = snapshot.get_store().fetch([ns], digest)
                except snapshot._CACHE_DOWN:
                    values, ready = [None], [False]  # nor the cache: the database has it
                value = values[0]
                if not value and not ready[0]:
                    cold.append(ns)
            if value:
                return snapshot.Outcome(
                    snapshot.FOUND, decode_entry(value), ns, snapshot._publish_at(pointer, ns)
                )
        for ns in cold:
            payload = snapshot._payload_from_database(snapshot.publication_id_of(ns), query)
            if payload is not None:
                return snapshot.Outcome(
                    snapshot.FOUND, decode_entry(payload), ns, snapshot._publish_at(pointer, ns)
                )
        if not cold:
            self.counters.fail(query.subject, code_window)
        return snapshot.Outcome(snapshot.NOT_FOUND)


_REPLICA: list[Replica] = []


@receiver(setting_changed)
def _forget(**kwargs) -> None:
    while _REPLICA:
        _REPLICA.pop().close()


def current() -> Replica | None:
    """This process's replica, or None when lookups go through the shared cache."""
    if _REPLICA:
        return _REPLICA[0]
    if not settings.RESULTS_LOOKUP_REPLICA:
        return None
    try:
        replica = Replica(
            Path(settings.RESULTS_REPLICA_DIR),
            settings.RESULTS_REPLICA_REFRESH_MS / 1000,
            settings.RESULTS_REPLICA_AUTO_BUILD,
        )
    except (OSError, ReplicaDirectoryError):
        # Lookups go on through the shared cache: slower, never down for this.
        now = time.monotonic()
        if now >= _UNAVAILABLE_LOGGED[0]:
            logger.exception("results replica unavailable: lookups use the shared cache")
            _UNAVAILABLE_LOGGED[0] = now + 60
        return None
    _REPLICA.append(replica)
    return replica


_UNAVAILABLE_LOGGED = [0.0]


# A forked child (a gunicorn worker) makes its own: its own file descriptors, locks and thread.
os.register_at_fork(after_in_child=_REPLICA.clear)
