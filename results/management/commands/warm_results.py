"""Refill the results cache from the published snapshots (after a Redis restart, a flush or a
change of RESULTS_LOOKUP_KEY), then rewrite the pointers."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from results import snapshot
from results.models import Publication


class Command(BaseCommand):
    help = "Rebuild the cache of published results from the database snapshots."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--session", type=int, help="only this session (id)")

    def handle(self, *args, **options) -> None:
        sessions = Publication.objects.filter(
            kind=Publication.Kind.FULL, status=Publication.Status.READY
        )
        if options["session"]:
            sessions = sessions.filter(session_id=options["session"])
        session_ids = sorted(set(sessions.values_list("session_id", flat=True)))
        for session_id in session_ids:
            live = {p.namespace for p in snapshot.live_publications(session_id)}
            for publication in Publication.objects.filter(
                session_id=session_id, kind=Publication.Kind.FULL, status=Publication.Status.READY
            ).select_related("session"):
                if snapshot.namespace_of(publication) not in live:
                    continue
                started = time.monotonic()
                count = snapshot.warm_publication(publication)
                self.stdout.write(
                    f"publication {publication.pk} (v{publication.version}, "
                    f"{publication.sitting}): {count} results in "
                    f"{time.monotonic() - started:.1f} s"
                )
            snapshot.refresh_pointers(session_id)
        snapshot.refresh_pointers(None)
        self.stdout.write(self.style.SUCCESS(f"{len(session_ids)} session(s) warmed."))
