"""Publication: immutable, versioned snapshots, replaced, withdrawn, corrected, all or nothing."""

from __future__ import annotations

import datetime
from decimal import Decimal

import orjson
import pytest
from django.utils import translation

from audit.models import AuditEntry
from exams.models import Subject
from results import publication as services
from results import snapshot
from results.lookup import Query
from results.models import Grade, Publication, PublishedResult
from results.publication import on_publication_public as real_on_publication_public
from results.snapshot import FOUND, NOT_PUBLISHED, lookup_public, result_for_candidate

from .publication_fixtures import *  # noqa: F403
from .publication_fixtures import committed, make_computation, massar, publish

Status = Publication.Status
BIRTH = datetime.date(2008, 3, 14)


def test_a_publication_freezes_every_result_of_the_computation_into_a_versioned_snapshot(
    results, candidate_a, candidate_b, ministry_staff, clock
):
    publication = publish(results, clock.now, ministry_staff)
    assert publication.status == Status.READY and publication.version == 1
    assert publication.count == 2 and len(publication.digest) == 64
    rows = {r.candidate_id: r for r in PublishedResult.objects.filter(publication=publication)}
    assert rows[candidate_a.pk].general_average == Decimal("14.25")
    assert rows[candidate_a.pk].decision == "admitted" and rows[candidate_a.pk].mention == "bien"
    assert rows[candidate_b.pk].decision == "catch_up"
    # The snapshot does not follow later changes to the computation.
    results.results.filter(candidate=candidate_a).update(general_average=Decimal("3.00"))
    outcome = lookup_public(massar(candidate_a), "192.0.2.1")
    assert outcome.status == FOUND and outcome.entry["avg"][0] == "14.25"
    with pytest.raises(ValueError):
        rows[candidate_a.pk].save()


def test_the_snapshot_holds_the_marks_but_never_the_cnie_number_or_the_birth_date(
    results, candidate_a, clock
):
    publish(results, clock.now)
    entry = lookup_public(massar(candidate_a), "192.0.2.1").entry
    assert ["national", "MATH", "15.50"] in entry["k"] and ["regional", "FR", "12.00"] in entry["k"]
    payload = PublishedResult.objects.get(candidate=candidate_a).payload
    assert candidate_a.cnie_number not in payload and "2008-03-14" not in payload


def test_a_publication_is_audited_with_its_version_moment_and_fingerprint(
    results, ministry_staff, clock
):
    publication = publish(results, clock.now, ministry_staff, reason="first results")
    entry = AuditEntry.objects.get(action="results.publish")
    assert entry.object_id == str(publication.pk) and entry.actor_id == ministry_staff.pk
    assert entry.after["version"] == 1 and entry.after["digest"] == publication.digest
    assert entry.after["publish_at"] == publication.publish_at.isoformat()
    assert entry.reason == "first results"


# On PostgreSQL a publication's batches are read on the publishing connection inside a
# transaction ("in_line"), on a second connection once everything is committed ("side", as the
# background task runs).
READERS = pytest.mark.parametrize(
    "reader",
    [
        pytest.param("in_line", marks=pytest.mark.django_db),
        pytest.param("side", marks=pytest.mark.django_db(transaction=True)),
    ],
)


@pytest.fixture
def batch_readers(monkeypatch) -> list[bool]:
    """Whether each publication's batches were read on a second connection (PostgreSQL)."""
    readers: list[bool] = []
    real_reader = services._BatchReader

    def spy(*args, **kwargs):
        made = real_reader(*args, **kwargs)
        readers.append(made.reader is not None)
        return made

    monkeypatch.setattr(services, "_BatchReader", spy)
    return readers


def read_as(reader: str) -> set[bool]:
    from django.db import connection

    return {reader == "side"} if connection.vendor == "postgresql" else set()


