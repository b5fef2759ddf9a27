"""The benchmarks' figures come from parsing wrk's report and /metrics; a misread figure is a false claim."""

from __future__ import annotations

import math

from bench.common import median_interval, parse_wrk, sum_samples

# A real wrk 4.1 report whose thread-stats "+/- Stdev" column ends in "50%" and "99%".
REPORT = """\
Running 10s test @ http://127.0.0.1:8001/wechat
  2 threads and 16 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     7.46ms   10.06ms  84.00ms   95.50%
    Req/Sec     1.13k   120.30     1.40k    87.99%
  Latency Distribution
     50%    6.12ms
     75%    8.01ms
     90%   11.30ms
     99%   51.20ms
  22473 requests in 10.01s, 9.80MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 4
Requests/sec:   2245.10
Transfer/sec:      0.98MB
"""


def test_percentiles_come_from_the_latency_distribution_not_the_thread_stats() -> None:
    result = parse_wrk(REPORT)
    assert result.p50_ms == 6.12
    assert result.p99_ms == 51.2
    assert result.rps == 2245.10
    assert result.requests == 22473
    assert result.errors == 4 + 3


def test_units_are_converted_to_milliseconds() -> None:
    report = REPORT.replace("6.12ms", "812.00us").replace("51.20ms", "1.20s")
    result = parse_wrk(report)
    assert math.isclose(result.p50_ms, 0.812)
    assert math.isclose(result.p99_ms, 1200.0)


def test_a_metric_is_summed_over_its_labels_and_nothing_else() -> None:
    exposition = (
        '# TYPE wxbot_late_replies_total counter\n'
        'wxbot_late_replies_total{result="sent"} 3.0\n'
        'wxbot_late_replies_total{result="failed"} 1.0\n'
        'wxbot_late_replies_created{result="sent"} 1.7e+09\n'
        'wxbot_memory_store_keys 76074.0\n'
    )
    assert sum_samples(exposition, "wxbot_late_replies_total") == 4.0
    assert sum_samples(exposition, "wxbot_memory_store_keys") == 76074.0
    assert sum_samples(exposition, "wxbot_absent") == 0.0


def test_median_interval_brackets_the_median_and_narrows_with_more_samples() -> None:
    import random

    rng = random.Random(1)
    few = [1 + rng.gauss(0, 0.1) for _ in range(10)]
    many = [1 + rng.gauss(0, 0.1) for _ in range(200)]
    for values in (few, many):
        low, high = median_interval(values)
        assert low <= sorted(values)[len(values) // 2] <= high
    assert median_interval(many)[1] - median_interval(many)[0] < median_interval(few)[1] - median_interval(few)[0]
    assert median_interval(few) == median_interval(few)  # seeded
