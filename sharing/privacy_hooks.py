"""The register entries of the sharing app (privacy.register), with their purgers and exporters.

`register_data_kinds()` declares them; SharingConfig.ready() calls it.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.db.models import Q
from django.utils.translation import gettext_lazy as _

VIEW_LOG_DAYS = 90
ENDED_LINK_DAYS = 365


def _iso(value: datetime.datetime | None) -> str | None:
    return value.isoformat() if value else None


def purge_view_log(cutoff: datetime.datetime, dry_run: bool) -> int:
    from .models import ShareView

    old = ShareView.objects.filter(at__lt=cutoff)
    if dry_run:
        return old.count()
    deleted, _by_model = old.delete()
    return deleted


def export_view_log(candidate, actor, address: str | None):
    from privacy.register import Export

    from .models import ShareView

    views = ShareView.objects.filter(link__candidate=candidate).order_by("at")
    return Export(
        records=[
            {
                "link": v.link_id,
                "at": _iso(v.at),
                "kind": v.kind,
                "network": v.network,
                "country": v.country,
            }
            for v in views
        ]
    )


def purge_ended_links(cutoff: datetime.datetime, dry_run: bool) -> int:
    """Links revoked or expired before the cutoff go, with their views (the audit keeps that
    they were created and revoked)."""
    from .models import ShareLink

    ended = ShareLink.objects.filter(Q(revoked_at__lt=cutoff) | Q(expires_at__lt=cutoff))
    if dry_run:
        return ended.count()
    count = ended.count()
    ended.delete()
    return count


def export_links(candidate, actor, address: str | None):
    from privacy.register import Export

    from .models import ShareLink

    links = ShareLink.objects.filter(candidate=candidate).select_related("diploma")
    records: list[dict[str, Any]] = [
        {
            "link": link.pk,
            "diploma": link.diploma.number,
            "label": link.label,
            "revealed": link.revealed,
            "created_at": _iso(link.created_at),
            "expires_at": _iso(link.expires_at),
            "revoked_at": _iso(link.revoked_at),
        }
        for link in links
    ]
    return Export(records=records)


def register_data_kinds() -> None:
    from privacy.register import data_kind

    data_kind(
        "sharing.share_link",
        label=_("Share links of your diploma"),
        fields=_(
            "the diploma shared, your note, the fields shown, when the link was created, "
            "expires or was revoked (the link itself is not kept, only a fingerprint of it)"
        ),
        purpose=_("Let you share your diploma with whom you choose, and stop sharing it"),
        legal_basis=_("The candidate's request (sharing their own diploma)"),
        recipients=_("You; whoever opens a link you gave them sees what you chose to show"),
        retention=_("One year after the link expires or is revoked"),
        retention_days=ENDED_LINK_DAYS,
        purger=purge_ended_links,
        exporter=export_links,
        models=("sharing.ShareLink",),
    )
    data_kind(
        "sharing.view_log",
        label=_("Openings of your share links"),
        fields=_(
            "when a link was opened, the network (first part of the address) and the country "
            "it came from, when known"
        ),
        purpose=_("Show you who looked at your diploma through your links"),
        legal_basis=_("Legitimate interest: letting the holder see how their diploma is used"),
        recipients=_("You only"),
        retention=_("90 days"),
        retention_days=VIEW_LOG_DAYS,
        purger=purge_view_log,
        exporter=export_view_log,
        models=("sharing.ShareView",),
    )