@READERS
def test_a_failure_half_way_through_preparation_leaves_the_previous_state_intact(
    results,
    candidate_a,
    candidate_b,
    ministry_staff,
    clock,
    settings,
    monkeypatch,
    reader,
    batch_readers,
):
    first = publish(results, clock.now, ministry_staff)
    audited = AuditEntry.objects.count()
    better = make_computation(
        candidate_a.session,
        {
            candidate_a: ("16.50", "admitted", "tres_bien"),
            candidate_b: ("10.10", "admitted", "passable"),
        },
    )
    settings.RESULTS_PUBLICATION_BATCH = 1
    # The cache refuses the second batch, after the database took it: on PostgreSQL (where the
    # server builds the rows) as on the embedded database.
    store_class = type(snapshot.get_store())
    real_put = store_class.put_entries
    calls = []

    def failing_put(store, ns, items):
        calls.append(items)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real_put(store, ns, items)

    monkeypatch.setattr(store_class, "put_entries", failing_put)
    with committed():
        second = services.schedule_publication(better, clock.now, ministry_staff)
    second.refresh_from_db()
    assert len(calls) == 2  # it failed half-way, after writing one candidate
    assert second.status == Status.FAILED and "disk full" in second.error
    assert not PublishedResult.objects.filter(publication=second).exists()
    assert AuditEntry.objects.count() == audited
    first.refresh_from_db()
    assert first.status == Status.READY
    for candidate, average in ((candidate_a, "14.25"), (candidate_b, "8.40")):
        outcome = lookup_public(massar(candidate), "192.0.2.1")
        assert outcome.entry["avg"][0] == average and outcome.entry["v"] == 1
    assert set(batch_readers) == read_as(reader)


def test_a_new_version_replaces_the_previous_one_at_its_moment(
    results, candidate_a, candidate_b, ministry_staff, clock
):
    first = publish(results, clock.now, ministry_staff)
    fixed = make_computation(
        candidate_a.session,
        {
            candidate_a: ("14.75", "admitted", "bien"),
            candidate_b: ("8.40", "catch_up", ""),
        },
    )
    moment = clock.now + datetime.timedelta(hours=1)
    second = publish(fixed, moment, ministry_staff, reason="transcription error in MATH")
    assert second.version == 2 and second.replaces == first
    assert lookup_public(massar(candidate_a), "192.0.2.1").entry["avg"][0] == "14.25"
    clock.set(moment)
    outcome = lookup_public(massar(candidate_a), "192.0.2.1")
    assert outcome.entry["avg"][0] == "14.75" and outcome.entry["v"] == 2
    assert result_for_candidate(candidate_a).entry["v"] == 2
    services.notify_due_publications()  # any state change settles the replaced version
    from results.snapshot import refresh_pointers

    refresh_pointers(candidate_a.session_id)
    first.refresh_from_db()
    assert first.status == Status.REPLACED and first.replaced_at == moment


def test_a_withdrawn_publication_is_no_longer_shown_and_the_withdrawal_is_audited(
    results, candidate_a, ministry_staff, clock
):
    publication = publish(results, clock.now, ministry_staff)
    assert lookup_public(massar(candidate_a), "192.0.2.1").status == FOUND
    with committed():
        services.withdraw_publication(publication, ministry_staff, "wrong coefficients")
    assert lookup_public(massar(candidate_a), "192.0.2.1").status == NOT_PUBLISHED
    assert result_for_candidate(candidate_a).status == NOT_PUBLISHED
    entry = AuditEntry.objects.get(action="results.withdraw")
    assert entry.reason == "wrong coefficients" and entry.actor_id == ministry_staff.pk
    publication.refresh_from_db()
    assert publication.status == Status.WITHDRAWN and publication.withdrawn_by == ministry_staff
    with pytest.raises(services.PublicationError):
        services.withdraw_publication(publication, ministry_staff, "again")


