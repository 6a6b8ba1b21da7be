"""Create the session's exam timetable (every track's national and regional subjects)."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from convocations.planning import PlanningError, seed_timetable
from exams.models import ExamSession


class Command(BaseCommand):
    help = (
        "Replace the exam timetable of a session: one sitting for every national and "
        "regional subject of every track, within the session's exam window."
    )

    def add_arguments(self, parser):
        parser.add_argument("--session", required=True, help="the session code, e.g. 2026-N")

    def handle(self, *args, **options):
        session = ExamSession.objects.filter(code=options["session"]).first()
        if session is None:
            raise CommandError(f"No session with code {options['session']!r}.")
        try:
            count = seed_timetable(session)
        except PlanningError as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            self.style.SUCCESS(f"Session {session.code}: {count} exam slots in the timetable.")
        )
