"""Dates as citizens write them, resolved against a fixed day (Thursday 2026-11-26)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from flows import dates

TODAY = date(2026, 11, 26)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("今天", date(2026, 11, 26)),
        ("明天上午", date(2026, 11, 27)),
        ("后天", date(2026, 11, 28)),
        ("大后天", date(2026, 11, 29)),
        ("下周三", date(2026, 12, 2)),
        ("下星期一", date(2026, 11, 30)),
        ("这周五", date(2026, 11, 27)),
        ("周四", date(2026, 11, 26)),
        ("12月3日", date(2026, 12, 3)),
        ("十二月三号", date(2026, 12, 3)),
        ("2026-12-03", date(2026, 12, 3)),
        ("2026年12月3日", date(2026, 12, 3)),
        ("三天后", date(2026, 11, 29)),
        ("下个月8号", date(2026, 12, 8)),
        ("下月的三号", date(2026, 12, 3)),
        ("这个月30号", date(2026, 11, 30)),
        ("本月28日", date(2026, 11, 28)),
        ("下下个月1号", date(2027, 1, 1)),
        # Month and day as typed on a phone.
        ("12.15", date(2026, 12, 15)),
        ("12/21下午", date(2026, 12, 21)),
        ("约12-18上午的", date(2026, 12, 18)),
        ("12.9号", date(2026, 12, 9)),
        # The weekday typed as a digit.
        ("周3上午", date(2026, 12, 2)),
        ("下礼拜5", date(2026, 12, 4)),
    ],
)
def test_resolves_relative_to_today(text: str, expected: date) -> None:
    assert [m.value for m in dates.find_dates(text, TODAY)] == [expected]


def test_month_day_already_past_means_next_year() -> None:
    assert dates.find_dates("1月5日", TODAY)[0].value == date(2027, 1, 5)


def test_bare_day_already_past_means_next_month() -> None:
    assert dates.find_dates("5号", TODAY)[0].value == date(2026, 12, 5)


def test_next_month_said_in_december_is_january() -> None:
    assert dates.find_dates("下个月5号上午", date(2026, 12, 6))[0].value == date(2027, 1, 5)


def test_impossible_date_is_reported_not_guessed() -> None:
    [match] = dates.find_dates("2月30日", TODAY)
    assert match.value is None


@pytest.mark.parametrize("text", ["排了1.5个小时", "12.15元", "13:30", "12-18号楼", "V1.2", "3.14159", "021-12345678"])
def test_amounts_times_and_numbers_are_not_dates(text: str) -> None:
    assert dates.find_dates(text, TODAY) == []


def test_window_number_is_not_a_date() -> None:
    assert dates.find_dates("3号窗口的工作人员", TODAY) == []


def test_match_span_points_into_the_text() -> None:
    text = "我想预约明天上午去办社保卡"
    [match] = dates.find_dates(text, TODAY)
    assert text[match.start : match.end] == "明天"


def test_national_day_is_not_a_working_day() -> None:
    assert dates.working_day(date(2026, 10, 1)) == dates.WorkingDay(working=False, known=True)
    assert dates.holiday_name(date(2026, 10, 1)) == "国庆节"


def test_year_beyond_the_calendar_closes_weekends_and_statutory_holidays() -> None:
    assert dates.working_day(date(2031, 1, 6)) == dates.WorkingDay(working=True, known=False)
    assert dates.working_day(date(2031, 1, 4)) == dates.WorkingDay(working=False, known=False)
    assert dates.holiday_name(date(2031, 1, 1)) == "元旦"


def test_next_working_day_skips_the_weekend() -> None:
    assert dates.next_working_day(date(2026, 11, 28)) == date(2026, 11, 30)


def test_display_adds_the_year_only_when_it_differs() -> None:
    assert dates.display(date(2026, 12, 3), TODAY) == "12月3日（周四）"
    assert dates.display(date(2027, 1, 4), TODAY) == "2027年1月4日（周一）"


@pytest.mark.parametrize(("text", "value"), [("12", 12), ("十二", 12), ("二十一", 21), ("三十", 30), ("十", 10)])
def test_chinese_numbers(text: str, value: int) -> None:
    assert dates.chinese_number(text) == value


@pytest.mark.parametrize(
    ("text", "doubt"),
    [
        ("约一下下周二", ""),  # 一下 + 下周二: 「约一 + 下下周二」 is no Chinese
        ("想问下下周二人多不多", ""),  # 问下 + 下周二
        ("约下下周二", "week"),  # 约下 + 下周二, or 约 + 下下周二?
        ("帮我约一下周三", "week"),  # 一下 + 周三, or 一 + 下周三?
        ("下周二", ""),
        ("下下周二", ""),
        ("3号", "month"),  # the 3rd has passed this month: next month's
        ("28号", ""),
        ("12月3日", ""),
    ],
)
def test_a_date_says_when_its_reading_is_a_guess(text: str, doubt: str) -> None:
    [found] = dates.find_dates(text, TODAY)
    assert found.doubt == doubt


@pytest.mark.parametrize(
    ("text", "days"),
    [
        ("约一下下周二", 7),  # 一下 + 下周二
        ("查一下下下周二", 14),  # 一下 + 下下周二
        ("想问下下周二人多不多", 7),  # 问下 + 下周二
        ("看下下周二有没有号", 7),  # 看下 + 下周二
        ("下下周二", 14),
    ],
)
def test_the_verbs_yixia_before_a_week_is_not_read_as_a_second_xia(text: str, days: int) -> None:
    [found] = dates.find_dates(text, TODAY)
    monday = TODAY - timedelta(days=TODAY.weekday())
    assert found.value == monday + timedelta(days=days + 1)
