"""`flows.intents`: the flows' YAML triggers scored, action words over topic words, homophones tolerated."""

from __future__ import annotations

import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from flows.homophones import find
from flows.intents import PRECEDENCE_STEP, asks_how, asks_whether_needed, best_word, keyword_length, rank
from flows.registry import FlowRegistry, load_flows
from flows.utterance import understand

TODAY = date(2026, 11, 26)


def top(registry: FlowRegistry, text: str) -> str:
    ranked = rank(understand(text, TODAY), registry)
    return ranked[0].flow_id if ranked else ""


@pytest.mark.parametrize(
    ("word", "text", "at"),
    [
        ("预约", "我想遇约下周二", 2),
        ("投诉", "我要头诉", 2),
        ("进度", "查询进读", 2),
        ("公积金", "公即金的业务", 0),
        ("居住证", "我要办居注证", 3),
        ("建议", "简易程序", -1),
        ("店", "点", -1),
    ],
)
def test_a_word_is_found_despite_one_ime_homophone(word: str, text: str, at: int) -> None:
    assert find(word, text) == at


def test_plus_needs_every_part_and_ellipsis_needs_them_close_in_order() -> None:
    assert keyword_length("执照+办", "办个执照") == 3
    assert keyword_length("开…馆", "我想开个小饭馆") == 2
    assert keyword_length("开…馆", "饭馆几点开门") == 0


# Keywords of every kind (plain, A+B, A…B, one character) and texts made of their characters and
# homophones of them (遇 for 预, 头 for 投), so that near misses are common.
_KEYWORDS = ["预约", "投诉+态度", "开…馆", "店", "居住证", "查进度", "跑…趟", "不给办", "约个号", "办+执照"]
_CHARS = sorted(set("".join(_KEYWORDS).replace("+", "").replace("…", "")) | set("遇头住注读度个了我想的"))


def _every_keyword_tried(keywords: list[str], text: str) -> tuple[int, str]:
    best, word = 0, ""
    for keyword in keywords:
        length = keyword_length(keyword, text)
        if length > best:
            best, word = length, keyword
    return best, word


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=_CHARS, max_size=14), st.permutations(_KEYWORDS))
def test_the_keyword_index_finds_what_trying_every_keyword_finds(text: str, keywords: list[str]) -> None:
    assert best_word(keywords, text) == _every_keyword_tried(keywords, text)


