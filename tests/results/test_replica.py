"""The host's replica (results.replica): its file, its shared counters, its refresh, and the
lookups it answers without any round trip. The lookup, embargo and publication suites also run
through it (test_*_on_replica.py)."""

from __future__ import annotations

import datetime
import multiprocessing
import os
import random

import pytest
from django.core.cache import cache
from django.core.management import call_command

from results import publication as services
from results import replica, replica_file
from results.lookup import parse_query, query_digest
from results.snapshot import (
    FOUND,
    LIMITED,
    NOT_FOUND,
    NOT_PUBLISHED,
    get_store,
    lookup_key,
    lookup_public,
    namespace_of,
)

from .publication_fixtures import *  # noqa: F403
from .publication_fixtures import BIRTH, committed, make_computation, massar, publish
from .replica_mode import failures_counted
from .wsgi_client import post_json

SECRET = b"k" * 32


@pytest.fixture
def on_host(settings, tmp_path):
    """The replica on, with a pointer re-read only when a test says so (as in production,
    where it is re-read every second)."""
    settings.RESULTS_LOOKUP_REPLICA = True
    settings.RESULTS_REPLICA_DIR = tmp_path / "replica"
    settings.RESULTS_REPLICA_REFRESH_MS = 3_600_000
    settings.RESULTS_REPLICA_AUTO_BUILD = False
    yield tmp_path / "replica"
    replica._forget()


def refreshed() -> replica.Replica:
    current = replica.current()
    assert current is not None
    current.refresh()
    return current


def build(directory) -> list:
    pointer = refreshed().pointer()
    written = replica.build_missing([row[0] for row in pointer["e"]], directory)
    replica.current()._forget_files()
    return written


# --- counters -------------------------------------------------------------------------------


def test_the_counters_count_attempts_per_address_and_failures_per_code(tmp_path):
    counters = replica.Counters(tmp_path / "limits", SECRET)
    for expected in (1, 2, 3):
        state, hits, failures = counters.attempt("192.0.2.1", 7, 3, "m:A1", 9, 2)
        assert (state, hits, failures) == (replica.ALLOWED, expected, 0)
    state, hits, _ = counters.attempt("192.0.2.1", 7, 3, "m:A1", 9, 2)
    assert (state, hits) == (replica.LIMITED_ADDRESS, 4)
    # Another address is not affected; the code is limited once it has failed twice.
    assert counters.attempt("192.0.2.2", 7, 3, "m:A1", 9, 2)[0] == replica.ALLOWED
    assert counters.fail("m:A1", 9) == 1 and counters.fail("m:A1", 9) == 2
    assert counters.attempt("192.0.2.3", 7, 3, "m:A1", 9, 2)[0] == replica.LIMITED_CODE
    assert counters.attempt("192.0.2.3", 7, 3, "m:B2", 9, 2)[0] == replica.ALLOWED
    assert counters.count(replica.CODE, "m:A1", 9) == 2
    # A new window starts from zero, for each limit on its own window.
    assert counters.attempt("192.0.2.1", 8, 3, "m:A1", 9, 2)[:2] == (replica.LIMITED_CODE, 1)
    assert counters.attempt("192.0.2.1", 8, 3, "m:A1", 10, 2) == (replica.ALLOWED, 2, 0)
    assert counters.count(replica.CODE, "m:A1", 9) == 0  # the window has turned
    counters.close()


def _hammer(path, secret, times):
    counters = replica.Counters(path, secret)
    for _ in range(times):
        counters.attempt("203.0.113.5", 1, 10**9, "m:X", 1, 10**9)
        counters.fail("m:X", 1)
    counters.close()


def test_every_process_of_the_host_counts_in_the_same_counters_and_none_is_lost(tmp_path):
    path = tmp_path / "limits"
    context = multiprocessing.get_context("fork")
    workers = [context.Process(target=_hammer, args=(path, SECRET, 400)) for _ in range(4)]
    for worker in workers:
        worker.start()
    _hammer(path, SECRET, 400)
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    counters = replica.Counters(path, SECRET)
    assert counters.count(replica.ADDRESS, "203.0.113.5", 1) == 5 * 400
    assert counters.count(replica.CODE, "m:X", 1) == 5 * 400
    counters.close()


def test_a_busy_window_never_undercounts_and_rarely_touches_a_quiet_key(tmp_path):
    counters = replica.Counters(tmp_path / "limits", SECRET)
    rng = random.Random(4)
    truth: dict[str, int] = {}
    for _ in range(60_000):
        code = f"m:R{rng.randrange(20_000):09d}"
        counters.fail(code, 1)
        truth[code] = truth.get(code, 0) + 1  # what really happened, not what the sketch says
    for code, count in truth.items():
        assert counters.count(replica.CODE, code, 1) >= count
    # 20,000 codes in 2 x 2^20 counters: a code never tried reads 0 (almost) always.
    quiet = [f"m:Q{index:09d}" for index in range(2_000)]
    assert sum(counters.count(replica.CODE, code, 1) > 0 for code in quiet) <= 2
    counters.close()


