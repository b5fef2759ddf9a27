"""`flows.consistency` and `wxbot flows check`: FAQ answers about a flow's rules agree with the flow."""

from __future__ import annotations

import shutil
from pathlib import Path

from typer.testing import CliRunner, Result

from app.cli import app
from flows.consistency import contradictions
from flows.registry import FlowRegistry
from tests.flows.conftest import FLOWS_DIR

KNOWLEDGE_DIR = FLOWS_DIR.parent / "knowledge"


def check(knowledge: Path) -> Result:
    # A day whose booking window stays within the published holiday schedule (flows.calendar).
    args = ["flows", "check", "--flows", str(FLOWS_DIR), "--knowledge", str(knowledge), "--today", "2026-11-20"]
    return CliRunner().invoke(app, args)


def test_a_booking_window_in_working_days_contradicts_calendar_days(registry: FlowRegistry) -> None:
    booking = registry.current("booking")
    assert booking is not None and booking.faq
    said = {booking.faq[0]: "· 可预约未来 7 个工作日内的时段。", booking.faq[1]: "· 可预约今天起 30 天内的工作日。"}
    found = contradictions(booking, said)
    assert len(found) == 1 and "7 个工作日" in found[0] and "30" in found[0]


def test_saturday_service_contradicts_a_working_days_only_date(registry: FlowRegistry) -> None:
    booking = registry.current("booking")
    assert booking is not None
    said = {faq_id: "周六上午 9:00–12:00 提供预约服务。" for faq_id in booking.faq}
    assert all("working days only" in c for c in contradictions(booking, said))
    closed = {faq_id: "周六、周日及法定节假日休息。" for faq_id in booking.faq}
    assert contradictions(booking, closed) == []


def test_an_entry_the_flow_names_must_exist(registry: FlowRegistry) -> None:
    booking = registry.current("booking")
    assert booking is not None
    assert any("not in the knowledge base" in c for c in contradictions(booking, {}))


def test_the_sample_faq_agrees_with_the_sample_flows() -> None:
    result = check(KNOWLEDGE_DIR)
    assert result.exit_code == 0, result.stderr


def test_flows_check_fails_on_a_contradiction_it_can_see(tmp_path: Path) -> None:
    knowledge = tmp_path / "knowledge"
    shutil.copytree(KNOWLEDGE_DIR, knowledge)
    hall = knowledge / "faq" / "dating.yaml"
    text = hall.read_text(encoding="utf-8").replace("可预约 30 天内的工作日", "可预约未来 7 个工作日")
    hall.write_text(text, encoding="utf-8")
    result = check(knowledge)
    assert result.exit_code == 1
    assert "dating-003" in result.stderr and "7 个工作日" in result.stderr
