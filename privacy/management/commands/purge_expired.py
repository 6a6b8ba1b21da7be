"""Delete or anonymise the personal data that has passed its retention period."""

from __future__ import annotations

import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils.dateparse import parse_datetime

from privacy.services import purge_expired


class Command(BaseCommand):
    help = "Purge personal data past its retention period (privacy.register), audited."

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="count what would be purged, change nothing"
        )
        parser.add_argument(
            "--now", help="the moment to compute retention from (ISO 8601, default: now)"
        )

    def handle(self, *args, dry_run: bool = False, now: str | None = None, **options) -> None:
        moment = None
        if now:
            moment = parse_datetime(now)
            if moment is None:
                raise CommandError(f"--now: not an ISO 8601 date and time: {now}")
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=datetime.UTC)
        lines = purge_expired(moment, dry_run=dry_run)
        verb = "would purge" if dry_run else "purged"
        for line in lines:
            self.stdout.write(
                f"{line.kind}: {verb} {line.count} (retention {line.retention_days} days, "
                f"older than {line.cutoff.isoformat()})"
            )
        total = sum(line.count for line in lines)
        self.stdout.write(f"total: {verb} {total}")
