"""Slot parsers: what each type accepts from a message, in scan and in focus."""

from __future__ import annotations

from datetime import date

import pytest

from flows import slots
from flows.schema import Option, Slot

TODAY = date(2026, 11, 26)


def slot(type_: str, **kw: object) -> Slot:
    return Slot.model_validate({"type": type_, "label": type_, "prompt": "?", **kw})


BUSINESS = slot(
    "choice",
    options=[
        Option(value="社保卡办理", synonyms=["社保卡", "社会保障卡"]),
        Option(value="居住证办理", synonyms=["居住证"]),
    ],
)


def extract(defs: dict[str, Slot], text: str, focus: tuple[str, ...] = ()) -> slots.Extraction:
    return slots.extract(defs, list(defs), text, TODAY, focus)


@pytest.mark.parametrize("number", ["11010519491231002X", "440524188001010014"])
def test_valid_resident_id_checksum(number: str) -> None:
    assert slots.id_checksum_ok(number)


def test_resident_id_with_wrong_check_digit_is_rejected() -> None:
    assert not slots.id_checksum_ok("110105194912310021")


def test_resident_id_is_found_in_a_sentence() -> None:
    found = extract({"idn": slot("id_number")}, "我的身份证号是11010519491231002x，谢谢")
    assert found.found["idn"].value == "11010519491231002X"


def test_resident_id_with_bad_checksum_gets_its_error() -> None:
    found = extract({"idn": slot("id_number")}, "110105194912310021", focus=("idn",))
    assert "idn" not in found.found
    assert "身份证" in found.invalid["idn"]


@pytest.mark.parametrize("text", ["13812345678", "手机138 1234 5678", "电话：138-1234-5678。"])
def test_mobile_is_found_with_spaces_or_dashes(text: str) -> None:
    assert extract({"m": slot("mobile")}, text).found["m"].value == "13812345678"


def test_short_number_answering_a_mobile_question_is_an_error() -> None:
    found = extract({"m": slot("mobile")}, "1381234567", focus=("m",))
    assert found.invalid["m"] == slots.DEFAULT_ERRORS["mobile"]


def test_choice_by_synonym_anywhere_in_the_message() -> None:
    assert extract({"b": BUSINESS}, "想去办个社会保障卡").found["b"].value == "社保卡办理"


def test_choice_by_digit_only_when_asked() -> None:
    assert extract({"b": BUSINESS}, "2", focus=("b",)).found["b"].value == "居住证办理"
    assert "b" not in extract({"b": BUSINESS}, "2").found


def test_digit_beyond_the_options_is_not_a_choice() -> None:
    assert "b" not in extract({"b": BUSINESS}, "9", focus=("b",)).found


@pytest.mark.parametrize(
    ("text", "value"),
    [("上午", "上午"), ("下午三点", "下午"), ("早上过去", "上午"), ("10点左右", "上午"), ("14:00", "下午"),
     # Everyday and regional words for a half-day.
     ("一早", "上午"), ("一大早过去", "上午"), ("上半天吧", "上午"), ("头午", "上午"), ("下半天", "下午"),
     ("吃完午饭去", "下午"), ("中午以后", "下午"), ("中午之前", "上午"), ("下昼", "下午")],
)
def test_period(text: str, value: str) -> None:
    assert extract({"p": slot("period")}, text).found["p"].value == value


def test_weekend_date_for_a_working_day_slot_suggests_the_next_working_day() -> None:
    found = extract({"d": slot("date", working_day=True)}, "后天")
    assert "d" not in found.found
    assert "休息日" in found.invalid["d"] and "11月30日" in found.invalid["d"]


def test_past_date_is_refused() -> None:
    found = extract({"d": slot("date")}, "2026-11-20")
    assert "已经过去" in found.invalid["d"]


def test_date_beyond_the_booking_window_is_refused() -> None:
    found = extract({"d": slot("date", max_days=30)}, "2027年3月1日")
    assert "30天以内" in found.invalid["d"]