def test_the_hashes_are_keyed_by_the_deployment_secret(tmp_path):
    one = replica.Counters(tmp_path / "one", b"a" * 32)
    other = replica.Counters(tmp_path / "other", b"b" * 32)
    keys = [f"m:R{index:09d}" for index in range(50)]
    assert [one._slots(replica.CODE, k) for k in keys] != [
        other._slots(replica.CODE, k) for k in keys
    ]
    one.close()
    other.close()


# --- the file -------------------------------------------------------------------------------


def test_the_file_holds_what_the_shared_cache_holds(
    results, candidate_a, candidate_b, clock, on_host
):
    publication = publish(results, clock.now)
    (path,) = build(on_host)
    assert (
        path.name == f"{namespace_of(publication)}.replica"
        and oct(path.stat().st_mode)[-3:] == "600"
    )
    store, ns = get_store(), namespace_of(publication)
    current = replica.current()
    for candidate in (candidate_a, candidate_b):
        query = massar(candidate)
        digest = query_digest(lookup_key(), query)
        assert current.entry(ns, digest) == store.fetch([ns], digest)[0][0]
        cnie = parse_query(None, candidate.cnie_number, BIRTH)[0]
        assert current.entry(ns, query_digest(lookup_key(), cnie)) == current.entry(ns, digest)
    assert current.entry(ns, "0" * 40) is None


def test_once_in_place_the_file_answers_with_no_cache_and_no_database(
    results, candidate_a, candidate_b, clock, on_host, django_assert_num_queries
):
    publish(results, clock.now)
    build(on_host)
    cache.clear()  # nothing left in the shared cache: only the file can answer
    with django_assert_num_queries(0):
        found = lookup_public(massar(candidate_a), "192.0.2.1")
        assert found.status == FOUND and found.entry["avg"][0] == "14.25"
        by_cnie = parse_query(None, candidate_b.cnie_number, BIRTH)[0]
        assert lookup_public(by_cnie, "192.0.2.1").entry["m"] == candidate_b.massar_code
        assert lookup_public(massar(candidate_a, "2008-03-15"), "192.0.2.1").status == NOT_FOUND


def test_without_its_file_the_host_answers_from_the_shared_cache_then_from_the_file(
    results, candidate_a, clock, on_host, settings, monkeypatch
):
    publish(results, clock.now)
    refreshed()
    reads = []
    store_class = type(get_store())
    original = store_class.fetch
    monkeypatch.setattr(
        store_class, "fetch", lambda self, *a: reads.append(a) or original(self, *a)
    )
    assert lookup_public(massar(candidate_a), "192.0.2.1").status == FOUND
    assert len(reads) == 1
    build(on_host)
    assert lookup_public(massar(candidate_a), "192.0.2.1").status == FOUND
    assert len(reads) == 1  # the file answered


def test_with_neither_file_nor_cache_the_database_answers(results, candidate_a, clock, on_host):
    publish(results, clock.now)
    cache.clear()  # Redis restarted before this host had its file
    refreshed()  # the pointer is rebuilt from the database
    outcome = lookup_public(massar(candidate_a), "192.0.2.1")
    assert outcome.status == FOUND and outcome.entry["avg"][0] == "14.25"
    # A cold cache is not the candidate's fault: the miss is not counted against the code.
    assert lookup_public(massar(candidate_a, "2008-03-15"), "192.0.2.1").status == NOT_FOUND
    assert failures_counted(f"m:{candidate_a.massar_code}") == 0


def test_a_web_process_writes_a_missing_file_in_the_background(
    results, candidate_a, clock, on_host, settings, transactional_db
):
    settings.RESULTS_REPLICA_AUTO_BUILD = True
    publication = publish(results, clock.now)
    current = refreshed()
    current._building.join(60)
    assert (on_host / f"{namespace_of(publication)}.replica").is_file()
    cache.clear()
    assert lookup_public(massar(candidate_a), "192.0.2.1").entry["avg"][0] == "14.25"


def test_the_command_writes_the_live_files_and_removes_the_others(
    results, clock, on_host, ministry_staff
):
    publication = publish(results, clock.now)
    stale = on_host / "9999.abc.replica"
    on_host.mkdir(parents=True)
    stale.write_bytes(b"")
    call_command("build_results_replica", stdout=open(os.devnull, "w"))  # noqa: SIM115
    assert (on_host / f"{namespace_of(publication)}.replica").is_file() and not stale.exists()
    assert (on_host / f".{namespace_of(publication)}.lock").exists()
    with committed():
        services.withdraw_publication(publication, ministry_staff, "wrong coefficients")
    refreshed()
    assert not (on_host / f"{namespace_of(publication)}.replica").exists()
    assert not (on_host / f".{namespace_of(publication)}.lock").exists()


# --- the lookup -----------------------------------------------------------------------------


