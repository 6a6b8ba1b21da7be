"""Complaints to try in the demo: a few in every state, and a second reviewer for four eyes.

Idempotent: it works on the current session once its results are public, and running it
again changes nothing. Without published results it says what is missing and stops.
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.core.management.base import BaseCommand
from django.db.models import Exists, OuterRef
from django.utils import timezone

from candidates.models import Candidate
from complaints import services
from complaints.models import Complaint
from exams.models import Component, ExamSession, SessionWindow, Subject, WindowKind
from identity import totp
from identity.models import Role, User
from results.models import Grade, PublishedResult
from results.publication import current_publication

SCENARIOS = ("filed", "in_review", "rejected", "awaiting_approval", "accepted")


class Command(BaseCommand):
    help = "Create demo complaints in every state on the current session's published results."

    def handle(self, *args, **options) -> None:
        session = ExamSession.current()
        if session is None:
            self.stdout.write("No current session: run `manage.py seed --demo-data` first.")
            return
        base = current_publication(session, services.NORMAL)
        if base is None:
            self.stdout.write(
                f"The session {session.code} has no public results: import grades, compute the "
                "results and publish them (Results and Publications in the staff menu, or "
                "`manage.py seed_grades` and `manage.py compute_results`), then run this again."
            )
            return
        self._window(session)
        first_reviewer, second_reviewer = self._reviewers(session)
        if first_reviewer is None:
            self.stdout.write("No academy staff account: run `manage.py seed --demo-data` first.")
            return
        made = 0
        for scenario, candidate in zip(
            SCENARIOS, self._candidates(base, first_reviewer), strict=False
        ):
            made += self._play(scenario, candidate, first_reviewer, second_reviewer)
        count = Complaint.objects.filter(session=session).count()
        self.stdout.write(
            f"Complaints: {made} created now, {count} in the session. Reviewers of "
            f"{first_reviewer.academy.code}: {first_reviewer.username} and "
            f"{second_reviewer.username} (four eyes); staff pages at /complaints/staff/, the "
            "candidate's page at /complaints/."
        )

    def _window(self, session: ExamSession) -> None:
        if services.complaint_window(session).is_open:
            return
        # The demo's calendar is illustrative (results weeks away) while its results are
        # already public: open the window from the publication moment until a few days from
        # now, so that a candidate can try filing.
        moment = services.publication_moment(session, services.NORMAL)
        now = timezone.now()
        SessionWindow.objects.update_or_create(
            session=session,
            kind=WindowKind.COMPLAINTS,
            defaults={
                "opens_at": min(moment or now, now),
                "closes_at": now + datetime.timedelta(days=services.window_days()),
            },
        )
        self.stdout.write("Opened the complaint window of the demo session (calendar updated).")

    def _reviewers(self, session: ExamSession) -> tuple[User | None, User | None]:
        first = (
            User.objects.filter(role=Role.ACADEMY, academy__isnull=False, is_active=True)
            .select_related("academy")
            .order_by("pk")
            .first()
        )
        if first is None:
            return None, None
        second = (
            User.objects.filter(role=Role.ACADEMY, academy=first.academy, is_active=True)
            .exclude(pk=first.pk)
            .order_by("pk")
            .first()
        )
        if second is None:
            from candidates.management.commands.seed import DEMO_PASSWORD

            second = User(
                username=f"{first.username}-2",
                role=Role.ACADEMY,
                academy=first.academy,
                email=f"{first.username}-2@example.ma",
            )
            second.set_password(DEMO_PASSWORD)
            # Enrolled like the other demo staff, so that `demo_totp` gives its code.
            second.totp_secret_encrypted = totp.encrypt_secret(totp.new_secret())
            second.totp_confirmed = True
            second.save()
            self.stdout.write(
                f"Created the second reviewer {second.username} (password {DEMO_PASSWORD}, "
                f"code from `manage.py demo_totp {second.username}`)."
            )
        return first, second

    def _candidates(self, base, reviewer: User):
        """The first candidates of the reviewer's academy with a public result and a national
        mark, leaving out those who can sign in (they file their own)."""
        published = PublishedResult.objects.filter(publication=base, candidate=OuterRef("pk"))
        graded = Grade.objects.filter(
            candidate=OuterRef("pk"), component=Component.NATIONAL, sitting=services.NORMAL
        )
        return list(
            Candidate.objects.filter(
                session=base.session,
                school__directorate__academy_id=reviewer.academy_id,
                user__isnull=True,
            )
            .filter(Exists(published), Exists(graded))
            .select_related("session", "school__directorate", "track")
            .order_by("pk")[: len(SCENARIOS)]
        )

    def _play(self, scenario: str, candidate: Candidate, first: User, second: User) -> int:
        line = next(iter(services.complaint_subjects(candidate, services.NORMAL)), None)
        if line is None or line.complaint is not None:
            return 0
        subject = Subject.objects.get(pk=line.subject.pk)
        try:
            complaint = services.file_complaint(
                candidate, subject, "wrong_sum", "Demo: please check the sum of exercise 2.", None
            )
            if scenario == "filed":
                return 1
            services.assign_complaint(complaint, first, first)
            if scenario == "in_review":
                return 1
            if scenario == "rejected":
                services.propose_decision(
                    complaint,
                    first,
                    False,
                    "The partial marks add up to the mark recorded.",
                    "The sum of your partial marks is right: no material error was found.",
                )
                return 1
            corrected = min(Decimal("20"), line.mark + 2)
            if corrected == line.mark:
                corrected = line.mark - 2
            services.propose_decision(
                complaint,
                first,
                True,
                "Exercise 2 was added up as 6 instead of 8.",
                "The partial marks of exercise 2 were added up wrongly; your mark is corrected.",
                corrected,
            )
            if scenario == "accepted":
                services.approve_correction(complaint, second)
        except services.ComplaintRefused as refusal:
            self.stdout.write(f"{candidate.massar_code}: {refusal.message}")
            return 0
        return 1
