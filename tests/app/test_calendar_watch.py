"""The calendar in service: health, the daily warning, and a broken file keeping the old calendar."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest

from app.calendar_watch import CalendarWatch
from flows import calendar
from flows.calendar import SHIPPED
from flows.registry import load_flows
from tests.app.conftest import HarnessFactory

ROOT = Path(__file__).resolve().parents[2]
FLOWS = load_flows(ROOT / "flows")


@pytest.fixture(autouse=True)
def restore_calendar() -> Iterator[None]:
    before = calendar.active()
    yield
    calendar.install(before)


def watch(path: Path = SHIPPED) -> CalendarWatch:
    found = CalendarWatch(path, lambda: FLOWS)
    found.load()
    return found


def test_health_is_incomplete_when_the_booking_window_reaches_next_year() -> None:
    assert watch().health(date(2026, 12, 6)) == "incomplete"
    assert watch().health(date(2026, 11, 20)) == "ok"


def test_the_gap_is_logged_once_a_day(caplog: pytest.LogCaptureFixture) -> None:
    found = watch()
    with caplog.at_level(logging.WARNING, logger="wxbot.calendar"):
        assert found.warn_daily(date(2026, 12, 6)) is True
        assert found.warn_daily(date(2026, 12, 6)) is False
        assert found.warn_daily(date(2026, 12, 7)) is True
    warnings = [r.getMessage() for r in caplog.records if "calendar incomplete" in r.getMessage()]
    assert len(warnings) == 2 and "2027" in warnings[0]


def test_a_broken_file_keeps_the_calendar_in_service_and_reports_failed(tmp_path: Path) -> None:
    watch()
    broken = tmp_path / "calendar.yaml"
    broken.write_text("years: [", encoding="utf-8")
    found = CalendarWatch(broken, lambda: FLOWS)
    found.load()
    assert found.health(date(2026, 11, 20)) == "failed"
    assert calendar.active().is_open(date(2026, 1, 4))  # the shipped make-up day is still known


def test_the_file_in_knowledge_dir_is_the_one_installed(tmp_path: Path) -> None:
    path = tmp_path / "calendar.yaml"
    path.write_text("years: {}\n", encoding="utf-8")
    watch(path)
    assert not calendar.active().published(2026)
    assert not calendar.active().is_open(date(2026, 1, 4))


def synthetic(years: list[int]) -> str:
    """A calendar file publishing `years` with just the statutory days (test data, not a real schedule)."""
    lines = ["years:"]
    for year in years:
        lines += [f"  {year}:", "    source: 测试用日历（非真实安排）", "    holidays:"]
        for day, name in sorted(calendar.statutory_holidays(year).items()):
            lines.append(f"      - {{name: {name}, from: {day.isoformat()}, to: {day.isoformat()}}}")
    return "\n".join(lines) + "\n"


async def test_healthz_reports_the_calendar(harness_factory: HarnessFactory, tmp_path: Path) -> None:
    harness = await harness_factory()
    watch = harness.resources.calendar
    assert watch is not None
    today = date.today()
    watch.path = tmp_path / "calendar.yaml"
    watch.path.write_text("years: {}\n", encoding="utf-8")
    watch.load()
    assert (await harness.client.get("/healthz")).json()["calendar"] == "incomplete"
    watch.path.write_text(synthetic([today.year, today.year + 1]), encoding="utf-8")
    watch.load()
    assert (await harness.client.get("/healthz")).json()["calendar"] == "ok"
