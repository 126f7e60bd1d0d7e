"""Building many small objects at once (a province's rows, entries and views) without collector pauses.

The cycle collector runs every few hundred allocations and, once enough objects survive, walks
every live object; the rows and entries built here form no cycles, so those walks find nothing
and cost a sizeable share of a large check or listing.
"""

from __future__ import annotations

import gc
import itertools
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

T = TypeVar("T")


@contextmanager
def collector_paused() -> Iterator[None]:
    """Pause the cycle collector for the block; leave it as it was (nested use is fine)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def give_back_memory() -> None:
    """Return freed heap memory to the system before a step that needs a lot at once (the database copies a large
    value twice while it writes it, in fresh allocations that cannot reuse the holes the freed objects left). Only
    where the C library can (glibc's ``malloc_trim``); elsewhere nothing happens."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """``items`` in lists of ``size`` (the last shorter), taken in C (``islice``) rather than one Python step each
    (``itertools.batched`` from Python 3.12); a batch of empty strings is a batch, not the end."""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch
