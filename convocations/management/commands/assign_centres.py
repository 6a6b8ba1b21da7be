"""Seat the session's candidates without a centre in exam centres and rooms of 20."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from convocations.planning import ROOM_SIZE, assign_centres
from exams.models import ExamSession


class Command(BaseCommand):
    help = (
        "Assign each candidate of a session who has no exam centre to a centre of their "
        "school's directorate, in rooms of 20 (audited)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--session", required=True, help="the session code, e.g. 2026-N")
        parser.add_argument("--room-size", type=int, default=ROOM_SIZE)

    def handle(self, *args, **options):
        session = ExamSession.objects.filter(code=options["session"]).first()
        if session is None:
            raise CommandError(f"No session with code {options['session']!r}.")
        if options["room_size"] < 1:
            raise CommandError("--room-size must be at least 1.")
        seating = assign_centres(session, room_size=options["room_size"])
        self.stdout.write(
            self.style.SUCCESS(
                f"Session {session.code}: {seating.assigned} candidates seated in "
                f"{seating.rooms} rooms of {seating.centres} centres."
            )
        )
        if seating.over_capacity:
            self.stdout.write(
                self.style.WARNING(
                    f"{seating.over_capacity} candidates are beyond their centre's capacity: "
                    "add centres to their directorate."
                )
            )
        if seating.without_centre:
            self.stdout.write(
                self.style.WARNING(
                    f"{seating.without_centre} candidates left without a centre: their "
                    "directorate has no exam centre."
                )
            )
