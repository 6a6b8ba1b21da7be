"""Re-check the scholarship applications of a session against its public results.

Runs on its own from the results signals; this command repeats it (idempotent), e.g. after a
failure was logged on results day.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from exams.models import ExamSession
from scholarships import services


class Command(BaseCommand):
    help = "Re-check scholarship applications against the public results (idempotent)."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--session", help="session code (default: the current session)")

    def handle(self, *args, **options) -> None:
        code = options.get("session")
        session = ExamSession.objects.filter(code=code).first() if code else ExamSession.current()
        if session is None:
            raise CommandError("No such session.")
        changed = services.recheck_session(session)
        self.stdout.write(f"{changed} application(s) changed.")
