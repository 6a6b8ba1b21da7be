"""Complaints: filing in the window, the refusals, four eyes, propagation, oversight."""

from __future__ import annotations

import datetime
import io
from decimal import Decimal

import pytest
from django.core.files.storage import default_storage

from audit.models import AuditEntry
from complaints import services
from complaints.models import Complaint, ScanAccess, Status
from exams.models import SessionWindow, Subject, WindowKind
from notifications.models import Notification
from results import signals
from results.models import ComputedResult, Grade, Publication
from results.snapshot import result_for_candidate

from .helpers import committed, file, math, proposed

Refused = services.ComplaintRefused
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00"
    b"\x90wS\xde\x00\x00\x00\x0cIDATx\x9cc\xf8\xcf\xc0\x00\x00\x03\x01\x01\x00\xc9\xfe\x92\xef"
    b"\x00\x00\x00\x00IEND\xaeB`\x82"
)


def audited(action: str) -> int:
    return AuditEntry.objects.filter(action=action).count()


# -- Filing -----------------------------------------------------------------------------------


def test_a_candidate_files_a_complaint_and_gets_a_reference(published, candidate_a, centre):
    complaint = file(candidate_a, kind="unmarked_answer", comment="Exercise 3")
    assert complaint.reference.startswith("REC-") and len(complaint.reference) == 14
    assert complaint.status == Status.FILED and complaint.sitting == "normal"
    assert complaint.original_mark == Decimal("14.25") and complaint.publication_version == 1
    assert complaint.academy_id == candidate_a.school.directorate.academy_id
    assert complaint.exam_centre == centre
    entry = AuditEntry.objects.get(action="complaints.file")
    assert entry.candidate_id == candidate_a.pk and entry.object_id == complaint.reference
    assert entry.after["subject"] == "MATH" and entry.after["mark"] == "14.25"


def test_the_window_derives_from_the_publication_moment(published, candidate_a, clock):
    window = services.complaint_window(candidate_a.session)
    assert window.is_open
    assert window.opens_at == published.publish_at
    assert window.closes_at == published.publish_at + datetime.timedelta(days=3)


def test_a_complaint_after_the_window_is_refused(published, candidate_a, clock):
    clock.advance(3 * 24 * 3600)
    with pytest.raises(Refused) as refusal:
        file(candidate_a)
    assert "closed" in refusal.value.message and "Nothing was changed" in refusal.value.message
    assert not Complaint.objects.exists() and not audited("complaints.file")


def test_the_session_calendar_window_wins_over_the_default(published, candidate_a, clock):
    SessionWindow.objects.create(
        session=candidate_a.session,
        kind=WindowKind.COMPLAINTS,
        opens_at=clock.now - datetime.timedelta(days=10),
        closes_at=clock.now - datetime.timedelta(days=1),
    )
    with pytest.raises(Refused):
        file(candidate_a)
    SessionWindow.objects.filter(kind=WindowKind.COMPLAINTS).update(closes_at=None)
    clock.advance(60)  # open-ended: closes COMPLAINT_WINDOW_DAYS after it opened
    with pytest.raises(Refused):
        file(candidate_a)


def test_the_window_length_is_configurable(published, candidate_a, clock, settings):
    settings.COMPLAINT_WINDOW_DAYS = 5
    clock.advance(4 * 24 * 3600)
    assert file(candidate_a).status == Status.FILED


def test_no_complaint_before_the_results_are_published(session, graded_track, candidate_a, clock):
    with pytest.raises(Refused) as refusal:
        file(candidate_a)
    assert "published" in refusal.value.message


def test_a_second_complaint_on_the_same_subject_is_refused(published, candidate_a):
    first = file(candidate_a)
    with pytest.raises(Refused) as refusal:
        file(candidate_a, kind="transcription")
    assert first.reference in refusal.value.message and refusal.value.field == "subject"
    assert Complaint.objects.count() == 1 and audited("complaints.file") == 1


@pytest.mark.parametrize("code", ["FR"])
def test_a_complaint_on_a_regional_subject_is_refused(published, candidate_a, code):
    with pytest.raises(Refused) as refusal:
        file(candidate_a, Subject.objects.get(code=code))
    assert "national-exam subject" in refusal.value.message
    assert not Complaint.objects.exists()


def test_a_complaint_on_a_continuous_assessment_subject_is_refused(
    published, candidate_a, graded_track
):
    # MATH is national and continuous in this track: a subject only in continuous assessment.
    from exams.models import TrackSubject

    physics = Subject.objects.create(code="PC", name_fr="Physique", name_ar="الفيزياء")
    TrackSubject.objects.create(
        track=graded_track, subject=physics, component="continuous", coefficient=1
    )
    with pytest.raises(Refused) as refusal:
        file(candidate_a, physics)
    assert "national-exam subject" in refusal.value.message
    assert not Complaint.objects.exists()