def test_free_text_is_what_is_left_of_an_answer() -> None:
    defs = {"name": slot("text", pattern="[\u4e00-\u9fa5]{2,10}"), "m": slot("mobile")}
    found = extract(defs, "张三，13812345678", focus=("name", "m"))
    assert found.found["name"].value == "张三"
    assert found.found["m"].value == "13812345678"


def test_free_text_is_not_read_from_messages_that_did_not_answer_it() -> None:
    defs = {"name": slot("text")}
    assert extract(defs, "张三").found == {}


def test_free_text_extraction_pattern_reads_it_from_any_message() -> None:
    defs = {"name": slot("text", patterns=["我叫(?P<value>[\u4e00-\u9fa5]{2,3}?)(?=[，,]|$)"])}
    assert extract(defs, "你好，我叫王芳，想预约").found["name"].value == "王芳"


def test_scanned_free_text_needs_more_than_trigger_words() -> None:
    defs = {"desc": slot("text", scan=True, min_length=8)}
    assert slots.extract(defs, ["desc"], "我要投诉", TODAY, (), ["投诉"]).found == {}
    long = "我要投诉，三号窗口的人一直在玩手机不理人"
    assert slots.extract(defs, ["desc"], long, TODAY, (), ["投诉"]).found["desc"].value == long


def test_regex_slot_matches_whole_tokens_only() -> None:
    defs = {"no": slot("regex", pattern="SQ\\d{6}")}
    assert extract(defs, "编号SQ123456查询").found["no"].value == "SQ123456"
    assert extract(defs, "SQ1234567").found == {}


def test_number_in_range() -> None:
    defs = {"n": slot("number", minimum=1, maximum=10)}
    assert extract(defs, "三个", focus=("n",)).found["n"].value == "3"
    assert "n" in extract(defs, "12", focus=("n",)).invalid


def test_a_span_taken_by_one_slot_is_not_read_again() -> None:
    defs = {"m": slot("mobile"), "no": slot("regex", pattern="\\d{11}")}
    found = extract(defs, "13812345678")
    assert set(found.found) == {"m"}


def test_id_number_is_masked_for_display() -> None:
    assert slots.display(slot("id_number"), "11010519491231002X") == "1101**********002X"


BOOKING_LIKE = {"date": slot("date", working_day=True, max_days=30), "period": slot("period"),
                "name": slot("name"), "mobile": slot("mobile")}
ASKED = ("date", "period", "name", "mobile")


@pytest.mark.parametrize(
    ("text", "value"),
    [("王小明", "王小明"), ("张三，13812345678", "张三"), ("我叫李雷 电话13812345678", "李雷"),
     ("下周一上午，欧阳娜娜", "欧阳娜娜"), ("姓名：那英", "那英"), ("阿依古丽·买买提", "阿依古丽·买买提"),
     ("我妈叫李秀兰 电话13755556666", "李秀兰"), ("老人家叫陈桂芳，手机13900001111", "陈桂芳")],
)
def test_a_name_is_read_from_an_answer(text: str, value: str) -> None:
    assert extract(BOOKING_LIKE, text, focus=ASKED).found["name"].value == value


@pytest.mark.parametrize(
    "text", ["不对，改成后天", "那就12月3号", "好的，下周一上午吧", "还是下午吧", "就这样吧 13812345678"]
)
def test_words_around_other_answers_are_not_a_name(text: str) -> None:
    assert "name" not in extract(BOOKING_LIKE, text, focus=ASKED).found


def test_a_refused_date_is_not_read_as_other_answers() -> None:
    found = extract(BOOKING_LIKE, "周六", focus=ASKED)
    assert "date" in found.invalid and "name" not in found.found


def test_a_ten_digit_mobile_with_spaces_is_an_error() -> None:
    assert "m" in extract({"m": slot("mobile")}, "139 1234 567", focus=("m",)).invalid


def test_a_day_earlier_this_month_is_in_the_past_not_next_year() -> None:
    found = extract({"d": slot("date")}, "11月20日", focus=("d",))
    assert found.invalid["d"].startswith("不能预约过去的日期：11月20日（周五）已经过去了")


