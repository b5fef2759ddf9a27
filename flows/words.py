"""The everyday words that are not answers: commands, acknowledgements and small talk.

One place for every word list the dialogue layer reads a message against, so that the router,
the flows and the FAQ agree on what 「好的」 or 「算了」 is. Compared against the message's
`command` form (traditional folded to simplified, trailing punctuation stripped, lower case).
"""

from __future__ import annotations

import functools
import re

CANCEL = frozenset({"取消", "退出", "取消办理", "退出办理", "不办了", "算了", "结束", "不用办了", "放弃"})
BACK = frozenset({"返回", "上一步", "返回上一步", "回到上一步", "后退", "退回"})
RESTART = frozenset({"重新开始", "重来", "重新填写", "从头开始", "重新办理"})
HANDOFF = frozenset({"人工", "转人工", "人工客服", "人工服务", "找人工"})
# 「有人吗，我要找人工」「能不能转人工啊」「给我转个真人」: asking for an agent with words around it.
# What is left after the courtesy words must be the request itself, so 「投诉你们的人工客服」 (a
# complaint) and 「人工客服几点上班」 (a question) are not taken for one.
# The person may be named without 人工 (「找个工作人员跟我说」「叫你们值班的人来」「我想和真人聊」),
# with what they should do after it (说话, 回我, 来).
# The ways of naming a person who answers instead of the program (longest first).
_PERSON_WORDS = ("真人客服", "真人", "活人", "人工客服", "人工服务", "人工", "客服人员", "客服", "工作人员")
_PERSON = "(?:" + "|".join(_PERSON_WORDS) + ")"
_AGENT = re.compile(
    r"(?P<verb>转接|接通|转|找|要|接|叫|换|联系|让|跟|和|同|与|来)?"
    r"(?:个|一个|一位|位|你们的?|你们那边的|那边的)?(?:窗口的|值班的|懂的|懂行的|能说话的)?"
    rf"(?P<who>{_PERSON}|值班人员|值班的人|负责人|领导|同志|专员|人)"
    r"(?P<tail>说话|聊天|聊聊|聊|说|谈|对话|沟通|来|过来|出来|回我|回复我|跟我说|和我说|联系我|处理|接待|看看|"
    r"回个电话|回电话|打个电话|打电话|给我打电话|通电话|通个电话)?"
)
# 「能给我回个电话吗」「打电话给我」: a call back from a person; 「有没有人能帮我」: anyone at all.
_CALL_ME = re.compile(r"(?:能|可以)?(?:(?:回|打|来)个?电话(?:给我|过来)?|电话联系我|打给我)")
_ANYONE = re.compile(r"^有没有人(?:能|可以|会|来)?(?:帮|回|理|管|处理|接待)")
# Named alone, only these are a request (「同志」「领导」 alone greet or address someone).
_AGENT_ALONE = frozenset(_PERSON_WORDS) - {"工作人员"}
# 「不想跟机器说了」「别让机器人回了」: declining the program is asking for a person.
_NOT_THE_BOT = re.compile(
    r"(?:不想|不要|别|不用|不)(?:再)?(?:跟|和|同|让)?(?:机器人|机器|智能客服|自动回复|ai|AI|电脑)(?:说|聊|回|回复|回答)?(?:话)?了?"
)
_AGENT_COURTESY = re.compile(
    r"有人吗|有人没|有没有|在吗|在不在|你好|您好|请问|我要|我想|我需要|需要|想|请|帮我|给我|麻烦|能不能|能否|可不可以|可以|"
    r"直接|快点|赶紧|一下|吗|呢|吧|啊|呀|谢谢|好吗|行吗|行不行"
)
HELP = frozenset({"菜单", "主菜单", "帮助", "help", "怎么操作", "怎么填", "不会填", "不会弄", "怎么弄"})
MENU = frozenset({"菜单", "主菜单", "服务菜单", "服务", "服务列表", "功能", "目录", "帮助", "help", "menu"})
MORE = frozenset({"更多", "更多内容", "继续", "下一页"})
GREETING = frozenset(
    {
        "你好",
        "您好",
        "在吗",
        "在不在",
        "有人吗",
        "hello",
        "hi",
        "喂",
        "你好啊",
        "您好啊",
        "哈喽",
        "嗨",
        "早上好",
        "上午好",
        "下午好",
        "晚上好",
        "早",
        "早安",
        "hey",
        "在么",
        "你好呀",
        "您好呀",
        "nihao",
    }
)
YES = frozenset(
    {
        "确认",
        "确定",
        "是",
        "是的",
        "对",
        "对的",
        "没错",
        "正确",
        "好",
        "好的",
        "可以",
        "没问题",
        "提交",
        "确认提交",
        "确认无误",
        "无误",
        "1",
        "ok",
        "嗯",
        "行",
    }
)
NO = frozenset({"修改", "不对", "有误", "不正确", "错了", "否", "要改", "改一下", "2"})
THANKS = frozenset(
    {
        "谢谢",
        "谢谢你",
        "谢谢您",
        "多谢",
        "感谢",
        "好的谢谢",
        "好的，谢谢",
        "好的 谢谢",
        "谢了",
        "thanks",
        "thank you",
        "谢谢啦",
        "谢啦",
        "感谢感谢",
        "谢谢了",
        "辛苦了",
        "辛苦",
        "你们辛苦了",
        "你们辛苦",
        "您辛苦",
        "您辛苦了",
        "辛苦你们了",
        "辛苦您了",
        "辛苦你了",
        "thx",
        "3q",
        "麻烦你了",
        "麻烦您了",
        "麻烦了",
        "辛苦辛苦",
        "有劳",
        "多谢指点",
        "谢谢指点",
        "谢谢解答",
        "感谢解答",
        "谢谢帮忙",
        "帮了大忙",
        "帮大忙了",
        "太感谢了",
        "非常感谢",
        "十分感谢",
        "太谢谢了",
        # 「你哋好有心」 (Cantonese: you are very kind), read as 你们好有心.
        "有心了",
        "好有心",
        "你们好有心",
        "你们真有心",
    }
)
# Said to close or acknowledge, not to ask: 「好的」 is not a question about 个税退税.
ACKNOWLEDGE = frozenset(
    {
        "好的",
        "好",
        "嗯",
        "嗯嗯",
        "ok",
        "okay",
        "ok的",
        "好的呢",
        "收到",
        "知道了",
        "明白",
        "明白了",
        "我明白了",
        "我知道了",
        "我懂了",
        "了解",
        "了解了",
        "行",
        "可以",
        "确认",
        "确定",
        "是的",
        "对",
        "对的",
        "没问题",
        "好吧",
        "哦",
        "噢",
        "喔",
        # Regional ways of saying yes / fine.
        "中",
        "中中",
        "对头",
        "要得",
        "得劲",
        "中得劲",
        "妥",
        "妥了",
        "成",
        "没毛病",
        "问题解决了",
        "解决了",
        "搞定了",
        "弄好了",
        "办好了",
        "懂了",
        "清楚了",
        "好嘞",
        "好滴",
        "好哒",
        "得嘞",
        "嗯呢",
        "嗯好",
        "好的好的",
        "没事",
        "没事了",
        "没别的事",
        "下次再来问",
        "下次再来",
        "下次再问",
        "回头再问",
        "回头再说",
        "那我回头再说",
        "改天再说",
        "下次再说",
        "以后再说",
        "改天再问",
        "没有事了",
        "没有事",
        "没别的事了",
        "没其他事",
        "没有别的事",
        "没别的了",
        "没有了",
        "没了",
        "就这样",
        "就这样吧",
        "就这吧",
        "就这些",
        # 「恁忙」 (Henan): you are busy, I won't keep you.
        "恁忙",
        "您忙",
        "你忙",
        "您先忙",
        "你先忙",
        "再见",
        "拜拜",
        "bye",
        "88",
    }
)
# Giving up what was started (mid-flow these cancel it, as 取消 does): the dismissals that say so
# (not 「发错了」「晚安」), and 「算了不提了」「那我先不约了」「不查了」 in the citizen's own verb.
GIVE_UP = frozenset({"算了", "不用了", "不用", "不办了", "不需要了", "不要了", "算了吧", "那算了"})
STOP = re.compile(
    r"^(?:那|那就|我)?(?:算了吧?|不用了|不要了)?[，,\s]*(?:那|我|那我)?(?:今天|今儿|现在|这会儿|暂时)?(?:先|还是|就)?"
    r"不(?:想|打算)?(?:办|提|约|预约|查|问|说|投诉|反映|弄|填|搞|要|用|需要)了(?:吧|啊|呀|哈)?$"
)
# 「算了」「不用了」 outside a flow: nothing to cancel, so a kind word and the door left open.
DISMISS = GIVE_UP | {
    # Sent by mistake, or leaving for the night: the same kind word, but nothing is given up.
    "发错了", "发错", "点错了", "不好意思发错了", "不好意思点错了", "打错了", "晚安",
}
# Praise for the service (「点赞」「你们效率真高」「666」): thanked for, not searched in the FAQ.
PRAISE = re.compile(
    r"^(?:给你们|给|你们的?|这个|真|太)?(?:这个)?(?:公众号|服务号|小程序)?(?:服务)?"
    r"(?:(?:真不错|很不错|不错|点赞|点个赞|赞|棒|真棒|太棒了|很棒|厉害|给力|好评|挺好用的?|很好用|真好用|好用|挺方便的?|很方便|"
    r"效率真高|效率高|效率很高|真快|好快|666+|牛)[\s,，!！]*)+"
    r"(?:了|啊|呀|哦|！|!|👍)*$"
)
# 「不用留电话」「电话就不留了」: declining to leave a contact.
NO_CONTACT = re.compile(
    r"^(?:那|我)?(?:就)?(?:不用|不想|不要|不|没必要|不需要)(?:留|给|登记)?(?:电话|手机号?|联系方式|号码)了?(?:吧|啊|哈)?$"
    r"|^(?:电话|手机号?|联系方式)(?:就)?(?:不用|不)留了?(?:吧|啊|哈)?$"
)
# WeChat's own emoji arrive as codes in brackets (「[捂脸]」「[强][强]」): emoji, not words.
EMOJI_CODES = re.compile(r"^(?:\[[^\[\]\s]{1,4}\])+$")


