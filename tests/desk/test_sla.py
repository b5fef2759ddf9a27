"""SLA deadlines in service hours and working days, and the targets' configuration."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from app.desk import workflow
from app.desk.config import DeskConfigError, load_desk_config
from app.desk.sla import (
    SHANGHAI,
    SlaConfigError,
    SlaPolicy,
    Target,
    add_service_hours,
    add_working_days,
    parse_policy,
    time_left,
)

HOURS = "09:00-17:30"


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=SHANGHAI)  # type: ignore[misc]


def test_first_response_inside_service_hours_is_the_same_day() -> None:
    # Thursday 2026-12-03 10:00 + 1.8 h = 11:48
    assert add_service_hours(local(2026, 12, 3, 10, 0), 1.8, HOURS) == local(2026, 12, 3, 11, 48)


def test_first_response_rolls_over_the_evening() -> None:
    # Thursday 17:00: 30 minutes today, the remaining 1.3 h from Friday 09:00 → 10:18
    assert add_service_hours(local(2026, 12, 3, 17, 0), 1.8, HOURS) == local(2026, 12, 4, 10, 18)


def test_a_ticket_filed_on_friday_night_is_due_on_monday_morning() -> None:
    assert add_service_hours(local(2026, 12, 4, 22, 0), 1.8, HOURS) == local(2026, 12, 7, 10, 48)


def test_holidays_are_not_service_time() -> None:
    # 2026-10-01..07 is the National Day holiday; 2026-09-30 evening → the first working day after.
    due = add_service_hours(local(2026, 9, 30, 20, 0), 1.0, HOURS)
    assert due.date() > local(2026, 10, 7, 0, 0).date() and due.hour == 10


def test_resolution_counts_working_days() -> None:
    # Thursday + 5 working days = the next Thursday (Saturday and Sunday skipped).
    assert add_working_days(local(2026, 12, 3, 15, 0), 5) == local(2026, 12, 10, 15, 0)


def test_targets_are_chosen_most_specific_first() -> None:
    policy = parse_policy(
        {"default": {"response_hours": 2}, "投诉": {"resolve_days": 3}, "投诉/服务态度": {"response_hours": 1}},
        HOURS,
    )
    assert policy.target("投诉", "服务态度") == Target(1.0, 5)
    assert policy.target("投诉", "环境设施") == Target(2.0, 3)
    assert policy.target("预约", "") == Target(2.0, 5)


def test_the_defaults_are_1_8_service_hours_and_5_working_days() -> None:
    assert SlaPolicy().target("投诉", "") == Target(1.8, 5)


def test_a_bad_target_names_its_key() -> None:
    with pytest.raises(SlaConfigError, match=r"sla\.投诉\.resolve_days"):
        parse_policy({"投诉": {"resolve_days": 0}}, HOURS)


def test_the_desk_config_file_is_read_and_checked(tmp_path: Path) -> None:
    good = tmp_path / "desk.yaml"
    good.write_text(
        "sla:\n  投诉: {resolve_days: 3}\nnotify:\n  templates:\n"
        "    ticket: {template_id: abc, fields: {keyword1: '{number}'}}\n",
        encoding="utf-8",
    )
    config = load_desk_config(good, HOURS)
    assert config.sla.target("投诉", "").resolve_days == 3
    assert config.templates["ticket"].template_id == "abc"
    bad = tmp_path / "bad.yaml"
    bad.write_text("notify:\n  templates:\n    ticket: {fields: {a: b}}\n", encoding="utf-8")
    with pytest.raises(DeskConfigError, match="template_id"):
        load_desk_config(bad, HOURS)


def test_the_shipped_example_config_loads() -> None:
    config = load_desk_config(Path(__file__).parents[2] / "deploy" / "desk.yaml", HOURS)
    assert config.sla.target("预约", "").resolve_days == 2


def test_time_left_reads_naturally() -> None:
    now = local(2026, 12, 3, 10, 0)
    assert time_left(now + timedelta(hours=3, minutes=12), now) == "剩 3小时12分"
    assert time_left(now - timedelta(days=2, hours=4), now) == "超时 2天4小时"
    assert time_left(None, now) == ""


@pytest.mark.parametrize(
    ("flow", "fields", "kind"),
    [
        ("complaint", {"问题类别": "服务态度"}, "投诉"),
        ("complaint", {"问题类别": "意见建议"}, "建议"),
        ("booking", {"办理业务": "社保卡"}, "预约"),
        ("leave_message", {}, "留言"),
    ],
)
def test_the_kind_comes_from_the_flow(flow: str, fields: dict[str, str], kind: str) -> None:
    assert workflow.kind_of(flow, fields) == kind


def test_phones_are_masked_to_first_three_and_last_four() -> None:
    assert workflow.mask_phone("13812345678") == "138****5678"
    assert workflow.mask_phone("") == ""


def test_closed_tickets_can_only_be_reopened() -> None:
    assert workflow.can_move("新建", "已办结")
    assert not workflow.can_move("已办结", "新建")
    assert workflow.can_move("已办结", "办理中")
