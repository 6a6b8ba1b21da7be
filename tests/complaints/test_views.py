"""The complaint pages: who may use which, and the candidate's and reviewers' forms."""

from __future__ import annotations

import pytest
from django.urls import reverse

from complaints import services
from complaints.models import Complaint, Status

from .helpers import file, math, proposed


def test_the_candidate_page_says_it_is_not_a_re_marking_and_offers_national_subjects(
    published, candidate_a, client_for
):
    page = client_for(candidate_a.user).get(reverse("complaints:mine"))
    assert page.status_code == 200 and page["Cache-Control"] == "no-store"
    html = page.content.decode()
    assert "A complaint is not a re-marking." in html
    assert "14.25/20" in html and 'id="file-form"' in html
    assert "11.00/20" not in html  # the regional FR mark: not offered


def test_filing_through_the_form_leads_to_the_receipt(published, candidate_a, client_for):
    client = client_for(candidate_a.user)
    response = client.post(
        reverse("complaints:file"),
        {"subject": math().pk, "kind": "unmarked_answer", "comment": "Exercice 3"},
    )
    complaint = Complaint.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("complaints:detail", args=[complaint.reference])
    receipt = client.get(response["Location"]).content.decode()
    assert complaint.reference in receipt and "Received" in receipt


def test_a_second_complaint_through_the_form_is_refused_with_a_message(
    published, candidate_a, client_for
):
    client = client_for(candidate_a.user)
    data = {"subject": math().pk, "kind": "wrong_sum"}
    client.post(reverse("complaints:file"), data)
    response = client.post(reverse("complaints:file"), data)
    assert response.status_code == 400
    assert "You have already filed a complaint" in response.content.decode()
    assert Complaint.objects.count() == 1


def test_a_candidate_cannot_see_another_candidates_complaint(
    published, candidate_a, candidate_b, client_for
):
    complaint = file(candidate_a)
    url = reverse("complaints:detail", args=[complaint.reference])
    assert client_for(candidate_b.user).get(url).status_code == 404
    assert client_for(candidate_a.user).get(url).status_code == 200


def test_the_receipt_lookup_is_rate_limited(published, candidate_a, client_for):
    client = client_for(candidate_a.user)
    url = reverse("complaints:detail", args=["REC-0000000000"])
    statuses = {client.get(url).status_code for _ in range(61)}
    assert statuses == {404, 429}


@pytest.mark.parametrize(
    "name", ["queue", "overdue", "statistics", "review", "assign", "decide", "approve", "export"]
)
def test_candidates_and_school_clerks_cannot_use_the_staff_pages(
    published, candidate_a, clerk, client_for, name
):
    complaint = file(candidate_a)
    args = [] if name in ("queue", "overdue", "statistics", "export") else [complaint.pk]
    url = reverse(f"complaints:{name}", args=args)
    for user in (candidate_a.user, clerk):
        client = client_for(user)
        response = client.post(url) if name in ("assign", "decide", "approve") else client.get(url)
        assert response.status_code == 403


def test_staff_of_another_academy_get_404_on_a_complaint(
    published, candidate_a, academy_staff_of_other_academy, client_for
):
    complaint = file(candidate_a)
    client = client_for(academy_staff_of_other_academy)
    assert client.get(reverse("complaints:review", args=[complaint.pk])).status_code == 404
    response = client.post(
        reverse("complaints:decide", args=[complaint.pk]),
        {"decision": "reject", "finding": "x", "reason": "y"},
    )
    assert response.status_code == 404
    assert complaint.reference not in client.get(reverse("complaints:queue")).content.decode()
    complaint.refresh_from_db()
    assert complaint.status == Status.FILED


def test_the_ministry_sees_but_cannot_decide(published, candidate_a, ministry_staff, client_for):
    complaint = file(candidate_a)
    client = client_for(ministry_staff)
    assert client.get(reverse("complaints:review", args=[complaint.pk])).status_code == 200
    response = client.post(
        reverse("complaints:decide", args=[complaint.pk]),
        {"decision": "reject", "finding": "x", "reason": "y"},
    )
    assert response.status_code == 400
    assert "Only the staff of the candidate" in response.content.decode()
    assert client.get(reverse("complaints:scan", args=[complaint.pk])).status_code == 403


