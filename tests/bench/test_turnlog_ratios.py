"""bench/turnlog.py's verdict: each "on" segment over the mean of its "off" neighbours."""

from __future__ import annotations

import pytest

from bench.turnlog import latency_ms, neighbour_ratios


def test_a_steady_cost_reads_the_same_under_linear_drift() -> None:
    # Throughput rising 10 req/s per segment, the log costing 4% of it.
    segments = [("on" if i % 2 else "off", (1000 + 10 * i) * (0.96 if i % 2 else 1.0)) for i in range(11)]
    assert neighbour_ratios(segments) == pytest.approx([0.96] * 5)


def test_segments_at_either_end_have_one_neighbour_and_are_left_out() -> None:
    segments = [("on", 900.0), ("off", 1000.0), ("on", 950.0), ("off", 1000.0), ("on", 500.0)]
    assert neighbour_ratios(segments) == [0.95]


def test_percentiles_are_read_from_microseconds_in_milliseconds_as_the_report_reads_them() -> None:
    values = list(range(100_000, 0, -1000))  # 100 ms … 1 ms, unsorted as served
    assert latency_ms(values, 99) == pytest.approx(99.01)  # between ranks, like `wxbot report`
    assert latency_ms(values, 50) == pytest.approx(50.5)
    assert latency_ms([], 99) != latency_ms([], 99)  # NaN when nothing was served
