"""Diplomas to try in the demo: every admitted candidate of the current session gets one.

Idempotent. It needs public results: if the current session has none yet, it computes them and
publishes them now with the results services (compute_session, schedule_publication), as a
results day would; then it runs the bulk issuance (which issues nothing twice).
"""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from diplomas import services
from exams.models import ExamSession
from results.models import Computation, Publication, Sitting
from results.publication import (
    current_publication,
    notify_due_publications,
    prepare_publication,
    schedule_publication,
)
from results.services import compute_session


class Command(BaseCommand):
    help = "Issue the demo diplomas (publishing the current session's results first if needed)."

    def handle(self, *args, **options) -> None:
        session = ExamSession.current()
        if session is None:
            self.stdout.write("No current session: run `manage.py seed --demo-data` first.")
            return
        if current_publication(session, Sitting.NORMAL) is None:
            self._publish(session)
            if current_publication(session, Sitting.NORMAL) is None:
                self.stdout.write("The results could not be published: no diploma issued.")
                return
        report = services.issue_for_session(session)
        self.stdout.write(
            f"Diplomas of {session.code}: {report.issued} issued now, {report.already} already "
            f"held, {report.refused_no_cnie} admitted without a CNIE (told, and listed for "
            "their school)."
        )
        for candidate in session.candidates.filter(user__isnull=False).order_by("pk")[:3]:
            diploma = services.current_diploma(candidate)
            if diploma is not None:
                self.stdout.write(f"  {candidate.massar_code} holds diploma {diploma.number}")
            else:
                row = services.current_result(candidate)
                decision = row.decision if row else "no result"
                self.stdout.write(f"  {candidate.massar_code}: no diploma ({decision})")
        self.stdout.write("Staff pages at /diplomas/staff/; keys at /.well-known/did.json.")

    def _publish(self, session: ExamSession) -> None:
        computation = (
            Computation.objects.filter(
                session=session,
                sitting=Sitting.NORMAL,
                academy__isnull=True,
                status=Computation.Status.DONE,
            )
            .order_by("-pk")
            .first()
        )
        if computation is None:
            self.stdout.write(f"Computing the results of {session.code}...")
            computation = compute_session(session, sitting=Sitting.NORMAL)
        self.stdout.write(f"Publishing the results of {session.code} now (results day)...")
        publication = Publication.objects.filter(
            session=session, sitting=Sitting.NORMAL, status=Publication.Status.PREPARING
        ).first()
        if publication is None:
            with transaction.atomic():
                publication = schedule_publication(
                    computation, timezone.now(), None, "demo: results day"
                )
        # The preparation task runs after the commit; inside an outer transaction (a test, a
        # script) there is none: prepare it here (idempotent).
        prepare_publication(publication.pk)
        notify_due_publications()
