"""Periodic tasks of the operations layer (Celery beat: settings.CELERY_BEAT_SCHEDULE)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="ops.flush_outbox", ignore_result=True)
def flush_outbox_task() -> int:
    from .celery import flush_outbox

    return flush_outbox()


@shared_task(name="ops.notify_due_publications", ignore_result=True)
def notify_due_publications_task() -> list[int]:
    """Push the notifications of publications whose moment has come, even if the Celery eta
    queued at preparation was lost (a broker restart without persistence, an outbox delay)."""
    from results.publication import notify_due_publications

    return notify_due_publications()


@shared_task(name="ops.ping", ignore_result=True)
def ping_task(marker: str) -> str:
    """Leaves a mark in the cache: the fault tests check that a task ran (and how often)."""
    from django.core.cache import cache

    key = f"ops:ping:{marker}"
    cache.add(key, 0, 3600)
    cache.incr(key)
    return marker


@shared_task(name="ops.clear_expired_sessions", ignore_result=True)
def clear_expired_sessions_task() -> None:
    """Sessions live in the database in production (they survive a Redis outage): drop the
    expired ones, as `manage.py clearsessions` would."""
    from importlib import import_module

    from django.conf import settings

    import_module(settings.SESSION_ENGINE).SessionStore.clear_expired()
