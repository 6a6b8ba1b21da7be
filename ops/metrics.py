"""Prometheus metrics, scraped at /metrics.

Counted per request (ops.wsgi; in memory, written every second: see Tally):
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

import atexit
import functools
import logging
import os
import threading
import time
from bisect import bisect_left

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


class Tally:
    """This process's requests, counted in memory and written to the metrics (shared files
    under gunicorn) at most every FLUSH_SECONDS, by the next request or by a thread of its own
    when the process is idle, and at exit: a lookup then pays a dict update, not three locked
    writes (with a system call each) to the metric files. A scrape flushes its own process."""

    FLUSH_SECONDS = 1.0

    def __init__(self) -> None:
        self._reset()

    def _reset(self) -> None:
        self._lock = threading.Lock()  # new in a forked child: its parent's may be held
        self._counts: dict[tuple[str, str, str], int] = {}
        self._latency: dict[str, list] = {}  # view: [sum of seconds, count per bucket]
        self._due = 0.0
        self._thread: threading.Thread | None = None

    def count(self, view: str, method: str, status: str, seconds: float) -> None:
        with self._lock:
            key = (view, method, status)
            self._counts[key] = self._counts.get(key, 0) + 1
            latency = self._latency.get(view)
            if latency is None:
                latency = self._latency[view] = [0.0, [0] * (len(_BOUNDS) + 1)]
            latency[0] += seconds
            latency[1][bisect_left(_BOUNDS, seconds)] += 1
            now = time.monotonic()
            if now < self._due:
                return
            if not self._due:  # the first request of this process since it started or forked
                self._start_thread()
            self._due = now + self.FLUSH_SECONDS
            self._flush_locked()

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self) -> None:
        counts, latencies = self._counts, self._latency
        self._counts, self._latency = {}, {}
        for (view, method, status), number in counts.items():
            _counter(view, method, status).inc(number)
        for view, (total, buckets) in latencies.items():
            histogram = _histogram(view)
            # Histogram.observe's own bookkeeping, for many observations at once.
            histogram._sum.inc(total)
            for index, number in enumerate(buckets):
                if number:
                    histogram._buckets[index].inc(number)

    def _start_thread(self) -> None:
        def idle_flush() -> None:
            while True:
                time.sleep(self.FLUSH_SECONDS)
                self.flush()

        self._thread = threading.Thread(target=idle_flush, name="metrics-flush", daemon=True)
        self._thread.start()


# The histogram's upper bounds, +Inf last (prometheus_client's own list).
_BOUNDS = tuple(LATENCY._upper_bounds)
TALLY = Tally()
os.register_at_fork(after_in_child=TALLY._reset)  # a worker counts its own requests
atexit.register(TALLY.flush)


# The labelled series, looked up once: prometheus_client's labels() validates and locks on
# every call, which the results lookup would pay on each request. Bounded: views, methods and
# statuses are few, but a client can send any method.
@functools.lru_cache(maxsize=1024)
def _counter(view: str, method: str, status: str):
    return REQUESTS.labels(view, method, status)


@functools.lru_cache(maxsize=256)
def _histogram(view: str):
    return LATENCY.labels(view)


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
    TALLY.flush()  # this process's latest requests
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:  # one process (the demo, the tests): this process's own counters
        registry.register(REQUESTS)
        registry.register(LATENCY)
    registry.register(StateCollector())
    return generate_latest(registry)
