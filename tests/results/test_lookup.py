"""The lookup: found by Massar code or CNIE number, generic answers, limits, no ORM per request."""

from __future__ import annotations

import json
import re

import pytest
from django.core.cache import cache
from django.core.management import call_command

from identity.ratelimit import RateLimit
from results.api import API_PATH

from .publication_fixtures import *  # noqa: F403
from .publication_fixtures import BIRTH, publish
from .replica_mode import failures_counted
from .wsgi_client import call, post_json

CSRF = re.compile(rb'name="csrfmiddlewaretoken" value="[^"]+"')


@pytest.fixture
def published(results, clock):
    return publish(results, clock.now)


def api(client, **data):
    return client.post("/results/api/lookup", json.dumps(data), content_type="application/json")


def test_the_api_finds_a_result_by_massar_code_and_birth_date(published, candidate_a, client):
    response = api(client, massar_code=candidate_a.massar_code.lower(), birth_date=BIRTH)
    assert response.status_code == 200
    data = response.json()
    assert data["status"] == "found" and data["version"] == 1
    assert data["candidate"]["massar_code"] == candidate_a.massar_code
    assert data["candidate"]["track"] == {"code": "SP", "name": "Sciences Physiques"}
    assert data["result"]["general_average"] == "14.25"
    assert data["result"]["decision"] == {"code": "admitted", "label": "Admitted"}
    assert data["result"]["mention"]["code"] == "bien"
    math = next(s for s in data["subjects"] if s["code"] == "MATH")
    assert (
        math["mark"] == "15.50" and math["coefficient"] == "7" and math["component"] == "national"
    )
    assert data["published_at"] and "cnie" not in json.dumps(data).lower()


def test_the_api_finds_a_result_by_cnie_number_and_birth_date(published, candidate_a, client):
    response = api(client, cnie_number=candidate_a.cnie_number, birth_date="14/03/2008")
    assert response.status_code == 200
    assert response.json()["candidate"]["massar_code"] == candidate_a.massar_code


def test_the_api_also_answers_a_get_with_query_parameters(published, candidate_a, client):
    response = client.get(API_PATH, {"massar_code": candidate_a.massar_code, "birth_date": BIRTH})
    assert response.status_code == 200 and response.json()["result"]["general_average"] == "14.25"


def test_a_wrong_birth_date_and_an_unknown_code_get_the_same_answer(published, candidate_a, client):
    wrong_date = api(client, massar_code=candidate_a.massar_code, birth_date="2008-03-15")
    unknown = api(client, massar_code="Z999999999", birth_date=BIRTH)
    assert wrong_date.status_code == unknown.status_code == 404
    assert wrong_date.content == unknown.content
    assert wrong_date.json()["status"] == "not_found"
    assert dict(wrong_date.headers) == dict(unknown.headers)
    page_wrong = client.post(
        "/results/", {"massar_code": candidate_a.massar_code, "birth_date": "2008-03-15"}
    )
    page_unknown = client.post("/results/", {"massar_code": "Z999999999", "birth_date": BIRTH})
    assert page_wrong.status_code == page_unknown.status_code
    assert CSRF.sub(b"", page_wrong.content).replace(
        candidate_a.massar_code.encode(), b"CODE"
    ).replace(b"2008-03-15", b"DATE") == CSRF.sub(b"", page_unknown.content).replace(
        b"Z999999999", b"CODE"
    ).replace(BIRTH.encode(), b"DATE")


def test_both_kinds_of_failure_do_the_same_work_and_count_against_the_code(
    published, candidate_a, client
):
    api(client, massar_code=candidate_a.massar_code, birth_date="2008-03-15")
    api(client, massar_code="Z999999999", birth_date=BIRTH)
    assert failures_counted(f"m:{candidate_a.massar_code}") == 1
    assert failures_counted("m:Z999999999") == 1


def test_the_per_code_limit_holds_even_with_the_right_birth_date_afterwards(
    published, candidate_a, candidate_b, client, settings
):
    settings.RESULTS_LOOKUP_FAILURES_PER_CODE = 3
    for day in (1, 2, 3):
        assert (
            api(
                client, massar_code=candidate_a.massar_code, birth_date=f"2008-01-0{day}"
            ).status_code
            == 404
        )
    refused = api(client, massar_code=candidate_a.massar_code, birth_date=BIRTH)
    assert refused.status_code == 429 and refused.json()["status"] == "rate_limited"
    assert int(refused["Retry-After"]) > 0
    assert (
        post_json({"massar_code": candidate_a.massar_code, "birth_date": BIRTH}).status_code == 429
    )
    # Another code is not affected, and successes never count.
    for _ in range(5):
        assert api(client, massar_code=candidate_b.massar_code, birth_date=BIRTH).status_code == 200


