"""Browser journeys: the holder shares the diploma without grades, a verifier opens the link and
sees it valid, the holder revokes the link, the verifier is refused; and the QR code page kept on
the phone shows without a network. Real Chromium, axe-core, 360 px Arabic and 1280 px French."""

import re

import pytest
from django.conf import settings
from django.test import Client

from tests.browser_support import assert_accessible, submit

from .factories import give_cnie, make_diploma


def _signed_in(page, live_server, user) -> None:
    client = Client()
    client.force_login(user)
    cookie = client.cookies[settings.SESSION_COOKIE_NAME]
    page.context.add_cookies([{"name": cookie.key, "value": cookie.value, "url": live_server.url}])


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("lang, width", [("ar", "phone"), ("fr", "desktop")])
def test_the_holder_shares_without_grades_then_revokes_and_the_verifier_is_refused(
    open_page, live_server, lang, width, candidate_a
):
    give_cnie(candidate_a)
    diploma = make_diploma(candidate_a)
    holder = open_page(lang, width)
    _signed_in(holder, live_server, candidate_a.user)

    holder.goto("/diploma/")
    assert diploma.number in holder.locator("main").inner_text()
    assert_accessible(holder, "my diploma")
    # Grades, birth data and the CNIE number are unticked by default; the result is ticked.
    assert holder.locator("input[name=revealed][value=result]").is_checked()
    for group in ("grades", "birth", "cnie"):
        assert not holder.locator(f"input[name=revealed][value={group}]").is_checked()
    holder.fill("#id_label", "Université Mohammed V")
    holder.select_option("#id_expires_in", "7")
    submit(holder, "#id_label")
    holder.wait_for_selector("#share-url")
    url = holder.input_value("#share-url")
    assert re.search(r"/diploma/s/[A-Za-z0-9_-]{43}/$", url)
    assert holder.locator(".share-qr svg").count() == 1
    assert_accessible(holder, "link created")

    verifier = open_page(lang, width)
    verifier.goto(url)
    text = verifier.locator("main").inner_text()
    assert verifier.locator(".verdict-valid").count() == 1
    assert "15.37" in text and "17.75" not in text and candidate_a.cnie_number not in text
    assert_accessible(verifier, "share page")

    verifier.goto("/diploma/verify/")
    verifier.fill("#id_text", url)
    submit(verifier, "#id_text")
    assert verifier.locator("#verify-result .verdict-valid").count() == 1
    assert_accessible(verifier, "verified by link")

    # The holder sees the two views, then revokes the link.
    holder.reload()
    assert holder.locator("main table tbody tr").count() == 2
    with holder.expect_navigation():
        holder.locator("form[action$='/revoke/'] button[type=submit]").click()
    assert holder.locator("form[action$='/revoke/']").count() == 0
    assert_accessible(holder, "link revoked")

    response = verifier.goto(url)
    assert response.status == 410
    assert diploma.number not in verifier.locator("main").inner_text()
    assert_accessible(verifier, "refused link")
    verifier.goto("/diploma/verify/")
    verifier.fill("#id_text", url)
    submit(verifier, "#id_text")
    assert verifier.locator("#verify-result .verdict-invalid").count() == 1
    assert_accessible(verifier, "refused by the verification page")