def test_an_unknown_kind_of_error_is_refused(published, candidate_a):
    with pytest.raises(Refused):
        file(candidate_a, kind="re-marking please")
    assert not Complaint.objects.exists()


# -- Review and four eyes ---------------------------------------------------------------------


def test_a_decision_by_staff_of_another_academy_is_refused(
    published, candidate_a, academy_staff_of_other_academy, ministry_staff
):
    complaint = file(candidate_a)
    for outsider in (academy_staff_of_other_academy, ministry_staff):
        with pytest.raises(Refused) as refusal:
            services.propose_decision(
                complaint, outsider, False, "nothing found", "No material error."
            )
        assert "academy" in refusal.value.message
        with pytest.raises(Refused):
            services.assign_complaint(complaint, outsider, outsider)
    complaint.refresh_from_db()
    assert complaint.status == Status.FILED and complaint.reviewer is None
    assert not audited("complaints.reject") and not audited("complaints.assign")


def test_a_reviewer_of_another_academy_cannot_be_assigned(
    published, candidate_a, academy_staff, academy_staff_of_other_academy
):
    complaint = file(candidate_a)
    with pytest.raises(Refused):
        services.assign_complaint(complaint, academy_staff_of_other_academy, academy_staff)
    complaint.refresh_from_db()
    assert complaint.assigned_to is None


def test_a_rejection_is_final_and_the_candidate_is_told(published, candidate_a, academy_staff):
    complaint = file(candidate_a)
    services.assign_complaint(complaint, academy_staff, academy_staff)
    with committed():
        complaint = services.propose_decision(
            complaint, academy_staff, False, "All answers marked; sum right.", "No error found."
        )
    assert complaint.status == Status.REJECTED and complaint.decided_at is not None
    assert complaint.decision_seconds is not None
    assert Grade.objects.get(candidate=candidate_a, component="national").mark == Decimal("14.25")
    assert Notification.objects.filter(
        candidate=candidate_a,
        kind="complaint_decided",
        reference=f"complaint.{complaint.reference}",
    ).exists()
    with pytest.raises(Refused):
        services.propose_decision(complaint, academy_staff, True, "x", "y", "15")


@pytest.mark.parametrize("mark", ["21", "-1", "20.001", "12.345", "douze", ""])
def test_a_corrected_mark_out_of_range_is_refused(published, candidate_a, academy_staff, mark):
    complaint = file(candidate_a)
    with pytest.raises(Refused) as refusal:
        services.propose_decision(complaint, academy_staff, True, "found", "reason", mark)
    assert refusal.value.field == "corrected_mark"
    complaint.refresh_from_db()
    assert complaint.status == Status.FILED and complaint.corrected_mark is None


def test_the_same_mark_is_not_a_correction(published, candidate_a, academy_staff):
    complaint = file(candidate_a)
    with pytest.raises(Refused):
        services.propose_decision(complaint, academy_staff, True, "found", "reason", "14.25")


def test_a_changed_mark_waits_for_a_second_reviewer(
    published, candidate_b, academy_staff, second_reviewer
):
    complaint = proposed(candidate_b, academy_staff, "12")
    assert complaint.status == Status.AWAITING_APPROVAL
    # Nothing changed yet: not the grade, not the result.
    assert Grade.objects.get(candidate=candidate_b, component="national").mark == Decimal("8")
    assert Publication.objects.count() == 1
    with committed():
        services.approve_correction(complaint, second_reviewer)
    complaint.refresh_from_db()
    assert complaint.status == Status.ACCEPTED
    assert (complaint.reviewer, complaint.approver) == (academy_staff, second_reviewer)


def test_a_second_approval_by_the_same_reviewer_is_refused(published, candidate_b, academy_staff):
    complaint = proposed(candidate_b, academy_staff, "12")
    with pytest.raises(Refused) as refusal:
        services.approve_correction(complaint, academy_staff)
    assert "second reviewer" in refusal.value.message
    complaint.refresh_from_db()
    assert complaint.status == Status.AWAITING_APPROVAL and complaint.approver is None
    assert Grade.objects.get(candidate=candidate_b, component="national").mark == Decimal("8")
    assert Publication.objects.count() == 1 and not audited("complaints.accept")


