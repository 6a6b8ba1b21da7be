"""Re-check every file of a session against its identity sources and store the findings.

    manage.py recheck_session [--session CODE] [--chunk-size N] [--progress]

Without --session, the current session. Only results that changed are written, so a second
run right after the first writes nothing.
"""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError

from bac.progress import ProgressBar
from exams.models import ExamSession
from verification.models import GradeChoices
from verification.services import recheck_session


class Command(BaseCommand):
    help = "Re-check a session's files against their identity sources (CNIE, MRZ, provider)."

    def add_arguments(self, parser):
        parser.add_argument("--session", help="the session's code (default: the current one)")
        parser.add_argument("--chunk-size", type=int, default=None)
        parser.add_argument("--progress", action="store_true", help="always draw the progress bar")

    def handle(self, *args, **options):
        code = options["session"]
        try:
            session = (
                ExamSession.objects.get(code=code)
                if code
                else ExamSession.objects.get(is_current=True)
            )
        except ExamSession.DoesNotExist:
            raise CommandError(
                f"No session with code {code!r}." if code else "No current session."
            ) from None
        bar = ProgressBar(
            session.candidates.count(),
            "Re-checking",
            stream=self.stderr._out,
            enabled=True if options["progress"] else None,
        )
        started = time.perf_counter()
        run = recheck_session(
            session,
            chunk_size=options["chunk_size"],
            progress=lambda done, _total: bar.update(done),
        )
        bar.finish()
        seconds = time.perf_counter() - started
        rate = run.files / seconds if seconds > 0 else 0.0
        self.stdout.write(
            self.style.SUCCESS(
                f"Session {session.code}: {run.files} files re-checked in {seconds:.1f} s "
                f"({rate:,.0f} files/s); {run.created} new results, {run.changed} changed."
            )
        )
        for grade in GradeChoices:
            self.stdout.write(f"  {grade.label}: {run.by_grade.get(str(grade.value), 0)}")
