"""The engine on what citizens really write (issue 13), one kind of message per test."""

from __future__ import annotations

from datetime import timedelta

import pytest

from flows import engine
from flows.registry import FlowRegistry
from flows.schema import CONFIRM_STEP, Flow, Option, Slot
from flows.state import FlowState
from tests.flows.conftest import THURSDAY, RecordingServices, always_confirming


def flow_of(registry: FlowRegistry, flow_id: str) -> Flow:
    flow = registry.current(flow_id)
    assert flow is not None
    return flow


@pytest.fixture
def booking(registry: FlowRegistry) -> Flow:
    # Confirming every time: corrections at the confirmation are tested here (the sample flow
    # confirms only when uncertain; tests/flows/test_confirm_policy.py).
    return always_confirming(flow_of(registry, "booking"))


async def say(
    flow: Flow, state: FlowState | None, text: str, services: RecordingServices, **kw: object
) -> engine.Outcome:
    assert state is not None
    return await engine.advance(flow, state, text, THURSDAY, services, "o_user", **kw)  # type: ignore[arg-type]


class FakeFaq:
    """Records what the engine asked the FAQ; answers with `answer`, or a menu when allowed."""

    def __init__(self, answer: str | None = None, menu: str | None = None) -> None:
        self.answer = answer
        self.menu = menu
        self.asked: list[tuple[str, bool]] = []

    def __call__(self, text: str, *, menu: bool, numbered: bool) -> str | None:
        self.asked.append((text, menu))
        if self.answer is not None:
            return self.answer
        return self.menu if menu else None


async def test_a_name_given_for_someone_else_in_the_first_message_is_taken(
    booking: Flow, services: RecordingServices
) -> None:
    out = await engine.start(booking, "给我妈约个号办医保，她叫刘桂兰", THURSDAY, services)
    assert out.state is not None and out.state.slots.get("name") == "刘桂兰"
    assert "name" not in out.state.awaiting


async def test_a_form_of_address_is_not_taken_as_the_full_name(booking: Flow, services: RecordingServices) -> None:
    start = await engine.start(booking, "我想预约明天上午去办社保卡", THURSDAY, services)
    out = await say(booking, start.state, "王先生，13812345678", services)
    assert out.state is not None and "name" not in out.state.slots
    assert "全名" in out.reply and "王先生" in out.reply
    named = await say(booking, out.state, "王建国", services)
    assert named.state is not None and named.state.slots["name"] == "王建国"


async def test_a_bare_full_name_at_the_confirmation_corrects_the_name(
    booking: Flow, services: RecordingServices
) -> None:
    start = await engine.start(booking, "明天上午办社保卡，我叫王建，电话13812345678", THURSDAY, services)
    assert start.state is not None and start.state.step == CONFIRM_STEP
    out = await say(booking, start.state, "王建国", services)
    assert out.state is not None and out.state.slots["name"] == "王建国"
    assert "手机号码格式" not in out.reply and "王建国" in out.reply


async def test_a_new_day_and_half_day_at_the_confirmation_need_no_change_word(
    booking: Flow, services: RecordingServices
) -> None:
    start = await engine.start(booking, "明天上午办社保卡，我叫张三，电话13812345678", THURSDAY, services)
    out = await say(booking, start.state, "12月15号下午", services)
    assert out.state is not None and out.state.slots["date"] == "2026-12-15" and out.state.slots["period"] == "下午"


async def test_a_new_day_while_collecting_replaces_the_earlier_one(booking: Flow, services: RecordingServices) -> None:
    start = await engine.start(booking, "我想预约明天上午去办社保卡", THURSDAY, services)
    out = await say(booking, start.state, "还是12月3号吧", services)
    assert out.state is not None and out.state.slots["date"] == "2026-12-03"


async def test_a_past_day_is_answered_it_cannot_be_booked(booking: Flow, services: RecordingServices) -> None:
    out = await engine.start(booking, "我想约昨天上午去办公积金", THURSDAY, services)
    assert "不能预约过去的日期" in out.reply
    assert out.state is not None and "date" not in out.state.slots


