"""The candidate's application: drafts saved at every step and resumed elsewhere, submission
with a receipt, and every refusal (each changes nothing and says why)."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from notifications.models import Notification
from scholarships import services
from scholarships.models import Application, ApplicationDocument, Status

from .conftest import PDF_BYTES, fill, png_bytes

pytestmark = pytest.mark.django_db


def test_a_draft_is_saved_at_every_step_and_resumed_on_another_device(
    programme, candidate_a, client_for
):
    phone = client_for(candidate_a.user)
    assert phone.post(reverse("scholarships:start")).status_code == 302
    response = phone.post(
        reverse("scholarships:step", args=["identity"]),
        {"address": "12 rue Atlas, Rabat", "confirm": "on"},
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("scholarships:step", args=["household"])
    phone.post(
        reverse("scholarships:step", args=["household"]),
        {"relation": "mother", "age": "45", "situation": "unemployed"},
    )
    # Another device, another session: the same draft comes back.
    laptop = client_for(candidate_a.user)
    page = laptop.get(reverse("scholarships:step", args=["identity"]))
    assert "12 rue Atlas, Rabat" in page.content.decode()
    household = laptop.get(reverse("scholarships:step", args=["household"])).content.decode()
    assert "Mother" in household
    application = Application.objects.get(candidate=candidate_a)
    assert application.status == Status.DRAFT and application.steps_done == [
        "identity",
        "household",
    ]
    assert AuditEntry.objects.filter(
        action="scholarships.save_step", candidate_id=candidate_a.pk
    ).exists()


def test_a_complete_application_is_submitted_with_a_reference_and_the_candidate_is_told(
    submitted, candidate_a, client_for
):
    assert submitted.status == Status.SUBMITTED
    assert submitted.reference.startswith("BRS-2026-") and submitted.version.number == 1
    page = client_for(candidate_a.user).get(reverse("scholarships:receipt")).content.decode()
    assert submitted.reference in page
    assert Notification.objects.filter(candidate=candidate_a, kind="scholarship_status").exists()
    assert AuditEntry.objects.filter(action="scholarships.submit", candidate_id=candidate_a.pk)


def test_it_refuses_an_application_from_a_candidate_without_a_cnie(
    programme, candidate_a, client_for
):
    candidate_a.cnie_number = ""
    candidate_a.save()
    with pytest.raises(services.ScholarshipRefused) as refused:
        services.start_application(candidate_a, candidate_a.user)
    assert "CNIE" in refused.value.message
    client = client_for(candidate_a.user)
    client.post(reverse("scholarships:start"))
    assert not Application.objects.exists()
    assert "no CNIE number" in client.get(reverse("scholarships:mine")).content.decode()


def test_it_refuses_an_application_outside_the_window(programme, candidate_a):
    values = services.version_values(programme.current_version())
    values["opens_at"] = timezone.now() + datetime.timedelta(days=2)
    values["closes_at"] = timezone.now() + datetime.timedelta(days=9)
    services.save_version(programme, None, values, "later")
    with pytest.raises(services.ScholarshipRefused) as refused:
        services.start_application(candidate_a, candidate_a.user)
    assert "open on" in refused.value.message
    assert not Application.objects.exists()


def test_a_draft_cannot_be_changed_or_submitted_once_the_window_closed(programme, candidate_a):
    application = services.start_application(candidate_a, candidate_a.user)
    fill(application, candidate_a.user)
    later = timezone.now() + datetime.timedelta(days=30)
    with pytest.raises(services.ScholarshipRefused):
        services.submit(application, candidate_a.user, now=later)
    with pytest.raises(services.ScholarshipRefused):
        services.save_step(application, candidate_a.user, "identity", {"address": "x"}, now=later)
    application.refresh_from_db()
    assert application.status == Status.DRAFT and application.address == "12 rue Atlas, Rabat"


def test_it_refuses_a_second_application(submitted, candidate_a, client_for):
    with pytest.raises(services.ScholarshipRefused) as refused:
        services.start_application(candidate_a, candidate_a.user)
    assert submitted.reference in refused.value.message
    with pytest.raises(services.ScholarshipRefused):
        services.submit(submitted, candidate_a.user)
    client = client_for(candidate_a.user)
    client.post(reverse("scholarships:submit"))
    assert Application.objects.count() == 1
    submitted.refresh_from_db()
    assert submitted.status == Status.SUBMITTED


def test_it_refuses_a_birth_date_that_breaks_the_age_rule(programme, candidate_a, client_for):
    candidate_a.birth_date = datetime.date(1999, 5, 1)
    candidate_a.save()
    application = fill(services.start_application(candidate_a, candidate_a.user), candidate_a.user)
    with pytest.raises(services.ScholarshipRefused) as refused:
        services.submit(application, candidate_a.user)
    assert any("under 26" in reason for reason in refused.value.reasons)
    application.refresh_from_db()
    assert application.status == Status.DRAFT and application.reference == ""
    review = client_for(candidate_a.user).get(reverse("scholarships:review")).content.decode()
    assert "under 26" in review


@pytest.mark.parametrize(
    "change, words",
    [
        ({"employed": True}, "paid employment"),
        ({"public_institution": False}, "public institution"),
        ({"rsu_index": Decimal("9.5")}, "above the threshold"),
        ({"rnp_number": ""}, "RNP"),
    ],
)
def test_each_eligibility_rule_refuses_the_submission_with_its_reason(
    programme, candidate_a, change, words
):
    application = fill(services.start_application(candidate_a, candidate_a.user), candidate_a.user)
    Application.objects.filter(pk=application.pk).update(**change)
    with pytest.raises(services.ScholarshipRefused) as refused:
        services.submit(application, candidate_a.user)
    assert any(words in reason for reason in refused.value.reasons)
    assert Application.objects.get(pk=application.pk).status == Status.DRAFT


def test_it_refuses_to_submit_before_every_step_is_done(programme, candidate_a):
    application = services.start_application(candidate_a, candidate_a.user)
    services.save_step(application, candidate_a.user, "identity", {"address": "x"})
    with pytest.raises(services.ScholarshipRefused) as refused:
        services.submit(application, candidate_a.user)
    assert "Household" in refused.value.message


def test_it_refuses_a_document_of_the_wrong_type(programme, candidate_a, client_for):
    services.start_application(candidate_a, candidate_a.user)
    client = client_for(candidate_a.user)
    upload = io.BytesIO(b"MZ\x90\x00 this is a program, not a document")
    upload.name = "certificate.pdf"
    response = client.post(
        reverse("scholarships:step", args=["documents"]),
        {"kind": "income_certificate", "file": upload},
    )
    assert response.status_code == 400
    assert "Only a PDF, a JPEG or a PNG" in response.content.decode()
    assert not ApplicationDocument.objects.exists()


def test_it_refuses_a_document_that_is_too_large(programme, candidate_a, client_for):
    values = services.version_values(programme.current_version())
    values["max_document_bytes"] = 10_000
    services.save_version(programme, None, values, "smaller documents")
    services.start_application(candidate_a, candidate_a.user)
    upload = io.BytesIO(PDF_BYTES + b"%" + b"x" * 20_000 + b"\n")
    upload.name = "big.pdf"
    response = client_for(candidate_a.user).post(
        reverse("scholarships:step", args=["documents"]),
        {"kind": "income_certificate", "file": upload},
    )
    assert response.status_code == 400
    assert "larger than" in response.content.decode()
    assert not ApplicationDocument.objects.exists()


def test_a_document_is_stored_encrypted_and_only_its_owner_reads_it(
    programme, candidate_a, candidate_b, client_for
):
    application = services.start_application(candidate_a, candidate_a.user)
    document = services.upload_document(
        application, candidate_a.user, "rsu_certificate", io.BytesIO(png_bytes())
    )
    from django.core.files.storage import default_storage

    with default_storage.open(document.encrypted_file, "rb") as handle:
        assert not handle.read().startswith(b"\x89PNG")
    url = reverse("scholarships:my_document", args=[document.pk])
    assert client_for(candidate_a.user).get(url).content == png_bytes()
    assert client_for(candidate_b.user).get(url).status_code == 404


def test_it_refuses_an_income_that_is_not_a_number(programme, candidate_a, client_for):
    application = services.start_application(candidate_a, candidate_a.user)
    response = client_for(candidate_a.user).post(
        reverse("scholarships:step", args=["incomes"]),
        {"household_income": "about twenty thousand", "other_income": ""},
    )
    assert response.status_code == 400
    assert "as a number of dirhams" in response.content.decode()
    application.refresh_from_db()
    assert application.household_income is None and "incomes" not in application.steps_done


def test_an_income_with_spaces_and_a_comma_is_read_as_a_number(programme, candidate_a, client_for):
    services.start_application(candidate_a, candidate_a.user)
    client_for(candidate_a.user).post(
        reverse("scholarships:step", args=["incomes"]),
        {"household_income": "24 000,50", "other_income": "0"},
    )
    assert Application.objects.get().household_income == Decimal("24000.50")


def test_a_candidate_sees_only_their_own_application(submitted, candidate_b, client_for):
    client = client_for(candidate_b.user)
    assert client.get(reverse("scholarships:receipt")).status_code == 404
    assert client.get(reverse("scholarships:review")).status_code == 404
    page = client.get(reverse("scholarships:mine")).content.decode()
    assert submitted.reference not in page


def test_staff_cannot_use_the_candidate_pages(programme, clerk, client_for):
    assert client_for(clerk).get(reverse("scholarships:mine")).status_code == 403


def test_a_household_member_can_be_removed_from_a_draft(programme, candidate_a, client_for):
    application = services.start_application(candidate_a, candidate_a.user)
    member = services.add_member(
        application, candidate_a.user, {"relation": "father", "age": 50, "situation": "retired"}
    )
    client_for(candidate_a.user).post(
        reverse("scholarships:step", args=["household"]), {"delete": str(member.pk)}
    )
    assert not application.members.exists()
    assert AuditEntry.objects.filter(action="scholarships.remove_member").exists()
