"""Journey 2: the candidate reports an error in their file with evidence, the school clerk
accepts it, the candidate confirms their data and downloads the convocation."""

import datetime
import io
import re

import pyotp
import pytest
from django.utils import timezone
from PIL import Image

from candidates.models import CnieDocument
from identity import totp
from notifications.sms import MemorySMSBackend
from tests.factories import ExamCentreFactory, SessionWindowFactory
from verification.models import CorrectionRequest

from .conftest import assert_accessible, submit


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (320, 200), (230, 230, 210)).save(buffer, "PNG")
    return buffer.getvalue()


def _last_code() -> str:
    assert MemorySMSBackend.outbox, "no SMS was sent"
    return re.search(r"\b(\d{6})\b", MemorySMSBackend.outbox[-1][1]).group(1)


def _sign_in_candidate(page) -> None:
    page.goto("/account/sign-in/")
    page.fill("#id_username", "R130000001")
    page.fill("#id_password", "correct horse battery staple")
    submit(page, "#id_password")
    page.wait_for_url("**/account/sign-in/code/")
    if page.locator("input[name=send-channel]").count():
        page.check("input[name=send-channel][value=sms]")
        submit(page, "input[name=send-channel][value=sms]")
        page.wait_for_url("**/account/sign-in/code/")
    page.fill("#id_code", _last_code())
    submit(page, "#id_code")
    page.wait_for_url(re.compile(r"^https?://[^/]+/$"))


def _sign_in_clerk(page, clerk) -> None:
    secret = totp.new_secret()
    clerk.totp_secret_encrypted = totp.encrypt_secret(secret)
    clerk.totp_confirmed = True
    clerk.save()
    page.goto("/account/sign-in/")
    page.fill("#id_username", clerk.username)
    page.fill("#id_password", "correct horse battery staple")
    submit(page, "#id_password")
    page.fill("#id_code", pyotp.TOTP(secret).now())
    submit(page, "#id_code")
    page.wait_for_url("**/staff/candidates/")


@pytest.fixture
def keys(settings, tmp_path):
    settings.KEYS_DIR = tmp_path / "keys"
    settings.CONVOCATION_SIGNING_KEY = ""
    settings.CONVOCATION_EXTRA_PUBLIC_KEYS = ()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("lang, width", [("ar", "phone"), ("fr", "desktop")])
def test_a_candidate_reports_an_error_the_clerk_accepts_it_and_the_candidate_confirms(
    open_page, lang, width, session, school, candidate_a, clerk, keys, tmp_path
):
    SessionWindowFactory(session=session, kind="verification")
    SessionWindowFactory(session=session, kind="convocation")
    CnieDocument.objects.create(
        candidate=candidate_a,
        content_type="image/png",
        size=10,
        sha256="0" * 64,
        encrypted_file="cnie/test.bin",
        is_current=True,
    )
    candidate_a.exam_centre = ExamCentreFactory(directorate=school.directorate)
    candidate_a.exam_room = "07"
    candidate_a.save()

    # The candidate reports that their given name is misspelt, with a photo of the CNIE.
    page = open_page(lang, width)
    _sign_in_candidate(page)
    page.locator("#service-verification a").click()
    page.wait_for_url("**/verification/")
    assert_accessible(page, "verification page")
    page.select_option("#id_field", "first_name_latin")
    page.fill("#id_proposed_value", "Mohamed")
    evidence = tmp_path / "cnie.png"
    evidence.write_bytes(_png())
    page.set_input_files("#id_evidence", str(evidence))
    submit(page, "#id_proposed_value")
    page.wait_for_url("**/verification/")
    assert page.locator("#my-reports").is_visible()
    assert page.locator("#confirm-refusal").is_visible()
    assert_accessible(page, "report sent")
    report = CorrectionRequest.objects.get(candidate=candidate_a)
    assert report.status == "pending"

    # The clerk of the school accepts it.
    staff = open_page(lang, width)
    _sign_in_clerk(staff, clerk)
    staff.goto("/verification/staff/")
    assert_accessible(staff, "queue")
    staff.locator(f"a[href='/verification/staff/{report.pk}/']").click()
    staff.wait_for_url(f"**/verification/staff/{report.pk}/")
    assert_accessible(staff, "decision page")
    staff.check("input[name=decision][value=accept]")
    submit(staff, "input[name=decision][value=accept]")
    staff.wait_for_url("**/verification/staff/")
    assert staff.locator("#queue-empty").is_visible()
    staff.goto("/verification/staff/dashboard/")
    assert_accessible(staff, "dashboard")

    # The candidate sees the corrected file and confirms all.
    page.goto("/verification/")
    assert "Mohamed" in page.locator("#field-first_name_latin").inner_text()
    assert_accessible(page, "report accepted")
    page.locator("#confirm-all").click()
    page.wait_for_url("**/verification/")
    candidate_a.refresh_from_db()
    assert candidate_a.verification_status == "confirmed"
    assert candidate_a.first_name_latin == "Mohamed"
    assert_accessible(page, "confirmed")

    # The convocation can now be downloaded.
    page.goto("/convocation/")
    assert_accessible(page, "convocation page")
    response = page.request.get("/convocation/download.pdf")
    assert response.status == 200
    assert response.headers["content-type"] == "application/pdf"
    assert response.body().startswith(b"%PDF")
    assert candidate_a.verified_at <= timezone.now() + datetime.timedelta(seconds=1)
