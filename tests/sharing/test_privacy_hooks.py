"""The sharing app's register entries: purgers keep what is recent, exporters give the holder
their links and who opened them."""

import datetime

import pytest
from django.test import Client
from django.utils import timezone

from sharing import privacy_hooks, services
from sharing.models import ShareLink, ShareView

pytestmark = pytest.mark.django_db


def test_the_view_log_is_purged_after_its_period_and_a_dry_run_changes_nothing(
    diploma_a, candidate_a, clock
):
    link, token = services.create_link(candidate_a.user, diploma_a)
    Client(REMOTE_ADDR="203.0.113.5").get(services.share_path(token))
    clock.advance(days=10)
    Client(REMOTE_ADDR="203.0.113.6").get(services.share_path(token))
    cutoff = timezone.now() - datetime.timedelta(days=5)
    assert privacy_hooks.purge_view_log(cutoff, dry_run=True) == 1
    assert ShareView.objects.count() == 2
    assert privacy_hooks.purge_view_log(cutoff, dry_run=False) == 1
    assert ShareView.objects.count() == 1


def test_ended_links_are_purged_a_period_after_they_end(diploma_a, candidate_a, clock):
    ended, _ = services.create_link(candidate_a.user, diploma_a, expires_in_days=1)
    kept, _ = services.create_link(candidate_a.user, diploma_a, expires_in_days=None)
    clock.advance(days=30)
    assert privacy_hooks.purge_ended_links(timezone.now(), dry_run=False) == 1
    assert list(ShareLink.objects.all()) == [kept]
    assert ended.pk not in ShareLink.objects.values_list("pk", flat=True)


def test_the_export_holds_the_links_and_their_views_but_never_a_token(diploma_a, candidate_a):
    link, token = services.create_link(candidate_a.user, diploma_a, label="Employer")
    Client(REMOTE_ADDR="203.0.113.5").get(services.share_path(token))
    links = privacy_hooks.export_links(candidate_a, candidate_a.user, None).records
    views = privacy_hooks.export_view_log(candidate_a, candidate_a.user, None).records
    assert links[0]["label"] == "Employer" and token not in str(links)
    assert views == [
        {
            "link": link.pk,
            "at": views[0]["at"],
            "kind": "page",
            "network": "203.0.113.0/24",
            "country": "",
        }
    ]


def test_the_kinds_register_with_a_purger_and_an_exporter():
    from privacy import register

    # Declared by SharingConfig.ready(); declaring them again changes nothing.
    privacy_hooks.register_data_kinds()
    for key in ("sharing.share_link", "sharing.view_log"):
        kind = register.kind(key)
        assert kind.purger and kind.exporter and kind.retention_days
