"""The bulk issuance split into parts (one run per academy) run by several workers: every
admitted candidate with a CNIE gets exactly one diploma, numbers and status list indexes are
unique, progress adds up, running again issues nothing; and the fast claims are the claims."""

from __future__ import annotations

import datetime
import threading

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone

from audit.models import AuditEntry
from diplomas import services
from diplomas.models import Diploma, IssuanceRun, Refusal
from notifications.models import Notification
from results.models import PublishedResult
from results.publication import notify_due_publications
from tests.factories import CandidateFactory, DirectorateFactory, SchoolFactory

from .conftest import add_grades, committed, make_computation, publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def national(session, school, other_academy, track, clock):
    """Seven admitted candidates in one academy, five in another (one of them without a CNIE),
    two at catch-up; results public now. Returns (with CNIE, without CNIE) candidates."""
    far = SchoolFactory(directorate=DirectorateFactory(academy=other_academy))
    near = [CandidateFactory(session=session, school=school, track=track) for _ in range(9)]
    away = [CandidateFactory(session=session, school=far, track=track) for _ in range(5)]
    away[0].cnie_number = ""
    away[0].save()
    add_grades(near[0])
    results = {c: ("12.50", "admitted", "assez_bien") for c in near[:7] + away}
    results |= {c: ("8.00", "catch_up", "") for c in near[7:]}
    publish(make_computation(session, results), clock.now + datetime.timedelta(minutes=1))
    clock.advance(120)
    with committed():
        notify_due_publications()
    return near[:7] + away[1:], [away[0]]


def _start(session) -> tuple[list[IssuanceRun], list[int]]:
    queued: list[int] = []
    with committed():
        runs = services.start_issuance(session, dispatch=queued.append)
    return runs, queued


def _assert_one_diploma_each(holders) -> None:
    diplomas = list(Diploma.objects.values_list("candidate_id", "number", "status_list_index"))
    assert sorted(c for c, _n, _i in diplomas) == sorted(c.pk for c in holders)
    assert len({n for _c, n, _i in diplomas}) == len(diplomas)
    assert len({i for _c, _n, i in diplomas}) == len(diplomas)


def test_two_parts_issue_one_diploma_to_each_admitted_candidate_and_add_up(national, session):
    holders, without = national
    runs, queued = _start(session)
    assert len(runs) == 2 and sorted(queued) == sorted(r.pk for r in runs)
    assert services.issuance_progress(runs)["status"] == "pending"
    with committed():
        services.run_issuance(queued[1])
    middle = services.issuance_progress(runs)
    assert middle["status"] == "running" and 0 < middle["issued"] < len(holders)
    with committed():
        services.run_issuance(queued[0])
    _assert_one_diploma_each(holders)
    progress = services.issuance_progress(runs)
    assert progress["status"] == "done"
    assert (progress["total"], progress["processed"]) == (len(holders) + 1, len(holders) + 1)
    assert (progress["issued"], progress["refused"], progress["already"]) == (len(holders), 1, 0)
    assert Refusal.objects.filter(candidate=without[0]).exists()
    assert Notification.objects.filter(kind="diploma_issued").values(
        "candidate"
    ).distinct().count() == len(holders)
    assert AuditEntry.objects.filter(action="diplomas.issue").count() == len(holders)


def test_running_the_parts_again_issues_nothing_new(national, session):
    holders, _without = national
    first, queued = _start(session)
    for run_id in queued:
        with committed():
            services.run_issuance(run_id)
    numbers = set(Diploma.objects.values_list("number", flat=True))
    # A second delivery of the same task leaves its run alone...
    with committed():
        services.run_issuance(queued[0])
    # ...and a new national issuance finds everyone served.
    again, queued = _start(session)
    for run_id in queued:
        with committed():
            services.run_issuance(run_id)
    assert set(Diploma.objects.values_list("number", flat=True)) == numbers
    progress = services.issuance_progress(again)
    assert (progress["issued"], progress["already"], progress["status"]) == (
        0,
        len(holders),
        "done",
    )
    assert AuditEntry.objects.filter(action="diplomas.issue").count() == len(holders)


def test_a_part_skips_a_candidate_given_a_diploma_meanwhile(national, session):
    holders, _without = national
    runs, queued = _start(session)
    with committed():
        single = services.issue_diploma(holders[0])
    for run_id in queued:
        with committed():
            services.run_issuance(run_id)
    _assert_one_diploma_each(holders)
    assert services.current_diploma(holders[0]) == single
    assert services.issuance_progress(runs)["issued"] == len(holders) - 1


def test_a_number_another_process_stored_first_is_signed_again_under_a_new_one(national, session):
    holders, _without = national
    with committed():
        taken = services.issue_diploma(holders[0])
    candidate = holders[1]
    row_id = services._current_row_ids(session, [candidate.pk])[candidate.pk][0]
    s = services.signer()
    claims = services.build_claims(
        candidate, PublishedResult.objects.get(pk=row_id), timezone.localdate(s.moment)
    )
    with transaction.atomic():
        index = services._allocate_indexes(1)
    clash = services._NewDiploma("", candidate.pk, session.pk, row_id, claims, index).sign(
        s, taken.number
    )
    with committed():
        stored = services._store_bulk(s, session.year, [clash])
    assert [d.candidate_id for d in stored] == [candidate.pk]
    fresh = Diploma.objects.get(candidate=candidate)
    assert fresh.number != taken.number and fresh.number == stored[0].number
    assert fresh.credential["credentialSubject"]["licenseNumber"] == fresh.number


def test_the_bulk_claims_are_the_claims_of_a_single_issuance(national, session):
    holders, _without = national
    candidate = holders[0]
    candidate.last_name_latin = "  El\tAmrani\n"
    candidate.birth_place_ar = "الرباط\x07"
    candidate.save()
    row_id = services._current_row_ids(session, [candidate.pk])[candidate.pk][0]
    row = PublishedResult.objects.get(pk=row_id)
    issued_on = datetime.date(2026, 7, 10)
    person = services.Candidate.objects.filter(pk=candidate.pk).values_list(
        *services._CANDIDATE_FIELDS
    )[0]
    values = PublishedResult.objects.filter(pk=row_id).values_list(*services._ROW_FIELDS)[0]
    bulk = services._bulk_claims(services._shared(session), person, values, issued_on.isoformat())
    single = services.build_claims(services._candidates().get(pk=candidate.pk), row, issued_on)
    assert bulk == single and list(bulk) == list(single)
    assert bulk["last_name_latin"] == "El Amrani" and bulk["grades"]


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'")
def test_two_parts_at_the_same_time_on_postgresql(national, session):
    """Two workers, each with its own connection, issuing their parts concurrently."""
    assert connection.vendor == "postgresql"
    holders, _without = national
    runs, queued = _start(session)
    errors: list[BaseException] = []

    def worker(run_id: int) -> None:
        try:
            services.run_issuance(run_id)
        except BaseException as error:  # reported by the test below
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(run_id,)) for run_id in queued]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    _assert_one_diploma_each(holders)
    progress = services.issuance_progress(runs)
    assert progress["status"] == "done" and progress["processed"] == progress["total"]
