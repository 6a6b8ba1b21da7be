"""Issuing, refusing, revoking and replacing diplomas, and following corrected results."""

from __future__ import annotations

import datetime

import pytest

from audit.models import AuditEntry
from diplomas import services
from diplomas.codec import normalise_diploma_number
from diplomas.models import Diploma, IssuanceRun, Refusal
from notifications.models import Notification
from results import publication as results_publication
from results.publication import notify_due_publications

from .conftest import add_grades, committed, make_computation, publish

pytestmark = pytest.mark.django_db


def test_an_admitted_candidate_with_a_cnie_gets_a_diploma_and_is_told(published, candidate_a):
    with committed():
        diploma = services.issue_diploma(candidate_a)
    assert normalise_diploma_number(diploma.number) == diploma.number
    assert diploma.status == "valid" and diploma.claims["mention"] == "bien"
    assert diploma.claims["general_average"] == "14.25"
    assert {g["subject"] for g in diploma.claims["grades"]} == {"MATH", "FR"}
    assert diploma.credential["credentialSubject"]["licenseNumber"] == diploma.number
    assert diploma.sd_jwt.count("~") > 10 and diploma.qr.startswith("BACD1:")
    assert Notification.objects.filter(candidate=candidate_a, kind="diploma_issued").exists()
    assert AuditEntry.objects.filter(action="diplomas.issue", object_id=diploma.number).exists()


def test_issuing_twice_gives_the_same_diploma(diploma, candidate_a):
    assert services.issue_diploma(candidate_a) == diploma
    assert Diploma.objects.count() == 1


def test_a_candidate_not_admitted_gets_no_diploma(published, candidate_b):
    with pytest.raises(services.DiplomaRefused) as refused:
        services.issue_diploma(candidate_b)
    assert refused.value.code == "not_admitted" and "admitted" in str(refused.value.reason)


def test_no_published_result_no_diploma(candidate_a):
    with pytest.raises(services.DiplomaRefused) as refused:
        services.issue_diploma(candidate_a)
    assert refused.value.code == "no_result"


def test_no_cnie_no_diploma_and_the_candidate_and_school_are_told(
    published, candidate_a, clerk, client_for
):
    candidate_a.cnie_number = ""
    candidate_a.save()
    with committed(), pytest.raises(services.DiplomaRefused) as refused:
        services.issue_diploma(candidate_a)
    assert refused.value.code == "no_cnie" and "CNIE" in str(refused.value.reason)
    assert Refusal.objects.filter(candidate=candidate_a, reason="no_cnie").exists()
    assert Notification.objects.filter(candidate=candidate_a, kind="diploma_refused").exists()
    page = client_for(clerk).get("/diplomas/staff/refusals/")
    assert page.status_code == 200 and candidate_a.massar_code in page.content.decode()


def test_the_bulk_issuance_is_idempotent_and_reports_progress(published, session):
    seen = []
    with committed():
        report = services.issue_for_session(session, progress=lambda d, t: seen.append((d, t)))
    assert (report.total, report.issued, report.already) == (1, 1, 0)
    assert seen[0] == (0, 1) and seen[-1] == (1, 1)
    again = services.issue_for_session(session)
    assert (again.issued, again.already) == (0, 1)
    assert Diploma.objects.count() == 1


def test_the_bulk_issuance_covers_the_admitted_and_refuses_without_cnie(
    candidate_a, candidate_b, session, clock
):
    candidate_b.cnie_number = ""
    candidate_b.save()
    computation = make_computation(
        session,
        {
            candidate_a: ("14.25", "admitted", "bien"),
            candidate_b: ("11.00", "admitted", "passable"),
        },
    )
    publish(computation, clock.now + datetime.timedelta(minutes=1))
    clock.advance(120)
    with committed():
        notify_due_publications()
    with committed():
        report = services.issue_for_session(session)
    assert (report.total, report.issued, report.refused_no_cnie) == (2, 1, 1)
    assert services.current_diploma(candidate_a) is not None
    assert services.current_diploma(candidate_b) is None
    assert Notification.objects.filter(candidate=candidate_b, kind="diploma_refused").exists()


def test_publication_queues_the_bulk_issuance_when_auto_issue_is_on(
    settings, candidate_a, session, clock
):
    settings.DIPLOMAS_AUTO_ISSUE = True
    computation = make_computation(session, {candidate_a: ("14.25", "admitted", "bien")})
    publish(computation, clock.now + datetime.timedelta(minutes=1))
    clock.advance(120)
    with committed():
        notify_due_publications()
    run = IssuanceRun.objects.get()
    assert run.status == "done" and run.issued == 1
    assert services.current_diploma(candidate_a) is not None