def test_the_per_address_limit_holds_across_codes(published, candidate_a, client, settings):
    settings.RESULTS_LOOKUP_PER_ADDRESS = 4
    codes = [f"Z{index:09d}" for index in range(4)]
    for code in codes:
        assert api(client, massar_code=code, birth_date=BIRTH).status_code == 404
    assert api(client, massar_code=candidate_a.massar_code, birth_date=BIRTH).status_code == 429
    # Another address may still look up.
    other = client.post(
        API_PATH,
        json.dumps({"massar_code": candidate_a.massar_code, "birth_date": BIRTH}),
        content_type="application/json",
        REMOTE_ADDR="198.51.100.7",
    )
    assert other.status_code == 200
    assert (
        post_json(
            {"massar_code": candidate_a.massar_code, "birth_date": BIRTH},
            REMOTE_ADDR="198.51.100.8",
        ).status_code
        == 200
    )


def test_the_limits_use_the_counters_of_identity_ratelimit(published, client):
    api(client, massar_code="Z999999999", birth_date=BIRTH)
    api(client, massar_code="Z999999999", birth_date=BIRTH)
    counted = RateLimit("results-lookup-code", 99, 3600).check("m:Z999999999")
    assert counted.count == 2


def test_malformed_details_are_refused_and_nothing_is_counted(published, client):
    response = api(client, massar_code="R12", birth_date="31/02/2008")
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert set(errors) == {"identifier", "birth_date"}
    assert (
        api(client, massar_code="R130000001", cnie_number="BE123456", birth_date=BIRTH).status_code
        == 400
    )
    broken = client.post(API_PATH, b"[not json", content_type="application/json")
    assert broken.status_code == 400 and "body" in broken.json()["errors"]
    assert failures_counted("m:R12") == 0


def test_a_lookup_makes_no_database_query(
    published, candidate_a, client, django_assert_num_queries
):
    body = {"massar_code": candidate_a.massar_code, "birth_date": BIRTH}
    post_json(body)  # the pointer may be rebuilt once from the database
    with django_assert_num_queries(0):
        assert post_json(body).status_code == 200
        assert post_json({**body, "birth_date": "2008-03-15"}).status_code == 404


def test_a_cold_cache_still_answers_from_the_snapshot_and_warm_results_refills_it(
    published, candidate_a, candidate_b, django_assert_num_queries
):
    cache.clear()  # Redis restarted
    body = {"massar_code": candidate_a.massar_code, "birth_date": BIRTH}
    assert post_json(body).json()["result"]["general_average"] == "14.25"
    assert post_json({**body, "birth_date": "2008-03-15"}).json()["status"] == "not_found"
    call_command("warm_results", stdout=open("/dev/null", "w"))  # noqa: SIM115
    with django_assert_num_queries(0):
        assert post_json(body).json()["result"]["general_average"] == "14.25"
        cnie = {"cnie_number": candidate_b.cnie_number, "birth_date": BIRTH}
        assert post_json(cnie).json()["candidate"]["massar_code"] == candidate_b.massar_code


def test_the_fast_path_answers_exactly_as_the_django_view(published, candidate_a, client):
    cases = [
        {"massar_code": candidate_a.massar_code, "birth_date": BIRTH},
        {"massar_code": candidate_a.massar_code, "birth_date": "2008-03-15"},
        {"cnie_number": candidate_a.cnie_number, "birth_date": BIRTH, "lang": "fr"},
        {"massar_code": "bad", "birth_date": ""},
    ]
    for case in cases:
        django = api(client, **case)
        fast = post_json(case)
        assert (fast.status_code, fast.content) == (django.status_code, django.content)
        for header in (
            "Content-Type",
            "Cache-Control",
            "Content-Language",
            "Content-Security-Policy",
            "X-Content-Type-Options",
        ):
            assert fast.headers[header.lower()] == django[header], header


