"""Seed the production demo once: a small session, its results computed and published now, and
the static export written (what `make prod` serves).

    manage.py prod_demo --candidates 2000 --export DIR

Does nothing to a database that already has a current session (idempotent), except writing the
export if DIR is empty.
"""

from __future__ import annotations

from pathlib import Path

from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.utils import timezone

from exams.models import ExamSession
from results.export import export_publication
from results.models import Computation, Publication
from results.publication import prepare_publication, schedule_publication


class Command(BaseCommand):
    help = "Seed, compute, publish and export a small demo session (once)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--candidates", type=int, default=2000)
        parser.add_argument("--export", type=Path, required=True)

    def handle(self, *args, candidates: int, export: Path, **options) -> None:
        session = ExamSession.objects.filter(is_current=True).first()
        if session is None:
            call_command("seed", demo_data=True, candidates=candidates, stdout=self.stdout)
            session = ExamSession.objects.get(is_current=True)
        publication = (
            Publication.objects.filter(session=session, kind=Publication.Kind.FULL)
            .exclude(status__in=[Publication.Status.FAILED, Publication.Status.WITHDRAWN])
            .order_by("-version")
            .first()
        )
        if publication is None:
            computation = (
                Computation.objects.filter(session=session, status=Computation.Status.DONE)
                .order_by("-pk")
                .first()
            )
            if computation is None:
                call_command("compute_results", session=session.code, stdout=self.stdout)
                computation = Computation.objects.filter(session=session).latest("pk")
            publication = schedule_publication(computation, timezone.now(), None, "demo")
        # Prepared here, not by a worker: `make prod` serves it as soon as it answers.
        publication = prepare_publication(publication.pk)
        self.stdout.write(f"publication v{publication.version}: {publication.count} results")
        if not (export.exists() and any(export.iterdir())):
            summary = export_publication(publication, export)
            self.stdout.write(f"static export: {summary.count} documents in {export}")