async def test_an_uncertain_faq_question_mid_flow_gets_a_menu_not_a_misreading(
    booking: Flow, services: RecordingServices
) -> None:
    start = await engine.start(booking, "我想预约明天上午去办社保卡", THURSDAY, services)
    faq = FakeFaq(menu="您是不是想问：\n· 去市民中心办事停车方便吗")
    out = await say(booking, start.state, "停车方便不", services, faq=faq)
    assert faq.asked == [("停车方便不", True)]
    assert "您是不是想问" in out.reply and "没有识别出" not in out.reply
    assert out.state is not None and out.state.attempts == {}


async def test_a_question_the_faq_answers_is_not_a_complaint_description(
    registry: FlowRegistry, services: RecordingServices
) -> None:
    complaint = flow_of(registry, "complaint")
    start = await engine.start(complaint, "我要投诉", THURSDAY, services)
    out = await say(complaint, start.state, "服务态度", services)
    faq = FakeFaq(answer="投诉会在5个工作日内处理。")
    aside = await say(complaint, out.state, "投诉多久能有结果？", services, faq=faq)
    assert aside.state is not None and "description" not in aside.state.slots
    assert "5个工作日" in aside.reply


async def test_a_question_no_faq_entry_is_sure_of_is_the_citizens_account(
    registry: FlowRegistry, services: RecordingServices
) -> None:
    complaint = flow_of(registry, "complaint")
    start = await engine.start(complaint, "我要投诉", THURSDAY, services)
    out = await say(complaint, start.state, "办事效率", services)
    told = await say(complaint, out.state, "凭什么让我来回跑了三趟还办不成？", services, faq=FakeFaq())
    assert told.state is not None and "三趟" in told.state.slots.get("description", "")


async def test_not_knowing_the_number_says_where_it_is_and_costs_no_attempt(
    registry: FlowRegistry, services: RecordingServices
) -> None:
    progress = flow_of(registry, "progress")
    start = await engine.start(progress, "查一下进度", THURSDAY, services)
    out = await say(progress, start.state, "不知道编号", services)
    assert "回执" in out.reply and "我的办件" in out.reply and "格式不对" not in out.reply
    assert out.state is not None and out.state.attempts == {} and out.state.awaiting == ["number"]


async def test_not_having_the_number_said_in_the_first_message_gets_where_it_is(
    registry: FlowRegistry, services: RecordingServices
) -> None:
    progress = flow_of(registry, "progress")
    out = await engine.start(progress, "俺闺女帮俺交的申请，编号俺莫得，咋查进度", THURSDAY, services)
    assert "我的办件" in out.reply and out.reply.rstrip().endswith(progress.slots["number"].prompt)


async def test_a_business_booked_elsewhere_is_said_plainly_with_where(
    booking: Flow, services: RecordingServices
) -> None:
    out = await engine.start(booking, "我想预约驾驶证换证", THURSDAY, services)
    assert "不在本号预约" in out.reply and "交管12123" in out.reply
    assert out.state is not None and "business" not in out.state.slots
    # No 「好的，为您预约…」 before the line that says it cannot be booked here.
    assert booking.intro not in out.reply


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("预约办个委托公证", "公证处"),
        ("帮我预约下办残疾证", "残联"),
        ("孩子的出生证明在哪里约着办", "医院"),
        ("预约开无犯罪证明", "派出所"),
        ("约个号办失业登记", "人社"),
        ("帮我挂个号 看病", "医院"),
        # 「过户」 names 不动产登记, but 「电表过户」 is the power company's.
        ("我想预约办电表过户 屋里老房子的电表还是我老头子的名字", "95598"),
        ("新买的房子电表要过户到我名下 预约", "95598"),
        # What only a court does, beside an offered business (离婚).
        ("对方不同意离婚 我要起诉 预约一下立案", "法院"),
        ("退伍老兵 想办那个退役军人优待证 能预约吗", "退役军人"),
    ],
)
async def test_a_business_done_by_another_office_names_that_office(
    booking: Flow, services: RecordingServices, text: str, where: str
) -> None:
    out = await engine.start(booking, text, THURSDAY, services)
    assert "不在本号预约" in out.reply and where in out.reply