@pytest.mark.parametrize(
    ("text", "flow"),
    [
        ("我要预约去大厅办营业执照", "booking"),
        ("营业执照怎么办理", "business_licence"),
        ("给我排个号，下礼拜三下午去弄医保", "booking"),
        ("帮我取个号，后天去办户口", "booking"),
        ("我想去大厅办居住证，能先挂个下周一的号吗", "booking"),
        ("帮我约个明天上午的号", "booking"),
        ("大厅的工作人员太不专业了", "complaint"),
        ("我想说一下情况", "complaint"),
        ("我交的申请书有下落了吗", "progress"),
        ("我要反映个情况", "complaint"),
        ("窗口的人让我跑了三趟还没办成", "complaint"),
        ("几个部门推来推去没人管", "complaint"),
        ("有个想法想给你们说说", "complaint"),
        ("我家门口的路灯坏了一个多星期了", "complaint"),
        ("上个月交的居住证申请，现在弄得咋样了", "progress"),
        ("SQ20261123001010", "progress"),
        ("我想开个小饭馆，要办什么手续", "business_licence"),
        ("想开个卖水果的小摊 要办啥手续不", "business_licence"),
        ("我是自由职业做平面设计的 想注册个个体户 需要什么材料 能用家里地址注册吗", "business_licence"),
        ("代办 客户要注册个科技有限公司 三个股东 材料清单发我一下 thx", "business_licence"),
        ("预约了上午九点结果去了还要重新取号 那预约有啥用啊 吐槽一下", "complaint"),
        # Terse: the verb and the business (「=约个」, exactly).
        ("约个公积金", "booking"),
        # A plan asked about (行不行, 好伐), 约 with a registration, a Shanghai 「啥辰光」.
        ("老早想去弄居住证了 礼拜五下半天好伐 行不行啊", "booking"),
        ("我要给我孙女约结婚登记 我帮她弄的 这样对不对", "booking"),
        ("我想问问我帮儿子交个材料 现在办到啥辰光了", "progress"),
        ("上周交的不动产登记材料 今天能不能出证啊 急着用", "progress"),
        ("今天能不能办居住证 急用！！！", "booking"),
        ("你们那个小程序预约总是提交失败 我试了五六遍了 一直提示网络异常", "complaint"),
        ("带着几个月大的孩子去办事 连个母婴室都没有 在走廊喂奶 太不方便了", "complaint"),
        # What is said not to be wanted does not count (不是预约); English for the action.
        ("你听懂了吗 我问的是进度 不是预约", "progress"),
        ("Hello 我要 complaint 我的居住证 已经一个月了 还没好", "complaint"),
        ("唉 还是约吧 拖着也不是办法", "booking"),
        ("在吗 约公积金", "booking"),
        ("有个情况想说一下 上个月我爸八十多岁了 去办医保 腿脚不好 楼梯上不去 电梯还停了", "complaint"),
        ("房子卖了要去过户 咋约啊", "booking"),
        ("自助机把我身份证吞了 咋办 急", "complaint"),
        # English and pinyin shorthand (book, yy, sfz).
        ("想book一下医保 明早 ok吗", "booking"),
        ("sfz过期了要换 能yy吗", "booking"),
        ("我要頭訴", "complaint"),
        ("查询进读", "progress"),
        ("我上周交的居住证材料 到底什么时候能拿证", "progress"),
        ("我申请的护照什么时候能拿到", "progress"),
        ("我儿子的护照办了半个月了还没寄到", "progress"),
        ("营业执照批没批", "progress"),
        ("交了材料三天还没消息", "progress"),
        ("上个月申请的人才补贴怎么还没到账", "progress"),
        ("我那个落户的申请审到哪了", "progress"),
        ("帮忙看看我的件", "progress"),
        ("怎么查我的申请办没办完", "progress"),
        # Asking where to book something (the booking then says it is done elsewhere).
        ("孩子的出生证明在哪里约着办", "booking"),
        ("公证怎么约", "booking"),
        # Asking whether one may come on a day for a business is asking to come.
        ("明天下午能去办医保吗", "booking"),
        ("明早能去激活社保卡不", "booking"),
        # Two things in order: the first is served first.
        ("先查个进度 再约个号", "progress"),
        ("先约个号 然后查一下进度", "booking"),
        ("我上个月交的材料，咋个还莫得消息嘛", "progress"),
        ("不动产证什么时候能拿到啊，都等了二十多天了", "progress"),
        ("你们那个网上预约系统是摆设吗？？？约了三次都提示系统繁忙", "complaint"),
        # 约 with the day straight after it.
        ("约明天上午办房子抵押登记", "booking"),
        ("我约下周三行吗", "booking"),
    ],
)
def test_the_flow_a_citizen_asks_for_in_their_own_words(registry: FlowRegistry, text: str, flow: str) -> None:
    assert top(registry, text) == flow


@pytest.mark.parametrize(
    "text",
    [
        "大厅的空调坏了 热死了",
        "你们厕所一直没人打扫，臭得很",
        "取号机坏了好几天了",
        "窗口办事太慢了",
        "你们的电话一直打不通",
        "排了两个多小时队才轮到我 效率也太低了吧",
        "公众号上办事指南写的材料跟窗口要的不一样，到底听谁的",
        # Hours of waiting, staff who do not serve.
        "排队排了快三个小时 就开两个窗口 其他窗口人都在玩手机 这合理吗",
        "去办居住证窗口说我材料不全 问了就不耐烦 凭什么这样对外地人",
        # 「那个取号机」 is no 「拿个…号」: a gapped action word is found exactly.
        "一楼那个取号机坏了 取不了号 保安让我们干等 等了一上午也没人修😡",
    ],
)
def test_a_grievance_said_as_a_statement_is_a_complaint(registry: FlowRegistry, text: str) -> None:
    ranked = rank(understand(text, TODAY), registry)
    assert ranked[0].flow_id == "complaint" and ranked[0].kind == "topic"


@pytest.mark.parametrize(
    "text",
    [
        "马路上有个大坑",
        "隔壁工地半夜还在干活",
        "暖气不热",
        "村里的自来水有怪味",
        "公园的健身器材坏了",
        "物业不给修电梯",
        "公交站的广告牌要掉下来了",
    ],
)
def test_a_city_matter_said_as_a_statement_is_a_complaint(registry: FlowRegistry, text: str) -> None:
    assert top(registry, text) == "complaint"


def test_no_question_of_the_sample_faq_is_read_as_a_grievance(registry: FlowRegistry) -> None:
    phrasings = [
        q
        for path in sorted((Path(__file__).resolve().parents[2] / "knowledge" / "faq").glob("*.yaml"))
        for entry in yaml.safe_load(path.read_text(encoding="utf-8")).get("entries", [])
        for q in [entry["question"], *entry.get("similar", [])]
    ]
    assert len(phrasings) > 500
    read_as_grievance = [
        q for q in phrasings
        if (top_intent := next(iter(rank(understand(q, TODAY), registry)), None)) is not None
        and top_intent.kind == "topic" and "+" in top_intent.word and top_intent.flow_id == "complaint"
    ]
    assert read_as_grievance == []


