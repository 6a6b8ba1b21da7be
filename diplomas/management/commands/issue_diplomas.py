"""Issue the diplomas of a session now, in this process (the staff page queues it instead).

manage.py issue_diplomas --session CODE [--academy CODE] [--progress]
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from bac.progress import ProgressBar
from diplomas.services import issue_for_session
from exams.models import Academy, ExamSession


class Command(BaseCommand):
    help = (
        "Issue a diploma to every admitted candidate of the session with a CNIE number who holds "
        "none (idempotent); those without a CNIE are told and listed for their school."
    )

    def add_arguments(self, parser):
        parser.add_argument("--session", required=True, help="the session code, e.g. 2026-N")
        parser.add_argument("--academy", help="one academy only")
        parser.add_argument("--progress", action="store_true", help="always draw the progress bar")

    def handle(self, *args, **options):
        session = ExamSession.objects.filter(code=options["session"]).first()
        if session is None:
            raise CommandError(f"There is no session with the code {options['session']}.")
        academy_id = None
        if options["academy"]:
            academy = Academy.objects.filter(code=options["academy"]).first()
            if academy is None:
                raise CommandError(f"There is no academy with the code {options['academy']}.")
            academy_id = academy.pk
        bar = ProgressBar(
            1, "Diplomas", stream=self.stderr._out, enabled=True if options["progress"] else None
        )

        def progress(done: int, total: int) -> None:
            bar.total = max(total, 1)
            bar.update(done)

        report = issue_for_session(session, progress=progress, academy_id=academy_id)
        bar.finish()
        self.stdout.write(
            f"{report.issued} issued, {report.already} already held, "
            f"{report.refused_no_cnie} refused (no CNIE) of {report.total} admitted."
        )