async def test_a_business_named_again_that_is_booked_elsewhere_never_loops(
    booking: Flow, services: RecordingServices
) -> None:
    out = await engine.start(booking, "我要预约", THURSDAY, services)
    out = await say(booking, out.state, "驾照", services)
    assert "交管12123" in out.reply and out.state is not None and "请问您要办理哪项业务" in out.reply
    # Named again: said once more, and the flow ends instead of showing the same list again.
    out = await say(booking, out.state, "就是驾照", services)
    assert "交管12123" in out.reply and "本次「预约办事」已结束" in out.reply and "人工" in out.reply
    assert out.state is None and "请问您要办理哪项业务" not in out.reply


async def test_a_business_not_offered_is_quoted_without_the_words_around_it(
    booking: Flow, services: RecordingServices
) -> None:
    asked = await engine.start(booking, "我要预约", THURSDAY, services)
    assert asked.state is not None
    asked.state.awaiting = ["business"]
    refused = await say(booking, asked.state, "就是养犬登记啊", services)
    assert "「养犬登记」暂不能在本号预约" in refused.reply


async def test_a_business_not_offered_is_said_plainly(booking: Flow, services: RecordingServices) -> None:
    out = await engine.start(booking, "我要预约", THURSDAY, services)
    out = await say(booking, out.state, "社保卡", services)
    asked = await engine.start(booking, "我要预约", THURSDAY, services)
    assert asked.state is not None
    asked.state.awaiting = ["business"]
    refused = await say(booking, asked.state, "办狗证", services)
    assert "暂不能在本号预约" in refused.reply and "1. 社保卡办理" in refused.reply


async def test_other_takes_the_citizens_own_words(registry: FlowRegistry, services: RecordingServices) -> None:
    complaint = flow_of(registry, "complaint")
    start = await engine.start(complaint, "我要投诉", THURSDAY, services)
    assert start.state is not None
    start.state.awaiting = ["category"]
    out = await say(complaint, start.state, "食堂饭菜", services)
    assert out.state is not None and out.state.slots["category"] == "其他（食堂饭菜）"


async def test_a_complaint_told_in_full_that_fits_no_category_is_filed_under_other(
    registry: FlowRegistry, services: RecordingServices
) -> None:
    # The citizen told what happened; classifying it is the staff's work (`otherwise: 其他`).
    complaint = flow_of(registry, "complaint")
    start = await engine.start(complaint, "我要投诉", THURSDAY, services)
    assert start.state is not None
    out = await say(complaint, start.state, "连着三天早上八点准时抢号，一放出来就没了，怀疑有黄牛", services)
    assert "已登记" in out.reply and "「其他」" not in out.reply and "哪一类" not in out.reply
    assert services.tickets[0][2]["问题类别"] == "其他"


async def test_declining_to_leave_a_phone_answers_that_question(
    registry: FlowRegistry, services: RecordingServices
) -> None:
    # The account was told first; the category list and the optional phone were shown. 「不用留电话了」
    # answers the phone question: nothing is asked again, the matter is filed (category 其他).
    complaint = flow_of(registry, "complaint")
    start = await engine.start(complaint, "叫号叫过了也不广播 我在那坐了一上午", THURSDAY, services)
    assert start.state is not None and "联系电话" in start.reply
    out = await say(complaint, start.state, "不用留电话了", services)
    assert "不留电话也可以" in out.reply and "已登记" in out.reply
    # Nothing else told yet: the phone is answered, the rest is still asked.
    again = await engine.start(complaint, "我要投诉", THURSDAY, services)
    assert again.state is not None
    out = await say(complaint, again.state, "电话就不留了", services)
    assert "不留电话也可以" in out.reply and "具体情况" in out.reply and "联系电话" not in out.reply


async def test_an_account_ending_in_a_question_is_the_account_when_it_is_what_was_asked(
    registry: FlowRegistry, services: RecordingServices
) -> None:
    # Asked for category, account and contact together: the category fills itself, so the
    # account is what is asked, and 「…不能一次性告诉我吗」 is it, not an aside for the FAQ.
    complaint = flow_of(registry, "complaint")
    start = await engine.start(complaint, "我要投诉", THURSDAY, services)
    assert start.state is not None
    text = "办居住证的时候窗口让我回去开了三次证明 每次只说缺一样 不能一次性告诉我吗"
    out = await say(complaint, start.state, text, services)
    assert "已登记" in out.reply and services.tickets[0][2]["具体情况"] == text


def test_otherwise_must_be_one_of_the_options() -> None:
    with pytest.raises(ValueError, match="otherwise"):
        Slot(type="choice", label="类别", prompt="？", options=[Option(value="甲")], otherwise="乙")