def test_the_queue_groups_by_subject_and_centre_and_filters(
    published, candidate_a, candidate_b, academy_staff, client_for
):
    file(candidate_a)
    file(candidate_b)
    client = client_for(academy_staff)
    html = client.get(reverse("complaints:queue")).content.decode()
    assert "C-RABAT-1" in html and html.count("REC-") == 2
    filtered = client.get(reverse("complaints:queue"), {"status": "rejected"}).content.decode()
    assert 'id="queue-empty"' in filtered


def test_a_reviewer_decides_and_a_second_approves_through_the_pages(
    published, candidate_b, academy_staff, second_reviewer, client_for
):
    complaint = file(candidate_b)
    first = client_for(academy_staff)
    review = reverse("complaints:review", args=[complaint.pk])
    assert (
        first.post(
            reverse("complaints:assign", args=[complaint.pk]), {"reviewer": academy_staff.pk}
        ).status_code
        == 302
    )
    bad = first.post(
        reverse("complaints:decide", args=[complaint.pk]),
        {"decision": "accept", "finding": "f", "reason": "r", "corrected_mark": "21"},
    )
    assert bad.status_code == 400 and "not a mark between 0 and 20" in bad.content.decode()
    ok = first.post(
        reverse("complaints:decide", args=[complaint.pk]),
        {"decision": "accept", "finding": "f", "reason": "r", "corrected_mark": "12"},
    )
    assert ok.status_code == 302
    assert 'id="own-proposal"' in first.get(review).content.decode()
    same = first.post(reverse("complaints:approve", args=[complaint.pk]))
    assert same.status_code == 400
    second = client_for(second_reviewer)
    assert second.post(reverse("complaints:approve", args=[complaint.pk])).status_code == 302
    complaint.refresh_from_db()
    assert complaint.status == Status.ACCEPTED


def test_the_scan_is_served_only_to_the_academy(published, candidate_a, academy_staff, client_for):
    from .test_services import PNG

    complaint = file(candidate_a)
    client = client_for(academy_staff)
    from django.core.files.uploadedfile import SimpleUploadedFile

    upload = SimpleUploadedFile("sheet.png", PNG, content_type="image/png")
    response = client.post(reverse("complaints:upload_scan", args=[complaint.pk]), {"scan": upload})
    assert response.status_code == 302
    shown = client.get(reverse("complaints:scan", args=[complaint.pk]))
    assert shown.status_code == 200 and shown.content == PNG
    assert shown["Cache-Control"] == "no-store"


def test_statistics_and_the_ministry_export(
    published, candidate_a, academy_staff, ministry_staff, client_for
):
    file(candidate_a)
    assert client_for(academy_staff).get(reverse("complaints:statistics")).status_code == 200
    assert client_for(academy_staff).get(reverse("complaints:export")).status_code == 403
    response = client_for(ministry_staff).get(reverse("complaints:export"))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert b"RSK," in response.content


def test_overdue_page_lists_late_complaints(
    published, candidate_a, academy_staff, client_for, clock
):
    complaint = file(candidate_a)
    clock.advance(2 * 24 * 3600)
    html = client_for(academy_staff).get(reverse("complaints:overdue")).content.decode()
    assert complaint.reference in html


def test_proposed_helper_leaves_a_proposal(published, candidate_b, academy_staff):
    complaint = proposed(candidate_b, academy_staff)
    assert services.step_deadline(complaint) is not None


def test_the_candidate_pages_make_a_bounded_number_of_queries(
    published, candidate_a, client_for, django_assert_max_num_queries
):
    client = client_for(candidate_a.user)
    complaint = file(candidate_a)
    with django_assert_max_num_queries(16):
        assert client.get(reverse("complaints:mine")).status_code == 200
    with django_assert_max_num_queries(6):
        assert (
            client.get(reverse("complaints:detail", args=[complaint.reference])).status_code == 200
        )
