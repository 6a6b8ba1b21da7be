"""Shared by the grade, computation and statistics tests: a track with a subject in every
component, candidates of two academies, marks written directly, grade files.

The track (the suite's SP track, plus continuous assessment):
    continuous MATH (2), regional FR (4), national MATH (7)
so a candidate's general average is 0.25 * continuous + 0.25 * regional + 0.5 * national, and
a free candidate's (regional + 2 * national) / 3.
"""

from __future__ import annotations

from decimal import Decimal

import pytest

from exams.models import Component, Subject, TrackSubject
from results.grades import grades_csv
from results.models import Grade

from ..factories import CandidateFactory, DirectorateFactory, SchoolFactory, UserFactory

__all__ = ["graded_track", "candidate_elsewhere", "free_candidate", "ministry_client"]


@pytest.fixture
def graded_track(track):
    math = Subject.objects.get(code="MATH")
    TrackSubject.objects.get_or_create(
        track=track,
        subject=math,
        component=Component.CONTINUOUS,
        defaults={"coefficient": Decimal("2")},
    )
    return track


@pytest.fixture
def candidate_elsewhere(session, other_academy, graded_track):
    """A candidate of a school of the other academy (L'Oriental)."""
    school = SchoolFactory(directorate=DirectorateFactory(academy=other_academy), code="S-OUJDA-1")
    return CandidateFactory(
        session=session, school=school, track=graded_track, massar_code="R130000077"
    )


@pytest.fixture
def free_candidate(session, school, graded_track):
    return CandidateFactory(
        session=session,
        school=school,
        track=graded_track,
        massar_code="R130000055",
        candidate_type="free",
        sex="F",
        user=UserFactory(username="R130000055"),
    )


@pytest.fixture
def ministry_client(ministry_staff, client_for):
    return client_for(ministry_staff)


def give_marks(
    candidate,
    continuous: str | None = None,
    regional: str | None = None,
    national: str | None = None,
    sitting: str = "normal",
) -> None:
    """Write marks straight into the database (None: leave that mark out)."""
    math = Subject.objects.get(code="MATH")
    french = Subject.objects.get(code="FR")
    for subject, component, mark in (
        (math, "continuous", continuous),
        (french, "regional", regional),
        (math, "national", national),
    ):
        if mark is not None:
            Grade.objects.update_or_create(
                candidate=candidate,
                subject=subject,
                component=component,
                sitting=sitting,
                defaults={"mark": Decimal(mark)},
            )


def full_marks(candidate, continuous: str, regional: str, national: str) -> list[tuple]:
    """The rows of a grade file giving a candidate these three marks."""
    code = candidate.massar_code
    return [
        (code, "MATH", "continuous", continuous, "normal"),
        (code, "FR", "regional", regional, "normal"),
        (code, "MATH", "national", national, "normal"),
    ]


def grade_file(rows) -> bytes:
    return grades_csv(rows).encode("utf-8")