def test_a_month_long_gone_means_next_year() -> None:
    found = extract({"d": slot("date", max_days=366)}, "3月2日", focus=("d",))
    assert found.found["d"].value == "2027-03-02"


def test_a_lone_word_is_a_rare_name_only_when_the_name_alone_was_asked() -> None:
    assert "name" not in extract(BOOKING_LIKE, "菜篮", focus=ASKED).found
    assert extract(BOOKING_LIKE, "菜篮", focus=("name",)).found["name"].value == "菜篮"


@pytest.mark.parametrize(
    ("text", "value", "doubt"),
    # Three characters with one homophone are that name (two are a guess: the test below).
    [("居住证", "居住证办理", ""), ("居注证", "居住证办理", "")],
)
def test_a_long_choice_read_through_one_homophone_is_taken_as_said(text: str, value: str, doubt: str) -> None:
    found = extract({"business": BUSINESS}, text).found["business"]
    assert (found.value, found.doubt) == (value, doubt)


def test_a_two_character_option_is_read_through_a_homophone_only_in_a_short_message() -> None:
    marriage = slot("choice", options=[Option(value="婚姻登记", synonyms=["结婚", "离婚"])])
    found = extract({"business": marriage}, "想约个号 办离昏").found["business"]
    assert (found.value, found.doubt) == ("婚姻登记", "homophone")
    # A longer message: a pair of its characters may read like an option by chance.
    assert "business" not in extract({"business": marriage}, "我上周去大厅办事的时候看到有人在离昏那边排队").found


def test_a_name_alone_in_a_listed_message_is_taken_but_a_title_is_not() -> None:
    defs = {"name": slot("name"), "mobile": slot("mobile")}
    assert extract(defs, "明天上午，刘洋，13700001234").found["name"].value == "刘洋"
    assert "name" not in extract(defs, "明天上午，王先生，13700001234").found
    assert "name" not in extract(defs, "我想预约明天上午去办社保卡").found


def test_a_word_run_on_from_another_value_is_not_a_listed_name() -> None:
    defs = {"business": BUSINESS, "date": slot("date"), "name": slot("name"), "mobile": slot("mobile")}
    # 「申领」 is left standing once 社保卡 is taken, but it was never written as an item of its own.
    assert "name" not in extract(defs, "预约社保卡申领").found
    assert extract(defs, "社保卡，明天，刘洋，13700001234").found["name"].value == "刘洋"


PERIOD_LIKE = {"date": slot("date"), "period": slot("period"), "name": slot("name")}


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("约明天商务办居住证", "上午"),
        ("后天下吴去", "下午"),
        ("12月9号，商务，张三", "上午"),
        ("商务", "上午"),
        ("下吴吧", "下午"),
    ],
)
def test_a_half_day_typed_as_the_ime_offers_it_is_read(text: str, value: str) -> None:
    # shangwu → 商务: a pinyin IME's first offer for 上午, right after the day or as the whole answer.
    assert extract(PERIOD_LIKE, text).found["period"].value == value


@pytest.mark.parametrize("text", ["我在商务局上班", "电子商务", "明天去商务局"])
def test_a_word_that_sounds_like_a_half_day_elsewhere_is_not_one(text: str) -> None:
    assert "period" not in extract(PERIOD_LIKE, text).found


def test_part_of_an_options_words_is_not_found_by_chance_in_a_sentence() -> None:
    category = slot(
        "choice",
        options=[Option(value="办事效率", synonyms=["一直没消息"]), Option(value="环境设施", synonyms=["空调"])],
    )
    # 一直 is part of 「一直没消息」 only, but here it says how long the lift has been broken.
    defs = {"category": category}
    found = slots.extract(defs, ["category"], "就是你们三楼的电梯一直坏着 老人上不去", TODAY, ("category",))
    assert "category" not in found.found
    # A short answer that is part of one option's words still answers the question.
    short = slots.extract(defs, ["category"], "一直没", TODAY, ("category",))
    assert short.found["category"].value == "办事效率"


WEEK_LIKE = {"date": slot("date", working_day=True, max_days=30), "period": slot("period"), "name": slot("name")}
SUNDAY = date(2026, 12, 6)


