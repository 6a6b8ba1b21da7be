"""Export a publication as static signed files (see results.export)."""

from __future__ import annotations

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from results.export import export_publication
from results.models import Publication


class Command(BaseCommand):
    help = "Write one signed document per candidate of a publication, and the page that finds it."

    def add_arguments(self, parser) -> None:
        parser.add_argument("publication_id", type=int)
        parser.add_argument("directory", type=Path)

    def handle(self, *args, **options) -> None:
        publication = Publication.objects.filter(pk=options["publication_id"]).first()
        if publication is None:
            raise CommandError(f"no publication {options['publication_id']}")
        try:
            summary = export_publication(publication, options["directory"])
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        self.stdout.write(
            self.style.SUCCESS(
                f"{summary.count} documents written to {summary.directory}. Put r/ on the "
                "server first; index.html, ar.html, en.html, lookup.js and export.json reveal the "
                "export key: publish them at the moment."
            )
        )
