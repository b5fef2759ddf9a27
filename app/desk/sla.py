"""Service-level targets: when a ticket must first be answered and when it must be closed.

Targets are per kind and category (`desk.yaml`, `sla:`), most specific first: `kind/category`,
then `kind`, then the defaults — a first response within 1.8 service hours (what citizens
expect, by the industry report behind issue 17) and resolution within 5 working days. Service
hours and working days are the hand-off's (SERVICE_HOURS and the official holiday calendar),
so a ticket filed on Friday evening is not late on Saturday morning.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from handlers.handoff import is_working_day, parse_hours

SHANGHAI = ZoneInfo("Asia/Shanghai")
DEFAULT_RESPONSE_HOURS = 1.8
DEFAULT_RESOLVE_DAYS = 5


@dataclass(frozen=True, slots=True)
class Target:
    response_hours: float = DEFAULT_RESPONSE_HOURS  # service hours
    resolve_days: int = DEFAULT_RESOLVE_DAYS  # working days


@dataclass(frozen=True, slots=True)
class SlaPolicy:
    service_hours: str = "09:00-17:30"
    default: Target = Target()
    # "投诉" or "投诉/服务态度" → target.
    overrides: Mapping[str, Target] = field(default_factory=dict)

    def target(self, kind: str, category: str) -> Target:
        return self.overrides.get(f"{kind}/{category}") or self.overrides.get(kind) or self.default

    def response_due(self, created: datetime, kind: str, category: str) -> datetime:
        return add_service_hours(created, self.target(kind, category).response_hours, self.service_hours)

    def resolve_due(self, created: datetime, kind: str, category: str) -> datetime:
        return add_working_days(created, self.target(kind, category).resolve_days)


class SlaConfigError(ValueError):
    """The `sla:` section of the desk configuration is malformed; the message names the key."""


def parse_policy(raw: Mapping[str, object] | None, service_hours: str) -> SlaPolicy:
    """`{"default": {"response_hours": 1.8, "resolve_days": 5}, "投诉/服务态度": {...}}`."""
    raw = raw or {}
    default = _target(raw.get("default"), Target(), "default")
    overrides = {str(key): _target(value, default, str(key)) for key, value in raw.items() if key != "default"}
    return SlaPolicy(service_hours=service_hours, default=default, overrides=overrides)


def _target(value: object, base: Target, key: str) -> Target:
    if value is None:
        return base
    if not isinstance(value, Mapping):
        raise SlaConfigError(f"sla.{key}: expected response_hours and/or resolve_days")
    hours = value.get("response_hours", base.response_hours)
    days = value.get("resolve_days", base.resolve_days)
    if not isinstance(hours, int | float) or hours <= 0:
        raise SlaConfigError(f"sla.{key}.response_hours must be a positive number")
    if not isinstance(days, int) or days <= 0:
        raise SlaConfigError(f"sla.{key}.resolve_days must be a positive whole number")
    return Target(float(hours), days)


def add_service_hours(start: datetime, hours: float, spec: str) -> datetime:
    """`start` plus `hours` counted only inside service hours on working days."""
    window = parse_hours(spec)
    if window is None:
        return start + timedelta(hours=hours)
    open_t, close_t = window
    left = timedelta(hours=hours)
    local = start.astimezone(SHANGHAI)
    for _ in range(400):  # a year of days is far beyond any target
        day = local.date()
        opening = datetime.combine(day, open_t, tzinfo=SHANGHAI)
        closing = datetime.combine(day, close_t, tzinfo=SHANGHAI)
        if is_working_day(day) and local < closing:
            begin = max(local, opening)
            if begin + left <= closing:
                return (begin + left).astimezone(start.tzinfo)
            left -= closing - begin
        local = datetime.combine(day + timedelta(days=1), open_t, tzinfo=SHANGHAI)
    return (local + left).astimezone(start.tzinfo)


def add_working_days(start: datetime, days: int) -> datetime:
    """The same clock time `days` working days later (weekends and holidays skipped)."""
    local = start.astimezone(SHANGHAI)
    counted = 0
    day = local.date()
    while counted < days:
        day += timedelta(days=1)
        if is_working_day(day):
            counted += 1
    return datetime.combine(day, local.timetz()).astimezone(start.tzinfo)


def time_left(due: datetime | None, now: datetime) -> str:
    """「剩 3小时12分」 / 「超时 2天4小时」 for the queue; empty without a deadline."""
    if due is None:
        return ""
    seconds = int((due - now).total_seconds())
    prefix = "剩" if seconds >= 0 else "超时"
    seconds = abs(seconds)
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    if days:
        return f"{prefix} {days}天{hours}小时"
    if hours:
        return f"{prefix} {hours}小时{minutes}分"
    return f"{prefix} {minutes}分"
