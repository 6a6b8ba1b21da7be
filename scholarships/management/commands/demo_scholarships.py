"""Open the scholarship programme of the current session for the demo (idempotent).

Creates the programme with its first version (2025 rules) and its window open; when the
programme exists with a closed or upcoming window, saves a new version that opens it. The demo
staff accounts "ministry" (nation) and "aref" (their academy) sit on the commission.
"""

from __future__ import annotations

import datetime

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from exams.models import ExamSession
from identity.models import Role, User
from scholarships import services
from scholarships.models import CommissionMember


class Command(BaseCommand):
    help = "Create the current session's scholarship programme with its window open (idempotent)."

    def handle(self, *args, **options) -> None:
        session = ExamSession.current()
        if session is None:
            raise CommandError("No current exam session: run the seed first.")
        now = timezone.now()
        programme = services.create_programme(session, None)
        version = programme.current_version()
        if not services.window_of(version, now).is_open:
            values = services.version_values(version)
            values["opens_at"] = min(version.opens_at, now - datetime.timedelta(hours=1))
            values["closes_at"] = max(version.closes_at, now + datetime.timedelta(days=30))
            version = services.save_version(programme, None, values, "demo: window opened")
        members = 0
        for username, role in (("ministry", Role.MINISTRY), ("aref", Role.ACADEMY)):
            user = User.objects.filter(username=username, role=role).first()
            if user is None:
                continue
            CommissionMember.objects.update_or_create(
                user=user,
                defaults={
                    "academy_id": user.academy_id if role == Role.ACADEMY else None,
                    "is_active": True,
                },
            )
            members += 1
        self.stdout.write(
            f"Scholarship programme of {session.code}: version {version.number}, "
            f"open until {timezone.localtime(version.closes_at):%Y-%m-%d %H:%M}; "
            f"{members} commission member(s)."
        )