def test_the_moment_is_exact_without_waiting_for_a_refresh(results, candidate_a, clock, on_host):
    moment = clock.now + datetime.timedelta(hours=1)
    publish(results, moment)
    build(on_host)  # written ahead of the moment, as a host would
    clock.set(moment - datetime.timedelta(seconds=1))
    assert lookup_public(massar(candidate_a), "192.0.2.1").status == NOT_PUBLISHED
    clock.set(moment)
    assert lookup_public(massar(candidate_a), "192.0.2.1").status == FOUND


def test_corrections_and_withdrawals_show_at_the_next_refresh(
    results, candidate_a, candidate_b, clock, on_host, ministry_staff
):
    publish(results, clock.now)
    build(on_host)
    recomputed = make_computation(
        candidate_a.session, {candidate_b: ("10.20", "admitted", "passable")}
    )
    with committed():
        correction = services.republish_candidate(
            candidate_b, recomputed.results.get(), "complaint", ministry_staff
        )
    refreshed()
    corrected = lookup_public(massar(candidate_b), "192.0.2.1").entry
    assert corrected["avg"][0] == "10.20" and corrected["v"] == 2
    by_cnie = parse_query(None, candidate_b.cnie_number, BIRTH)[0]
    assert lookup_public(by_cnie, "192.0.2.1").entry["v"] == 2
    assert lookup_public(massar(candidate_a), "192.0.2.1").entry["v"] == 1
    with committed():
        services.withdraw_publication(correction, ministry_staff, "reversed")
    refreshed()
    assert lookup_public(massar(candidate_b), "192.0.2.1").entry["avg"][0] == "8.40"


def test_the_limits_hold_on_the_host(results, candidate_a, candidate_b, clock, on_host, settings):
    settings.RESULTS_LOOKUP_FAILURES_PER_CODE = 3
    settings.RESULTS_LOOKUP_PER_ADDRESS = 5
    publish(results, clock.now)
    build(on_host)
    for day in (1, 2, 3):
        wrong = massar(candidate_a, f"2008-01-0{day}")
        assert lookup_public(wrong, "192.0.2.1").status == NOT_FOUND
    assert failures_counted(f"m:{candidate_a.massar_code}") == 3
    refused = lookup_public(massar(candidate_a), "192.0.2.2")
    assert refused.status == LIMITED and refused.retry_after > 0
    # 192.0.2.1 has tried 3 times: 2 more and it has spent its 5, whatever the code.
    assert lookup_public(massar(candidate_b), "192.0.2.1").status == FOUND
    assert lookup_public(massar(candidate_b), "192.0.2.1").status == FOUND
    assert lookup_public(massar(candidate_b), "192.0.2.1").status == LIMITED
    assert lookup_public(massar(candidate_b), "192.0.2.3").status == FOUND
    clock.advance(3600)
    assert lookup_public(massar(candidate_a), "192.0.2.1").status == FOUND


def test_the_fast_path_reads_the_replica(results, candidate_a, clock, on_host, monkeypatch):
    publish(results, clock.now)
    build(on_host)
    cache.clear()
    found = []
    real_get = replica_file.ReplicaFile.get

    def spy(self, digest):
        found.append(real_get(self, digest))
        return found[-1]

    monkeypatch.setattr(replica_file.ReplicaFile, "get", spy)
    reply = post_json({"massar_code": candidate_a.massar_code, "birth_date": BIRTH})
    assert reply.status_code == 200 and reply.json()["result"]["general_average"] == "14.25"
    assert len(found) == 1 and '"14.25"' in found[0]  # the file answered, not a fallback


def test_the_replica_directory_must_be_this_users_alone(tmp_path):
    mine = replica.own_directory(tmp_path / "mine")
    assert oct(mine.stat().st_mode)[-3:] == "700"
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    with pytest.raises(replica.ReplicaDirectoryError):
        replica.own_directory(shared)
    (tmp_path / "target").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "target")
    with pytest.raises(replica.ReplicaDirectoryError):
        replica.own_directory(tmp_path / "link")


def test_an_unusable_replica_directory_leaves_lookups_to_the_shared_cache(
    results, candidate_a, clock, settings, tmp_path
):
    publish(results, clock.now)
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)  # not ours alone: refused
    settings.RESULTS_LOOKUP_REPLICA = True
    settings.RESULTS_REPLICA_DIR = shared
    try:
        assert replica.current() is None
        assert lookup_public(massar(candidate_a), "192.0.2.1").status == FOUND
    finally:
        replica._forget()


def test_a_failed_build_is_not_tried_again_at_once(
    results, clock, on_host, settings, monkeypatch, transactional_db
):
    settings.RESULTS_REPLICA_AUTO_BUILD = True
    publish(results, clock.now)
    attempts = []

    def broken(namespaces, directory):
        attempts.append(namespaces)
        raise OSError("disk full")

    monkeypatch.setattr(replica, "build_missing", broken)
    current = refreshed()
    current._building.join(60)
    current.refresh()
    assert current._building is None or not current._building.is_alive()
    assert len(attempts) == 1
