"""Menu clicks reach flows, FAQ answers and category lists; agent-session events pause the bot."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import cast

import pytest

from flows.registry import FlowRegistry, load_flows
from handlers import events, faq, flow, handoff, router, texts
from handlers.context import HandlerContext, HandoffConfig, Turn, TurnResult
from handlers.messages import EventMessage, TextMessage
from handlers.ports import EndpointResult
from handlers.replies import NoReply, TextReply, TransferReply
from handlers.session import ClarifyOption, Session
from knowledge.matcher import Matcher

OPENID = "o_menu_user"
THURSDAY_10AM = datetime(2026, 11, 26, 10, 0, tzinfo=handoff.SHANGHAI)
THURSDAY_8PM = datetime(2026, 11, 26, 20, 0, tzinfo=handoff.SHANGHAI)


class NoServices:
    async def create_ticket(self, flow_id: str, openid: str, fields: Mapping[str, str]) -> str:
        raise AssertionError("menu clicks create no tickets themselves")

    async def call_endpoint(self, name: str, params: Mapping[str, str]) -> EndpointResult:
        raise AssertionError("menu clicks call no endpoints themselves")


SAMPLE_FLOWS = load_flows(Path(__file__).resolve().parents[2] / "flows")


def context(matcher: Matcher | None = None, flows: FlowRegistry | None = SAMPLE_FLOWS) -> HandlerContext:
    return HandlerContext(
        matcher=matcher, flows=flows, services=NoServices(), handoff=HandoffConfig(hours="09:00-17:30")
    )


NOW = THURSDAY_10AM


def text_message(content: str) -> TextMessage:
    return TextMessage(to_user="gh_test", from_user=OPENID, create_time=2, msg_type="text", msg_id="m", content=content)


def click(key: str, now: datetime = THURSDAY_10AM, session: Session | None = None) -> Turn:
    message = EventMessage(
        to_user="gh_test", from_user=OPENID, create_time=1, msg_type="event", event="click", event_key=key
    )
    return Turn(message=message, session=session or Session(openid=OPENID), now=now)


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Flow ids `handlers.flow.start` was asked to start; it answers as a started flow would."""
    calls: list[str] = []

    async def start(turn: Turn, ctx: HandlerContext, flow_id: str, text: str) -> TurnResult | None:
        calls.append(flow_id)
        if flow_id == "retired":
            return None
        return TurnResult(TextReply(f"开始办理 {flow_id}"), "flow", turn.session)

    monkeypatch.setattr(flow, "start", start)
    return calls


@pytest.fixture(scope="module")
def matcher(tmp_path_factory: pytest.TempPathFactory) -> Matcher:
    root = tmp_path_factory.mktemp("knowledge")
    (root / "faq").mkdir()
    lines = ["category: 社保", "entries:"]
    for i in range(1, 12):
        lines += [f"  - id: sb-{i:02d}", f"    question: 社保问题{i}", "    answer: 答案"]
    lines += ["  - id: sb-off", "    question: 已停用的问题", "    answer: 答案", "    enabled: false"]
    (root / "faq" / "shebao.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    (root / "faq" / "yibao.yaml").write_text(
        "category: 医保\nentries:\n  - id: yb-01\n    question: 医保卡怎么办\n    answer: 答案\n",
        encoding="utf-8",
    )
    return Matcher.from_directory(root)


async def test_flow_key_starts_that_flow(started: list[str]) -> None:
    result = await events.click(click("flow:booking"), context())
    assert started == ["booking"]
    assert result.reply == TextReply("开始办理 booking")


async def test_flow_key_of_an_unknown_flow_says_the_menu_is_not_ready(started: list[str]) -> None:
    result = await events.click(click("flow:retired"), context())
    assert result.reply == TextReply(texts.MENU_UNKNOWN)


async def test_key_a_flow_declares_starts_that_flow(started: list[str]) -> None:
    class Declared:
        id = "progress"

    class Registry:
        def by_menu_key(self, key: str) -> Declared | None:
            return Declared() if key == "V1001_PROGRESS" else None

    await events.click(click("V1001_PROGRESS"), context(flows=cast(FlowRegistry, Registry())))
    assert started == ["progress"]


