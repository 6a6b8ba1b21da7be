"""Run a test module's lookups through the host's replica (results.replica) instead of the shared
cache: `from .replica_mode import replica_mode` in a module that re-imports another's tests.

The pointer is re-read on every lookup (no delay to wait out) and a missing replica file is
written at once, in the test's own thread and transaction, where the web process would write it
in the background. `failures_counted` reads the per-code counts wherever the lookup keeps them."""

from __future__ import annotations

import pytest

from results import replica, snapshot


@pytest.fixture(autouse=True)
def replica_mode(settings, tmp_path, monkeypatch):
    settings.RESULTS_LOOKUP_REPLICA = True
    settings.RESULTS_REPLICA_DIR = tmp_path / "replica"
    settings.RESULTS_REPLICA_REFRESH_MS = 0
    written: list = []

    def build_now(self, namespaces):
        written.extend(replica.build_missing(namespaces, self.directory))
        self._forget_files()

    monkeypatch.setattr(replica.Replica, "_build_in_background", build_now)
    yield written
    replica._forget()


def failures_counted(subject: str) -> int:
    """The failed lookups counted against a code (Query.subject) in the current window, where
    the lookup counts them: the host's replica, or the shared counters."""
    on_host = replica.current()
    if on_host is not None:
        window = snapshot.code_limit()._window(snapshot.clock())[0]
        return on_host.counters.count(replica.CODE, subject, window)
    return snapshot.code_limit().check(subject).count
