"""Diplomas: candidates with published results (through the results services), issued diplomas."""

from __future__ import annotations

import datetime

import pytest

from results.publication import notify_due_publications
from tests.results.publication_fixtures import *  # noqa: F403 - the clock fixture
from tests.results.publication_fixtures import add_grades, committed, make_computation, publish


@pytest.fixture(autouse=True)
def _no_auto_issue(settings):
    """Tests that want the automatic issuance on publication say so."""
    settings.DIPLOMAS_AUTO_ISSUE = False


@pytest.fixture
def published(candidate_a, candidate_b, clock):
    """candidate_a admitted (bien, 14.25), candidate_b at catch-up; results public now."""
    add_grades(candidate_a)
    computation = make_computation(
        candidate_a.session,
        {
            candidate_a: ("14.25", "admitted", "bien"),
            candidate_b: ("8.40", "catch_up", ""),
        },
    )
    publication = publish(computation, clock.now + datetime.timedelta(minutes=1))
    clock.advance(120)
    with committed():
        notify_due_publications()
    publication.refresh_from_db()
    return publication


@pytest.fixture
def diploma(published, candidate_a):
    from diplomas.services import issue_diploma

    with committed():
        return issue_diploma(candidate_a)


@pytest.fixture
def own_pki_and_storage(settings, tmp_path):
    """PDFs signed by a throw-away issuing certificate and kept in a throw-away storage."""
    settings.KEYS_DIR = tmp_path / "keys"
    settings.DIPLOMA_PKI_DIR = ""
    settings.DIPLOMA_PKCS11_MODULE = ""
    settings.MEDIA_ROOT = tmp_path / "media"
