"""CSRF: every URL of the project refuses a POST without a token (403), as a persona allowed
to use it, unless its matrix entry says why it is exempt (read-only JSON APIs)."""

from __future__ import annotations

import pytest
from django.test import Client

from .matrix import OK, PERSONAS, entry_for, load_entries, project_routes
from .test_authorization_matrix import _url, world  # noqa: F401 - the fixture

ROUTES = project_routes()
ENTRIES = load_entries()


def _allowed_persona(entry) -> str:
    """Someone who gets past the role checks, so that only CSRF can refuse them."""
    expectations = entry.post_profile() or entry.get
    for persona in PERSONAS[1:] + PERSONAS[:1]:
        if expectations[persona] in (200, 405, OK):
            return persona
    return "anonymous"


@pytest.mark.parametrize("route", ROUTES, ids=[f"{r.name} {r.route}" for r in ROUTES])
def test_a_post_without_a_csrf_token_is_refused(route, world):  # noqa: F811
    entry = entry_for(route.name, ENTRIES)
    assert entry is not None, f"{route.name} has no entry in any tests/<app>/access_matrix.py"
    persona = _allowed_persona(entry)
    client = Client(enforce_csrf_checks=True, raise_request_exception=False)
    if persona != "anonymous":
        client.force_login(world.users[persona])
    response = client.post(_url(route, entry, world), {"anything": "1"})
    if entry.csrf_exempt:
        assert response.status_code != 403 or b"CSRF" not in response.content
        return
    assert response.status_code == 403, (route.name, persona, response.status_code)
    assert b"CSRF" in response.content


def test_the_exemptions_are_few_and_explained():
    exempt = {name: e.csrf_exempt for name, e in ENTRIES.items() if e.csrf_exempt}
    assert all(len(reason) > 20 for reason in exempt.values())
    assert len(exempt) <= 6, exempt
