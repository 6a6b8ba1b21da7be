"""The candidate's rights (export, consent) and the retention purge, over privacy.register."""

from __future__ import annotations

import datetime
import io
import json
import logging
import zipfile
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.utils import timezone

from audit.services import Change, record_changes
from candidates.models import Candidate, DocumentAccess

from . import register
from .models import Consent

logger = logging.getLogger(__name__)

EXPORT_FORMAT = "bac-eservices/personal-data-export/1"


class ConsentRefused(Exception):
    """The topic is unknown or the law decides it, not the candidate."""


@dataclass
class ConsentChoice:
    topic: register.ConsentTopic
    granted: bool
    is_default: bool
    changed_at: datetime.datetime | None


def consent_choices(candidate: Candidate) -> list[ConsentChoice]:
    """Every registered topic with the candidate's choice, or its default."""
    stored = {c.topic: c for c in Consent.objects.filter(candidate=candidate)}
    choices = []
    for topic in register.topics():
        row = stored.get(topic.key)
        if row is None or not topic.changeable:
            choices.append(ConsentChoice(topic, topic.default, True, None))
        else:
            choices.append(ConsentChoice(topic, row.granted, False, row.changed_at))
    return choices


def has_consented(candidate: Candidate, topic_key: str) -> bool:
    """What other services ask before using the data (e.g. a published list of names)."""
    topic = register.topic(topic_key)
    if not topic.changeable:
        return topic.default
    row = Consent.objects.filter(candidate=candidate, topic=topic_key).only("granted").first()
    return topic.default if row is None else row.granted


def set_consent(candidate: Candidate, topic_key: str, granted: bool, actor) -> bool:
    """Record the candidate's choice (audited). Returns whether anything changed."""
    try:
        topic = register.topic(topic_key)
    except KeyError:
        raise ConsentRefused("unknown topic") from None
    if not topic.changeable:
        raise ConsentRefused("not the candidate's choice")
    now = timezone.now()
    with transaction.atomic():
        row = Consent.objects.select_for_update().filter(candidate=candidate, topic=topic_key)
        row = row.first()
        before = topic.default if row is None else row.granted
        if row is not None and row.granted == granted:
            return False
        Consent.objects.update_or_create(
            candidate=candidate,
            topic=topic_key,
            defaults={"granted": granted, "changed_at": now, "changed_by": actor},
        )
        record_changes(
            actor,
            [
                Change(
                    action="consent.update",
                    object_type="consent",
                    object_id=f"{candidate.pk}:{topic_key}",
                    before={"topic": topic_key, "granted": before},
                    after={"topic": topic_key, "granted": granted},
                    reason="changed by the candidate",
                    candidate_id=candidate.pk,
                )
            ],
        )
    return before != granted


def _json_default(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    return str(value)


def collect_export(
    candidate: Candidate, actor, address: str | None
) -> tuple[dict[str, Any], dict[str, bytes]]:
    """Everything the register's exporters hold about the candidate: a JSON-ready document and
    the files, keyed by their name in the ZIP."""
    sections: dict[str, Any] = {}
    files: dict[str, bytes] = {}
    for kind in register.candidate_kinds():
        if kind.exporter is None:
            raise RuntimeError(f"the data kind {kind.key} concerns candidates but has no exporter")
        part = kind.exporter(candidate, actor, address)
        sections[kind.key] = {
            "label": str(kind.label),
            "purpose": str(kind.purpose),
            "retention": str(kind.retention),
            "records": part.records,
            "files": sorted(part.files),
        }
        files.update(part.files)
    document = {
        "format": EXPORT_FORMAT,
        "generated_at": timezone.now().isoformat(),
        "candidate": {"massar_code": candidate.massar_code, "session": candidate.session.code},
        "kinds": sections,
    }
    return document, files


def export_zip(candidate: Candidate, actor, address: str | None) -> bytes:
    """The candidate's export as a ZIP: data.json and their documents (audited)."""
    document, files = collect_export(candidate, actor, address)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "data.json",
            json.dumps(document, ensure_ascii=False, indent=2, default=_json_default),
        )
        for name, data in sorted(files.items()):
            archive.writestr(name, data)
    record_changes(
        actor,
        [
            Change(
                action="privacy.export",
                object_type="candidate",
                object_id=str(candidate.pk),
                after={"kinds": len(document["kinds"]), "files": len(files)},
                reason="export of personal data by the candidate",
                candidate_id=candidate.pk,
            )
        ],
    )
    return buffer.getvalue()


def document_views(candidate: Candidate) -> list[DocumentAccess]:
    """Who viewed or uploaded the candidate's identity documents, latest first."""
    return list(
        DocumentAccess.objects.filter(document__candidate=candidate)
        .select_related("document")
        .order_by("-at", "-pk")[:500]
    )


@dataclass
class PurgeLine:
    kind: str
    retention_days: int
    cutoff: datetime.datetime
    count: int


def purge_expired(now: datetime.datetime | None = None, dry_run: bool = False) -> list[PurgeLine]:
    """Run the purger of every kind with a retention period; one audit entry per kind that
    purged something (none in a dry run)."""
    now = now or timezone.now()
    lines: list[PurgeLine] = []
    for kind in register.kinds():
        days = kind.effective_retention_days()
        if days is None or kind.purger is None:
            continue
        cutoff = now - datetime.timedelta(days=days)
        count = kind.purger(cutoff, dry_run)
        lines.append(PurgeLine(kind.key, days, cutoff, count))
        if count and not dry_run:
            record_changes(
                None,
                [
                    Change(
                        action="privacy.purge",
                        object_type="data_kind",
                        object_id=kind.key,
                        after={"count": count, "cutoff": cutoff.isoformat()},
                        reason=f"retention period of {days} days over",
                    )
                ],
            )
            logger.info("purged %s %s older than %s", count, kind.key, cutoff.isoformat())
    return lines
