"""Delivery status in the back office: counts and failures, within the staff member's scope."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from notifications import services
from notifications.models import Notification, Status
from tests.factories import CandidateFactory

RESULTS = "results_published"


def _publish(candidates, reference="publication:1") -> None:
    services.queue_bulk_notifications(RESULTS, reference, [c.pk for c in candidates])


def _fail(candidate, channel="sms", error="TransientSMSError: gateway answered 503") -> None:
    Notification.objects.filter(candidate=candidate, channel=channel).update(
        status=Status.FAILED, attempts=5, last_error=error
    )


@pytest.fixture
def batch(candidate_a, candidate_b, candidate_of_other_academy, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        _publish([candidate_a, candidate_b, candidate_of_other_academy])
    _fail(candidate_a)
    _fail(candidate_of_other_academy)
    return reverse("notifications:batch", args=[RESULTS, "publication:1"])


def test_ministry_staff_see_every_academy(client_for, ministry_staff, batch):
    response = client_for(ministry_staff).get(batch)
    assert response.status_code == 200
    body = response.content.decode()
    assert "R130000001" in body and "R199999999" in body
    counts = response.context["counts"].all.counts
    assert (counts["sent"], counts["failed"]) == (4, 2)


def test_academy_staff_see_only_their_academys_candidates(client_for, academy_staff, batch):
    response = client_for(academy_staff).get(batch)
    assert response.status_code == 200
    body = response.content.decode()
    assert "R130000001" in body
    assert "R199999999" not in body
    counts = response.context["counts"].all.counts
    assert (counts["sent"], counts["failed"]) == (3, 1)


def test_academy_staff_of_another_academy_see_nothing_of_ours(
    client_for, academy_staff_of_other_academy, candidate_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _publish([candidate_a], reference="publication:2")
    client = client_for(academy_staff_of_other_academy)

    overview = client.get(reverse("notifications:overview"))
    assert "publication:2" not in overview.content.decode()
    batch = client.get(reverse("notifications:batch", args=[RESULTS, "publication:2"]))
    assert batch.status_code == 404


def test_the_overview_counts_each_batch_in_scope(client_for, academy_staff, batch):
    response = client_for(academy_staff).get(reverse("notifications:overview"))
    assert response.status_code == 200
    (summary,) = response.context["batches"]
    assert (summary.kind, summary.reference, summary.total) == (RESULTS, "publication:1", 4)
    assert summary.counts["failed"] == 1
    assert "Results published" in response.content.decode()


def test_a_candidate_is_refused(client_for, candidate_a, batch):
    client = client_for(candidate_a.user)
    assert client.get(reverse("notifications:overview")).status_code == 403
    assert client.get(batch).status_code == 403


def test_school_staff_are_refused(client_for, clerk, batch):
    assert client_for(clerk).get(batch).status_code == 403


def test_anonymous_visitors_are_sent_to_sign_in(client, batch):
    response = client.get(batch)
    assert response.status_code == 302
    assert reverse("identity:sign_in") in response["Location"]


def test_failures_are_listed_by_default_and_the_status_filter_works(
    client_for, ministry_staff, batch
):
    client = client_for(ministry_staff)
    failures = client.get(batch).context["page"].object_list
    assert {n.status for n in failures} == {Status.FAILED}
    assert len(failures) == 2

    sent = client.get(batch, {"status": "sent", "channel": "email"}).context["page"].object_list
    assert len(sent) == 3 and {n.channel for n in sent} == {"email"}

    everything = client.get(batch, {"status": ""}).context["page"].object_list
    assert len(everything) == 6


def test_destinations_are_masked_and_errors_shown(client_for, ministry_staff, batch):
    body = client_for(ministry_staff).get(batch).content.decode()
    assert "+212612345678" not in body
    assert "+212 6•• ••• 678" in body
    assert "gateway answered 503" in body


def test_the_failure_list_makes_the_same_queries_whatever_its_length(
    client_for, ministry_staff, session, school, track, batch, django_capture_on_commit_callbacks
):
    client = client_for(ministry_staff)
    client.get(batch)  # warm the session
    with CaptureQueriesContext(connection) as few:
        assert client.get(batch).status_code == 200

    more = [CandidateFactory(session=session, school=school, track=track) for _ in range(30)]
    with django_capture_on_commit_callbacks(execute=True):
        _publish(more)
    for candidate in more:
        _fail(candidate)
    with CaptureQueriesContext(connection) as many:
        response = client.get(batch)
    assert len(response.context["page"].object_list) == 32
    assert len(many) == len(few)


def test_the_failure_list_is_paginated(
    client_for, ministry_staff, session, school, track, batch, django_capture_on_commit_callbacks
):
    more = [CandidateFactory(session=session, school=school, track=track) for _ in range(55)]
    with django_capture_on_commit_callbacks(execute=True):
        _publish(more)
    for candidate in more:
        _fail(candidate)
    client = client_for(ministry_staff)
    first = client.get(batch)
    second = client.get(batch, {"page": 2})
    assert len(first.context["page"].object_list) == 50
    assert len(second.context["page"].object_list) == 7
    assert 'rel="next"' in first.content.decode()


@pytest.mark.parametrize("language", ["ar", "fr", "en"])
def test_the_pages_have_no_inline_style_or_script(client_for, ministry_staff, batch, language):
    client = client_for(ministry_staff)
    client.cookies["django_language"] = language
    for url in (reverse("notifications:overview"), batch):
        body = client.get(url).content.decode()
        assert not re.search(r"<script|\sstyle=|\son\w+=", body)
        assert f'lang="{language}"' in body
