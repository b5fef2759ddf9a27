"""`flows.utterance`: a message read once into one value, and every flag the dialogue decides from."""

from __future__ import annotations

from datetime import date

import pytest

from flows.registry import FlowRegistry
from flows.utterance import is_question, understand

TODAY = date(2026, 11, 26)


def test_traditional_characters_are_read_as_simplified_before_anything_else() -> None:
    said = understand("預約下週三上午辦理護照", TODAY)
    assert said.text == "预约下周三上午办理护照"
    assert said.raw == "預約下週三上午辦理護照"
    assert [d.value for d in said.dates] == [date(2026, 12, 2)]


def test_a_number_said_in_chinese_digits_is_read_as_digits() -> None:
    said = understand("手机是幺三八一二三四五六七八", TODAY)
    assert said.text == "手机是13812345678"
    assert understand("一二三四五", TODAY).text == "一二三四五"
    # Read out in groups, with a pause between them.
    assert understand("二零二六 一二零三 零八六五", TODAY).text == "2026 1203 0865"
    assert understand("手机幺三八 一二三四 五六七八", TODAY).text == "手机138 1234 5678"
    assert understand("一二三 四五六", TODAY).text == "一二三 四五六"


def test_full_width_digits_are_folded() -> None:
    assert understand("ＳＱ２０２６１１２００００１２３", TODAY).text == "SQ20261120000123"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("好的", "ack"),
        ("确认", "ack"),
        ("嗯嗯", "ack"),
        ("算了", "dismiss"),
        ("不用了", "dismiss"),
        ("你好", "greeting"),
        ("hello", "greeting"),
        ("早上好", "greeting"),
        ("谢谢啦", "thanks"),
        ("👍", "emoji"),
        ("😊😊", "emoji"),
        ("哈哈哈", "laugh"),
        ("有事想办一下", "vague"),
        ("我想问点事", "vague"),
        ("你们能干啥", "capabilities"),
        ("你们是机器人吗", "bot"),
        ("知道了谢谢", "thanks"),
        ("收到收到", "ack"),
        ("[捂脸]", "emoji"),
        ("你们效率真高", "praise"),
        ("666", "praise"),
        ("不好意思发错了", "dismiss"),
        ("谢谢", "thanks"),
        ("888", ""),
        ("有哪些业务可以办", "capabilities"),
        ("我想看看都有啥服务", "capabilities"),
        ("你能帮我做什么", "capabilities"),
        # Small-talk words run together, or thanks after any of them.
        ("嗯嗯好的", "ack"),
        ("好的收到，辛苦", "thanks"),
        ("不用了谢谢", "thanks"),
        ("我明白了，多谢指点", "thanks"),
        ("麻烦你了", "thanks"),
        ("可以的", "ack"),
        ("你们服务真不错 点赞", "praise"),
        ("嗯我想办社保卡", ""),
        ("不用留电话", "ack"),
        # Regional words and terms of address (莫得 = 没有, 中 = 好).
        ("辛苦了，莫得事了", "thanks"),
        ("谢谢啦同志 🙏", "thanks"),
        ("中，得劲", "ack"),
        ("对头", "ack"),
        ("有啥能办的嘛", "capabilities"),
        ("我刚关注，都有哪些服务可以在这办", "capabilities"),
        ("这个号是干嘛的", "capabilities"),
        ("你们提供什么服务", "capabilities"),
        ("可以办理哪些事项", "capabilities"),
        ("这个公众号怎么用", "capabilities"),
        ("业务范围", "capabilities"),
        ("社保卡怎么用", ""),
        ("电子社保卡是干什么的", ""),
        ("能办理什么证", ""),
        ("好的谢谢你啊，问题解决了", "thanks"),
        ("拜拜，下次再来问", "ack"),
        ("你们这个公众号挺好用的，点个赞👍", "praise"),
        ("谢谢你啊，帮了大忙了", "thanks"),
        ("好的，没别的事了，再见", "ack"),
        ("电话就不留了", "ack"),
        ("好的我要预约", ""),
        ("我要去你们那办点事", "vague"),
        ("有个业务想办", "vague"),
        ("你好 我是来办事的", "vague"),
        ("你们这个号都能干点啥", "capabilities"),
        ("功能列表发我一下", "capabilities"),
        ("辛苦了🙏", "thanks"),
        ("谢谢你们👍", "thanks"),
        ("好的[OK]", "ack"),
        ("预约🙏", ""),
        ("社保有哪些服务", ""),
        ("公积金能办哪些业务", ""),
        ("是真人在回吗", "bot"),
        ("你是机器人还是真人啊", "bot"),
        # Cantonese, typed in traditional characters.
        ("多謝晒 你哋好有心 再見", "thanks"),
        ("唔該晒", "thanks"),
        # Regional: terms of address inside a piece, 「恁忙」, not knowing how to use it.
        ("好嘞 谢谢你哈妹儿 你们辛苦了哈", "thanks"),
        ("中 俺知道了 就这吧 恁忙", "ack"),
        ("你们这都能办啥呀 俺不太会整这玩意儿", "capabilities"),
        ("你们这都能办啥 我啥也不懂 第一次用", "capabilities"),
        ("你好 这个号都能办些啥", "capabilities"),
        ("你好 你听得懂人话吗 你到底能干啥", "capabilities"),
        ("早上好 你们这都能办啥", "capabilities"),
        ("好的 明白了 那我回头再说 辛苦啦", "thanks"),
        ("在吗 有哪些服务", "capabilities"),
        ("对面是真人还是机器人", "bot"),
        ("我要投诉机器人", ""),
        ("不知道问啥", "vague"),
        ("社保卡丢了怎么补办", ""),
        ("我想预约", ""),
    ],
)
def test_small_talk_is_told_from_requests(text: str, kind: str) -> None:
    assert understand(text, TODAY).small_talk == kind