async def test_a_city_hotline_matter_is_registered_and_points_to_12345(
    registry: FlowRegistry, services: RecordingServices
) -> None:
    complaint = flow_of(registry, "complaint")
    out = await engine.start(complaint, "我家门口的路灯坏了一个多星期了，晚上黑漆漆的", THURSDAY, services)
    assert out.resolved and "12345" in out.reply
    assert services.tickets and services.tickets[0][2]["问题类别"] == "城市管理"


async def test_guidance_for_a_small_restaurant_names_the_food_licence(
    registry: FlowRegistry, services: RecordingServices
) -> None:
    licence = flow_of(registry, "business_licence")
    out = await engine.start(licence, "我想开个小饭馆，个体户", THURSDAY, services)
    assert out.resolved and "食品经营许可证" in out.reply


# A guidance flow asks only the question that changes the guidance as a whole (issue 13): the
# premises of a sole trader and a company's shareholders tailor the reply when said, and the
# general reply names each case instead of asking.
async def test_guidance_is_given_without_asking_what_only_changes_one_line(
    registry: FlowRegistry, services: RecordingServices
) -> None:
    licence = flow_of(registry, "business_licence")
    sole = await engine.start(licence, "个体户营业执照怎么办", THURSDAY, services)
    assert sole.resolved and "请问" not in sole.reply
    assert all(case in sole.reply for case in ("租赁合同", "不动产权证书", "网店网址"))
    company = await engine.start(licence, "注册有限公司要什么材料", THURSDAY, services)
    assert company.resolved and "请问" not in company.reply and "一人有限" in company.reply


async def test_guidance_is_tailored_by_what_the_citizen_said_of_their_premises(
    registry: FlowRegistry, services: RecordingServices
) -> None:
    licence = flow_of(registry, "business_licence")
    rented = await engine.start(licence, "个体户执照怎么办，我是租的门面", THURSDAY, services)
    assert rented.resolved and "租赁合同" in rented.reply and "网店网址" not in rented.reply
    one = await engine.start(licence, "注册公司，就我一个股东", THURSDAY, services)
    assert one.resolved and "【一人有限责任公司设立登记指引】" in one.reply
    three = await engine.start(licence, "开公司，三个股东", THURSDAY, services)
    assert three.resolved and "【有限责任公司设立登记指引】" in three.reply and "只有一位股东的" not in three.reply


async def test_the_type_is_still_asked_when_the_guidance_depends_on_it(
    registry: FlowRegistry, services: RecordingServices
) -> None:
    licence = flow_of(registry, "business_licence")
    start = await engine.start(licence, "营业执照办理指引", THURSDAY, services)
    assert start.state is not None and start.state.awaiting == ["entity_type"]
    out = await say(licence, start.state, "1", services)
    assert out.resolved and "网店网址" in out.reply


async def test_part_of_one_options_words_answers_the_question_asked(
    booking: Flow, services: RecordingServices
) -> None:
    start = await engine.start(booking, "我要预约", THURSDAY, services)
    out = await say(booking, start.state, "结婚，下周四下午，岳云，13812344002", services)
    assert out.state is not None and out.state.slots["business"] == "婚姻登记"


async def test_a_business_booked_elsewhere_is_said_even_when_the_rest_is_taken(
    booking: Flow, services: RecordingServices
) -> None:
    start = await engine.start(booking, "我要预约", THURSDAY, services)
    out = await say(booking, start.state, "低保，下周二上午，柯南，13812344102", services)
    assert "街道" in out.reply and "不在本号预约" in out.reply
    assert out.state is not None and "business" not in out.state.slots and "mobile" in out.state.slots


async def test_a_complaint_worded_with_a_question_word_is_still_the_description(
    registry: FlowRegistry, services: RecordingServices
) -> None:
    complaint = flow_of(registry, "complaint")
    start = await engine.start(complaint, "我对你们服务不满意", THURSDAY, services)
    out = await say(complaint, start.state, "服务态度，窗口让我自己去网上查，什么都不解释", services, faq=FakeFaq())
    assert out.state is not None and out.state.slots.get("category") == "服务态度"
    assert "什么都不解释" in out.state.slots.get("description", "")