def gives_up(command: str) -> bool:
    """「算了」「算了不提了」「那我先不约了」「😮‍💨算了 今天不想弄了」: the citizen gives up what was started."""
    command = _NOT_WORDS.sub("", command) or command
    return command in GIVE_UP or STOP.match(command) is not None


# Emoji and symbols around the words (「😮‍💨算了」).
_NOT_WORDS = re.compile(r"^[^0-9A-Za-z\u4e00-\u9fff]+|[^0-9A-Za-z\u4e00-\u9fff]+$")


LAUGH = re.compile(r"^(?:哈|呵|嘿|嘻|hh|ha|he|233)+.{0,2}$")
# Asking what the service can do: the list of services answers it.
CAPABILITIES = re.compile(
    r"(能|可以|会)(帮我|帮)?(干|做|办理|办|查|处理)?(点|点儿)?(啥|什么|嘛|些什么|哪些|些啥)(事项|事|业务|服务)?"
    r"|有(哪些|什么|啥)(服务|功能|业务)|有(哪些|什么|啥)(能|可以)办|(服务|功能|业务)(有哪些|有啥|有什么|列表|清单|目录|介绍)"
    # 「这个号是干嘛的」「你们管什么的」「你们提供什么服务」「业务范围」「这个公众号怎么用」.
    r"|(是)?(干嘛|干什么|干啥|做什么|做啥|管什么|管啥)的|提供(什么|哪些|啥)(服务|业务)?"
    r"|(业务|服务)(范围|项目)(有哪些)?|服务指南|使用说明|怎么用|怎么使用|有什么可以帮我的|我能(在这里)?(做|办)(什么|啥)"
    r"|你是谁|你是机器人"
)
# What may stand around a capabilities question (「我想看看你们都有啥服务呀」); anything else is
# a subject (「社保有哪些服务」 asks about 社保, for the FAQ).
_CAPABILITY_COURTESY = re.compile(
    # Longer words before their parts: the first alternative that matches is taken (你好 before 你);
    # any greeting (「早上好 你们这都能办啥」).
    "|".join(sorted(map(re.escape, GREETING), key=len, reverse=True))
    + r"|在吗|在么|在不在|"
    # 「你听得懂人话吗 你到底能干啥」: grumbling at the bot around the question.
    r"你?听得懂人话吗?|你?听得懂吗|你?听懂了吗|到底|究竟|"
    r"这个公众号|请问|我想|想|看看|看一下|问问|问一下|你们|你|这里|这边|这个号|公众号|这|都|一共|总共|可以|能|办理|办|做|"
    r"发给我|发我|给我|发一下|发|一下|麻烦|把|我刚关注的?|刚关注的?|在这里|在这儿|在这|这个公众号|这个号|是|有人教|"
    # 「俺不太会整这玩意儿」: not knowing how to use it, which the list of services answers too.
    r"我?(?:不太|不大|不怎么|不)会(?:用|弄|整|玩|搞)?(?:这个?|这些)?(?:玩意儿?|东西|手机|公众号)?|"
    r"我?(?:啥|什么)(?:也|都)不(?:懂|会|知道)|(?:第一次|头一回|刚开始)(?:用|来)|新来的|"
    r"呢|啊|呀|吧|吗|嘛|的|了|[\s,，。.!！?？~～]"
)


