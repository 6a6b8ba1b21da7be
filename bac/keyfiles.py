"""Key files generated on first start and the objects loaded from them.

Several processes start at once (gunicorn workers, Celery): a key is written aside and linked
into place, so that nobody reads half a file and the first writer wins; what is loaded from a
folder of keys is kept per process and loaded again when the files change (a rotation done by
another process), which costs a few stat calls per use.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


def write_new(path: Path, content: bytes, replace: bool = False) -> bool:
    """Write `content` to `path` owner-only and atomically; without `replace`, only if `path`
    does not exist yet (False if another process won the race)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    try:
        if replace:
            os.replace(temporary, path)
            return True
        os.link(temporary, path)  # fails if the file exists: first writer wins
        return True
    except FileExistsError:
        return False
    finally:
        if temporary.exists():
            temporary.unlink()


def mtime_ns(path: Path) -> int:
    """When `path` last changed (0 if it does not exist)."""
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return 0


class StampedCache(Generic[T]):
    """`load(folder)` kept per folder until `stamp(folder)` changes."""

    def __init__(self, load: Callable[[Path], T], stamp: Callable[[Path], tuple]) -> None:
        self._load = load
        self._stamp = stamp
        self._items: dict[str, tuple[tuple, T]] = {}
        self._lock = threading.Lock()

    def get(self, folder: Path) -> T:
        cached = self._items.get(str(folder))
        if cached is not None and cached[0] == self._stamp(folder):
            return cached[1]
        with self._lock:
            value = self._load(folder)
            self._items[str(folder)] = (self._stamp(folder), value)
            return value

    def forget(self, folder: Path) -> None:
        self._items.pop(str(folder), None)

    def clear(self) -> None:
        self._items.clear()
