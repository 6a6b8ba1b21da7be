"""The request id of the work in progress (a web request, or the Celery task it queued).

It travels in the X-Request-ID header (nginx sets one if the client did not), is written into
every log line and is carried into the Celery tasks a request queues (ops.celery).
"""

from __future__ import annotations

import itertools
import os
import re
import uuid
from contextvars import ContextVar

request_id: ContextVar[str] = ContextVar("request_id", default="")

# What we accept from outside: short, printable, no separators (it ends up in logs and headers).
_ACCEPTABLE = re.compile(r"[A-Za-z0-9._:-]{8,128}")


class _RequestIds:
    """Ids unique without a system call each: a random prefix per process (drawn again in a
    forked child, so gunicorn's workers never share one) and a counter."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.prefix = uuid.uuid4().hex[:20]
        self.counter = itertools.count(1)

    def next(self) -> str:
        return f"{self.prefix}{next(self.counter):012x}"


_ids = _RequestIds()
os.register_at_fork(after_in_child=_ids.reset)


def new_request_id() -> str:
    """32 hex digits, as uuid4().hex was (log search and nginx's $request_id look alike)."""
    return _ids.next()


def accept_request_id(raw: str | None) -> str:
    """The incoming id if it looks sane, else a fresh one."""
    if raw and _ACCEPTABLE.fullmatch(raw):
        return raw
    return new_request_id()