@pytest.mark.django_db(transaction=True)
def test_the_qr_code_page_is_kept_on_the_phone_and_shows_offline(
    open_page, live_server, candidate_a
):
    give_cnie(candidate_a)
    diploma = make_diploma(candidate_a)
    page = open_page("fr", "phone")
    _signed_in(page, live_server, candidate_a.user)
    page.goto("/diploma/offline/")
    page.wait_for_selector("#offline-controls:not([hidden])")
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    assert_accessible(page, "QR code page")
    # Controlled from now on: one online visit stores the copy.
    page.reload()
    page.wait_for_function(
        "caches.open('bac-diploma-qr-v1').then(c => c.keys()).then(k => k.length >= 2)"
    )

    page.context.set_offline(True)
    page.reload()
    assert page.locator(".diploma-qr svg").count() == 1
    assert diploma.number in page.locator("main").inner_text()
    page.context.set_offline(False)

    # Signing out from the page removes the copy before the session ends.
    with page.expect_navigation():
        page.locator("header nav form button[type=submit]").click()
    assert page.evaluate("caches.has('bac-diploma-qr-v1')") is False
    assert page.evaluate("navigator.serviceWorker.getRegistrations().then(r => r.length)") == 0

    # Signed out elsewhere (the session simply ended): the next online visit gets the sign-in
    # redirect instead of the page, and the worker drops the copy.
    _signed_in(page, live_server, candidate_a.user)
    page.goto("/diploma/offline/")
    page.evaluate("navigator.serviceWorker.ready.then(() => true)")
    page.reload()
    page.wait_for_function("caches.has('bac-diploma-qr-v1')")
    page.context.clear_cookies()
    page.goto("/diploma/offline/")
    page.wait_for_function("caches.has('bac-diploma-qr-v1').then(has => !has)")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("lang, width", [("ar", "phone"), ("fr", "desktop")])
def test_a_verifier_checks_the_qr_code_on_the_device_then_with_the_register(
    open_page, live_server, lang, width, candidate_a
):
    from diplomas.services import revoke_diploma

    give_cnie(candidate_a)
    diploma = make_diploma(candidate_a)
    page = open_page(lang, width)
    api_calls = []
    page.on("request", lambda r: api_calls.append(r.url) if "/api/verify" in r.url else None)
    page.goto("/diploma/verify/")
    page.wait_for_selector("#keys-status:not([hidden])")
    assert_accessible(page, "verification page")

    page.fill("#id_text", diploma.qr)
    with page.expect_response(lambda r: "/api/verify" in r.url):  # the register, for the status
        page.locator("#verify-form button[type=submit]").click()
    page.wait_for_selector("#verify-result .verdict-valid dl")
    assert page.url.endswith("/diploma/verify/")  # answered by the script, no page load
    text = page.locator("#verify-result").inner_text()
    assert "Mohammed EL AMRANI" in text and diploma.number in text and "15.37" in text
    assert len(api_calls) == 1
    assert_accessible(page, "verified on the device")

    # An altered code is refused on the device: the server is not even asked.
    tampered = diploma.qr[:-8] + ("A" if diploma.qr[-8] != "A" else "B") + diploma.qr[-7:]
    page.fill("#id_text", tampered)
    page.locator("#verify-form button[type=submit]").click()
    page.wait_for_selector("#verify-result .verdict-invalid")
    assert len(api_calls) == 1

    # Revoked by the ministry: the signature is still genuine, the register says revoked.
    revoke_diploma(diploma, reason="test", actor=None)
    page.fill("#id_text", diploma.qr)
    page.locator("#verify-form button[type=submit]").click()
    page.wait_for_selector("#verify-result .verdict-invalid dl")
    assert len(api_calls) == 2
    assert_accessible(page, "revoked, from the register")

    # Offline: the cached keys still verify the signature, and the page says what is unknown.
    page.context.set_offline(True)
    page.fill("#id_text", diploma.qr)
    page.locator("#verify-form button[type=submit]").click()
    page.wait_for_selector("#verify-result .verdict-valid dl")
    page.context.set_offline(False)


@pytest.mark.django_db(transaction=True)
def test_without_javascript_the_verification_page_posts_to_the_server(
    chromium_browser, live_server, candidate_a
):
    give_cnie(candidate_a)
    diploma = make_diploma(candidate_a)
    context = chromium_browser.new_context(
        java_script_enabled=False, base_url=live_server.url, viewport={"width": 360, "height": 800}
    )
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        page.goto("/diploma/verify/")
        page.fill("#id_text", diploma.qr)
        submit(page, "#id_text")
        assert page.locator("#verify-result .verdict-valid").count() == 1
        assert diploma.number in page.locator("#verify-result").inner_text()
        # (axe-core needs JavaScript: the tests above check these pages with it.)
    finally:
        context.close()
