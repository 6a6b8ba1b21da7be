"""PostgreSQL bulk paths shared by the services that write hundreds of thousands of rows."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from typing import Any

from django.db import connection, connections, transaction

# Below this many rows the ORM's bulk operations are as fast and simpler.
COPY_MIN_ROWS = 2000


def use_copy(count: int) -> bool:
    return connection.vendor == "postgresql" and count >= COPY_MIN_ROWS


def copy_from_stdin(cursor, statement: str):
    """A COPY FROM STDIN on the psycopg cursor under Django's wrapper. The queued writer sends
    the data from a thread, so that the server ingests one batch while Python builds the next:
    on two cores that overlaps most of the two."""
    from psycopg.copy import QueuedLibpqWriter

    raw = cursor.cursor
    return raw.copy(statement, writer=QueuedLibpqWriter(raw))


def copy_text(text: str) -> str:
    """`text` as a column of COPY's text format: backslashes doubled; tabs and line breaks,
    which would end the column or the row, as spaces."""
    if not text:
        return text
    return text.replace("\\", "\\\\").replace("\t", " ").replace("\n", " ").replace("\r", " ")


def analyze(model) -> None:
    """Refresh PostgreSQL's statistics of a table just filled by COPY, once the transaction
    has committed (at once outside one). Autovacuum comes later: until then the planner
    believes the new rows are a handful, and results.publication's batched reads of 500,000
    computed results were planned as a sort of them all, batch after batch (36 s instead of 2).
    After the commit, not inside: ANALYZE locks the table against another ANALYZE until the
    end of its transaction, which would hold back a concurrent import until this one ends."""
    if connection.vendor != "postgresql":
        return
    table = connection.ops.quote_name(model._meta.db_table)

    def run() -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {table}")

    if connection.in_atomic_block:
        # Robust: the data has committed; stale statistics only make later reads slower.
        transaction.on_commit(run, robust=True)
    else:
        run()


_END = object()


class SideReader:
    """What `produce` yields, read by a thread on a second database connection (it is given
    the psycopg connection), so that the server runs the reads while this thread works on what
    came before. Only for data already committed: the second connection sees nothing of this
    one's open transaction. An exception in the thread is raised here, at the next item."""

    def __init__(
        self, produce: Callable[[Any], Iterator[Any]], depth: int = 4, name: str = "side-reader"
    ) -> None:
        self.produce = produce
        self.queue: queue.Queue = queue.Queue(maxsize=depth)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, name=name, daemon=True)
        self.thread.start()

    def _put(self, item: Any) -> None:
        while not self.stopping.is_set():
            try:
                self.queue.put(item, timeout=0.5)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        side = connections.create_connection("default")
        try:
            side.ensure_connection()
            for item in self.produce(side.connection):
                if self.stopping.is_set():
                    return
                self._put(item)
            self._put(_END)
        except BaseException as exc:  # handed to the consuming thread
            self._put(exc)
        finally:
            side.close()

    def __iter__(self) -> Iterator[Any]:
        while True:
            item = self.queue.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def close(self) -> None:
        self.stopping.set()
        self.thread.join(timeout=30)