def test_withdrawing_a_scheduled_replacement_keeps_the_public_version(
    results, candidate_a, candidate_b, ministry_staff, clock
):
    publish(results, clock.now, ministry_staff)
    fixed = make_computation(candidate_a.session, {candidate_a: ("9.00", "catch_up", "")})
    second = publish(fixed, clock.now + datetime.timedelta(hours=2), ministry_staff)
    with committed():
        services.withdraw_publication(second, ministry_staff, "not validated")
    clock.advance(3 * 3600)
    outcome = lookup_public(massar(candidate_a), "192.0.2.1")
    assert outcome.entry["avg"][0] == "14.25" and outcome.entry["v"] == 1


def test_a_withdrawal_needs_a_reason(results, ministry_staff, clock):
    publication = publish(results, clock.now, ministry_staff)
    with pytest.raises(services.PublicationError):
        services.withdraw_publication(publication, ministry_staff, "  ")


def test_republishing_one_candidate_changes_only_their_result_at_once(
    results, candidate_a, candidate_b, academy_staff, clock
):
    base = publish(results, clock.now)
    recomputed = make_computation(
        candidate_a.session, {candidate_b: ("10.20", "admitted", "passable")}
    )
    with committed():
        correction = services.republish_candidate(
            candidate_b,
            recomputed.results.get(candidate=candidate_b),
            "complaint 12: unmarked answer",
            academy_staff,
        )
    assert correction.kind == Publication.Kind.CORRECTION and correction.base == base
    assert correction.version == 2 and correction.count == 1
    b = lookup_public(massar(candidate_b), "192.0.2.1").entry
    assert b["avg"][0] == "10.20" and b["d"] == "admitted" and b["v"] == 2 and "cor" in b
    assert lookup_public(massar(candidate_a), "192.0.2.1").entry["v"] == 1
    assert result_for_candidate(candidate_b).entry["avg"][0] == "10.20"
    entry = AuditEntry.objects.get(action="results.republish")
    assert entry.candidate_id == candidate_b.pk and entry.reason == "complaint 12: unmarked answer"
    assert entry.before["general_average"] == "8.40" and entry.after["general_average"] == "10.20"


def test_withdrawing_a_correction_restores_the_previous_result(
    results, candidate_a, candidate_b, ministry_staff, clock
):
    publish(results, clock.now)
    recomputed = make_computation(
        candidate_a.session, {candidate_b: ("10.20", "admitted", "passable")}
    )
    with committed():
        correction = services.republish_candidate(
            candidate_b, recomputed.results.get(), "complaint", ministry_staff
        )
    with committed():
        services.withdraw_publication(correction, ministry_staff, "complaint decision reversed")
    assert lookup_public(massar(candidate_b), "192.0.2.1").entry["avg"][0] == "8.40"


def test_a_correction_needs_a_public_result(results, candidate_b, ministry_staff, clock):
    publish(results, clock.now + datetime.timedelta(days=1))
    with pytest.raises(services.PublicationError):
        services.republish_candidate(
            candidate_b, results.results.get(candidate=candidate_b), "too early", ministry_staff
        )


def test_only_a_finished_computation_can_be_published(results, ministry_staff, clock):
    results.status = results.Status.RUNNING
    results.save()
    with pytest.raises(services.PublicationError):
        services.schedule_publication(results, clock.now, ministry_staff)


def test_a_computation_that_kept_no_marks_is_not_published(results, ministry_staff, clock):
    """Computations made before results kept their marks would publish marks other than those
    their averages came from: the ministry is asked to compute again."""
    results.marks_kept = False
    results.save()
    with pytest.raises(services.PublicationError, match="compute again"):
        services.schedule_publication(results, clock.now, ministry_staff)
    assert not Publication.objects.exists()


def test_a_computation_is_not_published_over_grades_corrected_after_it(
    results, candidate_a, ministry_staff, clock
):
    """Its results keep the marks they came from: published, it would show neither the
    corrected mark nor the average it gives. The ministry is told to compute again."""
    clock.advance(3600)  # the next day, at the academy
    grade = Grade.objects.get(candidate=candidate_a, component="national")
    grade.save()  # written again, the same mark: nothing to compute again
    assert services.candidates_regraded_since(results) == 0
    grade.mark = Decimal("17.25")
    grade.save()
    assert services.candidates_regraded_since(results) == 1
    with pytest.raises(services.PublicationError, match="1 candidate were corrected"):
        services.schedule_publication(results, clock.now, ministry_staff)
    assert not Publication.objects.exists()