def test_the_fast_path_hands_anything_unusual_to_django(published, candidate_a):
    assert call("PUT", API_PATH).status_code == 405
    assert call("POST", API_PATH, b"{}", HTTP_HOST="evil.example").status_code == 400
    form = call(
        "POST",
        API_PATH,
        f"massar_code={candidate_a.massar_code}&birth_date={BIRTH}".encode(),
        CONTENT_TYPE="application/x-www-form-urlencoded",
    )
    assert form.status_code == 200 and form.json()["status"] == "found"
    broken = call("POST", API_PATH, b"[1, 2")
    assert broken.status_code == 400 and broken.json()["status"] == "invalid"


def test_the_forwarded_address_is_believed_only_behind_a_trusted_proxy(published, settings):
    settings.RESULTS_LOOKUP_PER_ADDRESS = 1
    settings.TRUSTED_PROXY_COUNT = 1
    body = {"massar_code": "Z999999999", "birth_date": BIRTH}
    assert post_json(body, HTTP_X_FORWARDED_FOR="203.0.113.1").status_code == 404
    assert post_json(body, HTTP_X_FORWARDED_FOR="203.0.113.2").status_code == 404
    assert post_json(body, HTTP_X_FORWARDED_FOR="203.0.113.1").status_code == 429


def test_the_public_page_shows_the_result_in_a_few_kilobytes_without_script(
    published, candidate_a, client
):
    response = client.post(
        "/results/", {"massar_code": candidate_a.massar_code, "birth_date": BIRTH}
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "14.25" in html and "Admitted" in html and "Mathématiques" in html
    assert "<script" not in html and "style=" not in html
    assert len(response.content) < 10_000


def test_the_public_page_explains_a_malformed_code(published, client):
    response = client.post("/results/", {"massar_code": "12", "birth_date": BIRTH})
    assert b"one letter and nine digits" in response.content


def test_the_page_is_translated(published, candidate_a, client):
    response = client.post(
        "/results/",
        {"massar_code": candidate_a.massar_code, "birth_date": BIRTH},
        HTTP_ACCEPT_LANGUAGE="ar",
    )
    html = response.content.decode()
    assert 'dir="rtl"' in html and "الرياضيات" in html and "العلوم الفيزيائية" in html


def test_the_signed_in_candidate_sees_their_own_result_only(
    published, candidate_a, candidate_b, client_for
):
    html = client_for(candidate_b.user).get("/results/mine/").content.decode()
    assert "8.40" in html and "14.25" not in html
    assert client_for(candidate_a.user).get("/").content.decode().count("14.25") == 1


def test_staff_cannot_use_the_candidate_result_page(published, clerk, client_for):
    assert client_for(clerk).get("/results/mine/").status_code == 403


def test_the_api_is_described_by_openapi(client, db):
    spec = client.get("/results/api/openapi.json").json()
    assert spec["openapi"].startswith("3.") and API_PATH in spec["paths"]


def _redis_store():
    from results.snapshot import RedisStore, get_store

    store = get_store()
    if not isinstance(store, RedisStore):
        pytest.skip("the single-round-trip lookup is Redis's (REDIS_URL)")
    return store


def test_on_redis_a_lookup_survives_a_flushed_script_and_a_dropped_connection(
    published, candidate_a, django_assert_num_queries
):
    store = _redis_store()
    body = {"massar_code": candidate_a.massar_code, "birth_date": BIRTH}
    post_json(body)  # the pointer may be rebuilt once from the database
    with django_assert_num_queries(0):
        store.client.script_flush()  # Redis restarted with its data (or SCRIPT FLUSH)
        assert post_json(body).json()["result"]["general_average"] == "14.25"
        # Redis dropped our connection (a failover, a timeout): one retry on a new one.
        ours = store._call(store._connection, store._reader, ("CLIENT", "ID"))
        assert store.client.client_kill_filter(_id=ours) == 1
        assert post_json(body).json()["result"]["general_average"] == "14.25"
        assert post_json({**body, "birth_date": "2008-03-15"}).json()["status"] == "not_found"


def test_on_redis_the_lookup_also_works_through_redis_py_s_parser(
    published, candidate_a, monkeypatch
):
    """Without hiredis (or should redis-py rename its socket attribute) the same answers come
    through redis-py's own reader."""
    from results import snapshot

    store = _redis_store()
    monkeypatch.setattr(snapshot, "_hiredis", None)
    store._drop_connection()
    body = {"massar_code": candidate_a.massar_code, "birth_date": BIRTH}
    assert post_json(body).json()["result"]["general_average"] == "14.25"
    assert store._connection is not None and store._reader is None
    assert post_json({**body, "birth_date": "2008-03-15"}).json()["status"] == "not_found"
    store._drop_connection()
