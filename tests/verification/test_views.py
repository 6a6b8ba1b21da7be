"""The candidate verifies their data; the school resolves the reports; the dashboards; the MRZ
step after a CNIE upload. Personas come from tests/conftest.py."""

from __future__ import annotations

import datetime
import io

import pytest
from django.core.files.storage import default_storage
from django.urls import reverse
from django.utils import timezone
from PIL import Image

from audit.models import AuditEntry
from candidates.models import Candidate, IdentitySource
from notifications.models import Notification
from tests.identity.cards import cnie_card_zone
from verification.models import CorrectionRequest, FileCheck
from verification.services import check_file

from ..factories import SessionWindowFactory

pytestmark = pytest.mark.django_db


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 40), (200, 220, 240)).save(buffer, "PNG")
    return buffer.getvalue()


def _evidence(name: str = "acte.png", data: bytes | None = None):
    file = io.BytesIO(data if data is not None else _png())
    file.name = name
    return file


@pytest.fixture
def open_window(session):
    return SessionWindowFactory(session=session, kind="verification")


def _report(client, field="first_name_latin", value="Mohamed", evidence=None):
    return client.post(
        reverse("verification:report"),
        {
            "field": field,
            "proposed_value": value,
            "evidence": evidence or _evidence(),
            "comment": "Sur ma CNIE",
        },
    )


def _card(candidate, **changes):
    data = {
        "cnie_number": candidate.cnie_number,
        "last_name_latin": "El Amrani",
        "first_name_latin": "Mohammed",
        "birth_date": "2008-03-14",
        "sex": "M",
    } | changes
    return IdentitySource.objects.create(candidate=candidate, kind="cnie_card", data=data)


# -- The window -------------------------------------------------------------------------------


def test_before_the_window_the_candidate_is_told_when_it_opens_and_cannot_confirm(
    candidate_a, session, client_for
):
    SessionWindowFactory(
        session=session,
        opens_at=timezone.now() + datetime.timedelta(days=2),
        closes_at=timezone.now() + datetime.timedelta(days=9),
    )
    client = client_for(candidate_a.user)
    page = client.get(reverse("verification:mine"))
    assert page.status_code == 200
    assert "Data verification opens on" in page.content.decode()
    assert "confirm-all" not in page.content.decode()
    refused = client.post(reverse("verification:confirm"))
    assert refused.status_code == 400
    assert "Nothing was changed" in refused.content.decode()
    candidate_a.refresh_from_db()
    assert candidate_a.verification_status == "pending"


def test_after_the_window_a_report_is_refused_and_nothing_is_stored(
    candidate_a, session, client_for
):
    SessionWindowFactory(
        session=session,
        opens_at=timezone.now() - datetime.timedelta(days=9),
        closes_at=timezone.now() - datetime.timedelta(days=1),
    )
    client = client_for(candidate_a.user)
    assert (
        "Data verification closed on" in client.get(reverse("verification:mine")).content.decode()
    )
    response = _report(client)
    assert response.status_code == 400
    assert "Data verification closed on" in response.content.decode()
    assert not CorrectionRequest.objects.exists()


# -- The candidate ----------------------------------------------------------------------------


def test_the_candidate_sees_each_field_beside_the_card_with_the_finding_explained(
    candidate_a, open_window, client_for
):
    _card(candidate_a, first_name_latin="Mohamed")
    check_file(candidate_a)
    page = client_for(candidate_a.user).get(reverse("verification:mine")).content.decode()
    assert "العمراني" in page and "Mohammed" in page and "Mohamed" in page
    assert "CNIE card" in page
    assert "Data verification is open until" in page


def test_a_candidate_confirms_all_and_the_confirmation_is_audited(
    candidate_a, open_window, client_for
):
    response = client_for(candidate_a.user).post(reverse("verification:confirm"))
    assert response.status_code == 302
    candidate_a.refresh_from_db()
    assert candidate_a.verification_status == "confirmed"
    assert candidate_a.verified_at is not None
    assert AuditEntry.objects.filter(
        action="verification.confirm", candidate_id=candidate_a.pk
    ).exists()


def test_a_blocking_finding_must_be_reported_before_confirming(
    candidate_a, open_window, client_for
):
    _card(candidate_a, birth_date="2008-03-15")
    check_file(candidate_a)
    client = client_for(candidate_a.user)
    response = client.post(reverse("verification:confirm"))
    assert response.status_code == 400
    assert "Report the correct value" in response.content.decode()
    candidate_a.refresh_from_db()
    assert candidate_a.verification_status == "pending"


