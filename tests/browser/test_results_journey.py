"""Results day in a real browser: the ministry computes and publishes; the candidate sees the
result on the home page and on the result page, and anyone can look it up with the code and
the birth date."""

import datetime

import pytest
from django.utils import timezone

from results.models import Computation, Publication
from tests.browser_support import assert_accessible, submit
from tests.results.grading_fixtures import *  # noqa: F403
from tests.results.grading_fixtures import give_marks
from tests.results.test_computation_browser import signed_in_at

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.mark.parametrize("lang, width", [("ar", "phone"), ("fr", "desktop")])
def test_the_ministry_publishes_and_the_candidate_sees_the_result(
    open_page,
    lang,
    width,
    session,
    graded_track,
    candidate_a,
    candidate_b,
    ministry_staff,
    live_server,
):
    give_marks(candidate_a, "14", "15", "16.5")
    give_marks(candidate_b, "8", "8", "8")

    ministry = open_page(lang, width)
    signed_in_at(ministry, ministry_staff, live_server.url)
    ministry.goto("/staff/results/computations/")
    ministry.select_option("#id_sitting", "normal")
    submit(ministry, "#id_sitting")
    ministry.wait_for_url("**/staff/results/computations/*/")
    computation = Computation.objects.get()

    ministry.goto("/staff/publications/new/")
    assert_accessible(ministry, "new publication")
    ministry.select_option("#id_computation", str(computation.pk))
    moment = timezone.localtime() - datetime.timedelta(minutes=1)
    ministry.fill("#id_publish_at", moment.strftime("%Y-%m-%dT%H:%M"))
    if ministry.locator("#id_reason").count():
        ministry.fill("#id_reason", "Résultats de la session normale")
    submit(ministry, "#id_publish_at")
    assert_accessible(ministry, "publication")
    assert Publication.objects.filter(computation=computation, status="ready").exists()

    candidate = open_page(lang, width)
    signed_in_at(candidate, candidate_a.user, live_server.url)
    candidate.goto("/")
    assert candidate.locator("#service-results").is_visible()
    assert_accessible(candidate, "home with the result")
    candidate.goto("/results/mine/")
    text = candidate.locator("main").inner_text()
    assert "15.50" in text or "15,50" in text  # 25% of 14 + 25% of 15 + 50% of 16.5
    assert candidate.locator("main .badge.state-open").count() == 1  # admitted
    assert_accessible(candidate, "my result")

    visitor = open_page(lang, width)
    visitor.goto("/results/")
    visitor.fill("#id_massar_code", candidate_b.massar_code)
    visitor.fill("#id_birth_date", candidate_b.birth_date.isoformat())
    submit(visitor, "#id_birth_date")
    assert visitor.locator("main .badge.state-upcoming").count() == 1  # 8.00: catch-up session
    assert_accessible(visitor, "public lookup")