@pytest.mark.parametrize(
    ("text", "pick"),
    [
        ("2", 2), ("第一个", 1), ("第二项", 2), ("第3个", 3), ("选第二个", 2), ("头一个", 1), ("2吧", 2), ("二", None),
        ("我要预约", None),
    ],
)
def test_a_pick_from_a_numbered_list_in_digits_or_ordinals(text: str, pick: int | None) -> None:
    assert understand(text, TODAY).pick == pick


@pytest.mark.parametrize(
    ("text", "question"),
    [
        ("停车方便不", True),
        ("有结果了没有", True),
        ("方便不方便", True),
        ("大厅在哪儿啊", True),
        ("二楼卫生间一直没有纸，水龙头坏了好几天", False),
        ("下周二上午", False),
    ],
)
def test_questions_include_a_trailing_negation_and_a_not_a(text: str, question: bool) -> None:
    assert is_question(text) is question


def test_not_knowing_is_recognised() -> None:
    assert understand("不知道编号", TODAY).dont_know
    assert understand("编号找不到了", TODAY).dont_know
    assert understand("单子找不着了", TODAY).dont_know and understand("编号没记住", TODAY).dont_know
    assert understand("我没有受理编号，只有身份证", TODAY).dont_know
    assert understand("当时没拿到回执", TODAY).dont_know
    assert not understand("SQ20261120000123", TODAY).dont_know


def test_slot_readings_are_computed_once_per_flow(registry: FlowRegistry) -> None:
    booking = registry.current("booking")
    assert booking is not None
    said = understand("我想预约明天上午去办社保卡", TODAY)
    first = said.scan(booking)
    assert said.scan(booking) is first
    assert said.prefill(booking) == list(first.found)
    assert said.mentions(booking) >= {"business", "date", "period"}


def test_a_correction_names_its_slot_and_is_read_for_it(registry: FlowRegistry) -> None:
    booking = registry.current("booking")
    assert booking is not None
    said = understand("手机号改为13912345678", TODAY)
    assert said.correction(booking)["mobile"].value == "13912345678"