def test_a_candidate_reports_an_error_with_evidence_encrypted_at_rest(
    candidate_a, open_window, client_for
):
    response = _report(client_for(candidate_a.user))
    assert response.status_code == 302
    report = CorrectionRequest.objects.get()
    assert (report.field, report.current_value, report.proposed_value) == (
        "first_name_latin",
        "Mohammed",
        "Mohamed",
    )
    assert report.evidence_content_type == "image/png"
    with default_storage.open(report.evidence_file, "rb") as handle:
        assert b"PNG" not in handle.read()[:64]
    candidate_a.refresh_from_db()
    assert candidate_a.verification_status == "reported"
    page = client_for(candidate_a.user).get(reverse("verification:mine")).content.decode()
    assert "Awaiting the school" in page
    # While the report is pending, confirming is refused with the reason.
    assert client_for(candidate_a.user).post(reverse("verification:confirm")).status_code == 400


def test_a_report_on_a_field_that_does_not_exist_is_refused_and_nothing_stored(
    candidate_a, open_window, client_for
):
    response = _report(client_for(candidate_a.user), field="password")
    assert response.status_code == 400
    assert "is not a field of your file" in response.content.decode()
    assert not CorrectionRequest.objects.exists()
    candidate_a.refresh_from_db()
    assert candidate_a.verification_status == "pending"


def test_evidence_that_is_not_a_photo_or_pdf_is_refused(candidate_a, open_window, client_for):
    response = _report(client_for(candidate_a.user), evidence=_evidence("x.png", b"MZ\x90\x00exe"))
    assert response.status_code == 400
    assert "Only a JPEG or PNG photo or a PDF" in response.content.decode()
    assert not CorrectionRequest.objects.exists()


def test_evidence_over_the_size_limit_is_refused(candidate_a, open_window, client_for, settings):
    settings.EVIDENCE_UPLOAD_MAX_BYTES = 1024
    response = _report(client_for(candidate_a.user), evidence=_evidence(data=_png() + b"\0" * 2048))
    assert response.status_code == 400
    assert "larger than" in response.content.decode()
    assert not CorrectionRequest.objects.exists()


def test_another_candidate_cannot_see_a_candidates_reports_or_evidence(
    candidate_a, candidate_b, open_window, client_for
):
    _report(client_for(candidate_a.user))
    report = CorrectionRequest.objects.get()
    other = client_for(candidate_b.user)
    assert other.get(reverse("verification:my_evidence", args=[report.pk])).status_code == 404
    assert "Mohamed" not in other.get(reverse("verification:mine")).content.decode()
    own = client_for(candidate_a.user).get(reverse("verification:my_evidence", args=[report.pk]))
    assert own.status_code == 200 and own.content == _png()
    assert other.get(reverse("verification:queue")).status_code == 403


# -- The school -------------------------------------------------------------------------------


def test_the_clerk_accepts_a_report_the_file_changes_audited_and_the_candidate_is_notified(
    candidate_a, open_window, clerk, client_for, django_capture_on_commit_callbacks
):
    _report(client_for(candidate_a.user))
    report = CorrectionRequest.objects.get()
    staff = client_for(clerk)
    queue = staff.get(reverse("verification:queue")).content.decode()
    assert "Mohamed" in queue
    evidence = staff.get(reverse("verification:staff_evidence", args=[report.pk]))
    assert evidence.status_code == 200 and evidence.content == _png()
    assert AuditEntry.objects.filter(action="verification.evidence_view").exists()
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(
            reverse("verification:decide", args=[report.pk]), {"decision": "accept", "reason": ""}
        )
    assert response.status_code == 302
    candidate_a.refresh_from_db()
    assert candidate_a.first_name_latin == "Mohamed"
    assert candidate_a.verification_status == "pending"
    entry = AuditEntry.objects.get(action="candidate.update", candidate_id=candidate_a.pk)
    assert entry.before == {"first_name_latin": "Mohammed"}
    assert entry.after == {"first_name_latin": "Mohamed"}
    assert Notification.objects.filter(candidate=candidate_a, kind="correction_decided").exists()
    assert FileCheck.objects.filter(candidate=candidate_a).exists()
    # With every report decided, the candidate can confirm.
    assert client_for(candidate_a.user).post(reverse("verification:confirm")).status_code == 302


