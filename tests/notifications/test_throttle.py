"""The shared rate limit holds the provider's rate, measured on a fake clock."""

from __future__ import annotations

import pytest

from notifications import services, throttle
from notifications.models import Notification, Status
from notifications.sms import MemorySMSBackend
from notifications.throttle import RateLimiter

from .conftest import FakeClock


def _stamps(limiters, clock: FakeClock, count: int) -> list[float]:
    stamps = []
    for n in range(count):
        limiters[n % len(limiters)].acquire()
        stamps.append(clock.now)
    return stamps


def _busiest_second(stamps: list[float]) -> int:
    """The most acquisitions in any window [t, t + 1 s)."""
    return max(sum(1 for s in stamps if t <= s < t + 1 - 1e-9) for t in stamps)


@pytest.mark.django_db
@pytest.mark.parametrize("rate", [1, 5, 10, 25, 100])
def test_the_throttle_holds_the_configured_rate(rate):
    clock = FakeClock()
    limiter = RateLimiter("sms", rate, clock=clock.time, sleep=clock.sleep)
    count = rate * 6

    stamps = _stamps([limiter], clock, count)

    # Never more than the rate plus one slot's burst in any second, and the rate on average...
    assert _busiest_second(stamps) <= rate + limiter.capacity
    elapsed = stamps[-1] - stamps[0]
    assert (count - limiter.capacity) / rate - 0.01 <= elapsed
    # ...without holding messages back more than needed.
    assert elapsed <= count / rate + 0.01


@pytest.mark.django_db
def test_workers_sharing_the_cache_hold_the_rate_together():
    clock = FakeClock()
    workers = [RateLimiter("sms", 10, clock=clock.time, sleep=clock.sleep) for _ in range(4)]

    stamps = _stamps(workers, clock, 60)

    assert _busiest_second(stamps) <= 11
    assert stamps[-1] - stamps[0] >= 5.9


@pytest.mark.django_db
def test_each_channel_has_its_own_rate():
    clock = FakeClock()
    sms = RateLimiter("sms", 2, clock=clock.time, sleep=clock.sleep)
    email = RateLimiter("email", 50, clock=clock.time, sleep=clock.sleep)
    for _ in range(5):
        email.acquire()
    assert clock.slept == 0  # five e-mails fit in the first slot
    sms.acquire()
    sms.acquire()
    assert clock.slept == pytest.approx(0.5, abs=0.01)


def test_the_throttle_is_off_when_tasks_run_in_process(settings):
    settings.NOTIFICATIONS_THROTTLE = False
    assert throttle.limiter_for("sms") is throttle.NO_LIMIT


@pytest.mark.django_db
def test_sending_waits_for_the_providers_rate(
    candidate_a, settings, fake_clock, django_capture_on_commit_callbacks
):
    settings.NOTIFICATIONS_THROTTLE = True
    settings.NOTIFICATIONS_SMS_PER_SECOND = 4
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(12):
            services.notify_candidate(candidate_a, "results_published", f"p:{n}", channels=("sms",))

    assert len(MemorySMSBackend.outbox) == 12
    assert Notification.objects.filter(status=Status.SENT).count() == 12
    # 12 messages at 4 per second: the last leaves 11 slots of 0.25 s after the first.
    assert fake_clock.slept == pytest.approx(11 * 0.25, abs=0.05)
