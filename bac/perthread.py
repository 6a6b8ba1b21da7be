"""A value remembered per thread until the settings change.

For hot paths (the results lookup): Django's `connections[...]` and `caches[...]` go through
asgiref's Local on every access, which costs more than the lookup's own work. What they return
is per thread already, so a plain threading.local can remember it. Tests change settings
(override_settings), after which Django hands out new objects: every remembered value is then
forgotten, as Django forgets its own.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Generic, TypeVar

from django.core.signals import setting_changed
from django.dispatch import receiver

T = TypeVar("T")

_generation = [0]


@receiver(setting_changed)
def _forget_all(**kwargs) -> None:
    _generation[0] += 1


class PerThread(Generic[T]):
    """`make()` called once per thread, its result returned until a setting changes."""

    def __init__(self, make: Callable[[], T]) -> None:
        self._make = make
        self._local = threading.local()

    def get(self) -> T:
        remembered = getattr(self._local, "entry", None)
        if remembered is None or remembered[0] != _generation[0]:
            remembered = self._local.entry = (_generation[0], self._make())
        return remembered[1]
