"""What the back office shows about deliveries, always within the user's scope.

Academy staff see the notifications of their academy's candidates only, ministry staff all;
scoping goes through identity.access.scope_candidates like every other back-office list.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Max, Q, QuerySet

from identity.access import scope_candidates

from .messages import label_of
from .models import Channel, Notification, Status

# The overview lists the most recent batches (a batch is one kind and reference).
MAX_BATCHES = 100

_COUNTS = {status.value: Count("pk", filter=Q(status=status)) for status in Status}


def notifications_in_scope(user) -> QuerySet[Notification]:
    from candidates.models import Candidate

    candidates = scope_candidates(user, Candidate.objects.all())
    return Notification.objects.filter(candidate__in=candidates.values("pk"))


@dataclass(frozen=True)
class BatchSummary:
    kind: str
    reference: str
    counts: dict[str, int]
    total: int
    last_activity: object

    @property
    def label(self) -> str:
        return str(label_of(self.kind))

    @property
    def pending(self) -> int:
        return self.counts[Status.QUEUED] + self.counts[Status.SENDING]


def _summary(kind: str, reference: str, row: dict) -> BatchSummary:
    counts = {status.value: row[status.value] for status in Status}
    return BatchSummary(kind, reference, counts, sum(counts.values()), row.get("last_activity"))


def batch_summaries(user) -> list[BatchSummary]:
    """Counts per status of each batch with a notification in scope, most recent first."""
    rows = (
        notifications_in_scope(user)
        .values("kind", "reference")
        .annotate(last_activity=Max("updated_at"), **_COUNTS)
        .order_by("-last_activity", "kind", "reference")[:MAX_BATCHES]
    )
    return [_summary(row["kind"], row["reference"], row) for row in rows]


@dataclass(frozen=True)
class BatchCounts:
    all: BatchSummary
    # (channel label, its counts), in the channels' order.
    channels: list[tuple[str, BatchSummary]]


def batch_counts(user, kind: str, reference: str) -> BatchCounts:
    """Counts per status of one batch, per channel and in all, in scope."""
    rows = (
        notifications_in_scope(user)
        .filter(kind=kind, reference=reference)
        .values("channel")
        .annotate(**_COUNTS)
        .order_by("channel")
    )
    by_channel = {row["channel"]: _summary(kind, reference, row) for row in rows}
    total = {status.value: 0 for status in Status}
    for summary in by_channel.values():
        for status, count in summary.counts.items():
            total[status] += count
    return BatchCounts(
        all=BatchSummary(kind, reference, total, sum(total.values()), None),
        channels=[(c.label, by_channel[c.value]) for c in Channel if c.value in by_channel],
    )


def batch_rows(
    user, kind: str, reference: str, status: str = "", channel: str = ""
) -> QuerySet[Notification]:
    """One batch's notifications in scope, filtered, with what a list row shows (one query
    per page, whatever the page size)."""
    rows = notifications_in_scope(user).filter(kind=kind, reference=reference)
    if status:
        rows = rows.filter(status=status)
    if channel:
        rows = rows.filter(channel=channel)
    return (
        rows.select_related("candidate")
        .only(
            "pk",
            "channel",
            "status",
            "attempts",
            "last_error",
            "destination",
            "updated_at",
            "next_attempt_at",
            "not_before",
            "candidate__id",
            "candidate__massar_code",
            "candidate__first_name_latin",
            "candidate__last_name_latin",
        )
        .order_by("pk")
    )