@pytest.mark.parametrize("text", ["大厅几点开门", "社保卡坏了怎么补办", "窗口能办居住证吗", "空调费能报销吗"])
def test_the_hall_named_without_a_bad_state_is_not_a_grievance(registry: FlowRegistry, text: str) -> None:
    assert "complaint" not in {i.flow_id for i in rank(understand(text, TODAY), registry)}


@pytest.mark.parametrize("text", ["卖水果要什么证", "开个小卖部要什么证", "摆摊卖小吃要办啥证"])
def test_which_licence_trading_needs_is_licence_guidance(registry: FlowRegistry, text: str) -> None:
    assert top(registry, text) == "business_licence"


@pytest.mark.parametrize(
    # Nor is changing a licence held (the FAQ's change entry).
    "text", ["孩子上学要什么证明", "办居住证要什么证明材料", "你好 我是个体户 想把执照上的经营范围改一下"]
)
def test_a_certificate_for_something_else_is_not_licence_guidance(registry: FlowRegistry, text: str) -> None:
    assert "business_licence" not in {i.flow_id for i in rank(understand(text, TODAY), registry)}


@pytest.mark.parametrize(
    "text", ["我想投诉你们那个预约系统 老是约不上", "我要举报有人倒卖预约号", "我要投诉 查进度查不到"]
)
def test_a_complaint_about_another_service_is_a_complaint(registry: FlowRegistry, text: str) -> None:
    ranked = rank(understand(text, TODAY), registry)
    assert ranked[0].flow_id == "complaint" and ranked[0].kind == "action"


def test_precedence_is_data(tmp_path: Path) -> None:
    source = Path(__file__).resolve().parents[2] / "flows"
    for name in ("booking.yaml", "complaint.yaml"):
        text = (source / name).read_text(encoding="utf-8").replace("  precedence: 1\n", "")
        (tmp_path / name).write_text(text, encoding="utf-8")
    # Without it the two action words are ranked by their length alone: a near tie.
    scores = {i.flow_id: i.score for i in rank(understand("投诉预约", TODAY), load_flows(tmp_path))}
    assert abs(scores["complaint"] - scores["booking"]) < PRECEDENCE_STEP


def test_an_action_word_drops_topic_intents_of_other_flows(registry: FlowRegistry) -> None:
    ranked = rank(understand("预约一下，要办个体户营业执照", TODAY), registry)
    assert ranked[0].flow_id == "booking" and ranked[0].kind == "action"
    assert all(intent.kind != "topic" for intent in ranked)


def test_an_exclude_word_keeps_a_message_from_its_flow(registry: FlowRegistry) -> None:
    assert "business_licence" not in {i.flow_id for i in rank(understand("营业执照丢了", TODAY), registry)}


def test_trigger_phrases_admins_add_are_data(tmp_path: Path) -> None:
    source = Path(__file__).resolve().parents[2] / "flows" / "complaint.yaml"
    text = source.read_text(encoding="utf-8").replace("topics: [路灯,", "topics: [广场舞, 路灯,")
    (tmp_path / "complaint.yaml").write_text(text, encoding="utf-8")
    registry = load_flows(tmp_path)
    assert top(registry, "楼下广场舞每天放到十点") == "complaint"


def test_a_long_text_is_searched_exactly_only() -> None:
    assert find("预约", "遇约" + "办" * 300) == -1
    assert find("预约", "办" * 300 + "预约") == 300


def test_the_pinyin_table_is_read_without_pypinyins_phrase_tables() -> None:
    # pypinyin's package import loads a phrase table costing ~55 MB in every worker (issue 2's budget).
    code = "import sys, flows.homophones as h; h.warm_up(); print(any(m.startswith('pypinyin') for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_an_account_of_what_happened_yesterday_does_not_start_a_booking(registry: FlowRegistry) -> None:
    # A business and a day, but a past day: the citizen is recounting, not asking for a slot.
    said = understand("昨天下午在社保窗口排了两小时还被凶", TODAY)
    assert all(i.flow_id != "booking" for i in rank(said, registry))


def test_a_business_and_a_coming_day_still_start_a_booking(registry: FlowRegistry) -> None:
    said = understand("明天下午 社保卡", TODAY)
    assert [i.flow_id for i in rank(said, registry)][:1] == ["booking"]


@pytest.mark.parametrize(
    "text",
    [
        "我办的那个居住证咋还没好",
        "上周申请的营业执照啥时候能下来",
        "我提交的材料怎么还没批下来",
        "交了材料一直没动静",
        "我上个月交的材料到现在没消息",
    ],
)
def test_an_application_still_waited_for_asks_for_its_progress(registry: FlowRegistry, text: str) -> None:
    assert [i.flow_id for i in rank(understand(text, TODAY), registry)][:1] == ["progress"]


