"""What the diploma service does when results change (connected in DiplomasConfig.ready)."""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction

logger = logging.getLogger(__name__)


def on_result_republished(sender, candidate, publication, reason="", actor=None, **kwargs) -> None:
    """A one-candidate correction was published: replace, revoke or issue the diploma."""
    from .services import follow_result

    try:
        follow_result(candidate, reason=reason or "result republished", actor=actor)
    except Exception:  # the correction is published whatever happens here; staff can redo it
        logger.exception(
            "diploma not brought in line with the corrected result of %s", candidate.pk
        )


def auto_issue() -> bool:
    """settings.DIPLOMAS_AUTO_ISSUE: diplomas are issued as soon as results are public (the
    test settings turn it off: a test that wants it sets it)."""
    return bool(settings.DIPLOMAS_AUTO_ISSUE)


def on_publication_made_public(sender, publication, **kwargs) -> None:
    """Results are out: queue the bulk issuance for the session (DIPLOMAS_AUTO_ISSUE)."""
    if not auto_issue():
        return
    from results.models import Publication

    if publication.kind != Publication.Kind.FULL:
        return  # a correction is handled by on_result_republished
    from .services import start_issuance

    with transaction.atomic():
        start_issuance(publication.session)