@pytest.mark.parametrize("said", ["姓名不对，是王建国", "不对，是王建国"])
async def test_a_name_correction_without_a_change_word_is_taken(
    booking: Flow, services: RecordingServices, said: str
) -> None:
    start = await engine.start(booking, "明天上午办社保卡，我叫王建，电话13812345678", THURSDAY, services)
    out = await say(booking, start.state, said, services)
    assert out.state is not None and out.state.slots["name"] == "王建国"


@pytest.mark.parametrize("said", ["嗯嗯", "好的", "👍"])
async def test_an_acknowledgement_mid_flow_is_not_a_wrong_answer(
    booking: Flow, services: RecordingServices, said: str
) -> None:
    start = await engine.start(booking, "约个号办公积金", THURSDAY, services)
    out = await say(booking, start.state, said, services)
    assert "没有识别出" not in out.reply and out.reply.startswith("好的。")
    assert "预约日期" in out.reply
    assert out.state is not None and out.state.attempts == {}


# Issue 13: 「请问怎么投诉窗口人员」 starts the complaint, but the question is not its account.
async def test_asking_how_to_complain_is_not_taken_as_the_complaint(
    registry: FlowRegistry, services: RecordingServices
) -> None:
    complaint = flow_of(registry, "complaint")
    start = await engine.start(complaint, "你好，请问怎么投诉窗口人员", THURSDAY, services)
    assert start.state is not None and "description" not in start.state.slots
    assert "description" in start.state.awaiting
    out = await say(complaint, start.state, "上午在2号窗口，工作人员一直打电话不理我", services)
    assert out.state is not None and "工作人员一直打电话不理我" in out.state.slots["description"]
    assert out.state.slots["category"] == "服务态度" or out.resolved


async def test_a_how_question_that_tells_what_happened_keeps_the_account(
    registry: FlowRegistry, services: RecordingServices
) -> None:
    complaint = flow_of(registry, "complaint")
    start = await engine.start(complaint, "怎么投诉，上午在2号窗口等了两个小时没人管", THURSDAY, services)
    assert start.state is not None and "两个小时没人管" in start.state.slots["description"]


# Issue 13: the everyday words that name a complaint's category are part of its account.
@pytest.mark.parametrize("account", ["大厅空调太冷了", "二楼厕所没有纸"])
async def test_an_account_that_names_its_category_in_passing_is_taken_whole(
    registry: FlowRegistry, services: RecordingServices, account: str
) -> None:
    complaint = flow_of(registry, "complaint")
    start = await engine.start(complaint, "投诉", THURSDAY, services)
    assert start.state is not None
    out = await say(complaint, start.state, account, services)
    assert out.resolved and services.tickets[0][2]["具体情况"] == account
    assert services.tickets[0][2]["问题类别"] == "环境设施"


async def test_an_options_own_label_is_not_an_account(registry: FlowRegistry, services: RecordingServices) -> None:
    complaint = flow_of(registry, "complaint")
    start = await engine.start(complaint, "投诉", THURSDAY, services)
    assert start.state is not None
    out = await say(complaint, start.state, "环境设施，厕所", services)
    assert out.state is not None and "description" not in out.state.slots and services.tickets == []


# Issue 13: 「算了不提了」 mid-flow gives up what was started, as 取消 does; never 「没有识别出」.
@pytest.mark.parametrize("text", ["算了不提了", "那我先不反映了"])
async def test_giving_up_mid_flow_in_ones_own_words_cancels(
    registry: FlowRegistry, services: RecordingServices, text: str
) -> None:
    complaint = flow_of(registry, "complaint")
    start = await engine.start(complaint, "我要提个意见", THURSDAY, services)
    assert start.state is not None
    out = await say(complaint, start.state, text, services)
    assert out.state is None and "已为您取消「投诉建议」" in out.reply and services.tickets == []


@pytest.mark.parametrize("text", ["发错了", "晚安"])
async def test_a_dismissal_that_does_not_give_up_keeps_the_flow(
    registry: FlowRegistry, services: RecordingServices, text: str
) -> None:
    complaint = flow_of(registry, "complaint")
    start = await engine.start(complaint, "我要提个意见", THURSDAY, services)
    assert start.state is not None
    out = await say(complaint, start.state, text, services)
    assert out.state is not None and "已为您取消" not in out.reply


