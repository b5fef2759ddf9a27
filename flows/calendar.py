"""The office calendar: which days the service halls are open, and why a closed day is closed.

Two sources, so the answer never depends on a library's data running out (issue 18: 1 January
2027 was booked as a working day because the holiday package had nothing past 2026):

- **rules, for any year**: the statutory holidays of the 全国年节及纪念日放假办法 (2024 revision) —
  元旦, 春节 (除夕 to 初三), 清明节 (the solar term), 劳动节 (1–2 May), 端午节, 中秋节, 国庆节
  (1–3 October) — from `lunar_python` for the lunar dates and solar terms; plus weekends. Until a
  year's schedule is published, the usual holiday weeks (春节 除夕 to 初六, 劳动节 1–5 May, 国庆节
  1–7 October) are taken as closed too: a wrongly closed day costs the citizen another pick, a
  wrongly open one a wasted trip to a closed hall.
- **the published schedule** (`knowledge/calendar.yaml`, edited by admins every winter when the
  State Council publishes it): the holidays by date and the make-up working days (调休). A
  make-up working day only ever comes from this file, so a year without it can only err toward
  "closed".

The calendar is pure; `load_calendar` reads the file. The app installs the calendar it loaded
from KNOWLEDGE_DIR with `install`; the date parsers read it through `active()` (passing it down
through every slot parser would touch the whole engine for one lookup).
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import yaml
from lunar_python import Lunar
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from flows.schema import Flow

WEEKDAYS = "一二三四五六日"
# Holiday names as the schedule and the citizen say them.
NEW_YEAR = "元旦"
SPRING = "春节"
QINGMING = "清明节"
LABOUR = "劳动节"
DRAGON_BOAT = "端午节"
MID_AUTUMN = "中秋节"
NATIONAL = "国庆节"
HOLIDAY_NAMES = (NEW_YEAR, SPRING, QINGMING, LABOUR, DRAGON_BOAT, MID_AUTUMN, NATIONAL)
# How far `nearest_open` looks either way (the longest closure, 春节, is 9 days).
SEARCH_DAYS = 40
SHIPPED = Path(__file__).resolve().parent.parent / "knowledge" / "calendar.yaml"


class CalendarError(ValueError):
    """The calendar file cannot be used; the message names the file and the problem."""


@dataclass(frozen=True, slots=True)
class DayStatus:
    day: date
    open: bool
    # Why the hall is closed (「元旦」, 「周六」), or for a make-up day what it makes up for.
    holiday: str = ""
    weekend: bool = False
    makeup: bool = False
    # False when the year's schedule is not published and the answer comes from rules alone.
    published: bool = True

    @property
    def reason(self) -> str:
        """「1月1日元旦放假」, 「12月12日（周六）是休息日」; "" for an open day."""
        if self.open:
            return ""
        when = f"{self.day.month}月{self.day.day}日"
        if self.holiday:
            return f"{when}{self.holiday}放假"
        return f"{when}（周{WEEKDAYS[self.day.weekday()]}）是休息日"


# -- rules for any year ----------------------------------------------------------------------


def _lunar(year: int, month: int, day: int) -> date:
    solar = Lunar.fromYmd(year, month, day).getSolar()
    return date(solar.getYear(), solar.getMonth(), solar.getDay())


def _span(first: date, days: int) -> list[date]:
    return [first + timedelta(days=i) for i in range(days)]


def statutory_holidays(year: int) -> dict[date, str]:
    """The days off the law fixes for `year` (全国年节及纪念日放假办法), by date."""
    new_year = _lunar(year, 1, 1)
    qingming = Lunar.fromYmd(year, 1, 1).getJieQiTable()["清明"]
    days: dict[date, str] = {date(year, 1, 1): NEW_YEAR}
    # 除夕 is the day before 正月初一 (the 29th or the 30th of the twelfth month).
    days.update({d: SPRING for d in _span(new_year - timedelta(days=1), 4)})
    days[date(qingming.getYear(), qingming.getMonth(), qingming.getDay())] = QINGMING
    days.update({d: LABOUR for d in _span(date(year, 5, 1), 2)})
    days[_lunar(year, 5, 5)] = DRAGON_BOAT
    days[_lunar(year, 8, 15)] = MID_AUTUMN
    days.update({d: NATIONAL for d in _span(date(year, 10, 1), 3)})
    return days


def usual_holiday_weeks(year: int) -> dict[date, str]:
    """The holiday weeks every recent schedule has given, assumed closed until one is published."""
    new_year = _lunar(year, 1, 1)
    days = {d: SPRING for d in _span(new_year - timedelta(days=1), 7)}
    days.update({d: LABOUR for d in _span(date(year, 5, 1), 5)})
    days.update({d: NATIONAL for d in _span(date(year, 10, 1), 7)})
    return days


# -- the published schedule ------------------------------------------------------------------


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class _Holiday(_Strict):
    name: str
    start: date = Field(alias="from")
    end: date = Field(alias="to")

    @model_validator(mode="after")
    def _order(self) -> _Holiday:
        if self.end < self.start:
            raise ValueError(f"{self.name}: 'to' is before 'from'")
        return self


class _Workday(_Strict):
    day: date = Field(alias="date")
    makes_up_for: str = Field(default="", alias="for")


class _Year(_Strict):
    # Where the dates come from (the State Council notice), so the next admin can check them.
    source: str = Field(min_length=4)
    holidays: list[_Holiday] = Field(min_length=1)
    workdays: list[_Workday] = Field(default_factory=list)


class _File(_Strict):
    years: dict[int, _Year] = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Schedule:
    """One year as the State Council published it."""

    year: int
    source: str
    holidays: dict[date, str]
    workdays: dict[date, str]


@dataclass(frozen=True, slots=True)
class Calendar:
    schedules: dict[int, Schedule] = field(default_factory=dict)
    # Where the schedules came from, for messages.
    path: str = ""

    def published(self, year: int) -> bool:
        return year in self.schedules

    def status(self, day: date) -> DayStatus:
        schedule = self.schedules.get(day.year)
        weekend = day.weekday() >= 5
        if schedule is not None:
            if day in schedule.holidays:
                return DayStatus(day, False, holiday=schedule.holidays[day], weekend=weekend)
            if day in schedule.workdays:
                return DayStatus(day, True, holiday=schedule.workdays[day], makeup=True)
        # The law's days count even in a published year: the file can only add closures.
        closed = _rule_closures(day.year, schedule is not None)
        if day in closed:
            return DayStatus(day, False, holiday=closed[day], weekend=weekend, published=schedule is not None)
        return DayStatus(day, not weekend, weekend=weekend, published=schedule is not None)

    def is_open(self, day: date) -> bool:
        return self.status(day).open

    def next_open(self, day: date, *, step: int = 1) -> date | None:
        """The first open day from `day` on (`step` -1: backwards), within `SEARCH_DAYS`."""
        for _ in range(SEARCH_DAYS):
            if self.is_open(day):
                return day
            day += timedelta(days=step)
        return None

    def nearest_open(self, day: date, *, earliest: date) -> list[date]:
        """The open days either side of a closed `day` (none before `earliest`), nearest first."""
        found: list[date] = []
        before = self.next_open(day - timedelta(days=1), step=-1)
        if before is not None and before >= earliest:
            found.append(before)
        after = self.next_open(day + timedelta(days=1))
        if after is not None:
            found.append(after)
        return sorted(found, key=lambda d: (abs((d - day).days), d))

    def unpublished(self, first: date, last: date) -> list[int]:
        """Years between `first` and `last` (inclusive) whose schedule is not in the file."""
        return [y for y in range(first.year, last.year + 1) if y not in self.schedules]


def _rule_closures(year: int, published: bool) -> dict[date, str]:
    return _statutory(year) if published else _assumed(year)


_cache_lock = threading.Lock()
_statutory_cache: dict[int, dict[date, str]] = {}
_assumed_cache: dict[int, dict[date, str]] = {}


def _statutory(year: int) -> dict[date, str]:
    found = _statutory_cache.get(year)
    if found is None:
        found = statutory_holidays(year)
        with _cache_lock:
            _statutory_cache[year] = found
    return found


def _assumed(year: int) -> dict[date, str]:
    found = _assumed_cache.get(year)
    if found is None:
        found = {**usual_holiday_weeks(year), **statutory_holidays(year)}
        with _cache_lock:
            _assumed_cache[year] = found
    return found


def _expand(year: int, holidays: Iterable[_Holiday]) -> dict[date, str]:
    days: dict[date, str] = {}
    for holiday in holidays:
        day = holiday.start
        while day <= holiday.end:
            days[day] = holiday.name
            day += timedelta(days=1)
    return days


def parse_calendar(text: str, source: str = "calendar.yaml") -> Calendar:
    """A calendar from the file's text; CalendarError names what is wrong."""
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise CalendarError(f"{source}: not valid YAML: {exc}") from exc
    try:
        parsed = _File.model_validate(raw)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise CalendarError(f"{source}: {problems}") from exc
    schedules: dict[int, Schedule] = {}
    for year, spec in parsed.years.items():
        holidays = _expand(year, spec.holidays)
        workdays = {w.day: w.makes_up_for for w in spec.workdays}
        for day in [*holidays, *workdays]:
            if day.year != year:
                raise CalendarError(f"{source}: {day.isoformat()} is listed under {year}")
        both = sorted(set(holidays) & set(workdays))
        if both:
            raise CalendarError(f"{source}: {both[0].isoformat()} is both a holiday and a working day")
        missing = sorted(set(_statutory(year)) - set(holidays))
        if missing:
            # A schedule always includes the law's days; one missing is a typo in the file.
            day = missing[0]
            raise CalendarError(
                f"{source}: {year} does not list {day.isoformat()} ({_statutory(year)[day]}), a statutory holiday"
            )
        schedules[year] = Schedule(year, spec.source, holidays, workdays)
    return Calendar(schedules, source)