def asks_what_we_do(command: str) -> bool:
    """Whether the message asks what this account can do, and nothing about a subject."""
    found = CAPABILITIES.search(command)
    if found is None:
        return False
    return _CAPABILITY_COURTESY.sub("", command[: found.start()] + command[found.end() :]) == ""


# 「看看菜单」「返回主菜单」「菜单在哪」: the menu word with only courtesy around it.
_MENU_ASK = re.compile(
    r"^(?:请|麻烦)?(?:给我|帮我)?(?:看看|看一下|看下|打开|显示|返回|回到|回|调出|发|发个|来个|给个|要|出)?(?:个|一下)?"
    r"(?:主|服务|功能)?菜单(?:在哪里?|在哪儿|呢|吧|啊|呀)?$"
)


# 「你刚才说回复数字办理 有哪几个数字来着 再发一遍」: the numbers to reply with, asked again.
_NUMBERS_AGAIN = re.compile(
    r"(?:哪几个|哪些|什么)(?:数字|选项)|(?:数字|选项|菜单).{0,6}(?:再发|重发|发一遍|再说一遍)|(?:再发|重发).{0,6}(?:数字|选项|菜单)"
)


def asks_for_menu(command: str) -> bool:
    """Whether the message asks for the menu (「菜单」, 「看看菜单」, 「返回主菜单」, the numbers again)."""
    return command in MENU or _MENU_ASK.match(command) is not None or _NUMBERS_AGAIN.search(command) is not None


