"""The request id of the work in progress (a web request, or the Celery task it queued).

It travels in the X-Request-ID header (nginx sets one if the client did not), is written into
every log line and is carried into the Celery tasks a request queues (ops.celery).
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

request_id: ContextVar[str] = ContextVar("request_id", default="")

# What we accept from outside: short, printable, no separators (it ends up in logs and headers).
_ACCEPTABLE = re.compile(r"[A-Za-z0-9._:-]{8,128}")


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(raw: str | None) -> str:
    """The incoming id if it looks sane, else a fresh one."""
    if raw and _ACCEPTABLE.fullmatch(raw):
        return raw
    return new_request_id()
