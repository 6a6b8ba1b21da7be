"""The complaint journey in a real browser, on a 360 px phone in Arabic: the candidate files,
a reviewer proposes a corrected mark, a second reviewer approves, and the candidate sees the
decision and the new result. Every page passes axe-core."""

from __future__ import annotations

import pytest

from complaints.models import Complaint
from tests.browser_support import assert_accessible, submit
from tests.results.test_computation_browser import signed_in_at

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_candidate_files_the_reviewers_decide_and_the_candidate_sees_the_new_result(
    open_page, published, candidate_b, academy_staff, second_reviewer, live_server
):
    from exams.models import Subject

    math = Subject.objects.get(code="MATH")

    candidate = open_page("ar", "phone")
    signed_in_at(candidate, candidate_b.user, live_server.url)
    candidate.goto("/complaints/")
    assert candidate.locator("#not-a-remarking").is_visible()
    assert_accessible(candidate, "complaints page")
    candidate.select_option("#id_subject", str(math.pk))
    candidate.check("#id_kind_0")
    candidate.fill("#id_comment", "التمرين الثالث لم يصحح")
    submit(candidate, "#id_comment")
    complaint = Complaint.objects.get()
    assert complaint.reference in candidate.locator("#reference").inner_text()
    assert_accessible(candidate, "receipt")

    reviewer = open_page("ar", "phone")
    signed_in_at(reviewer, academy_staff, live_server.url)
    reviewer.goto("/complaints/staff/")
    assert_accessible(reviewer, "queue")
    reviewer.goto(f"/complaints/staff/{complaint.pk}/")
    assert_accessible(reviewer, "review")
    reviewer.check("#id_decision_1")  # accept
    reviewer.fill("#id_finding", "Exercise 3 left unmarked: 8 points on the scale.")
    reviewer.fill("#id_reason", "لم يتم تصحيح التمرين الثالث، وقد صحح الآن.")
    reviewer.fill("#id_corrected_mark", "12")
    submit(reviewer, "#id_corrected_mark")
    assert reviewer.locator("#own-proposal").is_visible()

    approver = open_page("ar", "phone")
    signed_in_at(approver, second_reviewer, live_server.url)
    approver.goto(f"/complaints/staff/{complaint.pk}/")
    assert_accessible(approver, "approval")
    submit(approver, "#approve-form button")
    complaint.refresh_from_db()
    assert complaint.status == "accepted"

    candidate.goto(f"/complaints/{complaint.reference}/")
    assert candidate.locator("#corrected-mark").is_visible()
    assert_accessible(candidate, "decision")
    with candidate.expect_navigation():
        candidate.click("#see-result")
    text = candidate.locator("main").inner_text()
    assert "10.00" in text or "10,00" in text  # 0.25 × 8 + 0.25 × 8 + 0.5 × 12
    assert_accessible(candidate, "new result")