def test_a_bare_identifier_is_recognised_for_the_flow_that_starts_with_it(registry: FlowRegistry) -> None:
    progress = registry.current("progress")
    assert progress is not None
    assert understand("SQ20261123001010", TODAY).identifier_only(progress)
    assert not understand("我想问一下SQ20261123001010这个编号是什么意思能不能帮我解释一下", TODAY).identifier_only(
        progress
    )


@pytest.mark.parametrize(("text", "kind"), [("收到，谢谢", "thanks"), ("好的 再见", "ack"), ("嗯，知道了", "ack")])
def test_small_talk_said_in_several_pieces_is_still_small_talk(text: str, kind: str) -> None:
    assert understand(text, TODAY).small_talk == kind


def test_chinese_punctuation_is_kept_as_typed() -> None:
    # A complaint's description and a rating's reason are stored as the citizen wrote them.
    assert understand("取号机坏了，排了一个小时队！", TODAY).text == "取号机坏了，排了一个小时队！"


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("谢谢啊", "thanks"),
        ("多谢了", "thanks"),
        ("好的呀", "ack"),
        ("收到啦，谢谢哈", "thanks"),
        ("你好呀呀", "greeting"),
    ],
)
def test_modal_particles_at_the_end_do_not_hide_small_talk(text: str, kind: str) -> None:
    assert understand(text, TODAY).small_talk == kind


def test_a_particle_does_not_make_a_question_small_talk() -> None:
    assert understand("社保卡丢了", TODAY).small_talk == ""


@pytest.mark.parametrize(
    "text",
    ["有个想法想给你们说说", "有件事想跟你们反映一下", "我要反映个情况", "我想投诉但是不想留电话", "能匿名反映问题吗"],
)
def test_an_opener_is_not_taken_as_the_complaints_description(registry: FlowRegistry, text: str) -> None:
    flow = next(f for f in registry if f.id == "complaint")
    assert "description" not in understand(text, TODAY).scan(flow).found


def test_a_first_message_that_describes_the_matter_is_its_description(registry: FlowRegistry) -> None:
    flow = next(f for f in registry if f.id == "complaint")
    said = understand("我想投诉一下 你们窗口那个工作人员态度太差了", TODAY)
    assert "工作人员态度太差" in said.scan(flow).found["description"].value


@pytest.mark.parametrize("text", ["算了不提了", "那我先不约了", "不查了", "算了，不办了吧", "我不投诉了", "不想说了"])
def test_giving_up_in_ones_own_verb_is_a_dismissal(text: str) -> None:
    assert understand(text, TODAY).small_talk == "dismiss"


@pytest.mark.parametrize("text", ["不要", "不对", "不是这个", "我不知道"])
def test_a_plain_no_is_not_a_dismissal(text: str) -> None:
    assert understand(text, TODAY).small_talk != "dismiss"


def test_regional_words_are_read_plainly_but_kept_as_written() -> None:
    said = understand("我上个月交的材料，咋个还莫得消息嘛", TODAY)
    assert "没有消息" in said.command and "没有消息" in said.norm
    # The text slots are read from (a complaint's account) stays as the citizen wrote it.
    assert said.text == "我上个月交的材料，咋个还莫得消息嘛"


def test_a_number_one_does_not_have_is_not_knowing_it() -> None:
    assert understand("俺闺女帮俺交的申请，编号俺莫得，咋查进度", TODAY).dont_know



@pytest.mark.parametrize(
    ("text", "read"),
    [
        ("想yy gjj提取", "想预约 公积金提取"),
        ("sfz过期了要换 能YY吗", "身份证过期了要换 能预约吗"),
        # Not inside a word, not before a number (a receipt number's prefix).
        ("yyds", "yyds"),
        ("YY 20261109", "YY 20261109"),
        ("JZZ-2026-118734", "JZZ-2026-118734"),
    ],
)
def test_pinyin_initials_of_the_trade_are_written_out(text: str, read: str) -> None:
    assert understand(text, TODAY).text == read
