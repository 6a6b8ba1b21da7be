"""Writing and checking the audit log. Every change to a candidate's data goes through here."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection, transaction
from django.utils import timezone

from bac.pg import copy_from_stdin, use_copy

from .chain import ChainBreak, entry_hash, find_first_break
from .models import AuditChainHead, AuditEntry


@dataclass
class Change:
    """A change to record: what happened to which object, its state before and after, and why."""

    action: str
    object_type: str
    object_id: str
    before: dict[str, Any] = field(default_factory=dict)
    after: dict[str, Any] = field(default_factory=dict)
    reason: str = ""
    candidate_id: int | None = None


def _content(entry: AuditEntry) -> dict[str, Any]:
    return {
        "sequence": entry.sequence,
        "at": entry.at.isoformat(),
        "actor": entry.actor_label,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "candidate": entry.candidate_id,
        "before": entry.before,
        "after": entry.after,
        "reason": entry.reason,
    }


def actor_label(actor) -> str:
    if actor is None:
        return "system"
    return f"{actor.get_username()}#{actor.pk}"


def record_changes(actor, changes: Sequence[Change], batch_size: int = 5000) -> int:
    """Append the changes to the chain in one transaction; returns how many were written.

    The caller's transaction should also hold the data change itself, so that a change and its
    audit entry commit or roll back together.
    """
    if not changes:
        return 0
    label = actor_label(actor)
    actor_id = actor.pk if actor is not None else None
    now = timezone.now()
    with transaction.atomic():
        AuditChainHead.objects.get_or_create(id=1)
        head = AuditChainHead.objects.select_for_update().get(id=1)
        if use_copy(len(changes)):
            sequence, previous = _copy_entries(head, actor_id, label, now, changes)
            head.sequence, head.last_hash = sequence, previous
            head.save(update_fields=["sequence", "last_hash"])
            return len(changes)
        sequence, previous = head.sequence, head.last_hash
        batch: list[AuditEntry] = []
        for change in changes:
            sequence += 1
            entry = AuditEntry(
                sequence=sequence,
                at=now,
                actor_id=actor_id,
                actor_label=label,
                action=change.action,
                object_type=change.object_type,
                object_id=str(change.object_id),
                candidate_id=change.candidate_id,
                before=change.before,
                after=change.after,
                reason=change.reason,
                previous_hash=previous,
            )
            entry.entry_hash = entry_hash(previous, _content(entry))
            previous = entry.entry_hash
            batch.append(entry)
            if len(batch) >= batch_size:
                AuditEntry.objects.bulk_create(batch)
                batch = []
        if batch:
            AuditEntry.objects.bulk_create(batch)
        head.sequence, head.last_hash = sequence, previous
        head.save(update_fields=["sequence", "last_hash"])
    return len(changes)


_COPY_COLUMNS = (
    "sequence",
    "at",
    "actor_id",
    "actor_label",
    "action",
    "object_type",
    "object_id",
    "candidate_id",
    "before",
    "after",
    "reason",
    "previous_hash",
    "entry_hash",
)


def _copy_entries(
    head: AuditChainHead, actor_id, label: str, now, changes: Sequence[Change]
) -> tuple[int, str]:
    """The same entries as the ORM path, streamed through PostgreSQL COPY: building Django
    model instances and a bulk INSERT costs more than the import itself at 500,000 rows."""
    sequence, previous = head.sequence, head.last_hash
    at = now.isoformat()
    quote = connection.ops.quote_name
    sql = (
        f"COPY {quote(AuditEntry._meta.db_table)} "
        f"({', '.join(quote(c) for c in _COPY_COLUMNS)}) FROM STDIN"
    )
    with connection.cursor() as cursor, copy_from_stdin(cursor, sql) as copy:
        for change in changes:
            sequence += 1
            object_id = str(change.object_id)
            content = {
                "sequence": sequence,
                "at": at,
                "actor": label,
                "action": change.action,
                "object_type": change.object_type,
                "object_id": object_id,
                "candidate": change.candidate_id,
                "before": change.before,
                "after": change.after,
                "reason": change.reason,
            }
            digest = entry_hash(previous, content)
            copy.write_row(
                (
                    sequence,
                    now,
                    actor_id,
                    label,
                    change.action,
                    change.object_type,
                    object_id,
                    change.candidate_id,
                    json.dumps(change.before, ensure_ascii=False, default=str),
                    json.dumps(change.after, ensure_ascii=False, default=str),
                    change.reason,
                    previous,
                    digest,
                )
            )
            previous = digest
    return sequence, previous


def record_change(actor, change: Change) -> None:
    record_changes(actor, [change])


def _iter_chain() -> Iterator[tuple[int, str, str, dict[str, Any]]]:
    for entry in AuditEntry.objects.order_by("sequence").iterator(chunk_size=5000):
        yield entry.sequence, entry.previous_hash, entry.entry_hash, _content(entry)


def verify_chain() -> ChainBreak | None:
    """The first entry that was altered, removed or reordered, or None if the log is intact."""
    broken = find_first_break(_iter_chain())
    if broken is not None:
        return broken
    head = AuditChainHead.objects.filter(id=1).first()
    last = AuditEntry.objects.order_by("-sequence").first()
    if head and last and (head.sequence != last.sequence or head.last_hash != last.entry_hash):
        return ChainBreak(last.sequence + 1, "entries after it were removed")
    if head and head.sequence and last is None:
        return ChainBreak(1, "the log was emptied")
    return None
