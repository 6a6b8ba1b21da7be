"""Readiness checks of the dependencies: the database, the cache and the broker.

Each check is bounded by a short timeout, so /readyz answers quickly when something is down
(a load balancer then takes this node out of rotation until it answers 200 again).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.db import connections

CHECK_TIMEOUT_SECONDS = 2.0


def check_database() -> None:
    for alias in connections:
        with connections[alias].cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()


def check_cache() -> None:
    from django.core.cache import cache

    key = "ops:readyz"
    token = str(time.time())
    cache.set(key, token, 30)
    if cache.get(key) != token:
        raise RuntimeError("the cache did not return what was just written")


def _broker_connection():
    from bac.celery import app

    return app.connection_for_write()


def check_broker() -> None:
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return  # no broker: tasks run in-process
    with _broker_connection() as connection:
        connection.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT_SECONDS)


CHECKS: dict[str, Callable[[], None]] = {
    "database": check_database,
    "cache": check_cache,
    "broker": check_broker,
}


def readiness() -> tuple[bool, dict[str, dict]]:
    """Run every check; returns (all ok, {name: {"ok": bool, "ms": float, "error": class}}).

    Only the exception's class is reported: messages can hold host names and credentials."""
    results: dict[str, dict] = {}
    for name, check in CHECKS.items():
        started = time.perf_counter()
        try:
            check()
        except Exception as exc:
            results[name] = {"ok": False, "error": type(exc).__name__}
        else:
            results[name] = {"ok": True}
        results[name]["ms"] = round((time.perf_counter() - started) * 1000, 1)
    return all(r["ok"] for r in results.values()), results


def queue_lengths() -> dict[str, int]:
    """Messages waiting in each Celery queue we know of (RabbitMQ or Redis broker)."""
    if settings.CELERY_TASK_ALWAYS_EAGER:
        return {}
    from bac.celery import app

    queues = {app.conf.task_default_queue or "celery"}
    if getattr(settings, "NOTIFICATIONS_QUEUE", ""):
        queues.add(settings.NOTIFICATIONS_QUEUE)
    lengths: dict[str, int] = {}
    with _broker_connection() as connection:
        connection.ensure_connection(max_retries=1, timeout=CHECK_TIMEOUT_SECONDS)
        channel = connection.default_channel
        for queue in sorted(queues):
            try:
                _name, count, _consumers = channel.queue_declare(queue=queue, passive=True)
            except Exception:  # not declared yet: nobody has consumed or published there
                count = 0
                channel = connection.channel()
            lengths[queue] = count
    return lengths
