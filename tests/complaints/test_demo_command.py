"""`manage.py demo_complaints`: complaints in every state, idempotent, and clear when the
results are missing."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command

from complaints.models import Complaint
from identity.models import User
from results.services import compute_session
from tests.factories import CandidateFactory
from tests.results.grading_fixtures import give_marks

from .conftest import publish


def run() -> str:
    out = StringIO()
    call_command("demo_complaints", stdout=out)
    return out.getvalue()


def test_without_published_results_it_says_what_is_missing(session, academy_staff):
    assert "no public results" in run()
    assert not Complaint.objects.exists()


def test_it_creates_complaints_in_every_state_once(
    session, school, graded_track, academy_staff, clock
):
    for n in range(6):
        candidate = CandidateFactory(
            session=session, school=school, track=graded_track, massar_code=f"R13000010{n}"
        )
        give_marks(candidate, "10", "10", "9")
    publish(compute_session(session), clock.now)
    output = run()
    assert "5 created now" in output
    assert sorted(Complaint.objects.values_list("status", flat=True)) == sorted(
        ["filed", "in_review", "rejected", "awaiting_approval", "accepted"]
    )
    assert User.objects.filter(username="aref-2", academy=academy_staff.academy).exists()
    assert "0 created now, 5 in the session" in run()
    assert Complaint.objects.count() == 5
