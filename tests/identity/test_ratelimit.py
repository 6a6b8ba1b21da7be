import ipaddress

import pytest
from django.test import RequestFactory
from hypothesis import given
from hypothesis import strategies as st

from identity.ratelimit import RateLimit, _canonical_address, address_bucket, client_address


@pytest.fixture
def limit():
    return RateLimit("test", limit=3, window=60)


def test_hits_within_the_limit_are_allowed_and_the_next_one_is_not(limit):
    assert [limit.hit("a").allowed for _ in range(4)] == [True, True, True, False]


def test_check_counts_nothing(limit):
    for _ in range(10):
        assert limit.check("a").allowed
    assert limit.hit("a").count == 1


def test_subjects_are_counted_apart(limit):
    for _ in range(3):
        limit.hit("a")
    assert not limit.check("a").allowed
    assert limit.check("b").allowed


def test_a_new_window_starts_a_new_count(limit, clock):
    for _ in range(3):
        limit.hit("a")
    refused = limit.check("a")
    assert not refused.allowed and 0 < refused.retry_after <= 60
    clock.advance(60)
    assert limit.check("a").allowed


def test_a_lockout_lasts_its_full_length_from_the_last_failure(clock):
    failures = RateLimit("test-lock", limit=2, window=60, lockout=600)
    failures.hit("a")
    failures.hit("a")
    decision = failures.check("a")
    assert not decision.allowed and decision.retry_after == 600
    assert decision.retry_after_minutes == 10
    clock.advance(120)  # a new window, but still locked
    assert not failures.check("a").allowed
    clock.advance(481)
    assert failures.check("a").allowed


def test_reset_forgets_count_and_lock():
    failures = RateLimit("test-reset", limit=1, window=60, lockout=600)
    failures.hit("a")
    assert not failures.check("a").allowed
    failures.reset("a")
    assert failures.check("a").allowed


def test_the_subject_is_not_stored_in_clear(limit):
    from django.core.cache import cache

    limit.hit("R130000001")
    if hasattr(cache._cache, "get_client"):  # Redis
        keys = [k.decode() for k in cache._cache.get_client().keys("*")]
    else:  # local memory
        keys = list(cache._cache)
    assert keys, "the limiter stored nothing"
    assert not any("R130000001" in key for key in keys)


def test_a_limit_needs_positive_numbers():
    with pytest.raises(ValueError):
        RateLimit("bad", limit=0, window=60)


def _request(remote="203.0.113.9", forwarded=None):
    extra = {"REMOTE_ADDR": remote}
    if forwarded is not None:
        extra["HTTP_X_FORWARDED_FOR"] = forwarded
    return RequestFactory().get("/", **extra)


def test_without_trusted_proxies_forwarded_for_is_ignored(settings):
    settings.TRUSTED_PROXY_COUNT = 0
    assert client_address(_request(forwarded="1.2.3.4")) == "203.0.113.9"


def test_behind_one_proxy_the_last_forwarded_address_is_the_client(settings):
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_address(_request("10.0.0.1", "6.6.6.6, 198.51.100.7")) == "198.51.100.7"


def test_behind_two_proxies_the_second_last_forwarded_address_is_the_client(settings):
    settings.TRUSTED_PROXY_COUNT = 2
    request = _request("10.0.0.2", "6.6.6.6, 198.51.100.7, 10.0.0.1")
    assert client_address(request) == "198.51.100.7"


def test_a_short_or_garbled_forwarded_header_falls_back_to_the_socket(settings):
    settings.TRUSTED_PROXY_COUNT = 2
    assert client_address(_request("10.0.0.2", "198.51.100.7")) == "10.0.0.2"
    settings.TRUSTED_PROXY_COUNT = 1
    assert client_address(_request("10.0.0.2", "not-an-address")) == "10.0.0.2"


def test_ipv6_addresses_are_counted_by_their_64_prefix():
    assert address_bucket("2001:db8:1:2:aaaa::1") == address_bucket("2001:db8:1:2:bbbb::2")
    assert address_bucket("2001:db8:1:3::1") != address_bucket("2001:db8:1:2::1")
    assert address_bucket("::ffff:192.0.2.1") == "192.0.2.1"
    assert address_bucket("192.0.2.1") == "192.0.2.1"


_octet = st.one_of(
    st.integers(0, 300).map(str),
    st.integers(0, 300).map(lambda n: f"0{n}"),
    st.text("0123456789", max_size=4),
)


@given(st.one_of(st.lists(_octet, min_size=3, max_size=5).map(".".join), st.text(max_size=20)))
def test_a_forwarded_address_is_read_exactly_as_the_standard_library_reads_it(text):
    # The IPv4 fast path must agree with ipaddress on every string: the canonical address, or
    # nothing (leading zeros, octets above 255, too few or too many parts, stray characters).
    try:
        expected = str(ipaddress.ip_address(text))
    except ValueError:
        expected = ""
    assert _canonical_address(text) == expected