def test_the_clerk_rejects_with_a_reason_the_candidate_reads(
    candidate_a, open_window, clerk, client_for
):
    _report(client_for(candidate_a.user))
    report = CorrectionRequest.objects.get()
    staff = client_for(clerk)
    no_reason = staff.post(
        reverse("verification:decide", args=[report.pk]), {"decision": "reject", "reason": ""}
    )
    assert no_reason.status_code == 400
    staff.post(
        reverse("verification:decide", args=[report.pk]),
        {"decision": "reject", "reason": "Le document fourni est illisible."},
    )
    report.refresh_from_db()
    assert report.status == "rejected"
    candidate_a.refresh_from_db()
    assert candidate_a.first_name_latin == "Mohammed"
    page = client_for(candidate_a.user).get(reverse("verification:mine")).content.decode()
    assert "Le document fourni est illisible." in page


def test_a_clerk_of_another_school_gets_404_on_a_report(
    candidate_a, open_window, clerk_of_other_school, client_for
):
    _report(client_for(candidate_a.user))
    report = CorrectionRequest.objects.get()
    staff = client_for(clerk_of_other_school)
    url = reverse("verification:decide", args=[report.pk])
    assert staff.get(url).status_code == 404
    assert staff.post(url, {"decision": "accept"}).status_code == 404
    assert staff.get(reverse("verification:staff_evidence", args=[report.pk])).status_code == 404
    assert "Mohamed" not in staff.get(reverse("verification:queue")).content.decode()
    report.refresh_from_db()
    assert report.status == "pending"


def test_bulk_acceptance_asks_for_confirmation_and_skips_reports_no_source_confirms(
    candidate_a, candidate_b, open_window, clerk, client_for
):
    _card(candidate_a, first_name_latin="Mohamed")
    _report(client_for(candidate_a.user))
    _report(client_for(candidate_b.user), field="birth_place_latin", value="Salé")
    staff = client_for(clerk)
    ids = list(CorrectionRequest.objects.values_list("pk", flat=True))
    step = staff.post(reverse("verification:bulk"), {"reports": ids, "decision": "accept"})
    assert step.status_code == 200
    assert CorrectionRequest.objects.filter(status="pending").count() == 2
    done = staff.post(
        reverse("verification:bulk"), {"reports": ids, "decision": "accept", "confirmed": "on"}
    )
    assert done.status_code == 302
    statuses = dict(CorrectionRequest.objects.values_list("field", "status"))
    assert statuses == {"first_name_latin": "accepted", "birth_place_latin": "pending"}


# -- Dashboards -------------------------------------------------------------------------------


def test_the_dashboard_counts_only_the_files_in_scope(
    candidate_a, candidate_b, open_window, clerk_of_other_school, clerk, ministry_staff, client_for
):
    Candidate.objects.filter(pk=candidate_a.pk).update(verification_status="confirmed")
    _card(candidate_b, birth_date="2008-03-15")
    check_file(candidate_b)
    page = client_for(clerk).get(reverse("verification:dashboard"))
    assert page.status_code == 200
    rows = page.context["rows"]
    assert [(r.total, r.verified, r.pending, r.blocking) for r in rows] == [(2, 1, 1, 1)]
    assert "<svg" in page.content.decode() and "style=" not in page.content.decode()
    other = client_for(clerk_of_other_school).get(reverse("verification:dashboard"))
    assert [r.total for r in other.context["rows"]] == []
    nation = client_for(ministry_staff).get(reverse("verification:dashboard") + "?level=nation")
    assert nation.context["rows"][0].total == 2
    assert client_for(candidate_a.user).get(reverse("verification:dashboard")).status_code == 403


# -- The MRZ step -----------------------------------------------------------------------------


def _zone(candidate):
    return cnie_card_zone(candidate.cnie_number)


def test_a_confirmed_mrz_is_stored_as_a_source_and_the_file_rechecked(
    candidate_a, clerk, client_for
):
    line1, line2, line3 = _zone(candidate_a)
    response = client_for(clerk).post(
        reverse("candidates:mrz", args=[candidate_a.pk]),
        {"line1": line1, "line2": line2, "line3": line3},
    )
    assert response.status_code == 302
    source = IdentitySource.objects.get(candidate=candidate_a, kind="mrz")
    assert source.data
    assert FileCheck.objects.get(candidate=candidate_a).sources == ["mrz"]


def test_an_mrz_with_one_wrong_check_digit_is_refused_naming_it_and_nothing_stored(
    candidate_a, clerk, client_for
):
    line1, line2, line3 = _zone(candidate_a)
    digit = line2[6]
    line2 = line2[:6] + str((int(digit) + 1) % 10) + line2[7:]
    response = client_for(clerk).post(
        reverse("candidates:mrz", args=[candidate_a.pk]),
        {"line1": line1, "line2": line2, "line3": line3},
    )
    assert response.status_code == 400
    assert "birth date check digit is wrong" in response.content.decode()
    assert not IdentitySource.objects.filter(candidate=candidate_a, kind="mrz").exists()