async def test_faq_key_answers_that_entry_as_chosen_from_a_menu(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[str, bool]] = []

    def answer_entry(turn: Turn, ctx: HandlerContext, faq_id: str, *, via_menu: bool) -> TurnResult:
        asked.append((faq_id, via_menu))
        return TurnResult(TextReply("答案"), "faq", turn.session)

    monkeypatch.setattr(faq, "answer_entry", answer_entry)
    result = await events.click(click("faq:sb-03"), context())
    assert asked == [("sb-03", True)]
    assert result.route == "faq"


async def test_category_key_offers_its_active_questions_as_numbered_choices(matcher: Matcher) -> None:
    result = await events.click(click("cat:社保"), context(matcher=matcher))
    assert isinstance(result.reply, TextReply)
    lines = result.reply.content.splitlines()
    assert lines[1:4] == ["1. 社保问题1", "2. 社保问题2", "3. 社保问题3"]
    assert "已停用的问题" not in result.reply.content
    assert result.session is not None
    assert result.session.choices[0] == ClarifyOption(kind="faq", target="sb-01")


async def test_a_long_category_pages_through_every_entry_and_every_number_works(matcher: Matcher) -> None:
    ctx = context(matcher=matcher)
    first = await events.click(click("cat:社保"), ctx)
    assert isinstance(first.reply, TextReply) and first.session is not None
    shown = first.reply.content
    assert f"{events.CATEGORY_LIMIT}. " in shown and f"{events.CATEGORY_LIMIT + 1}. " not in shown
    assert "回复「更多」" in shown
    active = len(first.session.choices)
    assert active > events.CATEGORY_LIMIT
    more = await router.dispatch(Turn(text_message("更多"), first.session, NOW), ctx)
    assert isinstance(more.reply, TextReply) and more.session is not None
    assert f"{active}. " in more.reply.content and "已经是全部内容" not in more.reply.content
    picked = await router.dispatch(Turn(text_message(str(active)), more.session, NOW), ctx)
    assert isinstance(picked.reply, TextReply) and picked.route == "faq"


async def test_category_without_entries_says_the_menu_is_not_ready(matcher: Matcher) -> None:
    result = await events.click(click("cat:婚姻登记"), context(matcher=matcher))
    assert result.reply == TextReply(texts.MENU_UNKNOWN)


async def test_unknown_key_says_the_menu_is_not_ready() -> None:
    result = await events.click(click("V9999_NOTHING"), context())
    assert result.reply == TextReply(texts.MENU_UNKNOWN)
    assert result.route == "menu"


async def test_click_drops_the_previous_answers_choices_and_pages() -> None:
    session = Session(openid=OPENID, choices=[ClarifyOption(kind="faq", target="x")], more=["第二页"])
    result = await events.click(click("V9999_NOTHING", session=session), context())
    assert result.session is not None
    assert (result.session.choices, result.session.more) == ([], [])


async def test_services_key_shows_the_welcome_list() -> None:
    result = await events.click(click(events.SERVICES_KEY), context())
    assert result.reply == TextReply(texts.welcome())


async def test_handoff_key_in_hours_asks_for_a_message_not_a_transfer() -> None:
    result = await events.click(click(events.HANDOFF_KEY), context())
    assert result.reply == TextReply(handoff.ASK_BY_MESSAGE)


async def test_handoff_key_after_hours_offers_to_leave_a_message() -> None:
    result = await events.click(click(events.HANDOFF_KEY, now=THURSDAY_8PM), context())
    assert not isinstance(result.reply, TransferReply)
    assert result.session is not None
    assert result.session.choices == [ClarifyOption(kind="flow", target="complaint")]


async def test_agent_joining_sets_the_quiet_window() -> None:
    turn = click("")
    result = await events.kf_create_session(turn, context())
    assert result.reply == NoReply()
    assert result.session is not None
    assert result.session.handoff_until == THURSDAY_10AM.timestamp() + 30 * 60


async def test_agent_closing_clears_the_quiet_window() -> None:
    session = Session(openid=OPENID, handoff_until=THURSDAY_10AM.timestamp() + 600)
    result = await events.kf_close_session(click("", session=session), context())
    assert result.reply == NoReply()
    assert result.session is not None
    assert result.session.handoff_until == 0.0

