"""How a purger removes stored documents (identity-card copies, evidence, scans of answer
sheets, scholarship documents): the apps' purgers say what expired, what to record and what to
forget; this module does it in the same safe order for all of them."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any, TypeVar

from django.core.files.storage import default_storage
from django.db import transaction

from audit.services import Change, record_changes

# Rows per transaction: one batch's rows, audit entries and files at a time, so that a purge
# of a whole year neither holds locks for long nor loses its work on an error late in the run.
PURGE_BATCH = 500
# The reason of every purge's audit entries (stored data, not shown as such: the history page
# labels each action in the reader's language).
RETENTION_OVER = "retention period over"

Row = TypeVar("Row")


def delete_stored_file(name: str) -> None:
    # A file already gone is what we wanted; any other storage error must surface.
    if name and default_storage.exists(name):
        default_storage.delete(name)


def purge_stored_documents(
    rows: Sequence[Row],
    *,
    action: str,
    object_type: str,
    describe: Callable[[Row], tuple[str, int | None, dict[str, Any]]],
    forget: Callable[[Sequence[Row]], object],
    files: Callable[[Sequence[Row]], Iterable[str]],
    batch_size: int = PURGE_BATCH,
) -> None:
    """Purge `rows` batch by batch. In one transaction per batch: one audit entry per row
    (`action` on `object_type`; `describe(row)` gives the object's id, its candidate and what
    the entry keeps of it), by the system, for the reason RETENTION_OVER; and the database's
    side (`forget(batch)`: delete the rows or clear their file fields). Only once that has
    committed are the batch's `files(batch)` deleted from storage: a failure before leaves rows
    and files as they were, and a file is never gone while a row still points to it."""
    for start in range(0, len(rows), batch_size):
        batch = rows[start : start + batch_size]
        changes = []
        for row in batch:
            object_id, candidate_id, before = describe(row)
            changes.append(
                Change(
                    action=action,
                    object_type=object_type,
                    object_id=object_id,
                    before=before,
                    after={},
                    reason=RETENTION_OVER,
                    candidate_id=candidate_id,
                )
            )
        with transaction.atomic():
            record_changes(None, changes)
            forget(batch)
        for name in files(batch):
            delete_stored_file(name)
