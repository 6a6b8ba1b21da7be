"""Write this host's replica of the live publications (results.replica), for example on each
application host once a publication is prepared and before its moment. Web processes write a
missing file themselves; this command lets a deployment have it ready ahead, and says how long
it took."""

from __future__ import annotations

import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from results import replica, snapshot


class Command(BaseCommand):
    help = "Write this host's replica files of the live publications (RESULTS_REPLICA_DIR)."

    def handle(self, *args, **options) -> None:
        directory = Path(settings.RESULTS_REPLICA_DIR)
        pointer = snapshot.refresh_pointers(None)
        namespaces = [row[0] for row in pointer.get("e", ())]
        removed = replica.remove_stale(directory, set(namespaces))
        for ns in removed:
            self.stdout.write(f"removed the replica of {ns} (no longer live)")
        started = time.monotonic()
        written = replica.build_missing(namespaces, directory)
        for path in written:
            self.stdout.write(f"wrote {path} ({path.stat().st_size / 1e6:.1f} MB)")
        self.stdout.write(
            self.style.SUCCESS(
                f"{len(written)} replica file(s) written in {time.monotonic() - started:.1f} s; "
                f"{len(namespaces) - len(written)} already in place or being written."
            )
        )
