"""Repetitions cut from one stream of completions (joins, self-paced answers)."""

from __future__ import annotations

import pytest

from tools.bench.common import (
    MIN_SLICE,
    SLICES,
    WARMUP_SLICES,
    measured_spans,
    open_many,
    slice_spans,
    span_rates,
    two_phase_rates,
)
from tools.bench.wsclient import Conn, Fleet


def test_a_stream_is_cut_into_slices_of_equal_count_that_add_up_to_it() -> None:
    total = SLICES * MIN_SLICE
    stamps = [10.0 + i / total for i in range(1, total + 1)]  # 1 s in all
    spans = slice_spans(10.0, stamps)
    assert len(spans) == SLICES
    assert [count for count, _ in spans] == [MIN_SLICE] * SLICES
    assert sum(seconds for _, seconds in spans) == pytest.approx(1.0)
    assert span_rates(spans) == pytest.approx([total] * SLICES)


def test_a_slow_stretch_shows_in_its_own_slice() -> None:
    # 4 slices, the third one's completions took ten times as long
    fast, slow = 0.1 / MIN_SLICE, 1.0 / MIN_SLICE
    stamps = [fast * i for i in range(1, 2 * MIN_SLICE + 1)]
    stamps += [stamps[-1] + slow * i for i in range(1, MIN_SLICE + 1)]
    stamps += [stamps[-1] + fast * i for i in range(1, MIN_SLICE + 1)]
    rates = span_rates(slice_spans(0.0, stamps, slices=4))
    assert rates == pytest.approx([10.0 * MIN_SLICE, 10.0 * MIN_SLICE, MIN_SLICE, 10.0 * MIN_SLICE])


def test_a_short_stream_gets_fewer_slices_and_unsorted_stamps_are_ordered() -> None:
    stamps = [float(i) for i in range(3 * MIN_SLICE, 0, -1)]
    assert slice_spans(0.0, stamps) == [(MIN_SLICE, float(MIN_SLICE))] * 3
    assert slice_spans(0.0, [2.0, 1.0]) == [(2, 2.0)]
    assert slice_spans(0.0, []) == []
    assert span_rates([(5, 0.0)]) == []


def test_the_warm_up_slice_is_measured_but_not_counted() -> None:
    # a cold start: the first slice's completions took ten times as long as the rest's
    total = (SLICES + WARMUP_SLICES) * MIN_SLICE
    cold, warm = 1.0 / MIN_SLICE, 0.1 / MIN_SLICE
    stamps = [cold * i for i in range(1, MIN_SLICE + 1)]
    stamps += [stamps[-1] + warm * i for i in range(1, total - MIN_SLICE + 1)]
    spans = measured_spans(0.0, stamps)
    assert len(spans) == SLICES
    assert span_rates(spans) == pytest.approx([10.0 * MIN_SLICE] * SLICES)
    # a short stream loses its first slice too; one too short for two keeps its one
    assert measured_spans(0.0, [float(i) for i in range(1, 4 * MIN_SLICE + 1)]) == (
        [(MIN_SLICE, float(MIN_SLICE))] * 3
    )
    assert measured_spans(0.0, [1.0, 2.0]) == [(2, 2.0)]


def test_two_phases_add_their_slices_times() -> None:
    signons = [(10, 1.0), (10, 1.0)]
    sockets = [(10, 1.0), (8, 3.0)]  # two sockets of the second slice failed
    assert two_phase_rates(signons, sockets) == pytest.approx([5.0, 2.0])
    # the whole's rate is the counts over the times, as before slicing
    assert sum(c for c, _ in sockets) / sum(s for _, s in signons + sockets) == pytest.approx(3.0)


async def test_open_many_stamps_each_connection_when_it_is_ready() -> None:
    async def open_one(index: int) -> Conn:
        if index == 3:
            raise OSError("refused")
        return Conn(Fleet(), b"", index=index)

    opened = await open_many(10, open_one, concurrency=2)
    assert opened.failures == 1
    assert len(opened.stamps) == len(opened.conns) == 9
    assert opened.stamps == sorted(opened.stamps)
    assert opened.started <= opened.stamps[0]
    assert opened.spans == [(9, opened.stamps[-1] - opened.started)]
