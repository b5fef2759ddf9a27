"""Following through in the chat: numbers we printed looked up, 我的预约/我的工单, cancel and change."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from flows.registry import FlowRegistry, load_flows
from handlers import router
from handlers.context import HandlerContext, Turn, TurnResult
from handlers.messages import TextMessage
from handlers.ports import BookingRequest
from handlers.replies import TextReply
from handlers.session import Session
from tests.flows.conftest import FLOWS_DIR, THURSDAY, RecordingServices

HALL = "市政务服务中心"
NEXT_WEDNESDAY = date(2026, 12, 2)


class Chat:
    def __init__(self, registry: FlowRegistry, services: RecordingServices, openid: str = "o_1") -> None:
        self.ctx = HandlerContext(matcher=None, flows=registry, services=services)
        self.session = Session(openid=openid)
        self.last: TurnResult | None = None

    async def say(self, text: str) -> str:
        message = TextMessage("gh", self.session.openid, 1, "text", msg_id="1", content=text)
        result = await router.dispatch(Turn(message, self.session, THURSDAY), self.ctx)
        assert result.session is not None and isinstance(result.reply, TextReply)
        self.session, self.last = result.session, result
        return result.reply.content


@pytest.fixture
def services() -> RecordingServices:
    return RecordingServices()


REGISTRY = load_flows(FLOWS_DIR)


@pytest.fixture
def chat(services: RecordingServices) -> Chat:
    return Chat(REGISTRY, services)


async def book(chat: Chat, text: str = "我想预约明天上午办社保卡，我叫张三，手机13812345678") -> str:
    # Every fact plainly given: booked at once, read back with the way to change it.
    reply = await chat.say(text)
    assert "预约成功" in reply and "信息有误" in reply
    await chat.say("满意")
    return reply


async def test_a_booking_number_shows_status_and_what_to_do_next(chat: Chat) -> None:
    await book(chat)
    reply = await chat.say("20261126-0001")
    assert "预约号 20261126-0001" in reply and "状态：已预约" in reply
    assert "时间：11月27日（周五）上午" in reply and "下一步：请于11月27日（周五）上午携带本人身份证" in reply


async def test_a_complaint_number_shows_status_next_step_due_day_and_the_last_reply(
    chat: Chat, services: RecordingServices
) -> None:
    number = await services.create_ticket("complaint", "o_1", {"问题类别": "服务态度"})
    services.replies[number] = ("已联系窗口负责人核实，将于本周内回复您。", datetime(2026, 11, 27, 2, tzinfo=UTC))
    reply = await chat.say(f"帮我查一下{number}的进度")
    assert f"编号 {number}（投诉建议）" in reply and "当前状态：新建" in reply
    # Five working days after Thursday 26 November: 27, 30, 1, 2, 3 December.
    assert "12月3日（周四）前" in reply
    assert "工作人员最新答复（11月27日）：已联系窗口负责人核实" in reply


async def test_another_citizens_number_is_not_found(chat: Chat, services: RecordingServices) -> None:
    number = await services.create_ticket("complaint", "someone_else", {})
    assert "没有查到编号" in await chat.say(number)


async def test_our_number_typed_into_the_progress_flow_is_looked_up_there(chat: Chat) -> None:
    await book(chat)
    assert "受理编号" in await chat.say("办件进度查询")
    reply = await chat.say("20261126-0001")
    assert "状态：已预约" in reply and "格式不对" not in reply
    assert chat.session.flow is None


async def test_the_approval_systems_numbers_still_go_to_the_backend(chat: Chat, services: RecordingServices) -> None:
    await chat.say("办件进度查询")
    reply = await chat.say("SQ20261120000123")
    assert services.calls == [("progress", {"number": "SQ20261120000123"})]
    assert "审核中" in reply


async def test_my_bookings_lists_them_newest_first_as_a_numbered_menu(chat: Chat) -> None:
    await book(chat)
    await book(chat, "预约下周三下午办公积金，我叫张三，手机13812345678")
    reply = await chat.say("我的预约")
    assert reply.index("1. 12月2日（周三）下午 公积金业务") < reply.index("2. 11月27日（周五）上午 社保卡办理")
    assert "时间：11月27日（周五）上午" in await chat.say("2")


async def test_my_tickets_lists_open_complaints(chat: Chat, services: RecordingServices) -> None:
    number = await services.create_ticket("complaint", "o_1", {})
    await book(chat)
    reply = await chat.say("我的工单")
    assert f"1. 投诉建议 {number}（新建）" in reply and "社保卡" not in reply


@pytest.mark.parametrize(
    "asked",
    ["我昨天投诉的那个有人管没", "上周反映的路灯问题处理了吗", "我举报的事情有结果了吗", "我那个工单处理得怎么样了"],
)
async def test_asking_what_became_of_a_complaint_lists_the_citizens_tickets(
    chat: Chat, services: RecordingServices, asked: str
) -> None:
    number = await services.create_ticket("complaint", "o_1", {})
    reply = await chat.say(asked)
    assert f"1. 投诉建议 {number}（新建）" in reply


@pytest.mark.parametrize("asked", ["我约的是几号来着", "之前预约的时间是上午还是下午", "我约了哪天你再说一遍"])
async def test_asking_when_the_booking_is_lists_the_citizens_bookings(chat: Chat, asked: str) -> None:
    await book(chat)
    assert "1. 11月27日（周五）上午 社保卡办理" in await chat.say(asked)


async def test_asking_which_days_can_be_booked_is_not_about_a_booking(chat: Chat) -> None:
    await book(chat)
    assert "1. 11月27日（周五）上午" not in await chat.say("可以预约几号的")


async def test_a_complaint_about_a_complaint_is_still_filed(chat: Chat) -> None:
    await chat.say("我要投诉的是窗口工作人员态度问题")
    assert chat.last is not None and chat.last.meta.flow_id == "complaint"


async def test_nothing_booked_says_so(chat: Chat) -> None:
    assert "没有待办理的预约" in await chat.say("我的预约")


async def test_cancel_asks_to_confirm_then_frees_the_seat(chat: Chat, services: RecordingServices) -> None:
    await book(chat)
    assert "确认取消11月27日（周五）上午的「社保卡办理」预约" in await chat.say("取消预约")
    reply = await chat.say("确认")
    assert "已取消预约 20261126-0001" in reply and "名额已释放" in reply
    assert await services.booked_counts("社保卡办理", HALL, [date(2026, 11, 27)]) == {}
    assert "没有待办理的预约" in await chat.say("我的预约")


async def test_cancel_with_several_bookings_asks_which(chat: Chat, services: RecordingServices) -> None:
    await book(chat)
    await book(chat, "预约下周三下午办公积金，我叫张三，手机13812345678")
    assert "请回复数字选择要取消的一个" in await chat.say("我想取消预约")
    # Newest first: 2 is the 社保卡 booking made first.
    assert "11月27日（周五）上午的「社保卡办理」" in await chat.say("2")
    reply = await chat.say("确认")
    assert "已取消预约" in reply
    left = await services.my_items("o_1", "booking", 9)
    assert [item.booking.business for item in left if item.booking] == ["公积金业务"]


async def test_saying_no_keeps_the_booking(chat: Chat) -> None:
    await book(chat)
    await chat.say("取消预约")
    assert "保持不变" in await chat.say("不")
    assert "20261126-0001" in await chat.say("我的预约")


async def test_one_sentence_moves_the_booking_keeping_its_number(chat: Chat, services: RecordingServices) -> None:
    await book(chat)
    assert "从11月27日（周五）上午改到12月2日（周三）上午" in await chat.say("改到下周三上午")
    reply = await chat.say("确认")
    assert "改约成功！预约号不变：20261126-0001" in reply
    assert await services.booked_counts("社保卡办理", HALL, [date(2026, 11, 27), NEXT_WEDNESDAY]) == {
        (NEXT_WEDNESDAY, "上午"): 1
    }


async def test_change_asks_for_the_new_time_when_not_given(chat: Chat) -> None:
    await book(chat)
    assert "改到哪一天" in await chat.say("我想改约")
    assert "改到12月2日（周三）上午" in await chat.say("下周三")


async def test_change_to_a_holiday_says_why_and_the_nearest_open_days(chat: Chat) -> None:
    await book(chat)
    reply = await chat.say("改约")
    reply = await chat.say("改到11月28日")
    assert "11月28日（周六）是休息日" in reply and "11月30日（周一）" in reply


async def test_change_to_a_full_period_offers_the_nearest_free_times(chat: Chat, services: RecordingServices) -> None:
    await book(chat)
    for i in range(20):
        request = BookingRequest("booking", f"x{i}", "社保卡办理", HALL, NEXT_WEDNESDAY, "上午", 20, {})
        assert (await services.book(request)).status == "booked"
    await chat.say("改到下周三上午")
    reply = await chat.say("确认")
    assert "12月2日（周三）上午的「社保卡办理」预约已满" in reply and "12月2日（周三）下午" in reply
    assert "改到12月2日（周三）下午" in await chat.say("12月2日下午")
    assert "改约成功" in await chat.say("确认")


async def test_cancel_words_inside_a_flow_still_cancel_the_flow(chat: Chat) -> None:
    await chat.say("我要预约")
    assert "已为您取消「预约办事」" in await chat.say("取消预约")


async def test_a_low_rating_with_a_reason_becomes_a_follow_up_ticket(chat: Chat, services: RecordingServices) -> None:
    assert "非常满意" in await chat.say("我想预约明天上午办社保卡，我叫张三，手机13812345678")
    assert "哪里需要改进" in await chat.say("5")
    assert chat.last is not None and chat.last.meta.satisfaction == "非常不满意"
    reply = await chat.say("取号机坏了，排了一个小时队")
    assert "已记录您的意见，工单编号：20261126-0002" in reply
    assert services.tickets[-1] == (
        "rating_followup", "o_1",
        {"评价": "非常不满意", "评价事项": "预约办事", "关联编号": "20261126-0001",
         "原因": "取号机坏了，排了一个小时队"},
    )
    assert "1. 评价跟进 20261126-0002（新建）" in await chat.say("我的工单")


async def test_a_low_rating_without_a_reason_files_nothing(chat: Chat, services: RecordingServices) -> None:
    await chat.say("我想预约明天上午办社保卡，我叫张三，手机13812345678")
    await chat.say("确认")
    await chat.say("不满意")
    assert "感谢您的评价" in await chat.say("不用了")
    assert len(services.tickets) == 1


async def test_a_rating_is_given_once_per_matter(chat: Chat) -> None:
    await chat.say("我想预约明天上午办社保卡，我叫张三，手机13812345678")
    await chat.say("确认")
    await chat.say("满意")
    assert chat.last is not None and chat.last.meta.satisfaction == "满意"
    await chat.say("非常满意")
    assert chat.last.meta.satisfaction == ""


async def test_cancel_with_nothing_booked_says_so_instead_of_an_faq(chat: Chat) -> None:
    assert "没有可以取消的预约" in await chat.say("取消预约")
    assert "没有可以改约的预约" in await chat.say("我想改约")


async def test_cancel_right_after_booking_skips_the_rating(chat: Chat) -> None:
    await chat.say("我想预约明天上午办社保卡，我叫张三，手机13812345678")
    await chat.say("确认")
    assert "确认取消" in await chat.say("取消预约")
    assert chat.session.flow is None and chat.session.awaiting_satisfaction == ""
    assert "已取消预约" in await chat.say("确认")


async def test_a_suggestion_is_not_taken_for_a_list_request(chat: Chat) -> None:
    reply = await chat.say("我的建议是大厅增加停车位")
    assert "您的工单" not in reply and chat.session.flow is not None and chat.session.flow.flow_id == "complaint"


@pytest.mark.parametrize("said", ["取消", "算了", "取消预约"])
async def test_cancelling_right_after_booking_means_that_booking(chat: Chat, said: str) -> None:
    await chat.say("预约下周三下午办公积金，我叫张三，手机13812345678")
    reply = await chat.say("我想预约明天上午办社保卡，我叫张三，手机13812345678")
    assert "预约号：20261126-0002" in reply
    assert "确认取消11月27日（周五）上午的「社保卡办理」预约（预约号：20261126-0002）" in await chat.say(said)
    assert "已取消预约 20261126-0002" in await chat.say("确认")


async def test_an_unlabelled_name_in_a_list_is_not_asked_again(chat: Chat) -> None:
    reply = await chat.say("约个号办社保卡，明天上午，刘洋，13700001234")
    assert "预约成功" in reply and "预约人姓名 刘洋" in reply


@pytest.mark.parametrize("asked", ["什么时候会有结果？", "多久能处理啊", "有人管吗？进度怎么查"])
async def test_asking_about_the_result_right_after_filing_shows_that_ticket(chat: Chat, asked: str) -> None:
    filed = await chat.say("我要投诉，三号窗口工作人员态度很差，让我来回跑了三趟")
    assert "编号：20261126-0001" in filed
    reply = await chat.say(asked)
    assert "编号 20261126-0001（投诉建议）" in reply and "下一步：" in reply


async def test_withdrawing_the_complaint_just_filed_is_confirmed_then_done(
    chat: Chat, services: RecordingServices
) -> None:
    await chat.say("我要投诉，三号窗口工作人员态度很差，让我来回跑了三趟")
    assert "确认撤回工单 20261126-0001（投诉建议）吗" in await chat.say("撤回投诉")
    assert "已撤回工单 20261126-0001，状态：已撤销" in await chat.say("确认")
    assert services.filed[0].status == "已撤销"
    assert "没有可以撤回的工单" in await chat.say("撤回投诉")


async def test_saying_no_keeps_the_complaint(chat: Chat, services: RecordingServices) -> None:
    await chat.say("我要投诉，三号窗口工作人员态度很差，让我来回跑了三趟")
    await chat.say("满意")
    await chat.say("我不投诉了")
    assert "工单保持不变" in await chat.say("不")
    assert services.filed[0].status == "open"


async def test_withdrawing_with_several_open_tickets_asks_which(chat: Chat, services: RecordingServices) -> None:
    await services.create_ticket("complaint", "o_1", {"问题类别": "服务态度"})
    await services.create_ticket("complaint", "o_1", {"问题类别": "环境设施"})
    assert "请回复数字选择要撤回的一个" in await chat.say("撤回投诉")
    assert "确认撤回工单 20261126-0001" in await chat.say("2")
    await chat.say("确认")
    assert [t.status for t in services.filed] == ["已撤销", "open"]


@pytest.mark.parametrize("said", ["预约了但是去不了了", "我约的那天临时有事来不了"])
async def test_saying_the_booking_cannot_be_kept_asks_to_cancel_it_or_move_it(chat: Chat, said: str) -> None:
    await book(chat)
    reply = await chat.say(said)
    assert "确认取消11月27日（周五）上午的「社保卡办理」预约" in reply and "改约" in reply
    assert "改到哪一天" in await chat.say("改约")


# -- kinds found in blind tuning material (session 9) -------------------------------------------


@pytest.mark.parametrize("number", ["qy-20261127-0032", "GJJ 2026 1201 0077"])
async def test_an_approval_systems_number_like_ours_or_in_groups_goes_to_the_backend(
    chat: Chat, services: RecordingServices, number: str
) -> None:
    # 「qy-20261127-0032」 holds something shaped like our numbers; 「GJJ 2026 1201 0077」 was copied in groups.
    await chat.say("办件进度查询")
    await chat.say(number)
    assert services.calls == [("progress", {"number": number.replace(" ", "")})]


async def test_a_story_that_names_the_booking_record_is_a_complaint_not_the_list(chat: Chat) -> None:
    reply = await chat.say("网上明明预约成功了，到现场说系统里没有我的预约记录，白跑一趟")
    assert "没有待办理的预约" not in reply
    assert chat.session.flow is not None and chat.session.flow.flow_id == "complaint"


async def test_sorry_and_a_change_after_a_booking_moves_it_instead_of_rating(chat: Chat) -> None:
    await chat.say("我想预约明天下午办社保卡，我叫张三，手机13812345678")
    reply = await chat.say("不好意思那天下午有事，换成上午")
    assert "改为上午" in reply and "没能让您满意" not in reply


@pytest.mark.parametrize(
    "text", ["同志你好，我年纪大了不太会弄手机，想约个时间去换社保卡，谢谢你", "请问可以预约社保卡吗，谢谢您"]
)
async def test_a_thank_you_is_never_taken_for_the_name(chat: Chat, text: str) -> None:
    reply = await chat.say(text)
    assert "预约人姓名 谢" not in reply and "姓名" in reply


async def test_a_name_typed_in_traditional_characters_is_registered_in_simplified(chat: Chat) -> None:
    # Issue 13: traditional characters are converted before anything else, names included.
    await chat.say("約個號 辦社保卡")
    reply = await chat.say("明天上午，鄭桂英，13857360915")
    assert "预约人姓名 郑桂英" in reply


@pytest.mark.parametrize(
    "text", ["帮我们老板约个不动产登记，公司买了一层办公楼要办证", "居住证到期了要续，12月2号下午有空吗？快点给我约上"]
)
async def test_booking_asked_for_on_someones_behalf_or_in_a_hurry_starts_it(chat: Chat, text: str) -> None:
    await chat.say(text)
    assert chat.session.flow is not None and chat.session.flow.flow_id == "booking"


@pytest.mark.parametrize("text", ["名字打错了 是李淑芬 淑女的淑 芬芳的芬", "名字错了，应该是李淑芬"])
async def test_a_correction_to_what_was_booked_already_says_nothing_changes(chat: Chat, text: str) -> None:
    await chat.say("帮我婆婆约个社保卡 下周五下午 李淑芬 15155207893")
    reply = await chat.say(text)
    assert "预约人姓名是李淑芬，与您说的一致，无需更改" in reply
    # Still at the rating question, with the booking as it was.
    assert "请您对本次服务进行评价" in reply and "已取消" not in reply
