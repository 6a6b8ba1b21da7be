"""Compute the results of a session now, in this process (the staff page queues it instead).

manage.py compute_results --session CODE [--sitting normal|catch_up] [--academy CODE]
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from bac.progress import ProgressBar
from exams.models import Academy, ExamSession
from results.models import Sitting
from results.services import NoReference, compute_session


class Command(BaseCommand):
    help = "Compute a session's results (all candidates, or one academy as a preview)."

    def add_arguments(self, parser):
        parser.add_argument("--session", required=True, help="the session code, e.g. 2026-N")
        parser.add_argument("--sitting", choices=Sitting.values, default=Sitting.NORMAL)
        parser.add_argument("--academy", help="compute one academy only (a preview)")
        parser.add_argument("--progress", action="store_true", help="always draw the progress bar")

    def handle(self, *args, **options):
        session = ExamSession.objects.filter(code=options["session"]).first()
        if session is None:
            raise CommandError(
                _("There is no session with the code %(code)s.") % {"code": options["session"]}
            )
        academy = None
        if options["academy"]:
            academy = Academy.objects.filter(code=options["academy"]).first()
            if academy is None:
                raise CommandError(
                    _("There is no academy with the code %(code)s.") % {"code": options["academy"]}
                )
        bar = ProgressBar(
            1,
            _("Computing"),
            stream=self.stderr._out,
            enabled=True if options["progress"] else None,
        )

        def progress(done: int, total: int) -> None:
            bar.total = max(total, 1)
            bar.update(done)

        try:
            computation = compute_session(
                session, sitting=options["sitting"], academy=academy, progress=progress
            )
        except NoReference:
            raise CommandError(
                _("The catch-up sitting needs a finished computation of the normal sitting.")
            ) from None
        bar.finish()
        totals = computation.statistics["overall"]["totals"]
        self.stdout.write(
            self.style.SUCCESS(
                _(
                    "Computation %(number)s: %(processed)s candidates, %(admitted)s admitted, "
                    "%(catch_up)s eligible for the catch-up, %(failed)s not admitted, "
                    "%(incomplete)s incomplete."
                )
                % {"number": computation.pk, "processed": computation.processed, **totals}
            )
        )
