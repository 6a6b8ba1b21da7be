"""Every URL of the project, as every persona: the status each gets is the one its app's
tests/<app>/access_matrix.py promises (format: tests/privacy/matrix.py).

Each request runs in a savepoint rolled back afterwards, with the cache cleared, so that a
POST by one persona (a sign-out, a confirmation) does not change what the next one sees.
"""

from __future__ import annotations

import re

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.test import Client
from django.urls import reverse

from .matrix import (
    ADMIN_LOGIN,
    LOGIN,
    OK,
    PERSONAS,
    Entry,
    Route,
    entry_for,
    load_entries,
    project_routes,
)
from .world import build_world

ROUTES = project_routes()
ENTRIES = load_entries()
_PARAMETER = re.compile(r"<(?:[^>:]+:)?([^>]+)>|\(\?P<([^>]+)>[^)]*\)")


@pytest.fixture
def world(request, db):
    return build_world(request)


def test_every_url_of_the_project_has_an_entry_in_the_matrix():
    missing = sorted({r.name for r in ROUTES if entry_for(r.name, ENTRIES) is None})
    assert not missing, (
        f"{len(missing)} URL(s) without an entry in any tests/<app>/access_matrix.py "
        f"(see tests/privacy/matrix.py for the format): " + ", ".join(missing)
    )


def test_every_entry_names_a_url_of_the_project():
    names = {r.name for r in ROUTES}
    stale = sorted(
        name for name in ENTRIES if not any(c in name for c in "*?[") and name not in names
    )
    assert not stale, "entries for URLs that do not exist: " + ", ".join(stale)


def test_every_profile_names_every_persona():
    for name, entry in ENTRIES.items():
        assert set(entry.get) == set(PERSONAS), name
        post = entry.post_profile()
        assert post is None or set(post) == set(PERSONAS), name


def _url(route: Route, entry: Entry, world) -> str:
    kwargs = {}
    for parameter in route.converters:
        if parameter not in entry.kwargs:
            raise AssertionError(f"{route.name}: the entry gives no value for <{parameter}>")
        kwargs[parameter] = world.resolve(entry.kwargs[parameter])
    if route.named:
        url = reverse(route.name, kwargs=kwargs)
    else:
        # An unnamed pattern (Django admin's redirects): fill the route in by hand.
        def fill(match: re.Match) -> str:
            return str(kwargs[match.group(1) or match.group(2)])

        url = "/" + _PARAMETER.sub(fill, route.route).replace("^", "").replace("$", "")
    return url + (f"?{entry.query}" if entry.query else "")


def _outcome(response, expected) -> bool:
    status = response.status_code
    location = response.get("Location", "")
    if expected == LOGIN:
        return status == 302 and location.startswith(reverse(settings.LOGIN_URL))
    if expected == ADMIN_LOGIN:
        return status == 302 and location.startswith(reverse("admin:login"))
    if expected == OK:
        refused = status in (401, 403, 404, 405) or status >= 500
        to_login = status == 302 and location.startswith(
            (reverse(settings.LOGIN_URL), reverse("admin:login"))
        )
        return not refused and not to_login
    return status == expected


def _request(world, persona: str, method: str, url: str):
    client = Client(raise_request_exception=False)
    if persona != "anonymous":
        client.force_login(world.users[persona])
    cache.clear()
    with transaction.atomic():
        response = getattr(client, method)(url)
        transaction.set_rollback(True)
    return response


def _describe(response) -> str:
    location = response.get("Location")
    return f"{response.status_code}" + (f" → {location}" if location else "")


@pytest.mark.parametrize("route", ROUTES, ids=[f"{r.name} {r.route}" for r in ROUTES])
def test_each_persona_gets_what_the_matrix_promises(route, world):
    entry = entry_for(route.name, ENTRIES)
    assert entry is not None, (
        f"{route.name} ({route.route}) has no entry in any tests/<app>/access_matrix.py"
    )
    url = _url(route, entry, world)
    wrong = []
    for method, expectations in (("get", entry.get), ("post", entry.post_profile())):
        if expectations is None:
            continue
        for persona in PERSONAS:
            response = _request(world, persona, method, url)
            if not _outcome(response, expectations[persona]):
                wrong.append(
                    f"{method.upper()} {url} as {persona}: expected {expectations[persona]}, "
                    f"got {_describe(response)}"
                )
    assert not wrong, "\n".join(wrong)
