"""The commission: membership and scope, checks, ranking, decisions one by one and in bulk,
appeals, the social-register import, exports, statistics and the programme's versions."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import openpyxl
import pytest
from django.urls import reverse
from django.utils import timezone

from audit.models import AuditEntry
from notifications.models import Notification
from scholarships import services
from scholarships.models import (
    AppealStatus,
    Application,
    CommissionMember,
    Decision,
    SocialRegisterEntry,
    Status,
)

pytestmark = pytest.mark.django_db


def test_a_member_decides_and_the_candidate_is_told_and_sees_it(
    submitted, academy_member, candidate_a, client_for
):
    response = client_for(academy_member).post(
        reverse("scholarships:commission_detail", args=[submitted.pk]),
        {"decision": "full", "reason": ""},
    )
    assert response.status_code == 302
    submitted.refresh_from_db()
    assert submitted.status == Status.DECIDED and submitted.decision == Decision.FULL
    assert submitted.amount == Decimal("6334.00")
    assert (
        Notification.objects.filter(candidate=candidate_a, kind="scholarship_status")
        .values("reference")
        .distinct()
        .count()
        == 2
    )
    entry = AuditEntry.objects.get(action="scholarships.decide")
    assert entry.candidate_id == candidate_a.pk and entry.after["decision"] == "full"
    assert entry.after["version"] == submitted.version.number
    page = client_for(candidate_a.user).get(reverse("scholarships:mine")).content.decode()
    assert "Full grant" in page and "6334" in page


def test_it_refuses_a_decision_by_a_non_member_of_the_commission(submitted, non_member, client_for):
    with pytest.raises(services.ScholarshipRefused) as refused:
        services.decide(submitted, non_member, "full")
    assert "Only a member of the scholarship commission" in refused.value.message
    response = client_for(non_member).post(
        reverse("scholarships:commission_detail", args=[submitted.pk]), {"decision": "full"}
    )
    assert response.status_code == 403
    submitted.refresh_from_db()
    assert submitted.status == Status.SUBMITTED and submitted.decision == ""


def test_a_member_of_another_academy_neither_sees_nor_decides(
    submitted, member_of_other_academy, client_for
):
    client = client_for(member_of_other_academy)
    url = reverse("scholarships:commission_detail", args=[submitted.pk])
    assert client.get(url).status_code == 404
    assert client.post(url, {"decision": "full"}).status_code == 404
    with pytest.raises(services.ScholarshipRefused):
        services.decide(submitted, member_of_other_academy, "full")
    assert (
        submitted.reference
        not in client.get(reverse("scholarships:commission_list")).content.decode()
    )


def test_an_inactive_member_is_no_member(submitted, national_member, client_for):
    CommissionMember.objects.filter(user=national_member).update(is_active=False)
    assert (
        client_for(national_member).get(reverse("scholarships:commission_list")).status_code == 403
    )


def test_a_refusal_needs_a_reason(submitted, national_member):
    with pytest.raises(services.ScholarshipRefused):
        services.decide(submitted, national_member, "refused", "  ")
    submitted.refresh_from_db()
    assert submitted.decision == ""


def test_a_void_application_cannot_be_decided(submitted, national_member):
    Application.objects.filter(pk=submitted.pk).update(status=Status.VOID)
    with pytest.raises(services.ScholarshipRefused):
        services.decide(submitted, national_member, "full")


def test_ranking_proposes_grants_under_the_budget_and_the_bulk_decision_applies_them(
    submitted, submitted_b, national_member, client_for, programme
):
    values = services.version_values(programme.current_version())
    values["budget_grants"] = 1
    services.save_version(programme, national_member, values, "one grant")
    client = client_for(national_member)
    client.post(reverse("scholarships:commission_rank"))
    submitted.refresh_from_db()
    submitted_b.refresh_from_db()
    # b's household is poorer (index 6.1, 6 people, 12,000 MAD): first, and the only grant.
    assert (submitted_b.rank, submitted_b.proposal) == (1, "full")
    assert (submitted.rank, submitted.proposal) == (2, "refused")
    client.post(
        reverse("scholarships:commission_bulk"),
        {"applications": [submitted.pk, submitted_b.pk], "decision": "proposal"},
    )
    submitted.refresh_from_db()
    submitted_b.refresh_from_db()
    assert submitted_b.decision == "full" and submitted.decision == "refused"
    assert submitted.decision_reason
    assert AuditEntry.objects.filter(action="scholarships.rank").exists()


def test_only_a_national_member_ranks(submitted, academy_member, programme):
    with pytest.raises(services.ScholarshipRefused):
        services.rank_programme(programme, academy_member)


def test_a_bulk_refusal_needs_a_reason(submitted, national_member, client_for):
    client_for(national_member).post(
        reverse("scholarships:commission_bulk"),
        {"applications": [submitted.pk], "decision": "refused", "reason": ""},
    )
    submitted.refresh_from_db()
    assert submitted.decision == ""


def test_the_candidate_appeals_within_the_window_and_the_commission_upholds_it(
    submitted, national_member, candidate_a, client_for
):
    services.decide(submitted, national_member, "refused", "Index too high")
    client = client_for(candidate_a.user)
    assert "Appeal the decision" in client.get(reverse("scholarships:mine")).content.decode()
    client.post(reverse("scholarships:appeal"), {"text": "My father lost his job in May."})
    submitted.refresh_from_db()
    assert submitted.appeal_status == AppealStatus.PENDING
    with pytest.raises(services.ScholarshipRefused):
        services.file_appeal(submitted, candidate_a.user, "again")
    client_for(national_member).post(
        reverse("scholarships:commission_appeal", args=[submitted.pk]),
        {"outcome": "half", "reason": "Certificate of job loss received."},
    )
    submitted.refresh_from_db()
    assert submitted.appeal_status == AppealStatus.UPHELD
    assert submitted.decision == "half" and submitted.amount == Decimal("3167.00")


def test_no_appeal_after_the_window(submitted, national_member, candidate_a):
    services.decide(submitted, national_member, "refused", "Index too high")
    later = timezone.now() + datetime.timedelta(days=11)
    with pytest.raises(services.ScholarshipRefused):
        services.file_appeal(submitted, candidate_a.user, "too late", now=later)


def test_checks_find_a_duplicate_household_and_contradictions_with_the_register(
    submitted, submitted_b, national_member, programme, client_for
):
    Application.objects.filter(pk=submitted_b.pk).update(rsu_number=submitted.rsu_number)
    data = b"rsu_number;household_size;rsu_index;yearly_income\nRSU0001;7;7.5000000;90000\n"
    assert services.import_register(programme, national_member, data) == 1
    found = services.checks(submitted)
    assert any("same RSU identifier" in f for f in found)
    assert any("Household of 4 declared; the register says 7" in f for f in found)
    assert any("Income of" in f for f in found)
    page = (
        client_for(national_member)
        .get(reverse("scholarships:commission_list") + "?flagged=on")
        .content.decode()
    )
    assert submitted.reference in page and "duplicate RSU" in page


def test_the_register_import_is_all_or_nothing_and_reports_every_bad_row(
    programme, national_member, client_for
):
    SocialRegisterEntry.objects.create(
        programme=programme, rsu_number="KEEP0001", household_size=3, rsu_index=Decimal("5")
    )
    data = (
        b"rsu_number,household_size,rsu_index\nRSU0001,4,7.5\nX,4,7.5\nRSU0003,0,abc\nRSU0001,2,3\n"
    )
    upload = io.BytesIO(data)
    upload.name = "rsu.csv"
    response = client_for(national_member).post(
        reverse("scholarships:commission_register"), {"file": upload}
    )
    assert response.status_code == 400
    errors = response.context["errors"]
    assert [(e["line"], e["column"]) for e in errors] == [
        (3, "rsu_number"),
        (4, "household_size"),
        (4, "rsu_index"),
        (5, "rsu_number"),
    ]
    assert list(SocialRegisterEntry.objects.values_list("rsu_number", flat=True)) == ["KEEP0001"]


def test_exports_in_csv_and_xlsx(submitted, national_member, client_for):
    client = client_for(national_member)
    csv_text = client.get(reverse("scholarships:commission_export", args=["csv"])).content.decode(
        "utf-8-sig"
    )
    assert csv_text.splitlines()[0].startswith("reference;massar_code")
    assert submitted.reference in csv_text
    response = client.get(reverse("scholarships:commission_export", args=["xlsx"]))
    sheet = openpyxl.load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.values)
    assert rows[0][0] == "reference" and rows[1][0] == submitted.reference


def test_statistics_by_academy_directorate_and_sex(
    submitted, submitted_b, national_member, client_for
):
    services.decide(submitted, national_member, "full")
    services.decide(submitted_b, national_member, "half")
    client = client_for(national_member)
    for by in ("academy", "directorate", "sex"):
        response = client.get(reverse("scholarships:commission_statistics") + f"?by={by}")
        assert response.status_code == 200
    rows = services.statistics(Application.objects.all(), "sex")
    assert {r["label"]: (r["grants"], r["amount"]) for r in rows} == {
        "Female": (1, Decimal("3167.00")),
        "Male": (1, Decimal("6334.00")),
    }
    page = client.get(reverse("scholarships:commission_statistics")).content.decode()
    assert "<svg" in page and "style=" not in page and "<script" not in page


def test_every_edit_of_the_programme_is_a_new_audited_version_and_applications_keep_theirs(
    submitted, ministry_staff, programme, client_for
):
    version = programme.current_version()
    form = {
        k: v
        for k, v in {
            "opens_at": "2026-05-01T08:00",
            "closes_at": "2026-12-31T18:00",
            "bac_date": "2026-06-01",
            "full_amount": "7000",
            "half_amount": "3500",
            "nationality": "MAR",
            "age_limit": "26",
            "require_bac_of_year": "on",
            "require_public_institution": "on",
            "require_no_employment": "on",
            "require_rnp": "on",
            "require_rsu": "on",
            "rsu_threshold": "9.3264284",
            "full_grant_max_index": "8.5",
            "income_ceiling": "30000",
            "required_documents": ["income_certificate"],
            "weights": '{"social": 60, "income": 20, "household": 10, "merit": 10}',
            "budget_grants": "500",
            "budget_amount": "",
            "appeal_days": "10",
            "max_document_bytes": "5242880",
            "reason": "Finance law 2026",
        }.items()
    }
    response = client_for(ministry_staff).post(reverse("scholarships:programme"), form)
    assert response.status_code == 302
    newest = programme.current_version()
    assert newest.number == version.number + 1 and newest.full_amount == Decimal("7000")
    version.refresh_from_db()
    assert version.full_amount == Decimal("6334")
    submitted.refresh_from_db()
    assert submitted.version_id == version.pk
    entry = AuditEntry.objects.filter(action="scholarships.programme_version").last()
    assert entry.after["full_amount"] == "7000.00" and entry.reason == "Finance law 2026"
    with pytest.raises(ValueError):
        newest.save()


def test_bad_weights_are_refused(programme, ministry_staff):
    values = services.version_values(programme.current_version())
    values["weights"] = {"luck": 100}
    with pytest.raises(services.ScholarshipRefused):
        services.save_version(programme, ministry_staff, values)
    assert programme.versions.count() == 1


def test_commission_pages_are_closed_to_candidates_school_staff_and_non_members(
    submitted, candidate_a, clerk, non_member, academy_staff, client_for
):
    pages = [
        reverse("scholarships:commission_list"),
        reverse("scholarships:commission_detail", args=[submitted.pk]),
        reverse("scholarships:commission_statistics"),
        reverse("scholarships:commission_register"),
        reverse("scholarships:commission_export", args=["csv"]),
    ]
    for user in (candidate_a.user, clerk, non_member, academy_staff):
        client = client_for(user)
        for url in pages:
            assert client.get(url).status_code == 403, (user.username, url)
    assert client_for(academy_staff).get(reverse("scholarships:programme")).status_code == 403


def test_a_member_views_a_document_and_the_view_is_audited(submitted, academy_member, client_for):
    document = submitted.documents.filter(is_current=True).first()
    response = client_for(academy_member).get(
        reverse("scholarships:commission_document", args=[document.pk])
    )
    assert response.status_code == 200 and response.content.startswith(b"\x89PNG")
    assert AuditEntry.objects.filter(action="scholarships.view_document").exists()


def test_ministry_staff_create_the_programme_with_its_first_version(
    session, ministry_staff, client_for
):
    client = client_for(ministry_staff)
    page = client.get(reverse("scholarships:programme"))
    assert page.status_code == 200 and "6334" in page.content.decode()
    form = {
        k: v
        for k, v in page.context["form"].initial.items()
        if k not in ("required_documents",) and v is not None
    }
    form.update(
        {
            "bac_date": "2026-06-01",
            "required_documents": ["income_certificate", "rsu_certificate"],
            "require_bac_of_year": "on",
            "require_public_institution": "on",
            "require_no_employment": "on",
            "require_rnp": "on",
            "require_rsu": "on",
            "reason": "Programme 2026",
        }
    )
    assert client.post(reverse("scholarships:programme"), form).status_code == 302
    programme = services.current_programme(session)
    assert programme.current_version().number == 1


def test_the_commission_list_makes_a_fixed_number_of_queries(
    submitted, submitted_b, national_member, client_for, django_assert_max_num_queries
):
    client = client_for(national_member)
    with django_assert_max_num_queries(14):
        assert client.get(reverse("scholarships:commission_list")).status_code == 200


def test_a_national_member_filters_by_academy_and_status(
    submitted, national_member, other_academy, academy, client_for
):
    client = client_for(national_member)
    url = reverse("scholarships:commission_list")
    assert submitted.reference in client.get(f"{url}?academy={academy.pk}").content.decode()
    assert (
        submitted.reference not in client.get(f"{url}?academy={other_academy.pk}").content.decode()
    )
    assert submitted.reference not in client.get(f"{url}?status=decided").content.decode()
    assert submitted.reference in client.get(f"{url}?q={submitted.reference}").content.decode()