def test_a_grade_corrected_between_scheduling_and_preparation_fails_the_publication(
    results, candidate_a, ministry_staff, clock
):
    """Scheduling found the grades as computed; a correction lands before the worker prepares
    the snapshot. The preparation checks again, with the grades held: it publishes nothing
    and says why, and the result stays unpublished."""
    clock.advance(3600)
    publication = services.schedule_publication(results, clock.now, ministry_staff)  # not run yet
    grade = Grade.objects.get(candidate=candidate_a, component="national")
    grade.mark = Decimal("17.25")
    grade.save()
    with pytest.raises(services.PublicationError, match="1 candidate were corrected"):
        services.prepare_publication(publication.pk)
    publication.refresh_from_db()
    assert publication.status == Publication.Status.FAILED
    assert "1 candidate were corrected" in services.failure_of(publication)
    with translation.override("fr"):  # kept as a count: said in the reader's language
        assert "Les notes de 1 candidat ont été corrigées" in services.failure_of(publication)
    assert not PublishedResult.objects.exists()
    assert lookup_public(massar(candidate_a), "192.0.2.1").status == NOT_PUBLISHED


def test_candidates_are_told_once_when_the_moment_has_come(results, clock, _no_push):
    moment = clock.now + datetime.timedelta(minutes=30)
    publication = publish(results, moment)
    assert _no_push == []  # the task queued at preparation ran early and did nothing
    clock.set(moment)
    assert services.notify_due_publications() == [publication.pk]
    assert services.notify_due_publications() == []
    assert _no_push == [publication.pk]


def test_the_notification_hook_tells_every_candidate_and_a_replacement_only_those_changed(
    results, candidate_a, candidate_b, clock, monkeypatch
):
    sent = []
    monkeypatch.setattr(
        "notifications.services.queue_bulk_notifications",
        lambda kind, reference, ids, *a, **k: sent.append((kind, reference, sorted(ids))) or 0,
    )
    first = publish(results, clock.now)
    real_on_publication_public(first)
    assert sent == [
        (
            "results_published",
            f"results.{first.session.code}.normal",
            [candidate_a.pk, candidate_b.pk],
        )
    ]
    Publication.objects.filter(pk=first.pk).update(notified_at=clock.now)
    fixed = make_computation(
        candidate_a.session,
        {
            candidate_a: ("14.25", "admitted", "bien"),
            candidate_b: ("10.00", "admitted", "passable"),
        },
    )
    second = publish(fixed, clock.now)
    sent.clear()
    real_on_publication_public(second)
    assert sent == [("results_updated", f"results.pub.{second.pk}", [candidate_b.pk])]


TRICKY_NAMES = [
    ('Ben "Said"', "Back\\slash"),
    ("Tab\there", "New\nline\r"),
    ("\x01\x1f control", "\x7f del \u2028 sep"),
    ("Émilie-Zoë", "😀 emoji"),
    ("العمراني", "مُحَمَّد"),
]


