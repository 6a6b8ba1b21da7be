"""Reads from PostgreSQL read replicas (DATABASE_REPLICA_URLS), writes to the primary.

Enabled by settings when DATABASE_REPLICA_URLS lists at least one replica (each becomes a
database alias "replica_N" and this router goes into DATABASE_ROUTERS). A replica lags a little
behind the primary, so:

* inside a transaction (a request that writes, a task), reads go to the primary: what was just
  written is read back;
* a request that has written anything reads from the primary for the rest of it (pinning, per
  thread: `pin_primary()`, reset per request by ops.middleware.ReplicaPinMiddleware);
* migrations run on the primary only.
"""

from __future__ import annotations

import random
import threading

from django.conf import settings
from django.db import connections

_state = threading.local()


def pin_primary() -> None:
    _state.pinned = True


def unpin() -> None:
    _state.pinned = False


def replica_aliases() -> list[str]:
    return [alias for alias in settings.DATABASES if alias.startswith("replica_")]


class ReplicaRouter:
    def db_for_read(self, model, **hints):
        if getattr(_state, "pinned", False) or connections["default"].in_atomic_block:
            return "default"
        replicas = replica_aliases()
        return random.choice(replicas) if replicas else "default"  # noqa: S311

    def db_for_write(self, model, **hints):
        pin_primary()
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        # Replicas hold the same rows as the primary: objects from either may be related.
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == "default"


class ReplicaPinMiddleware:
    """Each request starts reading from replicas again."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        unpin()
        if request.method not in ("GET", "HEAD", "OPTIONS"):
            pin_primary()  # a form post reads what it is about to change from the primary
        try:
            return self.get_response(request)
        finally:
            unpin()