def test_a_clerk_of_another_school_cannot_reach_the_mrz_step(
    candidate_a, clerk_of_other_school, client_for
):
    url = reverse("candidates:mrz", args=[candidate_a.pk])
    assert client_for(clerk_of_other_school).get(url).status_code == 404


def test_after_an_upload_the_clerk_sees_the_mrz_step_with_the_ocr_outcome(
    candidate_a, clerk, client_for
):
    staff = client_for(clerk)
    upload = _evidence("cnie.png")
    response = staff.post(
        reverse("candidates:cnie_upload", args=[candidate_a.pk]), {"document": upload}
    )
    assert response.status_code == 302
    page = staff.get(reverse("candidates:detail", args=[candidate_a.pk])).content.decode()
    assert 'id="mrz-form"' in page
    assert "type the" in page.lower() or "zone" in page.lower()


def test_the_queue_makes_the_same_number_of_queries_for_one_or_many_reports(
    candidate_a, candidate_b, open_window, clerk, client_for
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    staff = client_for(clerk)
    _report(client_for(candidate_a.user))
    with CaptureQueriesContext(connection) as one:
        staff.get(reverse("verification:queue"))
    _report(client_for(candidate_b.user), field="birth_place_latin", value="Salé")
    _report(client_for(candidate_a.user), field="birth_place_latin", value="Salé")
    with CaptureQueriesContext(connection) as three:
        page = staff.get(reverse("verification:queue"))
    assert len(page.context["rows"]) == 3
    assert len(three.captured_queries) == len(one.captured_queries)


def test_once_the_school_rejected_a_report_on_a_blocking_field_the_candidate_may_confirm(
    candidate_a, open_window, clerk, client_for
):
    _card(candidate_a, birth_date="2008-03-15")
    check_file(candidate_a)
    candidate = client_for(candidate_a.user)
    _report(candidate, field="birth_date", value="15/03/2008")
    report = CorrectionRequest.objects.get()
    assert report.proposed_value == "2008-03-15"
    client_for(clerk).post(
        reverse("verification:decide", args=[report.pk]),
        {"decision": "reject", "reason": "L'extrait d'acte de naissance dit le 14 mars."},
    )
    assert candidate.post(reverse("verification:confirm")).status_code == 302


def test_without_tesseract_the_upload_skips_ocr_and_asks_the_clerk_to_type_the_zone(
    candidate_a, clerk, client_for, monkeypatch
):
    monkeypatch.setattr("identity.ocr.tesseract_command", lambda: None)
    staff = client_for(clerk)
    staff.post(
        reverse("candidates:cnie_upload", args=[candidate_a.pk]), {"document": _evidence("c.png")}
    )
    page = staff.get(reverse("candidates:detail", args=[candidate_a.pk])).content.decode()
    assert "Automatic reading is not available on this server" in page
    assert 'id="mrz-form"' in page


def test_after_uploading_a_card_image_the_clerk_finds_the_zone_prefilled_by_ocr(
    candidate_a, clerk, client_for
):
    from tests.identity.test_ocr import _missing, render_card

    if _missing():
        pytest.skip(f"OCR not available: {_missing()}")
    zone = _zone(candidate_a)
    staff = client_for(clerk)
    staff.post(
        reverse("candidates:cnie_upload", args=[candidate_a.pk]),
        {"document": _evidence("card.png", render_card(zone))},
    )
    page = staff.get(reverse("candidates:detail", args=[candidate_a.pk])).content.decode()
    assert "The zone was read automatically" in page
    assert f'value="{zone[1]}"' in page.replace("&lt;", "<")
    # The clerk confirms it as read: it becomes the MRZ source.
    staff.post(
        reverse("candidates:mrz", args=[candidate_a.pk]),
        {"line1": zone[0], "line2": zone[1], "line3": zone[2]},
    )
    assert IdentitySource.objects.filter(candidate=candidate_a, kind="mrz").exists()


def test_the_chart_geometry_is_not_localised_in_french(
    candidate_a, candidate_b, open_window, clerk, client_for
):
    Candidate.objects.filter(pk=candidate_a.pk).update(verification_status="confirmed")
    page = client_for(clerk).get(reverse("verification:dashboard"), HTTP_ACCEPT_LANGUAGE="fr")
    import re

    widths = re.findall(r'<rect x="([^"]*)" y="[^"]*" width="([^"]*)"', page.content.decode())
    assert ("0.0", "300.0") in widths
    assert not any("," in x or "," in w for x, w in widths)
