"""Embargo: before the moment nothing leaks, through any route; at the moment all see it at once.

The clock is frozen (django.utils.timezone.now) before and after the moment; every route is asked
the same question: the signed-in home and result pages, the public page, the JSON API through
Django and through the WSGI fast path.
"""

from __future__ import annotations

import datetime
import json
import re

import pytest

from results.publication import schedule_publication

from .publication_fixtures import *  # noqa: F403
from .publication_fixtures import BIRTH, committed, publish
from .wsgi_client import call, post_json

CSRF = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]+"')


def answers(client, signed_in, candidate) -> dict[str, tuple[int, bytes]]:
    """What every route says about the candidate's result."""
    body = {"massar_code": candidate.massar_code, "birth_date": BIRTH}
    page = client.post("/results/", body)
    api = client.post("/results/api/lookup", json.dumps(body), content_type="application/json")
    api_get = client.get("/results/api/lookup", body)
    fast = post_json(body)
    home = signed_in.get("/")
    mine = signed_in.get("/results/mine/")
    card = home.content.decode().split('id="service-results"')[1].split("</li>")[0]
    return {
        "page": (page.status_code, CSRF.sub(b"", page.content)),
        "api": (api.status_code, api.content),
        "api_get": (api_get.status_code, api_get.content),
        "fast_path": (fast.status_code, fast.content),
        "home_card": (home.status_code, card.encode()),
        "mine": (mine.status_code, CSRF.sub(b"", mine.content)),
    }


@pytest.mark.parametrize("seconds_before", [3600, 1])
def test_before_the_moment_every_route_answers_as_for_a_session_without_results(
    results, candidate_a, client, client_for, clock, seconds_before
):
    signed_in = client_for(candidate_a.user)
    without_results = answers(client, signed_in, candidate_a)
    moment = clock.now + datetime.timedelta(seconds=seconds_before)
    publish(results, moment)
    before = answers(client, signed_in, candidate_a)
    assert before == without_results
    assert before["api"][0] == 404 and json.loads(before["api"][1])["status"] == "not_published"
    assert b"14.25" not in b"".join(body for _status, body in before.values())


def test_at_the_moment_every_route_shows_the_result_without_any_job(
    results, candidate_a, client, client_for, clock
):
    signed_in = client_for(candidate_a.user)
    moment = clock.now + datetime.timedelta(minutes=10)
    publish(results, moment)
    clock.set(moment)
    after = answers(client, signed_in, candidate_a)
    for route, (status, body) in after.items():
        assert status == 200, route
        assert b"14.25" in body, route
    assert json.loads(after["api"][1])["result"]["decision"]["code"] == "admitted"


def test_the_switch_is_a_comparison_with_the_moment_to_the_second(
    results, candidate_a, client, clock
):
    moment = clock.now + datetime.timedelta(minutes=10)
    publish(results, moment)
    body = {"massar_code": candidate_a.massar_code, "birth_date": BIRTH}
    clock.set(moment - datetime.timedelta(milliseconds=1))
    assert post_json(body).json()["status"] == "not_published"
    clock.set(moment)
    assert post_json(body).json()["status"] == "found"


def test_a_preparation_in_progress_shows_nothing(results, candidate_a, clock):
    with committed():
        publication = schedule_publication(results, clock.now, None)
        # Inside the transaction, before the preparation task runs.
        assert publication.status == "preparing"
        reply = post_json({"massar_code": candidate_a.massar_code, "birth_date": BIRTH})
        assert reply.json()["status"] == "not_published"


def test_answers_are_never_stored_by_browsers_or_proxies(results, candidate_a, client, clock):
    moment = clock.now + datetime.timedelta(minutes=10)
    publish(results, moment)
    body = {"massar_code": candidate_a.massar_code, "birth_date": BIRTH}
    for now in (moment - datetime.timedelta(seconds=5), moment):
        clock.set(now)
        assert client.post("/results/", body)["Cache-Control"] == "no-store"
        assert post_json(body).headers["cache-control"] == "no-store"
        api = client.post("/results/api/lookup", json.dumps(body), content_type="application/json")
        assert api["Cache-Control"] == "no-store"


def test_the_wsgi_fast_path_is_on_the_lookup_url_only(client, db):
    assert call("GET", "/results/api/openapi.json").status_code == 200
