"""A closed day asked for a booking is answered with the reason and the nearest open days."""

from __future__ import annotations

from datetime import date

from flows.schema import Slot
from flows.slots import extract

TODAY = date(2026, 12, 6)
BOOKING_DATE = Slot(type="date", label="预约日期", prompt="哪一天？", working_day=True, max_days=90)


def refusal(text: str) -> str:
    found = extract({"date": BOOKING_DATE}, ["date"], text, TODAY, ["date"])
    assert "date" not in found.found
    return found.invalid["date"]


def test_new_year_of_next_year_is_refused_with_the_reason_and_the_nearest_open_days() -> None:
    said = refusal("1月1日上午")
    assert said.startswith("1月1日元旦放假")
    assert "12月31日（周四）" in said and "2027年1月4日（周一）" in said


def test_spring_festival_of_next_year_is_refused_by_rule() -> None:
    said = refusal("2027年2月8日")
    assert said.startswith("2月8日春节放假")
    assert "2027年2月4日（周四）" in said and "2027年2月12日（周五）" in said


def test_a_weekend_names_the_weekday() -> None:
    assert refusal("12月12日").startswith("12月12日（周六）是休息日")


def test_a_holiday_beyond_the_window_still_names_the_holiday() -> None:
    slot = Slot(type="date", label="预约日期", prompt="哪一天？", working_day=True, max_days=30)
    found = extract({"date": slot}, ["date"], "2027年2月7日", TODAY, ["date"])
    assert found.invalid["date"] == "2月7日春节放假，大厅不对外办公。目前只能预约30天以内的日期，请重新选择。"
