"""Writing and checking the audit log. Every change to a candidate's data goes through here."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

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
