import datetime

import pytest
from django.test import Client
from django.utils import timezone

from .factories import give_cnie, make_diploma


class FrozenClock:
    """django.utils.timezone.now, frozen: link expiry, rate limits and services all read it."""

    def __init__(self) -> None:
        self.now = timezone.now().replace(microsecond=0)

    def advance(self, **delta) -> None:
        self.now += datetime.timedelta(**delta)


@pytest.fixture
def clock(monkeypatch) -> FrozenClock:
    frozen = FrozenClock()
    monkeypatch.setattr(timezone, "now", lambda: frozen.now)
    return frozen


@pytest.fixture
def diploma_a(candidate_a):
    give_cnie(candidate_a)
    return make_diploma(candidate_a)


@pytest.fixture
def diploma_b(candidate_b):
    give_cnie(candidate_b)
    return make_diploma(candidate_b)


@pytest.fixture
def holder(candidate_a, client_for):
    return client_for(candidate_a.user)


@pytest.fixture
def visitor():
    """An anonymous verifier, from one address."""
    return Client(REMOTE_ADDR="203.0.113.57")
