"""Celery in production: tasks that never hang or break a page when the broker is down, and the
request id carried from the request into the tasks it queues.

* ResilientTask (the app's task class, bac/celery.py): `delay`/`apply_async` try the broker with
  a short publish timeout (settings: CELERY_BROKER_CONNECTION_TIMEOUT,
  CELERY_TASK_PUBLISH_RETRY_POLICY); if it cannot be reached, the task is written to the outbox
  (ops.models.OutboxTask) and the caller goes on. For a few seconds after a failure, tasks go
  straight to the outbox (no page pays the timeout twice). `ops.flush_outbox` sends them when
  the broker is back (Celery beat runs it every 30 s; `manage.py flush_outbox` too).
  Tasks must be idempotent (they are: acks_late redelivers a task whose worker died).
* before_task_publish / task_prerun / task_postrun: the X-Request-ID of the request (or of the
  task) that queues a task travels in its headers and is the request id of its log lines.
"""

from __future__ import annotations

import logging
import time
import uuid

from celery import Task
from celery.result import AsyncResult
from celery.signals import before_task_publish, task_postrun, task_prerun

from .context import request_id

logger = logging.getLogger(__name__)

HEADER = "request_id"
# After a failed publish, skip the broker for this long (the outbox takes the tasks).
BROKER_BACKOFF_SECONDS = 5.0
_broker_down_until = 0.0


def _broker_errors() -> tuple[type[BaseException], ...]:
    from kombu.exceptions import OperationalError

    errors: list[type[BaseException]] = [OperationalError, ConnectionError, TimeoutError, OSError]
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError

        errors += [RedisConnectionError, RedisTimeoutError]
    except ImportError:  # pragma: no cover
        pass
    return tuple(errors)


def _jsonable_options(options: dict) -> dict:
    kept = {}
    for key in ("countdown", "queue", "priority", "expires", "headers"):
        if options.get(key) is not None:
            kept[key] = options[key]
    eta = options.get("eta")
    if eta is not None:
        kept["eta"] = eta.isoformat() if hasattr(eta, "isoformat") else eta
    return kept


def to_outbox(name: str, args, kwargs, options: dict, error: str = "") -> str:
    from .models import OutboxTask

    task_id = options.get("task_id") or str(uuid.uuid4())
    headers = dict(options.get("headers") or {})
    if request_id.get():
        headers.setdefault(HEADER, request_id.get())
    kept = _jsonable_options({**options, "headers": headers or None})
    OutboxTask.objects.create(
        task_id=task_id,
        name=name,
        args=list(args or ()),
        kwargs=dict(kwargs or {}),
        options=kept,
        last_error=error[:200],
    )
    logger.warning("broker unreachable: task %s %s kept in the outbox", name, task_id)
    return task_id


class ResilientTask(Task):
    def apply_async(self, args=None, kwargs=None, task_id=None, producer=None, **options):
        global _broker_down_until
        if self.app.conf.task_always_eager:
            return super().apply_async(args, kwargs, task_id, producer, **options)
        if time.monotonic() < _broker_down_until:
            task_id = to_outbox(self.name, args, kwargs, {**options, "task_id": task_id})
            return AsyncResult(task_id, app=self.app)
        try:
            return super().apply_async(args, kwargs, task_id, producer, **options)
        except _broker_errors() as exc:
            _broker_down_until = time.monotonic() + BROKER_BACKOFF_SECONDS
            task_id = to_outbox(
                self.name, args, kwargs, {**options, "task_id": task_id}, type(exc).__name__
            )
            return AsyncResult(task_id, app=self.app)


def flush_outbox(limit: int = 500) -> int:
    """Send the waiting tasks to the broker, oldest first; returns how many were sent. Stops at
    the first failure (the broker is still down): the rest wait for the next run."""
    import datetime

    from django.db import transaction

    from bac.celery import app

    from .models import OutboxTask

    sent = 0
    while sent < limit:
        with transaction.atomic():
            row = OutboxTask.objects.select_for_update(skip_locked=True).order_by("id").first()
            if row is None:
                return sent
            options = dict(row.options)
            if isinstance(options.get("eta"), str):
                options["eta"] = datetime.datetime.fromisoformat(options["eta"])
            try:
                app.send_task(
                    row.name, args=row.args, kwargs=row.kwargs, task_id=row.task_id, **options
                )
            except _broker_errors() as exc:
                OutboxTask.objects.filter(pk=row.pk).update(
                    attempts=row.attempts + 1, last_error=type(exc).__name__
                )
                return sent
            row.delete()
            sent += 1
    return sent


@before_task_publish.connect
def _carry_request_id(headers=None, **kwargs) -> None:
    rid = request_id.get()
    if rid and headers is not None:
        headers.setdefault(HEADER, rid)


_tokens: dict[str, object] = {}


@task_prerun.connect
def _adopt_request_id(task_id=None, task=None, **kwargs) -> None:
    request = getattr(task, "request", None)
    rid = getattr(request, HEADER, None) or (getattr(request, "headers", None) or {}).get(HEADER)
    _tokens[task_id] = request_id.set(rid or f"task-{task_id}")


@task_postrun.connect
def _drop_request_id(task_id=None, **kwargs) -> None:
    token = _tokens.pop(task_id, None)
    if token is not None:
        try:
            request_id.reset(token)
        except ValueError:  # set in another context (eager runs): clear it instead
            request_id.set("")
