"""Background work for candidate files: running an uploaded import."""

from __future__ import annotations

import logging
import time

from celery import shared_task
from django.core.files.storage import default_storage
from django.db import connection, connections, transaction
from django.utils import timezone

from .models import ImportJob
from .services import (
    FILE_GONE,
    JOB_CONFLICT,
    JOB_FAILED,
    ImportConflict,
    describe,
    import_candidates,
)

logger = logging.getLogger(__name__)

MAX_STORED_ERRORS = 1000
PROGRESS_WRITE_INTERVAL = 1.0  # seconds; the job page refreshes every 2 s


class _JobProgress:
    """Writes processed_rows/total_rows at most once per interval.

    While rows are stored, the import holds a transaction on the default connection, and what
    it writes there stays invisible to the job page until the commit. On PostgreSQL progress is
    therefore written through a second connection in autocommit. SQLite allows one writer at a
    time, so there it goes through the import's own connection (and shows at the commit).
    """

    def __init__(self, job_id: int, interval: float | None = None) -> None:
        self.job_id = job_id
        self.interval = PROGRESS_WRITE_INTERVAL if interval is None else interval
        self._last = 0.0
        self._side = None

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if now - self._last < self.interval:
            return
        self._last = now
        if connection.vendor == "postgresql":
            if self._side is None:
                self._side = connections.create_connection("default")
            table = connection.ops.quote_name(ImportJob._meta.db_table)
            with self._side.cursor() as cursor:
                cursor.execute(
                    f"UPDATE {table} SET processed_rows = %s, total_rows = %s WHERE id = %s",  # noqa: S608
                    [done, total, self.job_id],
                )
        else:
            ImportJob.objects.filter(pk=self.job_id).update(processed_rows=done, total_rows=total)

    def close(self) -> None:
        if self._side is not None:
            self._side.close()
            self._side = None


def _stored_errors(errors) -> list[dict]:
    stored = []
    for error in errors[:MAX_STORED_ERRORS]:
        item = error.as_dict()
        # The code and parameters let the job page say it in the reader's language; the reason
        # is kept as written at import time for anyone reading the raw record.
        item["reason"] = describe(error)["reason"]
        stored.append(item)
    return stored


def _finish(job: ImportJob, **fields) -> None:
    fields["finished_at"] = timezone.now()
    for name, value in fields.items():
        setattr(job, name, value)
    job.save(update_fields=list(fields))


def _fail(job: ImportJob, code: str) -> None:
    _finish(
        job,
        status=ImportJob.Status.FAILED,
        errors=[
            {
                "line": 0,
                "column": "",
                "code": code,
                "params": {},
                "reason": describe({"code": code})["reason"],
            }
        ],
        error_count=1,
    )


@shared_task(name="candidates.run_import_job")
def run_import_job(job_id: int) -> str:
    """Run one uploaded import; returns the job's final status.

    Running a job twice is harmless (a redelivered task, a retry after a crash): the import is
    all-or-nothing and re-importing the same rows changes nothing.
    """
    job = ImportJob.objects.select_related("session", "uploaded_by").filter(pk=job_id).first()
    if job is None:
        logger.warning("import job %s does not exist", job_id)
        return "missing"
    if job.status not in (ImportJob.Status.PENDING, ImportJob.Status.RUNNING):
        return job.status
    job.status = ImportJob.Status.RUNNING
    job.save(update_fields=["status"])
    try:
        with default_storage.open(job.stored_file, "rb") as handle:
            data = handle.read()
    except OSError:
        logger.exception("import job %s: the uploaded file cannot be read", job_id)
        _fail(job, FILE_GONE)
        return job.status

    progress = _JobProgress(job.pk)
    try:
        outcome = import_candidates(
            job.session,
            data,
            job.original_name,
            job.uploaded_by,
            keep_valid_rows=job.keep_valid_rows,
            progress=progress,
        )
    except ImportConflict:
        logger.warning("import job %s lost a race with another import", job_id)
        _fail(job, JOB_CONFLICT)
        return job.status
    except Exception:
        # The import's transaction rolled back: nothing was stored. Say so on the job page.
        logger.exception("import job %s failed", job_id)
        _fail(job, JOB_FAILED)
        return job.status
    finally:
        progress.close()
        del data
        _delete_upload(job.stored_file)

    _finish(
        job,
        status=ImportJob.Status.REJECTED if outcome.rejected else ImportJob.Status.DONE,
        total_rows=outcome.total_rows,
        processed_rows=outcome.total_rows,
        created_count=outcome.created,
        updated_count=outcome.updated,
        unchanged_count=outcome.unchanged,
        errors=_stored_errors(outcome.errors),
        error_count=outcome.error_count,
    )
    return job.status


def _delete_upload(name: str) -> None:
    # The uploaded list holds personal data of minors: keep it no longer than the import.
    try:
        default_storage.delete(name)
    except OSError:
        logger.warning("could not delete the uploaded import file %s", name)


def queue_import_job(job: ImportJob) -> None:
    """Queue the job once the transaction that created it commits, so that a worker never
    looks for a job (or file) that is not there yet."""
    job_id = job.pk
    transaction.on_commit(lambda: run_import_job.delay(job_id))
