"""Personas shared by the whole suite: two candidates of one school, the clerk of that school,
a clerk of another school, academy staff of that academy and of another one, ministry staff."""

import pytest

from identity.models import Role
from notifications.sms import MemorySMSBackend
from tests.browser_support import chromium_browser, open_page  # noqa: F401 - shared fixtures

from .factories import (
    AcademyFactory,
    CandidateFactory,
    DirectorateFactory,
    ExamSessionFactory,
    SchoolFactory,
    TrackFactory,
    UserFactory,
)


@pytest.fixture(autouse=True)
def _clean_outboxes(settings):
    MemorySMSBackend.outbox.clear()
    from django.core.cache import cache

    cache.clear()
    yield
    MemorySMSBackend.outbox.clear()
    # A request through LocaleMiddleware leaves its language active in the thread: each test
    # starts from the default language, whatever the one before it asked for.
    from django.utils import translation

    translation.deactivate()


@pytest.fixture
def session(db):
    return ExamSessionFactory()


@pytest.fixture
def academy(db):
    return AcademyFactory(code="RSK", name_fr="Rabat-Salé-Kénitra", name_ar="الرباط سلا القنيطرة")


@pytest.fixture
def other_academy(db):
    return AcademyFactory(code="ORI", name_fr="L'Oriental", name_ar="الشرق")


@pytest.fixture
def school(academy):
    return SchoolFactory(directorate=DirectorateFactory(academy=academy), code="S-RABAT-1")


@pytest.fixture
def other_school(academy):
    return SchoolFactory(directorate=DirectorateFactory(academy=academy), code="S-SALE-2")


@pytest.fixture
def track(db):
    return TrackFactory(code="SP", name_fr="Sciences Physiques", name_ar="العلوم الفيزيائية")


@pytest.fixture
def candidate_a(session, school, track):
    user = UserFactory(username="R130000001", role=Role.CANDIDATE)
    return CandidateFactory(
        session=session, school=school, track=track, massar_code="R130000001", user=user
    )


@pytest.fixture
def candidate_b(session, school, track):
    user = UserFactory(username="R130000002", role=Role.CANDIDATE)
    return CandidateFactory(
        session=session,
        school=school,
        track=track,
        massar_code="R130000002",
        user=user,
        first_name_latin="Fatima Zahra",
        first_name_ar="فاطمة الزهراء",
        sex="F",
    )


@pytest.fixture
def clerk(school):
    return UserFactory(username="clerk", role=Role.SCHOOL, school=school)


@pytest.fixture
def clerk_of_other_school(other_school):
    return UserFactory(username="clerk-other", role=Role.SCHOOL, school=other_school)


@pytest.fixture
def academy_staff(academy):
    return UserFactory(username="aref", role=Role.ACADEMY, academy=academy)


@pytest.fixture
def academy_staff_of_other_academy(other_academy):
    return UserFactory(username="aref-other", role=Role.ACADEMY, academy=other_academy)


@pytest.fixture
def ministry_staff(db):
    return UserFactory(username="ministry", role=Role.MINISTRY)


@pytest.fixture
def client_for(client):
    """`client_for(user)` returns a test client signed in as that user (second factor done)."""
    from django.test import Client

    def make(user):
        c = Client()
        c.force_login(user)
        return c

    return make


def pytest_collection_modifyitems(config, items):
    # Every test that opens a browser page is a browser test, wherever it lives.
    for item in items:
        if "open_page" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.browser)