async def test_having_no_number_gets_where_to_find_it_not_a_format_error(
    registry: FlowRegistry, services: RecordingServices
) -> None:
    progress = flow_of(registry, "progress")
    start = await engine.start(progress, "进度查询", THURSDAY, services)
    assert start.state is not None
    out = await say(progress, start.state, "我没有受理编号，只有身份证", services)
    assert "格式不对" not in out.reply and "回执单的右上角" in out.reply


async def test_a_sole_trader_may_call_themselves_one_person(
    registry: FlowRegistry, services: RecordingServices
) -> None:
    licence = flow_of(registry, "business_licence")
    out = await engine.start(licence, "开个网店需要营业执照吗", THURSDAY, services)
    assert out.state is not None
    out = await say(licence, out.state, "个人", services)
    assert "个体工商户" in out.reply and "没有识别出" not in out.reply
    out = await engine.start(licence, "我想自己干点小买卖 要办啥证", THURSDAY, services)
    assert "个体工商户" in out.reply and "哪种类型" not in out.reply


async def test_a_complaint_told_with_its_trigger_words_is_filed_at_once(
    registry: FlowRegistry, services: RecordingServices
) -> None:
    # 骂人 and 态度…差 start the complaint and are also the account: one-character parts of
    # trigger words (差) are not taken out of what the citizen told.
    complaint = flow_of(registry, "complaint")
    out = await engine.start(complaint, "我想投诉 窗口人员态度很差 骂人", THURSDAY, services)
    assert "已登记" in out.reply and len(services.tickets) == 1


@pytest.mark.parametrize("text", ["我们这停水三天了", "楼上天天半夜剁肉"])
async def test_a_city_matter_told_in_words_that_also_start_the_complaint_is_filed_at_once(
    registry: FlowRegistry, services: RecordingServices, text: str
) -> None:
    # 停水 starts the complaint and is what happened: words that tell are not noise.
    complaint = flow_of(registry, "complaint")
    out = await engine.start(complaint, text, THURSDAY, services)
    assert "已登记" in out.reply and "12345" in out.reply


async def test_naming_only_the_subject_still_asks_what_happened(
    registry: FlowRegistry, services: RecordingServices
) -> None:
    complaint = flow_of(registry, "complaint")
    out = await engine.start(complaint, "投诉路灯", THURSDAY, services)
    assert services.tickets == [] and out.state is not None and "description" in out.state.awaiting


async def test_an_offered_business_named_apart_from_another_office_s_is_the_one_booked(
    booking: Flow, services: RecordingServices
) -> None:
    out = await engine.start(booking, "房子卖了要过户 电表也要过户 约个明天上午", THURSDAY, services)
    assert out.state is not None and out.state.slots.get("business") == "不动产登记"
    assert "不在本号预约" not in out.reply


async def test_a_bare_weekday_after_a_week_named_without_its_day_is_that_weeks(
    booking: Flow, services: RecordingServices
) -> None:
    # On a Thursday, 「约个下礼拜的号」 names next week; 「周五吧」 is then next week's Friday, not tomorrow.
    out = await engine.start(booking, "护照过期了 能不能约个下礼拜的号", THURSDAY, services)
    assert out.state is not None and out.state.week == 1
    told = await say(booking, out.state, "周五吧", services)
    assert told.state is not None and told.state.slots["date"] == "2026-12-04"
    # Its weekend is refused as any weekend is.
    weekend = await say(booking, out.state, "礼拜六", services)
    assert weekend.state is not None and "date" not in weekend.state.slots
    # Without a week named, 「周五」 is the coming Friday.
    plain = await engine.start(booking, "约个号办护照", THURSDAY, services)
    assert plain.state is not None
    told = await say(booking, plain.state, "周五吧", services)
    assert told.state is not None and told.state.slots["date"] == "2026-11-27"


async def test_the_week_named_first_holds_for_a_weekday_sent_with_the_mobile(
    registry: FlowRegistry, services: RecordingServices
) -> None:
    # On a Monday this week's Wednesday and next week's differ. The mobile beside 「礼拜三」 is taken
    # out of the text first, and the blanks it leaves must not count as part of the weekday said.
    booking = flow_of(registry, "booking")
    monday = THURSDAY + timedelta(days=11)  # 2026-12-07
    out = await engine.start(booking, "下周想去大厅办下居住证 能约吗", monday, services)
    assert out.state is not None and out.state.week == 1
    told = await engine.advance(booking, out.state, "李秀兰 13698765432 礼拜三上午", monday, services, "o_user")
    assert told.state is not None and told.state.slots["date"] == "2026-12-16"


