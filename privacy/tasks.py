"""Scheduled through Celery beat (CELERY_BEAT_SCHEDULE in bac/settings.py)."""

from __future__ import annotations

from celery import shared_task


@shared_task(name="privacy.purge_expired")
def purge_expired() -> dict[str, int]:
    """Purge what has passed its retention period; returns the count per data kind."""
    from .services import purge_expired as run

    return {line.kind: line.count for line in run()}