def test_a_second_reviewer_can_send_a_correction_back(
    published, candidate_b, academy_staff, second_reviewer
):
    complaint = proposed(candidate_b, academy_staff, "12")
    complaint = services.return_correction(complaint, second_reviewer, "Exercise 3 was marked.")
    assert complaint.status == Status.IN_REVIEW and complaint.corrected_mark is None
    assert audited("complaints.return") == 1
    with pytest.raises(Refused):
        services.approve_correction(complaint, second_reviewer)


# -- Propagation ------------------------------------------------------------------------------


def test_an_accepted_correction_propagates_to_grade_result_publication_and_notifications(
    published, candidate_a, candidate_b, academy_staff, second_reviewer, clock
):
    heard = []

    def listener(sender, candidate, publication, computed_result, reason, actor, **kwargs):
        heard.append((candidate.pk, publication.version, computed_result.decision))

    signals.result_republished.connect(listener)
    try:
        complaint = proposed(candidate_b, academy_staff, "12")
        with committed():
            services.approve_correction(complaint, second_reviewer)
    finally:
        signals.result_republished.disconnect(listener)

    # The grade, audited.
    assert Grade.objects.get(candidate=candidate_b, component="national").mark == Decimal("12")
    grade_entry = AuditEntry.objects.get(action="grades.correct")
    assert grade_entry.candidate_id == candidate_b.pk
    assert grade_entry.before == {"MATH national": "8.00"}
    assert grade_entry.after == {"MATH national": "12.00"}
    # The result, recomputed by the engine: 0.25 * 8 + 0.25 * 8 + 0.5 * 12 = 10.00, admitted.
    row = ComputedResult.objects.get(computation=published.computation, candidate=candidate_b)
    assert (row.general_average, row.decision, row.mention) == (
        Decimal("10.00"),
        "admitted",
        "passable",
    )
    # A new version of that one result, public at once; the others untouched.
    correction = Publication.objects.get(kind="correction")
    assert correction.version == 2 and correction.base == published and correction.count == 1
    seen = result_for_candidate(candidate_b).entry
    assert seen["avg"][0] == "10.00" and seen["d"] == "admitted" and seen["v"] == 2
    # With the corrected mark, which the recomputed result keeps with its averages.
    assert ["national", "MATH", "12.00"] in seen["k"] and ["national", "MATH", "8.00"] not in seen[
        "k"
    ]
    from results.publication import _mark_codes, unpack_marks

    kept = unpack_marks(_mark_codes("normal"), row.mark_keys, row.marks)
    assert ("national", "MATH", "normal", Decimal("12.00")) in kept
    # So the computation holds the correction: it may still be published as a whole.
    from results.publication import candidates_regraded_since

    assert candidates_regraded_since(published.computation) == 0
    assert result_for_candidate(candidate_a).entry["v"] == 1
    # Told: the decision and the new result; the other services heard the signal.
    kinds = set(Notification.objects.filter(candidate=candidate_b).values_list("kind", flat=True))
    assert {"complaint_decided", "results_updated"} <= kinds
    assert heard == [(candidate_b.pk, 2, "admitted")]
    complaint.refresh_from_db()
    assert complaint.mark_change == Decimal("4.00") and complaint.new_publication_version == 2
    entry = AuditEntry.objects.get(action="complaints.accept")
    assert entry.candidate_id == candidate_b.pk and entry.after["approver"] == "aref-2"
    # The catch-up convocation follows the new decision.
    from results.services import is_convened_to_catch_up

    assert not is_convened_to_catch_up(candidate_b)


def test_a_failure_while_publishing_leaves_nothing_changed(
    published, candidate_b, academy_staff, second_reviewer, monkeypatch
):
    from results.publication import PublicationError

    complaint = proposed(candidate_b, academy_staff, "12")

    def broken(*args, **kwargs):
        raise PublicationError("A new version of these results is scheduled.")

    monkeypatch.setattr("results.publication.republish_candidate", broken)
    with pytest.raises(Refused):
        services.approve_correction(complaint, second_reviewer)
    complaint.refresh_from_db()
    assert complaint.status == Status.AWAITING_APPROVAL
    assert Grade.objects.get(candidate=candidate_b, component="national").mark == Decimal("8")
    assert not audited("grades.correct") and not audited("complaints.accept")


# -- The answer sheet -------------------------------------------------------------------------