# Asking whether a person or a program answers (「你们是机器人吗」「是真人在回吗」).
ABOUT_BOT = re.compile(
    r"^(?:请问)?(?:你|你们|您|这|这里|对面)?(?:是不是|是|就是)?(?:不是)?"
    r"(?:机器人|真人|人工|ai|智能客服|自动回复|电脑|程序)(?:吗|吧|啊|呢|么|嘛)?(?:在回复?|回的|在回答)?(?:吗|吧|啊|呢)?$"
    # 「你是机器人还是真人啊」: the either-or question.
    r"|^(?:请问)?(?:你|你们|您|对面)?(?:是)?(?:机器人|ai|智能客服|自动回复|程序)还是(?:真人|人工|活人|人)(?:啊|呀|呢|吗|哦)?$"
    r"|^(?:请问)?(?:你|你们|您|对面)?(?:是)?(?:真人|人工|活人)还是(?:机器人|ai|机器|自动回复|程序)(?:啊|呀|呢|吗|哦)?$"
)
# A vague opener (「有事想办一下」「想问个事」): once these words are taken out nothing is left.
_VAGUE_WORDS = re.compile(
    r"你好|您好|请问|我们|我|想要|想|要|有|个|点|件|些|事情|事儿|事|一下|下|办理|办|问问|问|咨询|了解|能|帮忙|帮|"
    r"那个|这个|就是|麻烦|一点|儿|吗|呢|啊|吧|呀|的|了|在|来|打扰|随便|你们|点儿|不知道|不清楚|啥|什么|该|"
    # 「我要去你们那办点事」「有个业务想办」「我是来办事的」: where and why, still no what.
    r"去|那边|那儿|那里|那|这边|这里|业务|是|过来|一趟|跑一趟|大厅|窗口"
)
_VAGUE_CORE = re.compile(r"事|问|办|咨询")
# 「不知道编号」「编号找不到了」: the citizen cannot give what was asked.
DONT_KNOW = re.compile(
    r"不知道|不清楚|不记得|忘了|忘记|找不到|找不着|没找到|丢了|弄丢|搞丢|没有.{0,4}(?:编号|号|回执)|"
    r"(?:编号|回执)我?(?:也|都)?没有|"
    r"没(?:拿|给|收)到.{0,4}(?:编号|回执)|记不得|记不住|没记住|没留|不晓得"
)
# 「先核对一下再提交」: the citizen wants to see the details before anything is done, so a flow
# whose confirmation is `when_uncertain` reads them back and waits for 「确认」.
CHECK_FIRST = re.compile(
    r"核对|核实一下|先确认|确认一下|让我看看|给我看看|我看一下|先看一下|检查一下|先别提交|先不要提交|别急着提交|先别办|先不要办"
)
# 「补充一下」「另外」: more about what was just filed.
MORE_DETAILS = re.compile(
    r"^(?:补充|再补充|另外|还有|对了|忘了说|忘记说|再说一下|顺便说)|补充一下|补充说明|地址是|地点是|具体位置"
)
# 「第二个」「第3项」「头一个」: a pick from a numbered list, said in words.
ORDINAL = re.compile(
    r"^(?:选)?(?:第|头(?=一))?\s*(?P<n>\d{1,2}|[一二两三四五六七八九十]{1,3})\s*(?:个|项|条|种|号)?(?:吧|吧。)?$"
)
# Courtesy around an answer that changes nothing (「1吧」「就2」).
_AROUND = re.compile(r"^(?:就|选|要|那就|我选|选择)|(?:吧|呢|啊|哦|就行|就好|好了)$")


