"""The re-check once results are final: through the real publication of results and its
signals (publication_made_public, result_republished)."""

from __future__ import annotations

import pytest
from django.utils import timezone

from audit.models import AuditEntry
from notifications.models import Notification
from results import publication as results_publication
from results import signals
from results.models import Publication
from scholarships import services
from scholarships.models import Status
from tests.results.publication_fixtures import committed, make_computation, publish

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _only_scholarship_receivers(monkeypatch):
    """These tests are about the scholarship receivers: other services' receivers of the same
    signals (diplomas) are tested in their own apps and kept out of the way here."""
    for signal in (signals.publication_made_public, signals.result_republished):
        kept = [r for r in signal.receivers if str(r[0][0]).startswith("scholarships.")]
        assert kept, "the scholarship receivers are connected in ScholarshipsConfig.ready()"
        monkeypatch.setattr(signal, "receivers", kept)
        signal.sender_receivers_cache.clear()
    yield
    for signal in (signals.publication_made_public, signals.result_republished):
        signal.sender_receivers_cache.clear()


def _made_public(publication: Publication) -> None:
    """The moment has come: the results service tells everyone (and sends the signal)."""
    results_publication.notify_due_publications(timezone.now())


def test_an_application_of_a_candidate_who_fails_becomes_void_and_they_are_told(
    submitted, submitted_b, candidate_a, candidate_b
):
    computation = make_computation(
        candidate_a.session,
        {candidate_a: ("14.25", "admitted", "bien"), candidate_b: ("5.10", "failed", "")},
    )
    _made_public(publish(computation, timezone.now()))
    submitted.refresh_from_db()
    submitted_b.refresh_from_db()
    assert submitted.status == Status.SUBMITTED and str(submitted.general_average) == "14.25"
    assert submitted_b.status == Status.VOID and submitted_b.void_reasons == ["not_admitted"]
    told = Notification.objects.filter(candidate=candidate_b, kind="scholarship_status")
    assert told.values("reference").distinct().count() == 2  # submitted, then void
    assert AuditEntry.objects.filter(
        action="scholarships.results_recheck", candidate_id=candidate_b.pk
    ).exists()


def test_a_catch_up_candidate_is_judged_only_after_the_catch_up_sitting(
    submitted_b, candidate_b, candidate_a
):
    normal = make_computation(candidate_b.session, {candidate_b: ("8.40", "catch_up", "")})
    _made_public(publish(normal, timezone.now()))
    submitted_b.refresh_from_db()
    assert submitted_b.status == Status.SUBMITTED
    catch_up = make_computation(
        candidate_b.session, {candidate_b: ("9.10", "failed", "")}, sitting="catch_up"
    )
    _made_public(publish(catch_up, timezone.now()))
    submitted_b.refresh_from_db()
    assert submitted_b.status == Status.VOID


def test_a_catch_up_candidate_admitted_at_the_catch_up_sitting_keeps_their_application(
    submitted_b, candidate_b
):
    _made_public(
        publish(
            make_computation(candidate_b.session, {candidate_b: ("8.40", "catch_up", "")}),
            timezone.now(),
        )
    )
    catch_up = make_computation(
        candidate_b.session, {candidate_b: ("10.50", "admitted", "passable")}, sitting="catch_up"
    )
    _made_public(publish(catch_up, timezone.now()))
    submitted_b.refresh_from_db()
    assert submitted_b.status == Status.SUBMITTED and str(submitted_b.general_average) == "10.50"


def test_a_voided_application_comes_back_when_a_corrected_result_admits_the_candidate(
    submitted_b, candidate_b, ministry_staff
):
    _made_public(
        publish(
            make_computation(candidate_b.session, {candidate_b: ("9.90", "failed", "")}),
            timezone.now(),
        )
    )
    submitted_b.refresh_from_db()
    assert submitted_b.status == Status.VOID
    corrected = make_computation(
        candidate_b.session, {candidate_b: ("10.20", "admitted", "passable")}
    )
    with committed():
        results_publication.republish_candidate(
            candidate_b, corrected.results.get(), "complaint: unmarked answer", ministry_staff
        )
    submitted_b.refresh_from_db()
    assert submitted_b.status == Status.SUBMITTED and submitted_b.void_reasons == []
    assert list(submitted_b.events.values_list("status", flat=True)) == [
        Status.SUBMITTED,
        Status.VOID,
        Status.SUBMITTED,
    ]


def test_a_draft_is_not_voided_and_the_re_check_is_idempotent(
    programme, candidate_a, candidate_b, submitted_b
):
    draft = services.start_application(candidate_a, candidate_a.user)
    publication = publish(
        make_computation(
            candidate_a.session,
            {candidate_a: ("5.00", "failed", ""), candidate_b: ("4.00", "failed", "")},
        ),
        timezone.now(),
    )
    _made_public(publication)
    assert services.recheck_publication(publication) == 0
    draft.refresh_from_db()
    assert draft.status == Status.DRAFT
    assert submitted_b.events.count() == 2


def test_a_candidate_whose_failure_is_already_public_cannot_submit(programme, candidate_a):
    from .conftest import fill

    _made_public(
        publish(
            make_computation(candidate_a.session, {candidate_a: ("6.00", "failed", "")}),
            timezone.now(),
        )
    )
    application = fill(services.start_application(candidate_a, candidate_a.user), candidate_a.user)
    with pytest.raises(services.ScholarshipRefused) as refused:
        services.submit(application, candidate_a.user)
    assert any("new bacheliers" in reason for reason in refused.value.reasons)


def test_the_recheck_command_repeats_the_recheck_from_the_latest_public_results(
    submitted_b, candidate_b, monkeypatch
):
    from io import StringIO

    from django.core.management import call_command

    # As if the re-check had failed on results day: nobody hears the publication.
    monkeypatch.setattr(signals.publication_made_public, "receivers", [])
    signals.publication_made_public.sender_receivers_cache.clear()
    publication = publish(
        make_computation(candidate_b.session, {candidate_b: ("5.00", "failed", "")}),
        timezone.now(),
    )
    _made_public(publication)
    submitted_b.refresh_from_db()
    assert submitted_b.status == Status.SUBMITTED
    out = StringIO()
    call_command("recheck_scholarships", stdout=out)
    submitted_b.refresh_from_db()
    assert submitted_b.status == Status.VOID and "1 application" in out.getvalue()
    call_command("recheck_scholarships", stdout=out)
    assert submitted_b.events.count() == 2
