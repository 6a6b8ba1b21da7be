"""Prometheus metrics, scraped at /metrics.

Counted per request (ops.wsgi, cheap enough for the results lookup's fast path):
    bac_http_requests_total{view, method, status}
    bac_http_request_duration_seconds{view}        histogram
Read at scrape time (one query each, only when Prometheus asks):
    bac_task_queue_length{queue}                    messages waiting at the broker
    bac_results_publications{status}
    bac_sign_in_failures_total                      identity.SignInEvent, failed attempts
    bac_outbox_tasks                                tasks waiting for the broker (ops.celery)

Under gunicorn, each worker writes its counters to PROMETHEUS_MULTIPROC_DIR (set before the
workers start, emptied at start: deploy/gunicorn.conf.py) and a scrape adds them up.
"""

from __future__ import annotations

import logging
import os

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

logger = logging.getLogger(__name__)

REQUESTS = Counter("bac_http_requests", "HTTP requests answered", ["view", "method", "status"])
LATENCY = Histogram(
    "bac_http_request_duration_seconds",
    "Time to answer a request, in the application",
    ["view"],
    buckets=(0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)


class StateCollector:
    """Gauges read from the database and the broker at scrape time (never per request)."""

    def collect(self):
        yield from _safe(_publications)
        yield from _safe(_sign_in_failures)
        yield from _safe(_outbox)
        yield from _safe(_queues)


def _safe(reader):
    try:
        yield from reader()
    except Exception as exc:  # a down dependency must not break the scrape
        logger.warning("metrics: %s failed: %s", reader.__name__, exc)


def _publications():
    from django.db.models import Count

    from results.models import Publication

    family = GaugeMetricFamily(
        "bac_results_publications", "Results publications by status", labels=["status"]
    )
    counts = dict(
        Publication.objects.values_list("status").annotate(n=Count("pk")).values_list("status", "n")
    )
    for status, _label in Publication.Status.choices:
        family.add_metric([status], counts.get(status, 0))
    yield family


def _sign_in_failures():
    from identity.models import SignInEvent

    family = CounterMetricFamily(
        "bac_sign_in_failures", "Failed sign-in attempts (identity.SignInEvent)"
    )
    family.add_metric([], SignInEvent.objects.filter(succeeded=False).count())
    yield family


def _outbox():
    from .models import OutboxTask

    family = GaugeMetricFamily("bac_outbox_tasks", "Tasks waiting for the broker to come back")
    family.add_metric([], OutboxTask.objects.count())
    yield family


def _queues():
    from .health import queue_lengths

    family = GaugeMetricFamily(
        "bac_task_queue_length", "Messages waiting in a Celery queue", labels=["queue"]
    )
    for queue, length in queue_lengths().items():
        family.add_metric([queue], length)
    yield family


def exposition() -> bytes:
    """The text exposition of every metric (all gunicorn workers' in multi-process mode)."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:  # one process (the demo, the tests): this process's own counters
        registry.register(REQUESTS)
        registry.register(LATENCY)
    registry.register(StateCollector())
    return generate_latest(registry)