def vague(command: str) -> bool:
    """Whether `command` says only that the citizen wants something, not what."""
    if not command or len(command) > 12 or not _VAGUE_CORE.search(command):
        return False
    rest = _VAGUE_WORDS.sub("", re.sub(r"[\s,，。.!！?？~～]", "", command))
    return rest == ""


# A part of a message that asks for a person among other words (「这机器人太笨了 能找个真人吗」
# 「能不能和工作人员直接沟通一下我的问题」「有没有在线的工作人员」「工作人员在吗」).
_AGENT_ASKED = re.compile(
    rf"(?:转接|接通|找|要|转|换|叫|让|请|联系|咨询)(?:一下)?(?:个|一个|一位|位)?(?:在线的|你们的?)?{_PERSON}"
    rf"|(?:和|跟|同|与)(?:你们的?)?{_PERSON}(?:直接)?(?:说|聊|沟通|谈|对话|联系)(?!了|过)"
    rf"|{_PERSON}(?:在吗|在不在|在线吗|在线|呢|有吗|有没有)"
    rf"|有没有(?:在线的)?{_PERSON}|有(?:真人|活人|人工)吗|人工帮助|(?:换|找|来|叫|让)个人(?:来|吧|$)"
)
# What a message about agents says instead of asking for one (「投诉你们的客服态度差」
# 「人工客服几点上班」「客服电话多少」), or a story of what happened (「我跟工作人员说了三次了」).
_ABOUT_AGENTS = re.compile(r"投诉|举报|态度|几点|上班|下班|电话|号码|说了|吵|骂|不理|上次|昨天|之前|办理|预约|代办")
_CLAUSES = re.compile(r"[\s,，。.!！?？~～、;；]+")
# Spaces and the punctuation people type between words: what a message is without them.
PUNCTUATION = re.compile(r"[\s,，。.!！?？~～、]")
AGENT_ASK_LIMIT = 20


