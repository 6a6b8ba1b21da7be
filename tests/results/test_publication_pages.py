"""The ministry's publication pages: who may use them, scheduling, following, withdrawing."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone

from results.models import Grade, Publication

from .publication_fixtures import *  # noqa: F403
from .publication_fixtures import committed, publish


def test_publication_pages_are_for_ministry_staff_only(
    results, client, client_for, clerk, academy_staff, candidate_a, ministry_staff
):
    assert client.get("/staff/publications/").status_code == 302
    for user in (clerk, academy_staff, candidate_a.user):
        assert client_for(user).get("/staff/publications/").status_code == 403
        assert client_for(user).get("/staff/publications/new/").status_code == 403
    assert client_for(ministry_staff).get("/staff/publications/").status_code == 200


def test_the_ministry_schedules_a_publication_in_morocco_time(
    results, client_for, ministry_staff, clock
):
    staff = client_for(ministry_staff)
    form = staff.get("/staff/publications/new/")
    assert form.status_code == 200 and b'type="datetime-local"' in form.content
    local = timezone.localtime(clock.now).replace(second=0)
    with committed():
        response = staff.post(
            "/staff/publications/new/",
            {
                "computation": results.pk,
                "publish_at": local.strftime("%Y-%m-%dT%H:%M"),
                "reason": "",
            },
        )
    publication = Publication.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/{publication.pk}/")
    assert publication.publish_at == local and publication.status == "ready"
    detail = staff.get(response["Location"]).content.decode()
    assert "Public" in detail and publication.digest in detail


def test_a_scheduling_error_is_shown_on_the_form(results, client_for, ministry_staff, clock):
    results.status = results.Status.RUNNING
    results.save()
    response = client_for(ministry_staff).post(
        "/staff/publications/new/", {"computation": results.pk, "publish_at": "2026-07-01T14:00"}
    )
    assert response.status_code == 200 and not Publication.objects.exists()


def test_the_form_says_in_french_that_grades_were_corrected_after_the_computation(
    results, candidate_a, client_for, ministry_staff, clock
):
    clock.advance(3600)
    grade = Grade.objects.get(candidate=candidate_a, component="national")
    grade.mark = Decimal("17.25")
    grade.save()
    staff = client_for(ministry_staff)
    staff.cookies[settings.LANGUAGE_COOKIE_NAME] = "fr"
    response = staff.post(
        "/staff/publications/new/", {"computation": results.pk, "publish_at": "2026-07-01T14:00"}
    )
    page = response.content.decode()
    assert response.status_code == 200 and not Publication.objects.exists()
    assert "Les notes de 1 candidat ont été corrigées après ce calcul" in page


def test_a_publication_failed_over_corrected_grades_says_why_in_the_readers_language(
    results, candidate_a, client_for, ministry_staff, clock
):
    from results.publication import PublicationError, prepare_publication, schedule_publication

    clock.advance(3600)
    publication = schedule_publication(results, clock.now, ministry_staff)  # not prepared yet
    grade = Grade.objects.get(candidate=candidate_a, component="national")
    grade.mark = Decimal("17.25")
    grade.save()
    with pytest.raises(PublicationError):
        prepare_publication(publication.pk)
    staff = client_for(ministry_staff)
    for language, said in (
        ("fr", "Les notes de 1 candidat ont été corrigées après ce calcul"),
        ("en", "The grades of 1 candidate were corrected after this computation"),
    ):
        staff.cookies[settings.LANGUAGE_COOKIE_NAME] = language
        page = staff.get(f"/staff/publications/{publication.pk}/").content.decode()
        assert said in page


@pytest.mark.parametrize(
    "reason, status", [("wrong track coefficients", "withdrawn"), ("", "ready")]
)
def test_the_ministry_withdraws_a_publication_with_a_reason(
    results, client_for, ministry_staff, clock, reason, status
):
    publication = publish(results, clock.now, ministry_staff)
    staff = client_for(ministry_staff)
    with committed():
        response = staff.post(f"/staff/publications/{publication.pk}/withdraw/", {"reason": reason})
    assert response.status_code == 302
    publication.refresh_from_db()
    assert publication.status == status


def test_withdrawal_needs_a_post_with_the_csrf_token(results, ministry_staff, clock):
    from django.test import Client

    publication = publish(results, clock.now, ministry_staff)
    strict = Client(enforce_csrf_checks=True)
    strict.force_login(ministry_staff)
    assert strict.get(f"/staff/publications/{publication.pk}/withdraw/").status_code == 405
    assert (
        strict.post(f"/staff/publications/{publication.pk}/withdraw/", {"reason": "x"}).status_code
        == 403
    )
