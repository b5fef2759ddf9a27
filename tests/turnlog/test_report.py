from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from sqlalchemy import Engine

from app.turnlog.consultations import Rules
from app.turnlog.logger import TurnLogger
from app.turnlog.report import build_report, percentile, report_from_facts
from tests.turnlog.facts import at
from tests.turnlog.records import T0, record


def test_percentile_interpolates_between_ranks() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50.5
    assert percentile(values, 99) == 99.01
    assert percentile([], 50) is None
    assert percentile([7.0], 95) == 7.0


def test_json_has_every_documented_key() -> None:
    data = report_from_facts([at(0, faq_id="a", latency_ms=10)]).to_json()
    assert {"turns", "latency_ms", "within_5s", "consultations", "rates", "satisfaction", "top_unanswered"} <= set(
        data
    )
    assert set(data["latency_ms"]) == {"p50", "p95", "p99"}
    assert set(data["consultations"]) == {"count", "resolved", "interactions"}
    assert set(data["consultations"]["interactions"]) == {"mean", "median", "p90"}
    assert set(data["rates"]) == {"resolution", "fallback", "handoff"}


def test_empty_log_reports_zero_turns_and_no_percentiles() -> None:
    data = report_from_facts([]).to_json()
    assert data["turns"] == 0
    assert data["latency_ms"] == {"p50": None, "p95": None, "p99": None}
    assert data["within_5s"] is None
    assert data["rates"]["resolution"] is None


def test_latency_ignores_retries_and_within_5s_excludes_late_replies() -> None:
    rows = [
        at(0, faq_id="a", latency_ms=100),
        at(1, faq_id="b", latency_ms=300, user="u2"),
        at(2, "duplicate", is_retry=True, latency_ms=9000, user="u2"),
        at(3, "late", faq_id="c", outcome="late", latency_ms=6000, user="u3"),
    ]
    data = report_from_facts(rows).to_json()
    assert data["turns"] == 4
    assert data["retries"] == 1
    assert data["latency_ms"]["p50"] == 300.0
    assert data["within_5s"] == round(2 / 3, 4)


def test_interactions_per_resolved_consultation() -> None:
    rows = [
        # u1: resolved in 1; u2: resolved in 3; u3: unresolved (handoff) — not in the stats.
        at(0, faq_id="a", user="u1"),
        at(0, "fallback", user="u2", text="x"),
        at(1, "clarify", user="u2", text="社保"),
        at(2, faq_id="b", user="u2"),
        at(0, "fallback", user="u3", text="人呢"),
        at(1, "handoff", user="u3"),
    ]
    data = report_from_facts(rows).to_json()
    assert data["consultations"]["count"] == 3
    assert data["consultations"]["resolved"] == 2
    assert data["consultations"]["interactions"] == {"mean": 2.0, "median": 2.0, "p90": 2.8}
    assert data["rates"]["resolution"] == round(2 / 3, 4)
    assert data["rates"]["handoff"] == round(1 / 3, 4)
    assert data["rates"]["fallback"] == round(2 / 6, 4)


def test_satisfaction_counts_and_share() -> None:
    rows = [
        at(0, "flow", flow_id="f", resolved=True, user="u1"),
        at(1, "menu", satisfaction="满意", user="u1"),
        at(0, "flow", flow_id="f", resolved=True, user="u2"),
        at(1, "menu", satisfaction="不满意", user="u2"),
    ]
    data = report_from_facts(rows).to_json()
    assert data["satisfaction"] == {
        "responses": 2, "satisfied": 0.5, "target": 0.9,
        "counts": {"非常满意": 0, "满意": 1, "基本满意": 0, "不满意": 1, "非常不满意": 0},
    }


def test_the_satisfaction_rate_is_the_top_two_of_five_levels_and_old_rows_still_count() -> None:
    levels = ["非常满意", "满意", "基本满意", "不满意", "非常不满意"]
    rows = []
    for i, level in enumerate([*levels, "满意", "基本满意"]):  # the last two as a three-level row would say
        rows += [at(0, "flow", flow_id="f", resolved=True, user=f"u{i}")]
        rows += [at(1, "menu", satisfaction=level, user=f"u{i}")]
    sat = report_from_facts(rows).to_json()["satisfaction"]
    assert sat["counts"] == {"非常满意": 1, "满意": 2, "基本满意": 2, "不满意": 1, "非常不满意": 1}
    assert sat["satisfied"] == round(3 / 7, 4)


def test_top_unanswered_groups_similar_questions() -> None:
    texts = ["社保卡丢了怎么办", "社保卡丢了怎么办？", "请问社保卡丢了咋办", "护照过期了"]
    rows = [at(0, "fallback", user=f"u{i}", text=t) for i, t in enumerate(texts)]
    top = report_from_facts(rows).to_json()["top_unanswered"]
    assert [(item["question"], item["count"]) for item in top] == [("社保卡丢了怎么办", 3), ("护照过期了", 1)]


def test_questions_of_resolved_consultations_are_not_unanswered() -> None:
    rows = [at(0, "fallback", text="社保卡丢了"), at(1, faq_id="social-card-lost")]
    assert report_from_facts(rows).to_json()["top_unanswered"] == []


def test_window_counts_turns_inside_it_but_reads_ahead_for_reasks() -> None:
    since, until = T0, T0 + timedelta(hours=1)
    rows = [at(0, faq_id="a"), at(120, faq_id="a")]  # the re-ask is after `until`
    data = report_from_facts(rows, since=since, until=until).to_json()
    assert data["turns"] == 1
    assert data["consultations"] == {
        "count": 1, "resolved": 0, "interactions": {"mean": None, "median": None, "p90": None},
    }


def test_latency_series_buckets_by_local_hour() -> None:
    rows = [at(0, latency_ms=10), at(5, latency_ms=30, user="u2"), at(70, latency_ms=50, user="u3")]
    report = report_from_facts(rows, since=T0, until=T0 + timedelta(hours=3))
    assert [(p.start.hour, p.count) for p in report.latency_series] == [(10, 2), (11, 1)]


def test_report_from_the_database_matches_the_same_rows_in_memory(engine: Engine, tmp_path: Path) -> None:
    turnlog = TurnLogger(engine, pseudonym_key=b"k", spool_dir=tmp_path / "spool", flush_interval_s=0.02)
    turnlog.start()
    turnlog.submit(record(0, openid="a", route="faq", faq_id="x", latency_ms=40))
    turnlog.submit(record(1, openid="a", route="duplicate", is_retry=True, latency_ms=5))
    turnlog.submit(record(2, openid="b", route="fallback", faq_id="", text="公积金转移", latency_ms=80))
    turnlog.submit(record(3, openid="c", route="flow", faq_id="", flow_id="f", resolved=True, latency_ms=60))
    turnlog.stop()
    progress: list[int] = []
    data = build_report(engine, rules=Rules(), on_rows=progress.append).to_json()
    assert sum(progress) == 4
    assert data["turns"] == 4
    assert data["latency_ms"]["p50"] == 60.0
    assert data["consultations"]["count"] == 3
    assert data["consultations"]["resolved"] == 2
    assert data["top_unanswered"][0]["question"] == "公积金转移"
