"""An invigilator checks convocation QR codes at the door: verified in the browser with the
cached public keys (WebCrypto Ed25519), still verified once the connection is gone, and a
tampered code refused without asking the server."""

import datetime
import io

import pyotp
import pytest
from django.core.files.base import ContentFile
from django.utils import timezone

from candidates.models import CnieDocument
from convocations import codec, services
from identity import totp
from tests.factories import ExamCentreFactory, SessionWindowFactory

from .conftest import assert_accessible, submit


def _jpeg() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (60, 80), (120, 140, 160)).save(buffer, "JPEG")
    return buffer.getvalue()


@pytest.fixture
def code(candidate_a, session):
    SessionWindowFactory(session=session, kind="convocation")
    CnieDocument.objects.create(
        candidate=candidate_a,
        content_type="image/jpeg",
        size=1,
        sha256="0" * 64,
        encrypted_file="x",
        is_current=True,
    )
    candidate_a.verification_status = "confirmed"
    candidate_a.verified_at = timezone.now() - datetime.timedelta(days=1)
    candidate_a.exam_centre = ExamCentreFactory(directorate=candidate_a.school.directorate)
    candidate_a.exam_room = "04"
    candidate_a.photo.save("photo.jpg", ContentFile(_jpeg()), save=False)
    candidate_a.save()
    return services.qr_text(services.issue_convocation(candidate_a))


def _sign_in(page, clerk) -> None:
    secret = totp.new_secret()
    clerk.totp_secret_encrypted = totp.encrypt_secret(secret)
    clerk.totp_confirmed = True
    clerk.save()
    page.goto("/account/sign-in/")
    page.fill("#id_username", "clerk")
    page.fill("#id_password", "correct horse battery staple")
    submit(page, "#id_password")
    page.fill("#id_code", pyotp.TOTP(secret).now())
    submit(page, "#id_code")
    page.wait_for_url("**/staff/candidates/")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("lang, width", [("ar", "phone"), ("fr", "desktop")])
def test_an_invigilator_checks_codes_on_the_device_even_offline(
    open_page, lang, width, clerk, code, candidate_a
):
    page = open_page(lang, width)
    _sign_in(page, clerk)
    page.goto("/convocation/check/")
    page.wait_for_selector("#keys-status:not([hidden])")
    assert_accessible(page, "check page")

    api_calls = []
    page.on("request", lambda r: api_calls.append(r.url) if "/api/verify" in r.url else None)

    # Online: verified on the device, then confirmed by the register (with the photo).
    page.fill("#id_qr", code)
    page.locator("#check-form button[type=submit]").click()
    page.wait_for_selector("#check-result .verdict-valid img.check-photo")
    result = page.locator("#check-result").inner_text()
    assert "MOHAMMED" not in result and "Mohammed EL AMRANI" in result
    assert "14/03/2008" in result and candidate_a.cnie_number[-4:] in result
    assert page.url.endswith("/convocation/check/")  # no page load: the script answered
    assert_accessible(page, "valid code")

    # A tampered code is refused on the device: the server is not even asked.
    raw = bytearray(codec.b45decode(code[len(codec.PREFIX) :]))
    raw[-5] ^= 0x01
    calls_before = len(api_calls)
    page.fill("#id_qr", codec.PREFIX + codec.b45encode(bytes(raw)))
    page.locator("#check-form button[type=submit]").click()
    page.wait_for_selector("#check-result .verdict-invalid")
    assert len(api_calls) == calls_before
    assert_accessible(page, "tampered code")

    # Offline: the cached keys still verify a genuine code.
    page.context.set_offline(True)
    page.fill("#id_qr", code)
    page.locator("#check-form button[type=submit]").click()
    page.wait_for_selector("#check-result .verdict-valid")
    assert "Mohammed EL AMRANI" in page.locator("#check-result").inner_text()
    page.context.set_offline(False)

    # A device that never got the keys lets the server answer the form.
    page.context.add_init_script("try { localStorage.clear(); } catch (e) {}")
    page.route("**/convocation/keys.json", lambda route: route.abort())
    page.goto("/convocation/check/")
    page.wait_for_selector("#keys-status:not([hidden])")
    page.fill("#id_qr", code)
    submit(page, "#id_qr")
    page.wait_for_selector("#check-result .verdict-valid img.check-photo")
    assert_accessible(page, "answer from the server")


@pytest.mark.django_db(transaction=True)
def test_without_javascript_the_form_posts_the_code_to_the_server(
    chromium_browser, live_server, clerk, code
):
    context = chromium_browser.new_context(
        java_script_enabled=False, base_url=live_server.url, viewport={"width": 360, "height": 800}
    )
    context.set_default_timeout(15_000)
    try:
        page = context.new_page()
        _sign_in(page, clerk)
        page.goto("/convocation/check/")
        page.fill("#id_qr", code)
        submit(page, "#id_qr")
        assert page.locator("#check-result .verdict-valid img.check-photo").count() == 1
        # (axe-core needs JavaScript: the test above checks this answer from the server.)
    finally:
        context.close()
