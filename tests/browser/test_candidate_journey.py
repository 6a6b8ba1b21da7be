"""A candidate activates their account, signs in with a one-time code and sees their home."""

import re

import pytest

from notifications.sms import MemorySMSBackend
from tests.factories import CandidateFactory, SessionWindowFactory

from .conftest import assert_accessible, submit

PASSWORD = "Ouarzazate-2026-bac"


def _last_code() -> str:
    assert MemorySMSBackend.outbox, "no SMS was sent"
    return re.search(r"\b(\d{6})\b", MemorySMSBackend.outbox[-1][1]).group(1)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("lang, width", [("ar", "phone"), ("fr", "desktop")])
def test_a_candidate_activates_the_account_signs_in_and_sees_the_home_page(
    open_page, lang, width, session, school, track
):
    SessionWindowFactory(session=session, kind="verification")
    candidate = CandidateFactory(
        session=session,
        school=school,
        track=track,
        massar_code="R130046852",
        cnie_number="BE123456",
    )
    page = open_page(lang, width)
    page.goto("/")
    assert_accessible(page, "landing")
    page.locator("a[href='/account/activate/']").first.click()
    assert_accessible(page, "activation")
    page.fill("#id_massar_code", "r130046852")
    page.fill("#id_birth_date", candidate.birth_date.isoformat())
    page.fill("#id_cnie_number", "be 123456")
    submit(page, "#id_cnie_number")

    page.wait_for_url("**/account/activate/code/")
    if page.locator("input[name=send-channel]").count():
        assert_accessible(page, "channel choice")
        page.check("input[name=send-channel][value=sms]")
        submit(page, "input[name=send-channel][value=sms]")
        page.wait_for_url("**/account/activate/code/")
    assert_accessible(page, "code and password")
    page.fill("#id_code", _last_code())
    page.fill("#id_new_password1", PASSWORD)
    page.fill("#id_new_password2", PASSWORD)
    submit(page, "#id_new_password2")

    page.wait_for_url(re.compile(r"^https?://[^/]+/$"))
    assert page.locator("#service-verification").is_visible()
    assert page.locator("#service-diploma").is_visible()
    expected_name = candidate.first_name_ar if lang == "ar" else candidate.first_name_latin
    assert expected_name in page.locator("h1").inner_text()
    assert_accessible(page, "home after activation")

    # Sign out, then sign in with the password and a fresh one-time code.
    with page.expect_navigation():
        page.locator("header nav form button[type=submit]").click()
    page.goto("/account/sign-in/")
    assert_accessible(page, "sign-in")
    page.fill("#id_username", "R130046852")
    page.fill("#id_password", PASSWORD)
    submit(page, "#id_password")
    page.wait_for_url("**/account/sign-in/code/")
    if page.locator("input[name=send-channel]").count():
        page.check("input[name=send-channel][value=sms]")
        submit(page, "input[name=send-channel][value=sms]")
        page.wait_for_url("**/account/sign-in/code/")
    assert_accessible(page, "sign-in code")
    page.fill("#id_code", _last_code())
    submit(page, "#id_code")
    page.wait_for_url(re.compile(r"^https?://[^/]+/$"))
    assert page.locator("#service-results").is_visible()
    assert page.get_attribute("html", "dir") == ("rtl" if lang == "ar" else "ltr")