@pytest.mark.parametrize(
    ("text", "day", "period"),
    [
        # The day and half-day after 「改」 are the ones meant; the first said is not.
        ("哦12号是星期六啊 那改14号 周一 还是上午", "2026-12-14", "上午"),
        ("下周三不行 改到下周四", "2026-12-10", None),
        ("时间改成下午吧 上午走不开", None, "下午"),
        ("明早能去吗", "2026-12-07", "上午"),
    ],
)
def test_what_a_message_settles_on_is_read(text: str, day: str | None, period: str | None) -> None:
    found = slots.extract(WEEK_LIKE, list(WEEK_LIKE), text, SUNDAY, tuple(WEEK_LIKE)).found
    assert (found["date"].value if "date" in found else None) == day
    assert (found["period"].value if "period" in found else None) == period
    assert "name" not in found  # 「周一」 is a day, though 周 is a surname


def test_a_past_day_is_refused_not_swapped_for_a_guess() -> None:
    found = slots.extract(WEEK_LIKE, ["date"], "12月3号或者4号", SUNDAY, ("date",))
    assert "date" not in found.found and "过去" in found.invalid["date"]



def test_option_terms_are_listed_once_per_slot_lower_cased_longest_first() -> None:
    choice = slot("choice", options=[Option(value="ID卡", synonyms=["身份证", "Id"])])
    terms = slots.option_terms(choice)
    assert terms == [("id卡", "ID卡"), ("身份证", "ID卡"), ("id", "ID卡")]
    assert slots.option_terms(choice) is terms
    other = slot("choice", options=[Option(value="护照")])
    assert slots.option_terms(other) == [("护照", "护照")]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("算了社保卡先不弄了 改成居住证吧", "居住证办理"),
        ("不办社会保障卡了，还是办居住证", "居住证办理"),
        ("居住证那个算了，社保卡", "社保卡办理"),
        # Without a change of mind the longer name is the one said plainly; 换 is done to a card.
        ("换社保卡，顺便问问居住证", "社保卡办理"),
    ],
)
def test_the_option_named_after_a_change_of_mind_is_the_one_meant(text: str, value: str) -> None:
    assert extract({"b": BUSINESS}, text).found["b"].value == value


NAME = slot("name", max_length=40)


@pytest.mark.parametrize(
    ("text", "focus", "value"),
    [
        # A foreign name as the passport writes it, among other facts or as the reply.
        ("12月14号 Monday，morning 上午，Michael Brown，18616073395", (), "Michael Brown"),
        ("Kenji Tanaka", (), "Kenji Tanaka"),
        ("michael brown", ("n",), "michael brown"),
        # English words around the facts are no name.
        ("Monday Morning 上午", (), None),
        ("Hello 我想预约 Residence Permit", (), None),
        ("ok thanks", ("n",), None),
    ],
)
def test_a_name_in_latin_letters(text: str, focus: tuple[str, ...], value: str | None) -> None:
    found = extract({"n": NAME}, text, focus).found.get("n")
    assert (found.value if found else None) == value


@pytest.mark.parametrize(
    ("text", "value"),
    [
        # A word that starts with a surname, run on into the rest of the sentence, is no name.
        ("房子抵押登记预越下周三下午", None),
        # A field's label without 是 or ： may be followed by anything.
        ("房产证上想加我老婆名字 约个时间去办", None),
        ("姓名 张三", "张三"),
        ("名字：难波", "难波"),
        # A name run on into the day is still one.
        ("约社保卡 王芳明天上午 13812345678", "王芳"),
    ],
)
def test_what_is_and_is_not_a_name_in_a_sentence(text: str, value: str | None) -> None:
    found = extract({"n": slot("name"), "b": BUSINESS, "d": slot("date")}, text).found.get("n")
    assert (found.value if found else None) == value


def test_a_nickname_is_asked_to_be_the_full_name() -> None:
    found = extract({"n": slot("name")}, "叫我阿强就行", ("n",))
    assert "n" not in found.found and "阿强" in found.invalid["n"]
