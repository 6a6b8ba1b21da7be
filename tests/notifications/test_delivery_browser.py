"""The delivery pages in real Chromium: 360 px in Arabic, 1280 px in French, axe-core clean."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from notifications import services
from notifications.models import Notification, Status
from tests.browser.conftest import assert_accessible

pytestmark = pytest.mark.browser


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("lang, width", [("ar", "phone"), ("fr", "desktop")])
def test_ministry_staff_follow_the_delivery_of_a_publication(
    open_page,
    live_server,
    lang,
    width,
    ministry_staff,
    candidate_a,
    candidate_b,
):
    services.queue_bulk_notifications(
        "results_published", "publication:1", [candidate_a.pk, candidate_b.pk]
    )
    Notification.objects.filter(candidate=candidate_b, channel="sms").update(
        status=Status.FAILED,
        attempts=5,
        last_error="TransientSMSError: gateway answered 503 {'error': 'overloaded'}",
    )
    client = Client()
    client.force_login(ministry_staff)
    page = open_page(lang, width)
    page.context.add_cookies(
        [
            {
                "name": settings.SESSION_COOKIE_NAME,
                "value": client.cookies[settings.SESSION_COOKIE_NAME].value,
                "url": live_server.url,
            }
        ]
    )

    page.goto(reverse("notifications:overview"))
    assert_accessible(page, "delivery overview")
    with page.expect_navigation():
        page.locator("tbody th a").first.click()
    assert page.locator("tbody tr", has_text="R130000002").count() == 1
    assert_accessible(page, "delivery of one publication")

    page.select_option("#id_status", "sent")
    with page.expect_navigation():
        page.locator("form.filters button[type=submit]").click()
    assert page.locator("tbody tr", has_text="R130000001").count() == 2
    assert_accessible(page, "filtered list")
