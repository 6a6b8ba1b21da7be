"""Housekeeping of the notification outbox, for cron or after an incident.

- Rows claimed long ago and still "sending" lost their worker: they are marked failed
  (delivery unknown), never sent again.
- With --requeue, rows still queued whose task may have been lost (a broker restart) get new
  tasks. Only run it when the queue is known to be lost: during a long backlog, queued rows
  are simply waiting for their turn.
"""

from __future__ import annotations

from datetime import timedelta

from django.core.management.base import BaseCommand

from notifications import services


class Command(BaseCommand):
    help = "Fail notifications interrupted while sending; optionally re-queue lost ones."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--older-than",
            type=int,
            default=None,
            help="seconds (default: NOTIFICATIONS_STALE_CLAIM_SECONDS)",
        )
        parser.add_argument(
            "--requeue", action="store_true", help="queue tasks again for rows still queued"
        )

    def handle(self, *args, older_than: int | None, requeue: bool, **options) -> None:
        age = timedelta(seconds=older_than) if older_than is not None else None
        failed = services.fail_interrupted(age)
        self.stdout.write(f"{failed} interrupted notification(s) marked failed")
        if requeue:
            queued = services.dispatch_due(age)
            self.stdout.write(f"{queued} queued notification(s) dispatched again")
