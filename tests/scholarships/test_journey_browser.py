"""Journey 5 in a real browser: the candidate applies in two sittings on two devices, the
commission decides, the candidate sees the decision. Arabic at 360 px, French at 1280 px,
axe-core on every page."""

from __future__ import annotations

import datetime
import re

import pyotp
import pytest
from django.utils import timezone

from identity import totp
from identity.models import OneTimeCode
from notifications.sms import MemorySMSBackend
from scholarships.models import Application, CommissionMember, Status
from tests.browser_support import assert_accessible, submit

from .conftest import png_bytes


def _sign_in_candidate(page) -> None:
    # The sittings are hours apart: earlier codes no longer hold back a new one.
    OneTimeCode.objects.update(created_at=timezone.now() - datetime.timedelta(hours=2))
    page.goto("/account/sign-in/")
    page.fill("#id_username", "R130000001")
    page.fill("#id_password", "correct horse battery staple")
    submit(page, "#id_password")
    page.wait_for_url("**/account/sign-in/code/")
    if page.locator("input[name=send-channel]").count():
        page.check("input[name=send-channel][value=sms]")
        submit(page, "input[name=send-channel][value=sms]")
        page.wait_for_url("**/account/sign-in/code/")
    code = re.search(r"\b(\d{6})\b", MemorySMSBackend.outbox[-1][1]).group(1)
    page.fill("#id_code", code)
    submit(page, "#id_code")
    page.wait_for_url(re.compile(r"^https?://[^/]+/$"))


def _sign_in_staff(page, user) -> None:
    secret = totp.new_secret()
    user.totp_secret_encrypted = totp.encrypt_secret(secret)
    user.totp_confirmed = True
    user.save()
    page.goto("/account/sign-in/")
    page.fill("#id_username", user.username)
    page.fill("#id_password", "correct horse battery staple")
    submit(page, "#id_password")
    page.fill("#id_code", pyotp.TOTP(secret).now())
    submit(page, "#id_code")
    page.wait_for_load_state()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("lang, width", [("ar", "phone"), ("fr", "desktop")])
def test_a_candidate_applies_in_two_sittings_the_commission_decides_and_they_see_it(
    open_page, lang, width, programme, candidate_a, ministry_staff, tmp_path
):
    CommissionMember.objects.create(user=ministry_staff)
    document = tmp_path / "certificate.png"
    document.write_bytes(png_bytes())

    # First sitting, on the phone: identity, household, incomes.
    phone = open_page(lang, width)
    _sign_in_candidate(phone)
    phone.goto("/scholarship/")
    assert_accessible(phone, "scholarship home")
    submit(phone, "#start-application")
    phone.wait_for_url("**/scholarship/step/identity/")
    assert_accessible(phone, "identity step")
    phone.fill("#id_address", "12 rue Atlas, Rabat")
    phone.check("#id_confirm")
    submit(phone, "#id_address")
    phone.wait_for_url("**/scholarship/step/household/")
    phone.select_option("#id_relation", "mother")
    phone.fill("#id_age", "44")
    phone.select_option("#id_situation", "unemployed")
    submit(phone, "#id_age")
    phone.wait_for_url("**/scholarship/step/household/")
    assert phone.locator("#household-members li").count() == 1
    assert_accessible(phone, "household step")
    submit(phone, "#save-step")
    phone.wait_for_url("**/scholarship/step/incomes/")
    phone.fill("#id_household_income", "beaucoup")
    submit(phone, "#id_household_income")
    assert phone.locator(".field-error #id_household_income").count() == 1
    assert_accessible(phone, "income refused")
    phone.fill("#id_household_income", "18000")
    submit(phone, "#id_household_income")
    phone.wait_for_url("**/scholarship/step/registers/")
    phone.context.close()

    # Second sitting, another device: the draft is there; finish and submit.
    laptop = open_page(lang, width)
    _sign_in_candidate(laptop)
    laptop.goto("/scholarship/")
    assert laptop.locator("#continue-application").is_visible()
    laptop.goto("/scholarship/step/registers/")
    laptop.fill("#id_rnp_number", "RNP123456")
    laptop.fill("#id_rsu_number", "RSU777001")
    laptop.fill("#id_rsu_index", "7.25")
    submit(laptop, "#id_rsu_index")
    laptop.wait_for_url("**/scholarship/step/studies/")
    laptop.fill("#id_institution", "Université Mohammed V")
    laptop.fill("#id_institution_city", "Rabat")
    laptop.fill("#id_field_of_study", "Physique")
    laptop.check("#id_public_institution")
    submit(laptop, "#id_institution")
    laptop.wait_for_url("**/scholarship/step/documents/")
    for kind in ("income_certificate", "rsu_certificate"):
        laptop.select_option("#id_kind", kind)
        laptop.set_input_files("#id_file", str(document))
        submit(laptop, "#id_file")
        laptop.wait_for_url("**/scholarship/step/documents/")
    assert_accessible(laptop, "documents step")
    submit(laptop, "#save-step")
    laptop.wait_for_url("**/scholarship/review/")
    assert_accessible(laptop, "review")
    submit(laptop, "#submit-application")
    laptop.wait_for_url("**/scholarship/receipt/")
    assert_accessible(laptop, "receipt")
    application = Application.objects.get(candidate=candidate_a)
    assert application.status == Status.SUBMITTED
    assert laptop.locator("#receipt-reference").inner_text().strip() == application.reference

    # The commission decides.
    staff = open_page(lang, width)
    _sign_in_staff(staff, ministry_staff)
    staff.goto("/scholarship/commission/")
    assert_accessible(staff, "commission list")
    staff.locator(f"a[href='/scholarship/commission/{application.pk}/']").click()
    staff.wait_for_url(f"**/scholarship/commission/{application.pk}/")
    assert_accessible(staff, "application page")
    staff.check("input[name=decision][value=full]")
    submit(staff, "input[name=decision][value=full]")
    staff.wait_for_url("**/scholarship/commission/")
    staff.goto("/scholarship/commission/statistics/")
    assert_accessible(staff, "statistics")

    # The candidate sees the decision.
    laptop.goto("/scholarship/")
    assert laptop.locator("#decision").is_visible()
    assert "6334" in laptop.locator("#decision").inner_text()
    assert laptop.locator("#application-history li").count() == 2
    assert_accessible(laptop, "decision seen")
