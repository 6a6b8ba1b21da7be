"""In real Chromium, with axe-core: the ministry computes a session and reviews its statistics
(French, desktop); academy staff correct a mark (Arabic, phone)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.conf import settings
from django.test import Client

from exams.models import Subject
from results.models import Computation, Grade
from tests.browser_support import assert_accessible, submit

from .grading_fixtures import *  # noqa: F403
from .grading_fixtures import give_marks

# open_page (and the one Chromium behind it) comes from tests/conftest.py.
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_ministry_computes_a_session_and_reviews_its_statistics(
    open_page, session, graded_track, candidate_a, candidate_b, free_candidate, ministry_staff,
    live_server,
):  # fmt: skip
    give_marks(candidate_a, "12", "11", "14.25")
    give_marks(candidate_b, "8", "8", "8")
    give_marks(free_candidate, None, "15", None)  # incomplete
    page = open_page("fr", "desktop")
    signed_in_at(page, ministry_staff, live_server.url)
    page.goto("/staff/results/computations/")
    assert_accessible(page, "computations")
    page.select_option("#id_sitting", "normal")
    submit(page, "#id_sitting")
    page.wait_for_url("**/staff/results/computations/*/")
    computation = Computation.objects.get()
    assert computation.status == "done"
    assert page.locator("#total-candidates").inner_text() == "3"
    assert page.locator("#anomaly-missing_grades").inner_text() == "1"
    assert page.locator("svg[role=img]").count() >= 3
    assert_accessible(page, "statistics")


def test_academy_staff_correct_a_mark_on_a_phone_in_arabic(
    open_page, session, graded_track, candidate_a, academy_staff, live_server
):
    give_marks(candidate_a, "12", "11", "14")
    page = open_page("ar", "phone")
    signed_in_at(page, academy_staff, live_server.url)
    page.goto("/staff/results/grades/")
    assert_accessible(page, "find a candidate")
    page.fill("#id_massar_code", candidate_a.massar_code)
    submit(page, "#id_massar_code")
    page.wait_for_url(f"**/staff/results/grades/{candidate_a.massar_code}/")
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert_accessible(page, "grade sheet")
    math = Subject.objects.get(code="MATH")
    page.select_option("#id_line", f"{math.pk}:national:normal")
    page.fill("#id_mark", "15,5")
    page.fill("#id_reason", "خطأ في نقل النقطة")
    submit(page, "#id_mark")
    page.wait_for_url(f"**/staff/results/grades/{candidate_a.massar_code}/")
    assert page.locator("#mark-MATH-national").inner_text() in ("15.50", "15,50")
    assert Grade.objects.get(
        candidate=candidate_a, component="national", sitting="normal"
    ).mark == Decimal("15.50")
    assert_accessible(page, "grade sheet after the change")


def signed_in_at(page, user, base_url: str) -> None:
    client = Client()
    client.force_login(user)
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": base_url,
            }
        ]
    )
