"""Background work for results: computing a session."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import transaction

from .models import Computation
from .services import run_computation

logger = logging.getLogger(__name__)


@shared_task(name="results.compute_session")
def compute_session_task(computation_id: int) -> str:
    """Run one queued computation; returns its final status. A redelivered task finds the
    computation finished and does nothing; one that died half-way left no results (they are
    written in one transaction) and runs again."""
    computation = Computation.objects.select_related("session").filter(pk=computation_id).first()
    if computation is None:
        logger.warning("computation %s does not exist", computation_id)
        return "missing"
    try:
        run_computation(computation)
    except Exception:
        # run_computation recorded the failure on the computation; the page shows it.
        return Computation.Status.FAILED
    return computation.status


def queue_computation(computation: Computation) -> None:
    """Queue the computation once the transaction that created it commits."""
    computation_id = computation.pk
    transaction.on_commit(lambda: compute_session_task.delay(computation_id))
