"""A school clerk signs in with an authenticator code, imports a candidate list and uploads a
candidate's CNIE copy."""

import io
import re

import pyotp
import pytest
from PIL import Image

from candidates.models import Candidate, CnieDocument
from identity import totp

from .conftest import assert_accessible, submit

HEADER = (
    "massar_code,cnie_number,last_name_latin,first_name_latin,last_name_ar,first_name_ar,"
    "birth_date,birth_place_latin,birth_place_ar,sex,nationality,school_code,track_code,"
    "candidate_type,phone,email"
)


def _csv(school_code: str, track_code: str, bad: bool = False) -> bytes:
    rows = [
        f"R140000001,BE654321,Benjelloun,Salma,بنجلون,سلمى,2008-02-11,Fès,فاس,F,MAR,{school_code},{track_code},school,0612345678,",
        f"R140000002,,El Idrissi,Youssef,الإدريسي,يوسف,12/09/2007,Tanger,طنجة,M,MAR,{school_code},{track_code},school,,",
    ]
    if bad:
        rows.append(
            f"R14000000X,BE1,Alaoui,Omar,العلوي,عمر,2008-31-02,Rabat,الرباط,M,MAR,{school_code},{track_code},school,,"
        )
    return ("\n".join([HEADER, *rows]) + "\n").encode("utf-8")


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (640, 400), (200, 220, 240)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("lang, width", [("ar", "phone"), ("fr", "desktop")])
def test_a_clerk_imports_a_file_and_uploads_a_cnie_copy(
    open_page, lang, width, clerk, school, track, session, tmp_path
):
    secret = totp.new_secret()
    clerk.totp_secret_encrypted = totp.encrypt_secret(secret)
    clerk.totp_confirmed = True
    clerk.save()

    page = open_page(lang, width)
    page.goto("/account/sign-in/")
    page.fill("#id_username", "clerk")
    page.fill("#id_password", "correct horse battery staple")
    submit(page, "#id_password")
    assert_accessible(page, "authenticator step")
    page.fill("#id_code", pyotp.TOTP(secret).now())
    submit(page, "#id_code")
    page.wait_for_url("**/staff/candidates/")
    assert_accessible(page, "candidate list (empty)")

    # A file with a bad row is refused whole, and the bad row is reported with line and column.
    page.goto("/staff/imports/")
    assert_accessible(page, "import page")
    bad_file = tmp_path / "liste.csv"
    bad_file.write_bytes(_csv(school.code, track.code, bad=True))
    page.set_input_files("input[type=file]", str(bad_file))
    submit(page, "input[type=file]")
    page.wait_for_url(re.compile(r"/staff/imports/\d+/$"))
    errors = page.locator("main table").last.inner_text()
    assert "4" in errors and "massar_code" in errors and "birth_date" in errors
    assert Candidate.objects.count() == 0
    assert_accessible(page, "rejected import")

    good_file = tmp_path / "liste-corrigee.csv"
    good_file.write_bytes(_csv(school.code, track.code))
    page.goto("/staff/imports/")
    page.set_input_files("input[type=file]", str(good_file))
    submit(page, "input[type=file]")
    page.wait_for_url(re.compile(r"/staff/imports/\d+/$"))
    assert Candidate.objects.filter(session=session, school=school).count() == 2
    assert_accessible(page, "finished import")

    # The clerk finds the candidate and uploads the CNIE copy.
    page.goto("/staff/candidates/?q=R140000001")
    page.locator("main a[href*='/staff/candidates/']").filter(has_text="R140000001").first.click()
    page.wait_for_url(re.compile(r"/staff/candidates/\d+/$"))
    assert_accessible(page, "candidate file")
    salma = Candidate.objects.get(massar_code="R140000001")
    page.goto(f"/staff/candidates/{salma.pk}/cnie/upload/")
    assert_accessible(page, "CNIE upload")
    card = tmp_path / "cnie.png"
    card.write_bytes(_png())
    page.set_input_files("input[type=file]", str(card))
    submit(page, "input[type=file]")
    page.wait_for_url(re.compile(rf"/staff/candidates/{salma.pk}/$"))
    document = CnieDocument.objects.get(candidate=salma, is_current=True)
    assert document.content_type == "image/png"
    assert document.uploaded_by == clerk
    assert_accessible(page, "candidate file with CNIE copy")
