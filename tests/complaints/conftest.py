"""Complaints: a session whose results are computed by the real engine and published, with
candidate_a (12.88, admitted) and candidate_b (8.00, catch-up) of the RSK academy.

The track (the suite's SP track, plus continuous assessment): continuous MATH (2), regional
FR (4), national MATH (7); general = 0.25 continuous + 0.25 regional + 0.5 national.
"""

from __future__ import annotations

import pytest

from identity.models import Role
from results.services import compute_session
from tests.factories import ExamCentreFactory, UserFactory
from tests.results import grading_fixtures, publication_fixtures
from tests.results.grading_fixtures import give_marks
from tests.results.publication_fixtures import publish

# Shared fixtures of the results tests (not their autouse `_no_push`: complaints notify).
graded_track = grading_fixtures.graded_track
candidate_elsewhere = grading_fixtures.candidate_elsewhere
clock = publication_fixtures.clock
__all__ = ["publish"]


@pytest.fixture
def second_reviewer(academy):
    return UserFactory(username="aref-2", role=Role.ACADEMY, academy=academy)


@pytest.fixture
def centre(school):
    return ExamCentreFactory(directorate=school.directorate, code="C-RABAT-1")


@pytest.fixture
def published(session, graded_track, candidate_a, candidate_b, centre, clock):
    for candidate in (candidate_a, candidate_b):
        candidate.exam_centre = centre
        candidate.save(update_fields=["exam_centre"])
    give_marks(candidate_a, "12", "11", "14.25")  # 12.88, admitted
    give_marks(candidate_b, "8", "8", "8")  # 8.00, catch-up
    computation = compute_session(session)
    return publish(computation, clock.now)
