"""The sharing app's kinds, as the register holds them once the app is ready, and their
purgers run by the retention purge with a frozen clock (tests/sharing/test_privacy_hooks.py
tests the functions one by one): a dry run changes nothing, what ended within the period
stays, a purged link takes its view log with it."""

import datetime

import pytest
from django.apps import apps
from django.test import Client
from django.urls import reverse

from audit.models import AuditEntry
from privacy import register
from privacy.services import purge_expired
from sharing import privacy_hooks, services
from sharing.models import ShareLink, ShareView

pytestmark = pytest.mark.django_db
DAY = datetime.timedelta(days=1)


@pytest.fixture(autouse=True)
def _declared():
    """The kinds as SharingConfig.ready() declares them (again: declaring is idempotent). Since
    test_privacy_hooks.py's last test removes them from the register when it ends, a random
    order must not leave these tests without them."""
    apps.get_app_config("sharing").ready()


def lines_at(moment, dry_run):
    return {line.kind: line.count for line in purge_expired(moment, dry_run=dry_run)}


def test_the_app_declares_its_kinds_when_it_is_ready():
    register._KINDS.pop("sharing.share_link", None)
    register._KINDS.pop("sharing.view_log", None)
    apps.get_app_config("sharing").ready()
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


def test_the_holder_reads_their_links_history_in_plain_words(diploma_a, candidate_a, holder):
    link, _token = services.create_link(candidate_a.user, diploma_a)
    services.revoke_link(candidate_a.user, link)
    services.record_download(candidate_a.user, diploma_a, "credential.json")
    page = holder.get(reverse("portal:history")).content.decode()
    for label in (
        "Diploma share link created",
        "Diploma share link revoked",
        "Diploma downloaded",
    ):
        assert label in page
    assert "share_link_created" not in page and "diploma_downloaded" not in page
