"""A slow or failing flow backend, and a slow or failing WeChat API for late replies.

The citizen always gets a clear message or a late reply, and no callback is held past the reply
deadline (every response is timed). Backend: a real HTTP server on 127.0.0.1 that answers slowly,
answers 500, or refuses connections. WeChat: the fake's delay and error knobs on the
customer-service message that carries a late reply; the turn log records how that went.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy import select

from app.db.engine import make_engine
from app.db.models import TurnRow
from app.settings import DEV_PSEUDONYM_KEY
from app.turnlog.privacy import pseudonym
from flows.registry import FlowRegistry, load_flows
from flows.schema import Flow
from tests.faults.conftest import Desk
from tests.faults.service import Reply, Wire

pytestmark = pytest.mark.slow

NUMBER = "SQ20261120000123"
# Allowance over the deadline for the HTTP round trip on a busy 2-core machine.
MARGIN_S = 0.5


@pytest.fixture
def registry(desk: Desk) -> FlowRegistry:
    return load_flows(desk.flows_dir)


def flow(registry: FlowRegistry, flow_id: str) -> Flow:
    found = registry.get(flow_id, "1")
    assert found is not None, f"fixture flow {flow_id} is missing"
    return found


def text_for(template: str | None) -> str:
    assert template
    return template.replace("{number}", NUMBER)


def ask(wire: Wire, openid: str, flow: Flow) -> Reply:
    """Start `flow` with its first trigger phrase and answer its one question."""
    started = wire.say(openid, flow.triggers.phrases[0])
    assert flow.slots["number"].prompt in started.content
    return wire.say(openid, NUMBER)


def eventually(check: Callable[[], Any], within_s: float) -> Any:
    deadline = time.monotonic() + within_s
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.1)


def late_row(desk: Desk, openid: str, within_s: float) -> TurnRow | None:
    """The user's late-reply row, once the late turn has finished and the writer stored it."""
    user = pseudonym(DEV_PSEUDONYM_KEY.encode(), openid)
    engine = make_engine(desk.database_url)

    def find() -> TurnRow | None:
        with engine.connect() as conn:
            row = conn.execute(select(TurnRow).where(TurnRow.user_id == user, TurnRow.route == "late")).first()
        return row  # type: ignore[return-value]

    try:
        return eventually(find, within_s)  # type: ignore[no-any-return]
    finally:
        engine.dispose()


def sent_to(desk: Desk, openid: str) -> list[str]:
    return [m["text"]["content"] for m in desk.wechat.sent if m.get("touser") == openid and m.get("msgtype") == "text"]


@pytest.fixture
def refused(desk: Desk) -> Iterator[None]:
    desk.backend.stop()
    yield
    desk.backend.start()


def test_backend_slower_than_its_timeout_is_answered_with_the_timeout_text(
    desk: Desk, wire: Wire, registry: FlowRegistry
) -> None:
    progress = flow(registry, "progress")
    desk.backend.behave("slow", delay_s=3.0)
    reply = ask(wire, "o-slow-backend", progress)
    assert reply.content == text_for(progress.complete.timeout)
    assert reply.seconds < desk.deadline_s


def test_backend_answering_500_is_answered_with_the_unavailable_text(
    desk: Desk, wire: Wire, registry: FlowRegistry
) -> None:
    progress = flow(registry, "progress")
    desk.backend.behave("error")
    reply = ask(wire, "o-500-backend", progress)
    assert reply.content == text_for(progress.complete.unavailable)
    assert reply.seconds < desk.deadline_s


@pytest.mark.usefixtures("refused")
def test_backend_refusing_connections_is_answered_with_the_unavailable_text(
    desk: Desk, wire: Wire, registry: FlowRegistry
) -> None:
    progress = flow(registry, "progress")
    reply = ask(wire, "o-refused-backend", progress)
    assert reply.content == text_for(progress.complete.unavailable)
    assert reply.seconds < desk.deadline_s


def test_backend_slower_than_the_deadline_answers_late_through_wechat(
    desk: Desk, wire: Wire, registry: FlowRegistry
) -> None:
    archive = flow(registry, "archive")
    desk.backend.behave("slow", delay_s=desk.deadline_s + 1.0)
    started = wire.say("o-late", archive.triggers.phrases[0])
    assert archive.slots["number"].prompt in started.content
    delivery = wire.sim.text("o-late", NUMBER)
    first = wire.deliver(delivery)
    # WeChat retries a delivery it got no answer for; the retry must not wait for the turn either.
    retry = wire.deliver(delivery)

    assert first.is_success and first.seconds < desk.deadline_s + MARGIN_S
    assert retry.is_success and retry.seconds < MARGIN_S
    late = eventually(lambda: sent_to(desk, "o-late"), 5.0)
    expected = text_for(archive.complete.replies[0].text)
    for field, value in desk.backend.record(NUMBER).items():
        expected = expected.replace(f"{{result.{field}}}", value)
    assert late == [expected]
    row = late_row(desk, "o-late", 5.0)
    assert row is not None and (row.outcome, row.late_detail) == ("late", "sent")
    assert len(desk.backend.calls) == 1, "the retry ran the turn a second time"


def test_slow_wechat_fails_the_late_reply_without_holding_up_anyone(
    desk: Desk, wire: Wire, registry: FlowRegistry
) -> None:
    archive = flow(registry, "archive")
    desk.backend.behave("slow", delay_s=desk.deadline_s + 0.5)
    # Longer than the client's 3 s timeout for one WeChat call.
    desk.wechat.delay("custom_send", 4.0)
    wire.say("o-slow-wechat", archive.triggers.phrases[0])
    reply = wire.say("o-slow-wechat", NUMBER)
    assert reply.is_success and reply.seconds < desk.deadline_s + MARGIN_S
    # While the late reply waits on WeChat, other citizens are answered as usual.
    others = [wire.say(f"o-slow-wechat-other-{n}", "政务服务大厅几点开门") for n in range(3)]
    assert all(r.content and r.seconds < desk.deadline_s / 2 for r in others)

    row = late_row(desk, "o-slow-wechat", 10.0)
    assert row is not None and (row.outcome, row.late_detail) == ("failed", "timeout")


@pytest.mark.parametrize(
    ("knob", "detail"),
    [
        (lambda wechat: wechat.fail_next("custom_send", 45015), "45015"),  # the 48 h window closed
        (lambda wechat: wechat.http_error_next("custom_send", 502), "http_502"),
    ],
    ids=["window-closed", "http-502"],
)
def test_failing_wechat_is_recorded_on_the_late_reply(
    desk: Desk, wire: Wire, registry: FlowRegistry, knob: Callable[[Any], None], detail: str
) -> None:
    archive = flow(registry, "archive")
    desk.backend.behave("slow", delay_s=desk.deadline_s + 0.5)
    knob(desk.wechat)
    openid = f"o-failing-wechat-{detail}"
    wire.say(openid, archive.triggers.phrases[0])
    reply = wire.say(openid, NUMBER)
    assert reply.is_success and reply.seconds < desk.deadline_s + MARGIN_S

    row = late_row(desk, openid, 8.0)
    assert row is not None and (row.outcome, row.late_detail) == ("failed", detail)
    # The next message is served normally: nothing of the failure sticks to the user.
    desk.backend.behave("ok")
    again = wire.say(openid, archive.triggers.phrases[0])
    assert archive.slots["number"].prompt in again.content
