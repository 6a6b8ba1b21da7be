"""In real Chromium, with axe-core: academy staff revoke a diploma (Arabic, phone); the ministry
launches the issuance of a session and follows it (French, desktop)."""

from __future__ import annotations

import pytest

from diplomas.models import IssuanceRun
from tests.browser_support import assert_accessible, submit
from tests.results.test_computation_browser import signed_in_at

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_academy_staff_revoke_a_diploma_on_a_phone_in_arabic(
    open_page, diploma, academy_staff, live_server
):
    page = open_page("ar", "phone")
    signed_in_at(page, academy_staff, live_server.url)
    page.goto("/diplomas/staff/")
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert_accessible(page, "diplomas")
    page.goto(f"/diplomas/staff/{diploma.pk}/revoke/")
    assert_accessible(page, "revoke")
    page.fill("#id_reason", "تزوير في الهوية")
    submit(page, "#id_reason")
    page.wait_for_url("**/diplomas/staff/")
    diploma.refresh_from_db()
    assert diploma.status == "revoked" and diploma.revocation_reason == "تزوير في الهوية"
    assert_accessible(page, "after the revocation")


def test_the_ministry_launches_the_issuance_and_follows_it(
    open_page, published, candidate_a, ministry_staff, live_server
):
    page = open_page("fr", "desktop")
    signed_in_at(page, ministry_staff, live_server.url)
    page.goto("/diplomas/staff/issue/")
    assert_accessible(page, "issue")
    page.select_option("#id_session", str(published.session_id))
    submit(page, "#id_session")
    run = IssuanceRun.objects.get()
    page.wait_for_url(f"**/diplomas/staff/runs/{run.pk}/")
    run.refresh_from_db()
    assert run.status == "done" and run.issued == 1
    assert_accessible(page, "run")