# Asked of every message, and a pure function of its words: remembered like the message's reading
# (flows.utterance), for the texts citizens send again and again.
@functools.lru_cache(maxsize=4096)
def asks_for_agent(command: str) -> bool:
    """Whether the message asks to talk to a person (「人工」, 「有人吗，我要找人工」)."""
    if command in HANDOFF:
        return True
    clauses = _CLAUSES.split(command)
    if len(command) <= 2 * AGENT_ASK_LIMIT and any(
        # 「有没有人工服务啊，我的问题比较复杂，一两句说不清」: the request is one short clause.
        len(part) <= AGENT_ASK_LIMIT and _AGENT_ASKED.search(part) and not _ABOUT_AGENTS.search(part)
        for part in clauses
    ):
        return True
    if len(command) > AGENT_ASK_LIMIT:
        return False
    if _ANYONE.match(command):
        return True
    rest = _AGENT_COURTESY.sub("", PUNCTUATION.sub("", command))
    if not rest:
        return False
    named = _AGENT.fullmatch(rest)
    if named is not None and named["who"] == "人":
        # 「找个人」「让人给我回个电话」: someone, with what they should do.
        return bool(named["verb"] and (named["tail"] or "个" in rest))
    if named is not None and (named["verb"] or named["tail"] or named["who"] in _AGENT_ALONE):
        return True
    return _NOT_THE_BOT.fullmatch(rest) is not None or _CALL_ME.fullmatch(rest) is not None


def around(command: str) -> str:
    """`command` without the courtesy words around a short answer."""
    return _AROUND.sub("", command).strip()


# 「能不能管管」「麻烦尽快处理」 right after a matter is filed: urging, not a new question.
URGES = re.compile(
    r"管管|管一管|管一下|(?:尽快|抓紧|赶紧|快点|快些|早点|早日|及时)(?:处理|解决|办|管|弄|修|落实|给个说法|回复)?"
    r"|能不能管|有没有人管|一定要管|希望.{0,4}重视|引起重视"
)


# Regional words for the plain ones every word list is written in (「莫得消息」「俺闺女」「咋个办」).
# Only the command, the matcher's form and the measure of how much a message tells read them so:
# the text slots are read from, and a complaint's account kept from, stays as the citizen wrote it.
# Cantonese as typed in Hong Kong and Macau (after OpenCC: 「有冇真人」「多謝晒」「點樣約」).
_PLAIN = {
    "莫得": "没有", "莫有": "没有", "没得": "没有", "咋个": "怎么", "啥子": "什么", "晓得": "知道",
    "俺们": "我们", "俺": "我", "咱们": "我们", "啥辰光": "什么时候", "啥个辰光": "什么时候",
    "有冇": "有没有", "冇": "没有", "唔该晒": "谢谢", "唔该": "谢谢", "多谢晒": "谢谢", "嘅": "的", "唔": "不",
    "咩": "什么", "点样": "怎么", "佢哋": "他们", "佢": "他", "哋": "们", "喺": "在", "嚟": "来", "睇": "看",
    "畀": "给",
}
_REGIONAL = re.compile("|".join(sorted(_PLAIN, key=len, reverse=True)))


def plain_words(text: str) -> str:
    return _REGIONAL.sub(lambda m: _PLAIN[m.group(0)], text)


# Words that tell of something that has happened (「上个月我爸去办医保…」), not of a visit to come.
TOLD_OF_THE_PAST = re.compile(r"上个?月|上周|上礼拜|上星期|昨天|前天|前几天|那天|上次|上回|之前去")