def load_calendar(path: Path) -> Calendar:
    """The calendar in `path`; a missing file is rules only (every year unpublished)."""
    if not path.exists():
        return Calendar({}, str(path))
    return parse_calendar(path.read_text(encoding="utf-8"), str(path))


_active: Calendar | None = None


def install(calendar: Calendar) -> None:
    """Make `calendar` the one every date check reads (the app, at start-up and on reload)."""
    global _active
    _active = calendar


def active() -> Calendar:
    """The installed calendar, or the shipped file's when none was installed (tests, the CLI)."""
    global _active
    if _active is None:
        _active = load_calendar(SHIPPED)
    return _active


# -- booking windows -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Gap:
    """A flow's bookable window reaches a year the calendar file has no schedule for."""

    flow_id: str
    slot: str
    last: date
    years: tuple[int, ...]

    def __str__(self) -> str:
        years = "、".join(str(y) for y in self.years)
        return (
            f"flow {self.flow_id!r} slot {self.slot!r}: bookable until {self.last.isoformat()}, "
            f"but calendar.yaml has no published schedule for {years} "
            "(add the State Council's holiday arrangement; until then make-up working days are unknown)"
        )


def window_gaps(flows: Iterable[Flow], today: date, cal: Calendar | None = None) -> list[Gap]:
    """Every working-day date slot whose window (today + min_days … max_days) leaves the published years."""
    cal = cal or active()
    gaps: list[Gap] = []
    for flow in flows:
        for name, slot in flow.slots.items():
            if slot.type != "date" or not slot.working_day:
                continue
            first = today + timedelta(days=slot.min_days)
            last = today + timedelta(days=slot.max_days)
            years = cal.unpublished(first, last)
            if years:
                gaps.append(Gap(flow.id, name, last, tuple(years)))
    return gaps
