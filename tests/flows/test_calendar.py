"""The office calendar: the published schedule where there is one, the law's holidays for any year."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest

from flows import calendar
from flows.calendar import Calendar, CalendarError, load_calendar, parse_calendar

SHIPPED = calendar.load_calendar(calendar.SHIPPED)
RULES_ONLY = Calendar()

YEAR_2030 = """
years:
  2030:
    source: 国务院办公厅关于2030年部分节假日安排的通知（测试）
    holidays:
      - {name: 元旦, from: 2030-01-01, to: 2030-01-01}
      - {name: 春节, from: 2030-02-02, to: 2030-02-08}
      - {name: 清明节, from: 2030-04-05, to: 2030-04-05}
      - {name: 劳动节, from: 2030-05-01, to: 2030-05-05}
      - {name: 端午节, from: 2030-06-05, to: 2030-06-05}
      - {name: 中秋节, from: 2030-09-12, to: 2030-09-12}
      - {name: 国庆节, from: 2030-10-01, to: 2030-10-07}
    workdays:
      - {date: 2030-02-09, for: 春节}
"""


def test_new_year_2027_is_closed_although_no_schedule_is_published() -> None:
    status = SHIPPED.status(date(2027, 1, 1))
    assert not status.open and not status.published
    assert status.reason == "1月1日元旦放假"


@pytest.mark.parametrize(
    ("year", "eve", "qingming", "dragon_boat", "mid_autumn"),
    [
        (2026, date(2026, 2, 16), date(2026, 4, 5), date(2026, 6, 19), date(2026, 9, 25)),
        (2027, date(2027, 2, 5), date(2027, 4, 5), date(2027, 6, 9), date(2027, 9, 15)),
        (2031, date(2031, 1, 22), date(2031, 4, 5), date(2031, 6, 24), date(2031, 10, 1)),
    ],
)
def test_lunar_and_solar_term_holidays_are_known_for_any_year(
    year: int, eve: date, qingming: date, dragon_boat: date, mid_autumn: date
) -> None:
    days = calendar.statutory_holidays(year)
    assert [d for d, name in days.items() if name == "春节"] == [eve + timedelta(days=i) for i in range(4)]
    assert days[qingming] == "清明节"
    assert days[dragon_boat] == "端午节"
    # 2031: 中秋 falls on 1 October, inside National Day: either name closes it.
    assert days[mid_autumn] in ("中秋节", "国庆节")


def test_fixed_date_holidays_follow_the_law() -> None:
    days = calendar.statutory_holidays(2040)
    assert days[date(2040, 1, 1)] == "元旦"
    assert days[date(2040, 5, 1)] == days[date(2040, 5, 2)] == "劳动节"
    assert [days[date(2040, 10, d)] for d in (1, 2, 3)] == ["国庆节"] * 3


def test_spring_festival_of_next_year_is_closed_by_rule() -> None:
    for offset in range(7):  # 除夕 to 初六, the usual week, until the schedule says otherwise
        status = RULES_ONLY.status(date(2027, 2, 5) + timedelta(days=offset))
        assert not status.open and status.holiday == "春节"
    assert RULES_ONLY.is_open(date(2027, 2, 12))


def test_without_a_schedule_a_weekend_is_never_a_make_up_working_day() -> None:
    # 2026-01-04 (Sunday) was a make-up day; only the file can say so.
    assert SHIPPED.is_open(date(2026, 1, 4))
    assert not RULES_ONLY.is_open(date(2026, 1, 4))


def test_the_published_2026_schedule_closes_the_bridge_days() -> None:
    assert SHIPPED.status(date(2026, 10, 7)).holiday == "国庆节"
    assert SHIPPED.is_open(date(2026, 10, 10))  # Saturday, made up for National Day
    assert SHIPPED.is_open(date(2026, 10, 9))


def test_a_closed_day_offers_the_nearest_open_days_either_side() -> None:
    assert SHIPPED.nearest_open(date(2027, 1, 1), earliest=date(2026, 12, 6)) == [
        date(2026, 12, 31), date(2027, 1, 4)
    ]


def test_nearest_open_days_are_never_before_the_earliest_bookable_day() -> None:
    assert SHIPPED.nearest_open(date(2026, 12, 12), earliest=date(2026, 12, 12)) == [date(2026, 12, 14)]


def test_a_published_year_adds_make_up_days_and_bridges() -> None:
    cal = parse_calendar(YEAR_2030)
    assert cal.published(2030) and not cal.published(2031)
    assert cal.is_open(date(2030, 2, 9))  # a Saturday make-up day
    assert cal.status(date(2030, 2, 8)).holiday == "春节"
    assert cal.unpublished(date(2030, 12, 6), date(2031, 1, 5)) == [2031]


def test_a_schedule_missing_a_statutory_day_is_refused() -> None:
    broken = YEAR_2030.replace("from: 2030-01-01, to: 2030-01-01", "from: 2030-01-02, to: 2030-01-02")
    with pytest.raises(CalendarError, match="2030-01-01"):
        parse_calendar(broken)


def test_a_day_both_off_and_working_is_refused() -> None:
    broken = YEAR_2030.replace("{date: 2030-02-09, for: 春节}", "{date: 2030-02-08, for: 春节}")
    with pytest.raises(CalendarError, match="both"):
        parse_calendar(broken)


def test_a_schedule_without_a_source_is_refused() -> None:
    with pytest.raises(CalendarError, match="source"):
        parse_calendar(YEAR_2030.replace("    source: 国务院办公厅关于2030年部分节假日安排的通知（测试）\n", ""))


def test_a_missing_file_is_rules_only(tmp_path: Path) -> None:
    cal = load_calendar(tmp_path / "calendar.yaml")
    assert cal.schedules == {} and not cal.is_open(date(2026, 10, 1))
