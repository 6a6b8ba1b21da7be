"""The authorisation matrix: who gets what from every URL of the project.

How to add entries
------------------

Each app owns a file ``tests/<app>/access_matrix.py`` (found automatically) with a dict
``ENTRIES`` from the qualified URL name (``"namespace:name"``, as for ``reverse``) to an
``Entry``::

    from tests.privacy.matrix import CANDIDATE, LOGIN, OWNER, SCHOOL_OBJECT, STAFF, Entry, profile

    ENTRIES = {
        # GET only: the profile says the status each persona gets.
        "complaints:list": Entry(STAFF),
        # A URL with parameters: each kwarg names an object of the seeded world (see
        # tests/privacy/world.py: "complaint_a.pk" is candidate A's complaint); POST=True
        # also posts (empty form, no CSRF check) and expects the same refusals as GET, and
        # OK (anything but a refusal or an error) where GET gives 200 or 405.
        "complaints:decide": Entry(SCHOOL_OBJECT, kwargs={"pk": "complaint_a.pk"}, post=True),
        # The candidate's own object: A gets 200, B 404, staff 403, anonymous the sign-in page.
        "complaints:mine": Entry(OWNER, kwargs={"pk": "complaint_a.pk"}),
        # Anything else: a profile with overrides, persona by persona.
        "complaints:new": Entry(profile(405, anonymous=LOGIN, candidate_a=200), post=...),
    }

A view that is exempt from CSRF says why: ``Entry(PUBLIC, post=..., csrf_exempt="changes
nothing: ...")``; every other URL must refuse a POST without a token (test_csrf.py).

A profile maps each persona (PERSONAS) to an HTTP status, ``LOGIN`` (a redirect to the sign-in
page), ``ADMIN_LOGIN`` (to the Django admin's) or ``OK``. ``post`` is None (the view changes
nothing, or only through another URL: POST is not tried), True (as described above) or a
profile of its own.

The objects your URLs need: tests/privacy/world.py seeds candidate A's file, reports, CNIE
copy, school, academy, session, etc. For objects of your own app, define in the same file::

    def world_objects(objects: dict, users: dict) -> dict:
        # e.g. {"complaint_a": a complaint of candidate A (objects["candidate_a"]), filed and
        # handled by the personas of `users` ("clerk", "academy"...)}
        return {"complaint_a": make_complaint(objects["candidate_a"], users["clerk"])}

and name them in your kwargs ("complaint_a.pk").

The matrix test fails when a URL of the project has no entry (listing them all), when an entry
names no URL, and for every persona whose status differs from the entry. Nothing is skipped:
a URL whose expectations are not written yet fails until they are.
"""

from __future__ import annotations

import fnmatch
import importlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.urls import URLPattern, URLResolver, get_resolver

PERSONAS = (
    "anonymous",
    "candidate_a",
    "candidate_b",
    "clerk",  # of A's school
    "clerk_other_school",  # same academy, another school
    "academy",  # of A's academy
    "academy_other",  # of another academy
    "ministry",
)

LOGIN = "login"
ADMIN_LOGIN = "admin_login"
OK = "ok"


def profile(default: Any, **overrides: Any) -> dict[str, Any]:
    """Every persona gets `default` except those named."""
    unknown = set(overrides) - set(PERSONAS)
    if unknown:
        raise ValueError(f"unknown personas: {sorted(unknown)}")
    return {persona: overrides.get(persona, default) for persona in PERSONAS}


# The usual profiles.
PUBLIC = profile(200)
CANDIDATE = profile(403, anonymous=LOGIN, candidate_a=200, candidate_b=200)
OWNER = profile(403, anonymous=LOGIN, candidate_a=200, candidate_b=404)
STAFF = profile(200, anonymous=LOGIN, candidate_a=403, candidate_b=403)
# An object of A's school: staff outside its scope get 404 (its existence is not revealed).
SCHOOL_OBJECT = profile(
    200,
    anonymous=LOGIN,
    candidate_a=403,
    candidate_b=403,
    clerk_other_school=404,
    academy_other=404,
)
ACADEMY_AND_MINISTRY = profile(403, anonymous=LOGIN, academy=200, academy_other=200, ministry=200)
# An object of A's academy, for academy and ministry staff.
ACADEMY_OBJECT = profile(403, anonymous=LOGIN, academy=200, academy_other=404, ministry=200)
MINISTRY = profile(403, anonymous=LOGIN, ministry=200)
SUPERUSERS = profile(ADMIN_LOGIN)


@dataclass(frozen=True)
class Entry:
    get: dict[str, Any]
    kwargs: dict[str, str] = field(default_factory=dict)
    post: bool | dict[str, Any] | None = None
    query: str = ""
    # Why the view accepts a POST without a CSRF token (empty: it must refuse one with 403).
    csrf_exempt: str = ""

    def post_profile(self) -> dict[str, Any] | None:
        if self.post is None or self.post is False:
            return None
        if self.post is True:
            # 405 on GET: the persona passed the checks but the view wants a POST.
            return {p: (OK if s in (200, 405) else s) for p, s in self.get.items()}
        return self.post


@dataclass(frozen=True)
class Route:
    """One URL pattern of the project, reached through its resolvers."""

    name: str  # "namespace:name", or "namespace:[route]" for an unnamed pattern
    route: str
    converters: tuple[str, ...]
    named: bool = True


def _walk(resolver: URLResolver, namespace: str, prefix: str) -> list[Route]:
    found: list[Route] = []
    for pattern in resolver.url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            inner = namespace
            if pattern.namespace:
                inner = f"{namespace}:{pattern.namespace}" if namespace else pattern.namespace
            found.extend(_walk(pattern, inner, route))
        elif isinstance(pattern, URLPattern):
            base = pattern.name or f"[{pattern.pattern}]"
            name = f"{namespace}:{base}" if namespace else base
            converters = tuple(pattern.pattern.converters) or tuple(
                pattern.pattern.regex.groupindex
            )
            found.append(Route(name, route, converters, pattern.name is not None))
    return found


def project_routes() -> list[Route]:
    """Every URL pattern of the project, recursively, with its qualified name."""
    return _walk(get_resolver(), "", "")


def matrix_modules() -> list:
    """Every tests/<app>/access_matrix.py, imported."""
    tests_dir = Path(__file__).resolve().parent.parent
    return [
        importlib.import_module(f"tests.{path.parent.name}.access_matrix")
        for path in sorted(tests_dir.glob("*/access_matrix.py"))
    ]


def load_entries() -> dict[str, Entry]:
    """The ENTRIES of every tests/<app>/access_matrix.py."""
    entries: dict[str, Entry] = {}
    owners: dict[str, str] = {}
    for module in matrix_modules():
        path = Path(module.__file__)
        for name, entry in module.ENTRIES.items():
            if name in entries:
                raise AssertionError(
                    f"{name} has entries in both {owners[name]} and {path.parent.name}"
                )
            entries[name] = entry
            owners[name] = path.parent.name
    return entries


def entry_for(name: str, entries: dict[str, Entry]) -> Entry | None:
    """The exact entry, else the one glob entry that matches (used for Django's admin, whose
    URLs are generated per registered model)."""
    if name in entries:
        return entries[name]
    for pattern, entry in entries.items():
        if any(c in pattern for c in "*?[") and fnmatch.fnmatchcase(name, pattern):
            return entry
    return None