def test_revoking_needs_a_reason_sets_the_status_bit_and_is_audited(diploma, ministry_staff):
    with pytest.raises(services.DiplomaError):
        services.revoke_diploma(diploma, reason="  ", actor=ministry_staff)
    with committed():
        services.revoke_diploma(diploma, reason="fraud established", actor=ministry_staff)
    diploma.refresh_from_db()
    assert diploma.status == "revoked" and diploma.revocation_reason == "fraud established"
    assert diploma.status_list_index in services.revoked_indexes(0)
    entry = AuditEntry.objects.get(action="diplomas.revoke")
    assert entry.reason == "fraud established" and entry.actor_id == ministry_staff.pk
    with pytest.raises(services.DiplomaError):
        services.revoke_diploma(diploma, reason="again", actor=ministry_staff)


def test_a_replacement_links_back_and_the_old_one_is_marked(diploma, ministry_staff):
    with committed():
        new = services.replace_diploma(diploma, reason="name corrected", actor=ministry_staff)
    diploma.refresh_from_db()
    assert new.replaces == diploma and new.number != diploma.number
    assert diploma.status == "replaced" and new.status == "valid"
    assert services.current_of(diploma) == new
    assert diploma.status_list_index in services.revoked_indexes(0)
    assert new.status_list_index not in services.revoked_indexes(0)


def _republish(candidate, values, actor):
    session = candidate.session
    computation = make_computation(session, {candidate: values})
    with committed():
        results_publication.republish_candidate(
            candidate, computation.results.get(candidate=candidate), "complaint 7", actor
        )


def test_a_republished_result_replaces_the_diploma(diploma, candidate_a, academy_staff):
    _republish(candidate_a, ("16.10", "admitted", "tres_bien"), academy_staff)
    diploma.refresh_from_db()
    assert diploma.status == "replaced"
    new = services.current_diploma(candidate_a)
    assert new.replaces == diploma and new.claims["general_average"] == "16.10"
    assert new.claims["mention"] == "tres_bien"
    assert Notification.objects.filter(candidate=candidate_a, kind="diploma_replaced").exists()


def test_a_republished_result_that_fails_revokes_the_diploma(diploma, candidate_a, academy_staff):
    _republish(candidate_a, ("8.00", "failed", ""), academy_staff)
    diploma.refresh_from_db()
    assert diploma.status == "revoked" and "complaint 7" in diploma.revocation_reason
    assert services.current_diploma(candidate_a) is None


def test_a_republished_result_that_admits_issues_a_diploma(
    published, candidate_b, academy_staff, settings
):
    settings.DIPLOMAS_AUTO_ISSUE = True
    add_grades(candidate_b)
    _republish(candidate_b, ("10.40", "admitted", "passable"), academy_staff)
    diploma = services.current_diploma(candidate_b)
    assert diploma is not None and diploma.claims["general_average"] == "10.40"


def test_an_unchanged_republication_keeps_the_diploma(diploma, candidate_a, academy_staff):
    _republish(candidate_a, ("14.25", "admitted", "bien"), academy_staff)
    diploma.refresh_from_db()
    assert diploma.status == "valid"


def test_the_demo_command_gives_the_admitted_a_diploma_and_is_idempotent(
    published, candidate_a, session
):
    from io import StringIO

    from django.core.management import call_command

    session.is_current = True
    session.save()
    out = StringIO()
    with committed():
        call_command("demo_diplomas", stdout=out)
    diploma = services.current_diploma(candidate_a)
    assert diploma is not None and diploma.number in out.getvalue()
    call_command("demo_diplomas", stdout=StringIO())
    assert Diploma.objects.count() == 1


def test_the_command_issues_the_session_with_a_report(published, session):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    with committed():
        call_command("issue_diplomas", "--session", session.code, stdout=out, stderr=StringIO())
    assert "1 issued, 0 already held, 0 refused (no CNIE) of 1 admitted." in out.getvalue()


def test_a_large_batch_is_stored_whole_and_audited(session, school, track, clock):
    # 60 candidates: above the COPY threshold on PostgreSQL (the ORM path on SQLite).
    from tests.factories import CandidateFactory

    candidates = [CandidateFactory(session=session, school=school, track=track) for _ in range(60)]
    computation = make_computation(
        session, {c: ("12.50", "admitted", "assez_bien") for c in candidates}
    )
    publish(computation, clock.now + datetime.timedelta(minutes=1))
    clock.advance(120)
    with committed():
        notify_due_publications()
    with committed():
        report = services.issue_for_session(session)
    assert report.issued == 60 and Diploma.objects.filter(status="valid").count() == 60
    diploma = Diploma.objects.order_by("?").first()
    assert diploma.claims["mention"] == "assez_bien" and diploma.credential["proof"]
    assert AuditEntry.objects.filter(action="diplomas.issue").count() == 60
    from diplomas import verify

    assert verify.verify_any(diploma.sd_jwt).state == "valid"