def test_the_scan_is_stored_encrypted_and_every_view_is_logged(
    published, candidate_a, academy_staff
):
    complaint = file(candidate_a)
    services.attach_scan(complaint, io.BytesIO(PNG), academy_staff, "192.0.2.7")
    complaint.refresh_from_db()
    with default_storage.open(complaint.scan_file, "rb") as handle:
        stored = handle.read()
    assert PNG not in stored and complaint.scan_content_type == "image/png"
    assert services.read_scan(complaint, academy_staff, "192.0.2.7") == PNG
    assert list(ScanAccess.objects.values_list("action", flat=True).order_by("pk")) == [
        "upload",
        "view",
    ]
    assert AuditEntry.objects.get(action="complaints.scan").candidate_id == candidate_a.pk


def test_a_scan_that_is_not_a_document_is_refused(published, candidate_a, academy_staff):
    complaint = file(candidate_a)
    with pytest.raises(Refused) as refusal:
        services.attach_scan(complaint, io.BytesIO(b"MZ\x90\x00 not a scan"), academy_staff, None)
    assert refusal.value.field == "scan"
    complaint.refresh_from_db()
    assert not complaint.scan_file


# -- Deadlines and oversight ------------------------------------------------------------------


def test_each_step_has_a_deadline_and_late_ones_are_listed(
    published, candidate_a, candidate_b, academy_staff, clock
):
    first = file(candidate_a)
    second = file(candidate_b)
    services.assign_complaint(second, academy_staff, academy_staff)
    assert services.step_deadline(first) == first.filed_at + datetime.timedelta(hours=24)
    scope = services.complaints_in_scope(academy_staff)
    assert not services.overdue(scope).exists()
    clock.advance(25 * 3600)
    assert list(services.overdue(scope)) == [first]
    clock.advance(72 * 3600)
    assert set(services.overdue(scope)) == {first, second}


def test_statistics_count_accepted_shares_times_and_mark_changes(
    published, candidate_a, candidate_b, academy_staff, second_reviewer, ministry_staff, clock
):
    rejected = file(candidate_a)
    clock.advance(3600)
    services.propose_decision(rejected, academy_staff, False, "none", "No error found.")
    complaint = proposed(candidate_b, academy_staff, "12")
    clock.advance(3600)
    with committed():
        services.approve_correction(complaint, second_reviewer)
    (row,) = services.statistics(services.complaints_in_scope(ministry_staff), ("academy",))
    assert (row.keys, row.filed, row.decided, row.accepted) == (("RSK",), 2, 2, 1)
    assert row.accepted_share == Decimal("50.0") and row.mean_hours == Decimal("1.0")
    assert (row.changed, row.mean_change, row.max_change) == (1, Decimal("4.00"), Decimal("4"))
    csv_text = services.export_csv(services.complaints_in_scope(ministry_staff))
    lines = csv_text.splitlines()
    assert lines[0].startswith("academy_code,academy_name,subject_code")
    assert lines[1].startswith("RSK,Rabat-Salé-Kénitra,MATH,Mathématiques,C-RABAT-1,")


def test_academy_staff_see_only_their_academy(
    published, candidate_a, candidate_elsewhere, academy_staff, academy_staff_of_other_academy
):
    from tests.results.grading_fixtures import give_marks

    mine = file(candidate_a)
    assert list(services.complaints_in_scope(academy_staff)) == [mine]
    assert not services.complaints_in_scope(academy_staff_of_other_academy).exists()
    assert give_marks  # candidate_elsewhere has no published result: nothing to file


def test_math_helper_is_the_national_subject(published):
    assert math().code == "MATH"


def test_a_complaint_about_the_catch_up_sitting_is_recomputed_with_the_best_of_rule(
    published, candidate_b, academy_staff, second_reviewer, clock
):
    from results.services import compute_session
    from tests.results.grading_fixtures import give_marks

    give_marks(candidate_b, national="9", sitting="catch_up")  # 8 + 8 + 2 * 9 = 8.50: failed
    clock.advance(7 * 24 * 3600)  # the normal sitting's window has closed
    from .conftest import publish

    catch_up = publish(compute_session(candidate_b.session, sitting="catch_up"), clock.now)
    complaint = file(candidate_b)
    assert complaint.sitting == "catch_up" and complaint.original_mark == Decimal("9")
    complaint = services.propose_decision(
        complaint, academy_staff, True, "Exercise 4 unmarked.", "Exercise 4 is now marked.", "13"
    )
    with committed():
        services.approve_correction(complaint, second_reviewer)
    row = ComputedResult.objects.get(computation=catch_up.computation, candidate=candidate_b)
    assert (row.general_average, row.decision) == (Decimal("10.50"), "admitted")
    grade = Grade.objects.get(candidate=candidate_b, component="national", sitting="catch_up")
    assert grade.mark == Decimal("13")
    assert result_for_candidate(candidate_b).entry["d"] == "admitted"
