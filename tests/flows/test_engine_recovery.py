"""The engine recovering: a completion action that failed, and a saved state the flow no longer fits.

Every flow shape (with or without a confirmation, ticket or HTTP action, one step or branching
steps) must leave the citizen somewhere 「确认」 retries from, and no saved state may make a turn
raise — whatever step, slots or history it names.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flows import engine
from flows.registry import FlowRegistry
from flows.schema import CONFIRM_STEP, DONE, RETRY_STEP, SATISFACTION_STEP, Flow
from flows.state import FlowState, Snapshot
from handlers.ports import EndpointResult
from tests.flows.conftest import THURSDAY, RecordingServices

NUMBER = "SQ20261120000123"


def shape(*, confirm: bool, action: str, branching: bool) -> Flow:
    """A small flow of the given shape: a choice, then (when branching) a second step, then the action."""
    data: dict[str, Any] = {
        "id": "shape",
        "title": "测试事项",
        "version": "1",
        "slots": {
            "kind": {"type": "choice", "label": "类型", "prompt": "请选择类型",
                     "options": [{"value": "甲"}, {"value": "乙"}]},
            "number": {"type": "regex", "label": "受理编号", "prompt": "请输入受理编号",
                       "pattern": "(?:[A-Za-z]{1,3})?20\\d{10,16}"},
        },
        "steps": [{"id": "first", "ask": ["kind"], "next": "second"}, {"id": "second", "ask": ["number"]}]
        if branching
        else [{"id": "only", "ask": ["kind", "number"]}],
        "complete": {"replies": [{"text": "已办好：{kind} {number}"}]},
        "satisfaction": {},
    }
    if confirm:
        data["confirm"] = {"prompt": "请核对：{kind} {number}，回复「确认」提交。"}
    if action == "ticket":
        data["complete"]["action"] = {"type": "ticket"}
    elif action == "http":
        data["complete"]["action"] = {"type": "http", "endpoint": "progress"}
    return Flow.model_validate(data)


SHAPES = [
    pytest.param(confirm, action, branching, id=f"{'confirm' if confirm else 'no-confirm'}-{action}-"
                 f"{'branching' if branching else 'one-step'}")
    for confirm in (True, False)
    for action in ("ticket", "http")
    for branching in (True, False)
]


class Failing(RecordingServices):
    """Every action fails until `recover()`: the ticket store raises, the backend is down."""

    def __init__(self) -> None:
        super().__init__(endpoint=EndpointResult(False, {}, "unavailable"), ticket_error=RuntimeError("db down"))

    def recover(self) -> None:
        self.ticket_error = None
        self.endpoint = EndpointResult(True, {})


async def finish_filling(flow: Flow, services: RecordingServices) -> engine.Outcome:
    """Start with every fact in the first message; answer the confirmation if there is one."""
    out = await engine.start(flow, f"甲 {NUMBER}", THURSDAY, services)
    if out.state is not None and out.state.step == CONFIRM_STEP and flow.confirm is not None:
        out = await engine.advance(flow, out.state, "确认", THURSDAY, services)
    return out


@pytest.mark.parametrize(("confirm", "action", "branching"), SHAPES)
async def test_a_failed_action_leaves_the_flow_waiting_for_confirm(confirm: bool, action: str, branching: bool) -> None:
    flow = shape(confirm=confirm, action=action, branching=branching)
    out = await finish_filling(flow, Failing())
    assert out.state is not None and not out.resolved
    assert out.state.step == RETRY_STEP and engine.awaiting(out.state) == ["confirm"]
    assert "「确认」" in out.reply


@pytest.mark.parametrize(("confirm", "action", "branching"), SHAPES)
async def test_confirm_after_a_failed_action_retries_it(confirm: bool, action: str, branching: bool) -> None:
    flow = shape(confirm=confirm, action=action, branching=branching)
    services = Failing()
    failed = await finish_filling(flow, services)
    assert failed.state is not None
    services.recover()
    out = await engine.advance(flow, failed.state, "确认", THURSDAY, services)
    assert out.resolved and "已办好：甲" in out.reply
    assert out.state is not None and out.state.step == SATISFACTION_STEP


async def test_complaint_ticket_failure_then_confirm_files_the_complaint(registry: FlowRegistry) -> None:
    complaint = registry.current("complaint")
    assert complaint is not None
    services = RecordingServices(ticket_error=RuntimeError("db down"))
    start = await engine.start(complaint, "我要投诉", THURSDAY, services)
    assert start.state is not None
    failed = await engine.advance(
        complaint, start.state, "服务态度，三号窗口的工作人员一直玩手机不理人", THURSDAY, services
    )
    assert failed.state is not None and "「确认」" in failed.reply
    services.ticket_error = None
    out = await engine.advance(complaint, failed.state, "确认", THURSDAY, services)
    assert out.resolved and "20261126-0001" in out.reply
    assert services.tickets[0][2]["问题类别"] == "服务态度"


async def test_without_a_confirmation_the_retry_prompt_lists_what_was_entered(registry: FlowRegistry) -> None:
    complaint = registry.current("complaint")
    assert complaint is not None
    services = RecordingServices(ticket_error=RuntimeError("db down"))
    failed = await engine.start(complaint, "我要投诉，三号窗口的工作人员一直玩手机不理人", THURSDAY, services)
    assert failed.state is not None
    out = await engine.advance(complaint, failed.state, "嗯？", THURSDAY, services)
    assert "服务态度" in engine.current_prompt(complaint, failed.state, THURSDAY)
    assert out.state is not None and out.state.step == RETRY_STEP and "「确认」" in out.reply


async def test_a_correction_after_a_failed_action_is_taken_and_shown(registry: FlowRegistry) -> None:
    progress = registry.current("progress")
    assert progress is not None
    services = RecordingServices(endpoint=EndpointResult(False, {}, "timeout"))
    failed = await engine.start(progress, f"查询进度 {NUMBER}", THURSDAY, services)
    assert failed.state is not None
    out = await engine.advance(progress, failed.state, "编号改成SQ20261120000456", THURSDAY, services)
    assert out.state is not None and out.state.slots["number"] == "SQ20261120000456"
    assert "SQ20261120000456" in out.reply and "「确认」" in out.reply


async def test_a_state_left_at_done_by_an_older_version_is_retried_on_confirm(registry: FlowRegistry) -> None:
    complaint = registry.current("complaint")
    assert complaint is not None
    stuck = FlowState(
        flow_id="complaint", version=complaint.version, step=DONE,
        slots={"category": "服务态度", "description": "三号窗口的工作人员一直玩手机"},
        started_at=THURSDAY.timestamp(), updated_at=THURSDAY.timestamp(),
    )
    services = RecordingServices()
    out = await engine.advance(complaint, stuck, "确认", THURSDAY, services)
    assert out.resolved and len(services.tickets) == 1


async def test_a_state_on_a_removed_step_restarts_with_an_explanation(registry: FlowRegistry) -> None:
    booking = registry.current("booking")
    assert booking is not None
    gone = FlowState(
        flow_id="booking", version=booking.version, step="pick_window", slots={"business": "社保卡办理"},
        history=["collect"], started_at=THURSDAY.timestamp(), updated_at=THURSDAY.timestamp(),
    )
    out = await engine.advance(booking, gone, "明天上午", THURSDAY, RecordingServices())
    assert out.reply.startswith("「预约办事」的办理流程已更新")
    assert out.state is not None and out.state.step == booking.first_step
    assert out.state.slots == {"date": "2026-11-27", "period": "上午"}


STEPS = st.sampled_from(["collect", "entity", "sole_trader", "company", "ask_number", "gone", DONE,
                         CONFIRM_STEP, SATISFACTION_STEP])
NAMES = st.sampled_from(["business", "date", "name", "mobile", "entity_type", "premises", "number", "category",
                         "description", "contact", "removed", "satisfaction"])
TEXTS = st.sampled_from(["确认", "返回", "上一步", "重新开始", "取消", "1", "明天上午", "不对，改成下周三",
                         "张三 13812345678", "护照需要什么材料？", "啊？", "满意", "SQ20261120000123", "个体户"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    flow_id=st.sampled_from(["booking", "complaint", "progress", "business_licence"]),
    step=STEPS,
    slots=st.dictionaries(NAMES, st.sampled_from(["社保卡办理", "2026-11-27", "张三", "个体工商户", "x"]), max_size=4),
    history=st.lists(STEPS, max_size=3),
    awaiting=st.lists(NAMES, max_size=3),
    resolved=st.booleans(),
    text=TEXTS,
    undo=st.lists(st.builds(Snapshot, step=STEPS, slots=st.dictionaries(NAMES, st.just("张三"), max_size=2)),
                  max_size=2),
)
async def test_no_saved_state_makes_a_turn_raise(
    registry: FlowRegistry, flow_id: str, step: str, slots: dict[str, str], history: list[str],
    awaiting: list[str], resolved: bool, text: str, undo: list[Snapshot],
) -> None:
    flow = registry.current(flow_id)
    assert flow is not None
    state = FlowState(
        flow_id=flow_id, version=flow.version, step=step, slots=slots, history=history, awaiting=awaiting,
        asked=list(awaiting), resolved=resolved, undo=undo,
        started_at=THURSDAY.timestamp(), updated_at=THURSDAY.timestamp(),
    )
    out = await engine.advance(flow, state, text, THURSDAY, RecordingServices())
    if out.state is not None:
        assert out.state.step in {s.id for s in flow.steps} | {CONFIRM_STEP, RETRY_STEP, SATISFACTION_STEP}
        assert all(name in flow.slots for name in out.state.slots)
        assert out.reply or out.handoff
