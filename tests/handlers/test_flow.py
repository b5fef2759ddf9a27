"""Flow turns through `handlers.router.dispatch`, with the sample flows and recording services."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from flows.registry import FlowRegistry, load_flows
from flows.state import FlowState
from handlers import router
from handlers.context import HandlerContext, Turn, TurnResult
from handlers.messages import EventMessage, Inbound, TextMessage
from handlers.replies import TextReply, TransferReply
from handlers.session import Session
from knowledge.matcher import Matcher
from knowledge.normalize import Vocabulary
from knowledge.schema import FaqEntry, KnowledgeBase
from tests.flows.conftest import FLOWS_DIR, THURSDAY, RecordingServices

OPENID = "o_flow_user"


@pytest.fixture(scope="module")
def registry() -> FlowRegistry:
    return load_flows(FLOWS_DIR)


def matcher_of(entries: tuple[FaqEntry, ...]) -> Matcher:
    """A matcher over just these entries."""
    return Matcher(KnowledgeBase(directory=Path("."), entries=entries, vocabulary=Vocabulary()))


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    entries = (
        FaqEntry(
            id="booking_materials",
            category="预约",
            question="预约办事需要带什么材料",
            similar=("预约需要带什么材料", "预约去大厅要带什么"),
            answer="预约办事请携带本人身份证原件及业务所需材料。",
        ),
        FaqEntry(
            id="passport_first",
            category="出入境",
            question="第一次办护照需要什么材料",
            similar=("首次申请护照要带什么",),
            answer="首次申请护照请携带本人身份证原件。",
        ),
        FaqEntry(
            id="passport_minor",
            category="出入境",
            question="未成年人怎么办护照",
            similar=("小孩办护照",),
            answer="未成年人申请护照需由监护人陪同。",
        ),
        FaqEntry(
            id="passport_lost",
            category="出入境",
            question="护照丢了怎么补办",
            similar=("护照遗失补办",),
            answer="护照遗失请先到出入境窗口挂失。",
        ),
        FaqEntry(
            id="marriage_booking",
            category="婚姻登记",
            question="结婚登记需要预约吗",
            similar=("领结婚证要不要预约",),
            answer="结婚登记实行预约办理，可在本号预约，也可现场取号。",
        ),
        FaqEntry(
            id="fund_withdrawal",
            category="公积金",
            question="公积金提取申请多久能批下来",
            similar=("公积金提取要审批多久",),
            answer="公积金提取申请一般3个工作日内审批。",
        ),
        FaqEntry(
            id="company_setup",
            category="企业开办",
            question="开办企业需要哪些手续",
            similar=("开公司要办哪些手续",),
            answer="企业开办全程网上办理。",
        ),
        FaqEntry(
            id="hall_hours",
            category="大厅",
            question="政务大厅几点上班",
            similar=("大厅办公时间", "你们几点开门"),
            answer="市政务服务中心周一至周五 9:00-17:00 办公。",
        ),
    )
    return matcher_of(entries)


class Chat:
    """One citizen talking to the router; the session carries over like the store would keep it."""

    def __init__(self, registry: FlowRegistry, matcher: Matcher | None = None) -> None:
        self.services = RecordingServices()
        self.ctx = HandlerContext(matcher=matcher, flows=registry, services=self.services)
        self.session = Session(openid=OPENID)
        self.now = THURSDAY

    async def send(self, message: Inbound) -> TurnResult:
        result = await router.dispatch(Turn(message, self.session, self.now), self.ctx)
        self.session = result.session or Session(openid=OPENID)
        return result

    async def say(self, content: str) -> TurnResult:
        return await self.send(
            TextMessage(to_user="gh_test", from_user=OPENID, create_time=1, msg_type="text", content=content)
        )


def text_of(result: TurnResult) -> str:
    assert isinstance(result.reply, TextReply), result.reply
    return result.reply.content


async def test_booking_example_starts_with_three_slots_filled(registry: FlowRegistry) -> None:
    chat = Chat(registry)
    result = await chat.say("我想预约明天上午去办社保卡")
    assert result.route == "flow"
    assert result.meta.flow_id == "booking" and result.meta.step == "collect"
    assert chat.session.flow is not None
    assert chat.session.flow.slots == {"business": "社保卡办理", "date": "2026-11-27", "period": "上午"}
    assert chat.session.flow.awaiting == ["name", "mobile"]


async def test_a_whole_booking_is_resolved_and_rated(registry: FlowRegistry) -> None:
    chat = Chat(registry)
    await chat.say("我想预约明天上午去办社保卡")
    await chat.say("张三 13812345678")
    done = await chat.say("确认")
    assert done.meta.resolved and "20261126-0001" in text_of(done)
    assert chat.services.tickets[0][0:2] == ("booking", OPENID)
    assert chat.session.awaiting_satisfaction == "booking"
    rated = await chat.say("满意")
    assert rated.meta.satisfaction == "满意" and rated.meta.flow_id == "booking"
    assert chat.session.flow is None and chat.session.awaiting_satisfaction == ""


async def test_welcome_menu_digit_starts_a_flow(registry: FlowRegistry) -> None:
    chat = Chat(registry)
    await chat.send(
        EventMessage(to_user="gh_test", from_user=OPENID, create_time=1, msg_type="event", event="subscribe")
    )
    result = await chat.say("3")
    assert result.meta.flow_id == "complaint" and "问题类别" in text_of(result)


async def test_a_welcome_menu_number_sent_first_starts_that_service(registry: FlowRegistry) -> None:
    # A follower who saw the welcome menu long ago (or on another day) sends 「2」 to a new session.
    result = await Chat(registry).say("2")
    assert result.meta.flow_id == "progress"


async def test_menu_click_starts_the_flow(registry: FlowRegistry) -> None:
    chat = Chat(registry)
    click = EventMessage(
        to_user="gh_test", from_user=OPENID, create_time=1, msg_type="event", event="click", event_key="flow:progress"
    )
    result = await chat.send(click)
    assert result.meta.flow_id == "progress" and "受理编号" in text_of(result)


async def test_faq_question_mid_flow_is_answered_and_the_prompt_repeated(
    registry: FlowRegistry, matcher: Matcher
) -> None:
    chat = Chat(registry, matcher)
    await chat.say("我想预约明天上午去办社保卡")
    result = await chat.say("你们几点开门？")
    content = text_of(result)
    assert content.startswith("市政务服务中心周一至周五")
    assert "预约人姓名" in content and result.route == "flow"
    assert chat.session.flow is not None and chat.session.flow.awaiting == ["name", "mobile"]


async def test_a_question_naming_a_flow_goes_to_the_faq_when_it_has_the_answer(
    registry: FlowRegistry, matcher: Matcher
) -> None:
    chat = Chat(registry, matcher)
    result = await chat.say("预约需要带什么材料？")
    assert result.meta.flow_id == "" and chat.session.flow is None


@pytest.mark.parametrize("text", ["结婚证要预约吗", "领结婚证需不需要预约"])
async def test_asking_whether_booking_is_required_is_answered_not_booked(
    registry: FlowRegistry, matcher: Matcher, text: str
) -> None:
    chat = Chat(registry, matcher)
    result = await chat.say(text)
    assert result.meta.faq_id == "marriage_booking" and chat.session.flow is None


async def test_asking_to_book_with_a_question_mark_still_books(registry: FlowRegistry, matcher: Matcher) -> None:
    chat = Chat(registry, matcher)
    await chat.say("能帮我预约一下婚姻登记吗")
    assert chat.session.flow is not None and chat.session.flow.flow_id == "booking"


async def test_handoff_mid_flow_transfers(registry: FlowRegistry) -> None:
    chat = Chat(registry)
    await chat.say("我想预约明天上午去办社保卡")
    result = await chat.say("人工")
    assert result.route == "handoff" and isinstance(result.reply, TransferReply)


async def test_an_expired_flow_is_announced_and_the_message_handled_afresh(registry: FlowRegistry) -> None:
    chat = Chat(registry)
    await chat.say("我想预约明天上午去办社保卡")
    chat.now = THURSDAY + timedelta(minutes=45)
    result = await chat.say("我要投诉，三号窗口的工作人员态度很差")
    content = text_of(result)
    assert content.startswith("您好，您之前办理的「预约办事」超过30分钟没有继续")
    assert result.meta.flow_id == "complaint"


async def test_a_session_on_an_unknown_version_restarts_with_an_explanation(registry: FlowRegistry) -> None:
    chat = Chat(registry)
    chat.session.flow = FlowState(
        flow_id="booking",
        version="0",
        step="collect",
        slots={"business": "社保卡办理"},
        started_at=THURSDAY.timestamp(),
        updated_at=THURSDAY.timestamp(),
    )
    result = await chat.say("明天上午")
    assert text_of(result).startswith("「预约办事」的办理流程刚刚更新")
    assert chat.session.flow is not None and chat.session.flow.version == "1"
    assert chat.session.flow.slots == {"date": "2026-11-27", "period": "上午"}


async def test_a_session_on_an_older_kept_version_finishes_on_it(tmp_path: Path) -> None:
    directory = tmp_path / "flows"
    directory.mkdir()
    for path in FLOWS_DIR.glob("*.yaml"):
        (directory / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    first = load_flows(directory)
    chat = Chat(first)
    await chat.say("我想预约明天上午去办社保卡")
    booking = directory / "booking.yaml"
    text = booking.read_text(encoding="utf-8").replace("version: 1", "version: 2").replace("预约成功！", "已约好！")
    booking.write_text(text, encoding="utf-8")
    chat.ctx.flows = load_flows(directory, previous=first)
    done = await chat.say("张三 13812345678")
    assert "预约成功！" in text_of(done)


async def test_a_retired_flow_is_announced(registry: FlowRegistry) -> None:
    chat = Chat(registry)
    chat.session.flow = FlowState(
        flow_id="parking", version="1", step="ask", started_at=THURSDAY.timestamp(), updated_at=THURSDAY.timestamp()
    )
    result = await chat.say("你好")
    assert "已暂停服务" in text_of(result) and chat.session.flow is None


async def test_another_flow_asked_for_mid_flow_takes_over(registry: FlowRegistry) -> None:
    chat = Chat(registry)
    await chat.say("我想预约明天上午去办社保卡")
    result = await chat.say("算了，我想查一下办件进度")
    assert result.meta.flow_id == "progress"
    assert text_of(result).startswith("已结束「预约办事」，为您办理「办件进度查询」")


async def test_unrelated_message_after_the_rating_question_is_routed_normally(registry: FlowRegistry) -> None:
    chat = Chat(registry)
    await chat.say("我想开个网店，个体户营业执照怎么办")
    assert chat.session.awaiting_satisfaction == "business_licence"
    result = await chat.say("我要投诉，停车场太难找车位了")
    assert result.meta.flow_id == "complaint" and chat.session.awaiting_satisfaction == "complaint"


async def test_cancel_clears_the_flow_from_the_session(registry: FlowRegistry) -> None:
    chat = Chat(registry)
    await chat.say("我要预约")
    result = await chat.say("取消")
    assert result.route == "flow" and chat.session.flow is None


async def test_without_flows_loaded_text_goes_to_the_faq() -> None:
    ctx = HandlerContext(matcher=None, flows=None, services=RecordingServices())
    message = TextMessage(to_user="gh_test", from_user=OPENID, create_time=1, msg_type="text", content="我要预约")
    result = await router.dispatch(Turn(message, Session(openid=OPENID), datetime.now(THURSDAY.tzinfo)), ctx)
    assert result.meta.flow_id == ""


# The fixture matcher is unsure which passport entry this means: it offers a menu (decision "clarify").
UNSURE = "护照怎么办？"


async def test_a_question_the_faq_is_unsure_about_mid_flow_gets_its_menu_and_the_prompt_again(
    registry: FlowRegistry, matcher: Matcher
) -> None:
    assert matcher.match(UNSURE, THURSDAY.date()).decision == "clarify"
    chat = Chat(registry, matcher)
    await chat.say("我要预约办社保卡")
    result = await chat.say(UNSURE)
    content = text_of(result)
    assert "您是不是想问" in content and "1. " in content and "未成年人怎么办护照" in content
    assert content.index("您是不是想问") < content.index("我们继续办理「预约办事」") < content.index("预约日期")
    assert "没能识别" not in content and "没有识别" not in content
    assert chat.session.flow is not None and chat.session.flow.attempts == {}
    assert [c.kind for c in chat.session.choices] == ["faq"] * 3


async def test_a_digit_after_the_mid_flow_menu_answers_that_entry_and_the_flow_goes_on(
    registry: FlowRegistry, matcher: Matcher
) -> None:
    chat = Chat(registry, matcher)
    await chat.say("我要预约办社保卡")
    before = chat.session.flow
    menu = await chat.say(UNSURE)
    picked = next(i for i, line in enumerate(text_of(menu).splitlines()) if "护照丢了怎么补办" in line)
    result = await chat.say(text_of(menu).splitlines()[picked].split(".")[0])
    content = text_of(result)
    assert "护照遗失请先到出入境窗口挂失。" in content
    assert "我们继续办理「预约办事」" in content and "预约日期" in content
    assert chat.session.flow is not None and before is not None
    assert chat.session.flow.slots == before.slots and chat.session.flow.awaiting == before.awaiting


async def test_while_a_choice_is_asked_the_faq_menu_has_no_digits_and_a_digit_answers_the_flow(
    registry: FlowRegistry, matcher: Matcher
) -> None:
    chat = Chat(registry, matcher)
    await chat.say("营业执照办理指引")
    menu = text_of(await chat.say(UNSURE))
    assert "未成年人怎么办护照" in menu and "1. 未成年人" not in menu and "1. 个体工商户" in menu
    assert chat.session.choices == []
    await chat.say("2")
    assert chat.session.flow is not None and chat.session.flow.slots == {"entity_type": "有限责任公司"}


async def test_a_question_nobody_can_answer_mid_flow_never_costs_an_attempt(
    registry: FlowRegistry, matcher: Matcher
) -> None:
    chat = Chat(registry, matcher)
    await chat.say("我想预约明天上午去办社保卡，我叫张三")
    for question in ["周六能办吗？", "那里有没有复印的地方", "怎么走比较近"]:
        content = text_of(await chat.say(question))
        assert "没能识别" not in content and "手机号码" in content
    assert chat.session.flow is not None and chat.session.flow.attempts == {}


async def test_a_business_and_a_date_start_a_booking_without_the_word_booking(registry: FlowRegistry) -> None:
    chat = Chat(registry)
    result = await chat.say("想下周三下午去办下居住证")
    assert result.meta.flow_id == "booking" and chat.session.flow is not None
    assert chat.session.flow.slots == {"business": "居住证办理", "date": "2026-12-02", "period": "下午"}


async def test_a_question_naming_a_business_and_a_date_is_not_a_booking(registry: FlowRegistry) -> None:
    chat = Chat(registry)
    result = await chat.say("居住证下周三能办好吗？")
    assert result.meta.flow_id == "" and chat.session.flow is None


async def test_asking_which_licence_a_shop_needs_starts_the_licence_guide(registry: FlowRegistry) -> None:
    chat = Chat(registry)
    result = await chat.say("我想开个奶茶店，要办什么执照")
    assert result.meta.flow_id == "business_licence"


async def test_a_bare_application_number_is_looked_up(registry: FlowRegistry) -> None:
    chat = Chat(registry)
    result = await chat.say("SQ20261120000125")
    assert result.meta.flow_id == "progress" and result.meta.resolved
    assert chat.services.calls == [("progress", {"number": "SQ20261120000125"})]


async def test_a_question_a_lookup_flow_exists_for_is_looked_up_not_answered_from_the_faq(
    registry: FlowRegistry, matcher: Matcher
) -> None:
    chat = Chat(registry, matcher)
    result = await chat.say("公积金提取申请批下来了吗")
    assert result.meta.flow_id == "progress"


async def test_a_question_a_guidance_flow_answers_gets_the_guidance(registry: FlowRegistry, matcher: Matcher) -> None:
    chat = Chat(registry, matcher)
    result = await chat.say("开办企业需要哪些手续")
    assert result.meta.flow_id == "business_licence"


async def test_a_question_about_the_business_already_chosen_still_gets_the_faq_menu(
    registry: FlowRegistry, matcher: Matcher
) -> None:
    chat = Chat(registry, matcher)
    await chat.say("我想预约办护照")
    content = text_of(await chat.say(UNSURE))
    assert "您是不是想问" in content and "已记录" not in content
    assert len(chat.session.choices) == 3


async def test_an_faq_answer_describing_a_service_offers_to_start_it(registry: FlowRegistry) -> None:
    progress = registry.current("progress")
    assert progress is not None and progress.faq
    entries = (
        FaqEntry(id=progress.faq[0], category="大厅", question="回执单丢了怎么办", similar=(), answer="请到窗口查询。"),
    )
    chat = Chat(registry, matcher_of(entries))
    answered = await chat.say("回执单丢了怎么办")
    assert answered.route == "faq" and "需要现在办理「办件进度查询」吗" in text_of(answered)
    assert "回复 1" in text_of(answered)
    started = await chat.say("1")
    assert started.meta.flow_id == "progress" and chat.session.flow is not None


# Issue 13: a service whose first question is one fact asks it in the offer itself, so the answer
# is the next message instead of 「1」 and then the answer.
async def test_an_offered_service_asks_its_one_question_and_takes_the_answer(registry: FlowRegistry) -> None:
    progress = registry.current("progress")
    assert progress is not None and progress.faq
    entries = (
        FaqEntry(id=progress.faq[0], category="大厅", question="回执单丢了怎么办", similar=(), answer="请到窗口查询。"),
    )
    chat = Chat(registry, matcher_of(entries))
    answered = await chat.say("回执单丢了怎么办")
    assert progress.slots["number"].prompt in text_of(answered)
    looked_up = await chat.say("SQ20261120000125")
    assert looked_up.meta.flow_id == "progress" and looked_up.meta.resolved
    assert chat.services.calls == [("progress", {"number": "SQ20261120000125"})]


async def test_a_service_asking_several_facts_is_offered_by_number(registry: FlowRegistry) -> None:
    booking = registry.current("booking")
    assert booking is not None and booking.faq
    entries = (FaqEntry(id=booking.faq[0], category="大厅", question="大厅几点上班", similar=(), answer="9点。"),)
    chat = Chat(registry, matcher_of(entries))
    answered = await chat.say("大厅几点上班")
    assert "需要现在办理吗？请回复数字：\n1. 预约办事" in text_of(answered)


async def test_a_question_that_says_the_citizen_means_to_come_offers_the_booking(registry: FlowRegistry) -> None:
    # 「…想去大厅补办」: the FAQ answers how, and the booking (`triggers.offer_when`) is offered after it,
    # carrying the business the answered question names.
    entries = (
        FaqEntry(id="shebao-x", category="社保", question="社保卡丢了怎么补办", similar=(), answer="先挂失再补办。"),
    )
    chat = Chat(registry, matcher_of(entries))
    answered = await chat.say("社保卡丢了怎么补办 想去大厅补办")
    assert "先挂失再补办" in text_of(answered) and "1. 预约办事" in text_of(answered)
    started = await chat.say("1")
    assert started.meta.flow_id == "booking" and "办理业务 社保卡办理" in text_of(started)
    plain = Chat(registry, chat.ctx.matcher)
    assert "预约办事" not in text_of(await plain.say("社保卡丢了怎么补办"))
    # 「能在这换吗」「去办…」: meaning to come here, too.
    for said in ("社保卡丢了怎么补办 能在这办吗", "社保卡丢了怎么补办 去办要带啥"):
        assert "1. 预约办事" in text_of(await Chat(registry, chat.ctx.matcher).say(said))


@pytest.mark.parametrize(
    ("entry", "said", "plain"),
    [
        # 「补社保卡」: how to, and the booking to do it; the question itself gets the answer alone.
        (("社保卡丢了怎么补办", "补社保卡", "先挂失再补办。"), "补社保卡", "社保卡丢了怎么补办"),
        # 「…要预约么」: answered by the entry on replacing the certificate, and the booking offered.
        (("结婚证丢了怎么补办", "结婚证丢了想补一个要预约么", "到婚姻登记处补领。"), "结婚证丢了想补一个 要预约么", ""),
    ],
)
async def test_an_answer_to_a_business_alone_or_to_asking_about_booking_offers_it(
    registry: FlowRegistry, entry: tuple[str, str, str], said: str, plain: str
) -> None:
    question, similar, answer = entry
    entries = (FaqEntry(id="x", category="大厅", question=question, similar=(similar,), answer=answer),)
    chat = Chat(registry, matcher_of(entries))
    answered = text_of(await chat.say(said))
    assert answer in answered and "1. 预约办事" in answered
    if plain:
        assert "预约办事" not in text_of(await Chat(registry, chat.ctx.matcher).say(plain))


async def test_meaning_to_come_about_a_business_no_answer_covers_starts_the_booking(registry: FlowRegistry) -> None:
    # Nothing in the FAQ answers 「社保卡要年审还是啥的」, but the citizen means to come about a
    # business the booking takes: the booking starts with it, instead of the fallback.
    entries = (FaqEntry(id="hours", category="大厅", question="大厅几点上班", similar=(), answer="9点。"),)
    chat = Chat(registry, matcher_of(entries))
    started = await chat.say("我今年六十多了 不太会弄这个 社保卡要年审还是啥的 想去大厅问问")
    assert started.meta.flow_id == "booking" and "办理业务 社保卡办理" in text_of(started)
    # Without a business the booking takes, or without meaning to come, the FAQ has its say.
    assert (await Chat(registry, chat.ctx.matcher).say("想去大厅问问那个事")).meta.flow_id != "booking"
    assert (await Chat(registry, chat.ctx.matcher).say("社保卡要年审还是啥的")).meta.flow_id != "booking"
    # A story of what happened is no visit to come.
    story = await Chat(registry, chat.ctx.matcher).say("上个月我爸去办社保卡 腿脚不好")
    assert story.meta.flow_id != "booking"


async def test_asking_whether_a_business_done_elsewhere_can_be_booked_here_gets_where(registry: FlowRegistry) -> None:
    # The FAQ knows about vehicle inspections, but the question is whether we book them: the
    # booking says plainly it does not, and where it is done.
    entries = (FaqEntry(id="car", category="交通", question="车辆年检怎么办理", similar=(), answer="到检测站检测。"),)
    chat = Chat(registry, matcher_of(entries))
    reply = text_of(await chat.say("我车要年检了 能在你们这预约吗"))
    assert "不在本号预约" in reply and "12123" in reply
    assert "到检测站检测" in text_of(await Chat(registry, chat.ctx.matcher).say("车辆年检怎么办理"))


async def test_something_else_after_an_offer_is_routed_as_usual(registry: FlowRegistry) -> None:
    progress = registry.current("progress")
    assert progress is not None and progress.faq
    entries = (
        FaqEntry(id=progress.faq[0], category="大厅", question="回执单丢了怎么办", similar=(), answer="请到窗口查询。"),
    )
    chat = Chat(registry, matcher_of(entries))
    await chat.say("回执单丢了怎么办")
    result = await chat.say("我要投诉，停车场太难找车位了")
    assert result.meta.flow_id == "complaint"


# Issue 13: what the FAQ exchange established is carried into the service it leads to.
async def test_the_business_of_the_question_just_answered_is_not_asked_again(
    registry: FlowRegistry, matcher: Matcher
) -> None:
    chat = Chat(registry, matcher)
    answered = await chat.say("结婚登记需要预约吗")
    assert answered.route == "faq"
    started = await chat.say("那帮我约一个")
    assert started.meta.flow_id == "booking" and chat.session.flow is not None
    assert chat.session.flow.slots.get("business") == "婚姻登记"
    assert "business" not in chat.session.flow.awaiting and "已记录：办理业务 婚姻登记" in text_of(started)


async def test_the_business_the_message_names_wins_over_the_question_just_answered(
    registry: FlowRegistry, matcher: Matcher
) -> None:
    chat = Chat(registry, matcher)
    await chat.say("结婚登记需要预约吗")
    await chat.say("那帮我约一个办护照")
    assert chat.session.flow is not None and chat.session.flow.slots.get("business") == "出入境证件"


async def test_an_old_answer_is_not_carried_into_a_service(registry: FlowRegistry, matcher: Matcher) -> None:
    chat = Chat(registry, matcher)
    await chat.say("结婚登记需要预约吗")
    chat.now += timedelta(minutes=11)
    await chat.say("帮我约一个")
    assert chat.session.flow is not None and "business" not in chat.session.flow.slots


async def test_the_question_just_answered_is_carried_into_one_service_only(
    registry: FlowRegistry, matcher: Matcher
) -> None:
    chat = Chat(registry, matcher)
    await chat.say("结婚登记需要预约吗")
    await chat.say("那帮我约一个")
    await chat.say("取消")
    await chat.say("帮我约一个")
    assert chat.session.flow is not None and "business" not in chat.session.flow.slots


async def test_a_question_whose_answer_describes_a_service_starts_it(registry: FlowRegistry) -> None:
    progress = registry.current("progress")
    assert progress is not None and progress.faq
    entries = (
        FaqEntry(
            id=progress.faq[0], category="大厅", question="怎么查办理进度", similar=("请问怎么查办理进度",),
            answer="发送「进度查询」。",
        ),
    )
    chat = Chat(registry, matcher_of(entries))
    result = await chat.say("请问怎么查办理进度")
    assert result.meta.flow_id == "progress" and chat.session.flow is not None


# Issue 13: a short question mid-flow is read with the business the flow holds.
@pytest.fixture(scope="module")
def businesses() -> Matcher:
    entries = (
        FaqEntry(
            id="marriage_materials",
            category="婚姻登记",
            question="结婚登记需要什么材料",
            similar=("结婚要带什么东西", "领证要带什么去"),
            answer="结婚登记请双方带身份证。",
        ),
        FaqEntry(
            id="card_first",
            category="社保",
            question="第一次怎么申领社保卡",
            similar=("办社保卡要带什么材料", "新办社保卡去哪办"),
            answer="首次申领社保卡请带身份证原件，东西带齐现场办理。",
        ),
        FaqEntry(
            id="card_lost",
            category="社保",
            question="社保卡丢了怎么补办",
            similar=("社保卡掉了怎么补",),
            answer="社保卡遗失请先挂失再补办。",
        ),
        FaqEntry(
            id="hall_weekend",
            category="大厅",
            question="政务大厅周末上班吗",
            similar=("周六大厅开门吗", "大厅几点上班"),
            answer="周末休息。",
        ),
    )
    return matcher_of(entries)


async def test_a_question_without_a_subject_is_about_the_business_being_booked(
    registry: FlowRegistry, businesses: Matcher
) -> None:
    chat = Chat(registry, businesses)
    await chat.say("我想预约办社保卡")
    content = text_of(await chat.say("要带什么东西去"))
    assert "社保卡" in content and "结婚登记请双方带身份证" not in content
    assert "我们继续办理「预约办事」" in content


async def test_a_question_naming_its_own_business_mid_flow_is_answered_as_asked(
    registry: FlowRegistry, businesses: Matcher
) -> None:
    chat = Chat(registry, businesses)
    await chat.say("我想预约办社保卡")
    content = text_of(await chat.say("结婚要带什么东西"))
    assert "结婚登记请双方带身份证" in content


async def test_a_question_about_the_hall_mid_flow_is_not_bent_to_the_business(
    registry: FlowRegistry, businesses: Matcher
) -> None:
    chat = Chat(registry, businesses)
    await chat.say("我想预约办社保卡")
    content = text_of(await chat.say("大厅几点上班"))
    assert "周末休息" in content or "政务大厅周末上班吗" in content


async def test_no_answer_mid_flow_is_better_than_one_about_another_business(
    registry: FlowRegistry, businesses: Matcher
) -> None:
    chat = Chat(registry, businesses)
    await chat.say("我想预约办公积金")
    content = text_of(await chat.say("要带什么东西去"))
    assert "结婚登记请双方带身份证" not in content and "我们继续办理「预约办事」" in content
