"""The sharing app's kinds, as the register holds them once the app is ready, and their
purgers run by the retention purge with a frozen clock (tests/sharing/test_privacy_hooks.py
tests the functions one by one): a dry run changes nothing, what ended within the period
stays, a purged link takes its view log with it."""

import datetime

import pytest
from django.test import Client

from audit.models import AuditEntry
from privacy import register
from privacy.services import purge_expired
from sharing import privacy_hooks, services
from sharing.models import ShareLink, ShareView

pytestmark = pytest.mark.django_db
DAY = datetime.timedelta(days=1)


def lines_at(moment, dry_run):
    return {line.kind: line.count for line in purge_expired(moment, dry_run=dry_run)}


def test_the_app_declares_its_kinds_when_it_is_ready():
    links = register.kind("sharing.share_link")
    views = register.kind("sharing.view_log")
    assert links.purger is privacy_hooks.purge_ended_links and links.exporter
    assert views.purger is privacy_hooks.purge_view_log and views.exporter
    assert links.retention_days == 365 and views.retention_days == 90


def test_the_retention_purge_takes_ended_links_a_year_later_and_a_dry_run_nothing(
    diploma_a, candidate_a, clock
):
    revoked, token = services.create_link(candidate_a.user, diploma_a, expires_in_days=None)
    Client(REMOTE_ADDR="203.0.113.5").get(services.share_path(token))
    services.revoke_link(candidate_a.user, revoked)
    expiring, _ = services.create_link(candidate_a.user, diploma_a, expires_in_days=7)
    kept, _ = services.create_link(candidate_a.user, diploma_a, expires_in_days=None)
    start = clock.now

    # A year after the revocation, less a day: the links stay (the view log has gone).
    clock.now = start + 365 * DAY - DAY
    assert lines_at(clock.now, dry_run=False)["sharing.share_link"] == 0
    assert ShareLink.objects.count() == 3 and not ShareView.objects.exists()

    # A day after: the revoked link goes; the one that expired a week later waits its turn.
    clock.now = start + 365 * DAY + DAY
    assert lines_at(clock.now, dry_run=True)["sharing.share_link"] == 1
    assert ShareLink.objects.count() == 3
    assert lines_at(clock.now, dry_run=False)["sharing.share_link"] == 1
    assert set(ShareLink.objects.all()) == {expiring, kept}
    assert AuditEntry.objects.filter(action="privacy.purge", object_id="sharing.share_link")
    # The audit still tells the holder it was created and revoked.
    assert AuditEntry.objects.filter(
        candidate=candidate_a, action="share_link_revoked", object_id=str(revoked.pk)
    ).exists()

    clock.now = start + 7 * DAY + 365 * DAY + DAY
    assert lines_at(clock.now, dry_run=False)["sharing.share_link"] == 1
    assert list(ShareLink.objects.all()) == [kept]


def test_the_retention_purge_takes_views_after_ninety_days(diploma_a, candidate_a, clock):
    _link, token = services.create_link(candidate_a.user, diploma_a, expires_in_days=None)
    Client(REMOTE_ADDR="203.0.113.5").get(services.share_path(token))
    opened = clock.now
    clock.advance(days=90)
    assert lines_at(clock.now, dry_run=False)["sharing.view_log"] == 0
    clock.now = opened + 90 * DAY + datetime.timedelta(seconds=1)
    assert lines_at(clock.now, dry_run=True)["sharing.view_log"] == 1
    assert ShareView.objects.count() == 1
    assert lines_at(clock.now, dry_run=False)["sharing.view_log"] == 1
    assert not ShareView.objects.exists()
