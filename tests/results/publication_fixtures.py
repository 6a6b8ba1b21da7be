"""Shared by the publication, lookup, embargo and export tests: a clock to freeze, computed
results built directly (independent of the grading engine), and a way to publish them."""

from __future__ import annotations

import datetime
from decimal import Decimal

import pytest
from django.test import TestCase
from django.utils import timezone

from exams.models import Subject
from results.lookup import Query, parse_query
from results.models import Computation, ComputedResult, Grade
from results.publication import schedule_publication
from results.services import kept_marks

BIRTH = "2008-03-14"  # the factories' birth date


def massar(candidate, birth: str = BIRTH) -> Query:
    """The public lookup's query for a candidate's Massar code and a birth date."""
    query, errors = parse_query(candidate.massar_code, None, birth)
    assert query is not None, errors
    return query


# Fixtures, for `from .publication_fixtures import *` in the test modules.
__all__ = ["clock", "results", "_no_push"]


class FrozenClock:
    """django.utils.timezone.now, frozen; the lookup, the limits and the services all read it."""

    def __init__(self) -> None:
        self.now = timezone.now().replace(microsecond=0)

    def set(self, moment: datetime.datetime) -> None:
        self.now = moment

    def advance(self, seconds: float) -> None:
        self.now += datetime.timedelta(seconds=seconds)


@pytest.fixture
def clock(monkeypatch) -> FrozenClock:
    frozen = FrozenClock()
    monkeypatch.setattr(timezone, "now", lambda: frozen.now)
    return frozen


def make_computation(session, results: dict, sitting: str = "normal") -> Computation:
    """results: {candidate: (general, decision, mention)} or a dict of ComputedResult fields;
    each result keeps the candidate's grades of the moment, as a computation would."""
    computation = Computation.objects.create(
        session=session,
        sitting=sitting,
        status=Computation.Status.DONE,
        total=len(results),
        processed=len(results),
        finished_at=timezone.now(),
    )
    for candidate, values in results.items():
        if isinstance(values, tuple):
            general, decision, mention = values
            values = {
                "general_average": Decimal(general) if general is not None else None,
                "decision": decision,
                "mention": mention,
                "continuous_average": Decimal("13.00"),
                "regional_average": Decimal("12.50"),
                "national_average": Decimal(general) if general is not None else None,
            }
        ComputedResult.objects.create(
            computation=computation,
            candidate=candidate,
            **{**kept_marks(candidate.pk, sitting), **values},
        )
    return computation


def add_grades(candidate) -> None:
    math = Subject.objects.get(code="MATH")
    french = Subject.objects.get(code="FR")
    Grade.objects.create(candidate=candidate, subject=math, component="national", mark="15.50")
    Grade.objects.create(candidate=candidate, subject=french, component="regional", mark="12.00")


def committed():
    """Run the on-commit callbacks (queued tasks, pointer refreshes) as a commit would."""
    return TestCase.captureOnCommitCallbacks(execute=True)


def publish(computation, at, actor=None, reason=""):
    """Schedule a publication; its preparation task runs (eagerly) as the transaction commits."""
    with committed():
        publication = schedule_publication(computation, at, actor, reason)
    publication.refresh_from_db()
    return publication


@pytest.fixture
def results(candidate_a, candidate_b):
    add_grades(candidate_a)
    return make_computation(
        candidate_a.session,
        {
            candidate_a: ("14.25", "admitted", "bien"),
            candidate_b: ("8.40", "catch_up", ""),
        },
    )


@pytest.fixture(autouse=True)
def _no_push(monkeypatch):
    """Publications call the notifications hook; tests that want it say so."""
    calls: list[int] = []
    monkeypatch.setattr(
        "results.publication.on_publication_public", lambda p: calls.append(p.pk) or 0
    )
    return calls