def test_a_payment_not_yet_arrived_is_not_a_progress_question(registry: FlowRegistry) -> None:
    # 「养老金怎么还没到账」 is the FAQ's question about payment dates, not an application's progress.
    assert all(i.flow_id != "progress" for i in rank(understand("养老金怎么还没到账", TODAY), registry))


@pytest.mark.parametrize(
    ("text", "needed"),
    [
        ("结婚证要预约吗", True),
        ("办护照需不需要预约", True),
        ("去大厅办社保卡用不用提前预约？", True),
        ("我需要预约明天上午办社保卡", False),
        ("我要预约，可以吗", False),
        ("能帮我预约一下吗", False),
        ("预约需要带什么", False),
    ],
)
def test_a_question_whether_the_action_is_required_is_told_from_asking_for_it(
    registry: FlowRegistry, text: str, needed: bool
) -> None:
    said = understand(text, TODAY)
    ranked = rank(said, registry)
    assert ranked and ranked[0].flow_id == "booking"
    assert asks_whether_needed(said, ranked[0]) is needed


@pytest.mark.parametrize("text", ["办护照多久能拿到", "社保要交的钱什么时候扣", "今天办了社保卡还没激活怎么办"])
def test_a_question_about_processing_times_is_not_a_progress_check(registry: FlowRegistry, text: str) -> None:
    assert "progress" not in {i.flow_id for i in rank(understand(text, TODAY), registry)}


@pytest.mark.parametrize(
    "text",
    [
        "居住证那个申请咋样了，编号SQ20261101000111",
        "SQ20261101000111这个是什么时候能办好？",
        "帮忙看下2026112000123456现在啥情况",
    ],
)
def test_a_question_carrying_an_application_number_is_a_progress_lookup(registry: FlowRegistry, text: str) -> None:
    assert top(registry, text) == "progress"


def test_a_statement_with_a_number_and_more_to_say_is_not_a_lookup(registry: FlowRegistry) -> None:
    # Not a question and more than the number: the identifier alone decides nothing.
    assert top(registry, "上次那个SQ20261101000111的材料我已经重新交过了") != "progress"


@pytest.mark.parametrize(
    ("text", "how"),
    [
        ("你好，请问怎么投诉窗口人员", True),
        ("去哪反映问题", True),
        ("我要投诉", False),
        ("怎么投诉，上午在2号窗口等了两个小时没人管", False),
    ],
)
def test_asking_how_to_do_a_service_is_told_apart_from_doing_it(registry: FlowRegistry, text: str, how: bool) -> None:
    complaint = registry.current("complaint")
    assert complaint is not None
    assert asks_how(understand(text, TODAY), complaint) is how


# An IME offers a character by its usual reading: 说 (shuo; yue only in classical texts) is no
# slip for 约, while 越 for 约 and 航 for 行 (xing, hang) are.
@pytest.mark.parametrize(
    ("word", "text", "at"),
    [("想约", "我想说一下", -1), ("约一下", "我想说一下情况", -1), ("预约", "预越", 0), ("银行", "银航卡", 0)],
)
def test_a_homophone_is_read_by_the_typed_characters_usual_reading(word: str, text: str, at: int) -> None:
    assert find(word, text) == at


@pytest.mark.parametrize("text", ["我想说一下情况", "想说个事", "不想说了"])
def test_saying_something_is_not_booking(registry: FlowRegistry, text: str) -> None:
    assert "booking" not in {i.flow_id for i in rank(understand(text, TODAY), registry)}


def test_where_something_is_done_is_not_progress(registry: FlowRegistry) -> None:
    assert top(registry, "车辆年审到哪里做") != "progress"


@pytest.mark.parametrize("text", ["护照能去哪里办", "社保卡可以去银行办吗"])
def test_asking_where_one_may_go_is_not_a_booking(registry: FlowRegistry, text: str) -> None:
    assert top(registry, text) != "booking"


@pytest.mark.parametrize(
    "text",
    [
        "大约下午几点能办完",
        "从这到市民中心大约多远",
        # 要 sounds like 约 (yao): 「要个」「要上」 are not 「约个」「约上」.
        "买房要个税纳税记录怎么开",
        "小孩出生多久要上户口",
        "新车几年要上线检测",
        "给我要个说法",
    ],
)
def test_words_that_sound_like_booking_are_not_a_booking(registry: FlowRegistry, text: str) -> None:
    # 大约 holds 约 but books nothing.
    assert top(registry, text) != "booking"
