"""The garbage-collector settings of the servers."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from speedrun_protocol.runtime import GC_THRESHOLD, tune_gc


@pytest.fixture
def restore_gc() -> Iterator[None]:
    """Put this test process's collector back as it was."""
    threshold = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*threshold)


@pytest.mark.usefixtures("restore_gc")
def test_tune_gc_freezes_what_is_alive_and_collects_the_young_less_often() -> None:
    alive_before: list[int] = []

    tune_gc()

    assert gc.get_threshold() == GC_THRESHOLD
    assert GC_THRESHOLD[0] > 700  # Python's default young threshold
    assert gc.get_freeze_count() > 0
    assert not any(o is alive_before for o in gc.get_objects())  # frozen: never scanned


@pytest.mark.usefixtures("restore_gc")
def test_cycles_made_after_tuning_are_still_collected() -> None:
    tune_gc()

    class Node:
        other: Node | None = None

    a, b = Node(), Node()
    a.other, b.other = b, a
    gone = weakref.ref(a)
    del a, b
    gc.collect()

    assert gone() is None
