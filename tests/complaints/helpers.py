"""Small helpers shared by the complaint tests."""

from __future__ import annotations

from django.test import TestCase

from complaints import services
from exams.models import Subject


def math() -> Subject:
    return Subject.objects.get(code="MATH")


def committed():
    """Run the on-commit callbacks (notifications, pointer refreshes) as a commit would."""
    return TestCase.captureOnCommitCallbacks(execute=True)


def file(candidate, subject=None, kind="wrong_sum", comment=""):
    return services.file_complaint(candidate, subject or math(), kind, comment, candidate.user)


def proposed(candidate, reviewer, mark="12", subject=None):
    """A complaint filed, assigned to `reviewer` and with a corrected mark proposed."""
    complaint = file(candidate, subject)
    services.assign_complaint(complaint, reviewer, reviewer)
    return services.propose_decision(
        complaint,
        reviewer,
        True,
        "Exercise 3 was left unmarked (4 points).",
        "Exercise 3 had not been marked; it is now.",
        mark,
    )
