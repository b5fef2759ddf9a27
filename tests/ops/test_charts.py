from __future__ import annotations

from app.ops.charts import SeriesPoint, bar_list, column_chart, latency_chart, nice_ceiling, satisfaction_chart


def test_nice_ceiling_rounds_up_to_a_readable_axis_maximum() -> None:
    assert [nice_ceiling(v) for v in (0.3, 7, 12, 230, 4100)] == [0.5, 10, 20, 250, 5000]


def test_latency_chart_carries_each_series_values() -> None:
    svg = latency_chart([SeriesPoint("10时", {"p50": 20, "p95": 80, "p99": 120}, 5),
                         SeriesPoint("11时", {"p50": 25, "p95": 90, "p99": 300}, 7)])
    assert 'data-series="p99" data-values="120.0,300.0"' in svg
    assert "10时" in svg


def test_latency_chart_shows_the_5s_limit_only_when_in_range() -> None:
    fast = latency_chart([SeriesPoint("a", {"p50": 10, "p95": 20, "p99": 30}, 1)])
    slow = latency_chart([SeriesPoint("a", {"p50": 10, "p95": 2000, "p99": 4800}, 1)])
    assert "5 秒上限" not in fast
    assert "5 秒上限" in slow


def test_empty_charts_say_there_is_no_data() -> None:
    assert "暂无数据" in latency_chart([])
    assert "暂无数据" in column_chart([("1", 0)], "h", "h")
    assert "暂无数据" in bar_list([], "r", "r")
    assert "暂无数据" in satisfaction_chart({})


def test_labels_are_escaped() -> None:
    svg = bar_list([("x", "<script>alert(1)</script>", 3)], "routes", "routes")
    assert "<script>" not in svg
    assert "&lt;script&gt;" in svg


def test_satisfaction_chart_shows_the_five_levels_in_scale_order() -> None:
    svg = satisfaction_chart({"非常满意": 0, "满意": 2, "基本满意": 1, "不满意": 0, "非常不满意": 1})
    keys = [part.split('"')[0] for part in svg.split('data-key="')[1:]]
    assert keys == ["满意", "基本满意", "非常不满意"]


def test_satisfaction_chart_has_a_segment_per_answer() -> None:
    svg = satisfaction_chart({"满意": 3, "不满意": 1})
    assert 'data-key="满意" data-value="3"' in svg
    assert 'data-key="不满意" data-value="1"' in svg