@pytest.mark.parametrize("outsiders", [0, 2], ids=["dense", "sparse"])
@READERS
def test_the_rows_postgresql_builds_are_byte_for_byte_those_of_the_engine(
    session, school, track, ministry_staff, clock, settings, outsiders, reader, batch_readers
):
    """On PostgreSQL the server reads packed marks and the publication writes the payloads
    from tables; they must be exactly what results.lookup.encode_entry writes (the embedded
    database's path, and the format's definition): names that JSON must escape, marks of both
    sittings in the entry's order, missing averages and a candidate without a CNIE number or
    marks. Read on the publishing connection inside a transaction, or on a second connection
    when everything is committed (as the background task runs)."""
    from django.db import connection

    from tests.factories import CandidateFactory

    if connection.vendor != "postgresql":
        pytest.skip("the server-read snapshot is PostgreSQL's")
    subjects = list(Subject.objects.order_by("code"))
    extra = Subject.objects.create(code="AB", name_fr="Ab", name_ar="أب")
    candidates = []
    for index, (last, first) in enumerate(TRICKY_NAMES):
        candidate = CandidateFactory(
            session=session,
            school=school,
            track=track,
            last_name_latin=last,
            first_name_latin=first,
            last_name_ar=first[::-1],
            first_name_ar=last[::-1],
            cnie_number="" if index == 1 else f"BK{200000 + index}",
            candidate_type="free" if index % 2 else "school",
        )
        candidates.append(candidate)
        # Candidates between them, with marks, whom this computation does not cover (as a
        # catch-up computation leaves out most): nothing of theirs is published.
        for _ in range(outsiders):
            outsider = CandidateFactory(session=session, school=school, track=track)
            Grade.objects.create(
                candidate=outsider, subject=subjects[0], component="national", mark="11.00"
            )
        if index == 2:
            continue  # no marks at all
        for subject in [*subjects, extra]:
            for component in ("national", "regional", "continuous"):
                Grade.objects.create(
                    candidate=candidate, subject=subject, component=component, mark="9.05"
                )
        Grade.objects.create(
            candidate=candidate,
            subject=subjects[0],
            component="national",
            mark="20.00",
            sitting="catch_up",
        )
    computation = make_computation(
        session,
        {
            candidates[0]: ("14.25", "admitted", "bien"),
            candidates[1]: ("8.40", "catch_up", ""),
            candidates[2]: (None, "incomplete", ""),
            candidates[3]: {
                "general_average": Decimal("10.00"),
                "continuous_average": None,
                "regional_average": Decimal("9.99"),
                "national_average": Decimal("0.00"),
                "decision": "failed",
                "mention": "",
            },
            candidates[4]: ("20.00", "admitted", "tres_bien"),
        },
        sitting="catch_up",
    )
    # Each candidate's marks as the computation graded them, from the grades themselves.
    graded: dict[int, list] = {}
    for candidate_id, component, subject, sitting, mark in Grade.objects.filter(
        candidate__in=candidates
    ).values_list("candidate_id", "component", "subject__code", "sitting", "mark"):
        graded.setdefault(candidate_id, []).append(
            [component, subject, f"{mark:.2f}"] + ([] if sitting == "normal" else [sitting])
        )
    graded = {candidate_id: sorted(marks) for candidate_id, marks in graded.items()}
    publication = publish(computation, clock.now, ministry_staff)
    assert publication.status == Status.READY and publication.count == len(candidates)
    assert batch_readers == [reader == "side"]
    built = dict(
        PublishedResult.objects.filter(publication=publication).values_list(
            "candidate_id", "payload"
        )
    )
    expected = {
        row.candidate_id: row.payload()
        for rows in services.snapshot_batches(computation, "catch_up", publication.version, 100)
        for row in rows
    }
    assert built == expected  # the outsiders have no row: the count above says so too
    assert '"k":[]' in built[candidates[2].pk]
    assert '"20.00","catch_up"]' in built[candidates[0].pk]
    for candidate in candidates:
        assert sorted(orjson.loads(built[candidate.pk])["k"]) == graded.get(candidate.pk, [])
    # And the lookup finds each candidate by Massar code and by CNIE number.
    for candidate in candidates:
        outcome = lookup_public(massar(candidate), "192.0.2.1")
        assert outcome.status == FOUND and outcome.entry["n"] == [
            candidate.last_name_latin,
            candidate.first_name_latin,
        ]
        if candidate.cnie_number:
            by_cnie = Query("c", candidate.cnie_number, candidate.birth_date)
            assert lookup_public(by_cnie, "192.0.2.2").entry["m"] == candidate.massar_code