async def test_a_matter_filed_without_a_phone_says_sending_one_is_enough_and_hears_urging(
    registry: FlowRegistry, services: RecordingServices
) -> None:
    complaint = flow_of(registry, "complaint")
    out = await engine.start(complaint, "楼上天天半夜剁肉 吵得睡不着", THURSDAY, services)
    assert "已登记" in out.reply and "直接发送您的手机号码即可" in out.reply
    assert out.state is not None
    urged = await say(complaint, out.state, "能不能管管", services)
    assert "会尽快转交处理" in urged.reply and out.state.ticket in urged.reply
    assert urged.state is not None and urged.state.step == out.state.step
    # Given with the account, the phone is used, and no such line is added.
    told = await engine.start(complaint, "楼上天天半夜剁肉 吵得睡不着 电话13812341234", THURSDAY, services)
    assert "13812341234" in told.reply and "直接发送您的手机号码即可" not in told.reply


async def test_a_phone_a_name_and_wanting_to_report_something_tell_nothing_yet(
    registry: FlowRegistry, services: RecordingServices
) -> None:
    complaint = flow_of(registry, "complaint")
    out = await engine.start(complaint, "15093728864 杜铁柱 俺要反映个事儿", THURSDAY, services)
    assert out.state is not None and "description" not in out.state.slots
    assert out.state.slots.get("contact") == "15093728864" and "具体情况" in out.reply


@pytest.mark.parametrize(
    ("text", "mobile"),
    [
        ("手机号最后两位是21 不是12", "13098765421"),
        ("电话最后一位是8不是6", "13098765418"),
        ("尾号应该是5421", "13098765421"),
    ],
)
async def test_the_last_digits_of_the_phone_said_again_correct_it(
    booking: Flow, services: RecordingServices, text: str, mobile: str
) -> None:
    out = await engine.start(booking, "约公积金 下周三下午 蒋婷婷 13098765412", THURSDAY, services)
    assert out.state is not None
    fixed = await say(booking, out.state, text, services)
    assert f"手机号码改为{mobile}" in fixed.reply


async def test_the_last_of_anything_else_is_no_phone_correction(booking: Flow, services: RecordingServices) -> None:
    out = await engine.start(booking, "约公积金 下周三下午 蒋婷婷 13098765412", THURSDAY, services)
    assert out.state is not None
    moved = await say(booking, out.state, "最后是12月3号吧", services)
    assert "13098765412" in moved.reply


async def test_giving_up_for_today_with_a_sigh_cancels_and_takes_no_date(
    booking: Flow, services: RecordingServices
) -> None:
    out = await engine.start(booking, "预约 公积金", THURSDAY, services)
    assert out.state is not None
    gave_up = await say(booking, out.state, "😮‍💨算了 今天不想弄了", services)
    assert gave_up.state is None and "预约日期" not in gave_up.reply


async def test_a_week_alone_for_the_day_asked_is_kept_and_its_day_asked(
    booking: Flow, services: RecordingServices
) -> None:
    out = await engine.start(booking, "约个号办护照", THURSDAY, services)
    assert out.state is not None
    week = await say(booking, out.state, "下礼拜吧", services)
    assert "下周哪一天" in week.reply and "没有识别出" not in week.reply
    assert week.state is not None and week.state.attempts == {}
    told = await say(booking, week.state, "周五吧", services)
    assert told.state is not None and told.state.slots["date"] == "2026-12-04"


async def test_a_bare_weekday_after_a_weekday_with_its_week_is_in_that_week(
    booking: Flow, services: RecordingServices
) -> None:
    # On Thursday 11-26, 「下周二」 is 12-01; 「改到周四」 then is that week's Thursday (12-03).
    out = await engine.start(booking, "我想约下周二去办港澳通行证续签 下午", THURSDAY, services)
    assert out.state is not None and out.state.slots["date"] == "2026-12-01"
    moved = await say(booking, out.state, "改到周四", services)
    assert moved.state is not None and moved.state.slots["date"] == "2026-12-03"
