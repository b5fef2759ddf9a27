"""Topic subscriptions in chat (issue 19): 「订阅公积金政策」「订阅」「退订」「退订社保」「我的订阅」.

Nobody is pushed to without having subscribed here (or WeChat's own follower consent for a
mass send). After an FAQ answer in a topic the bot offers that topic once — the port records the
offer, so it is never made again, whether the citizen took it or not. Storage is behind the
`Services` port; this module does no I/O of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from handlers.context import HandlerContext, Turn, TurnResult
from handlers.replies import TextReply
from knowledge.topics import Topic, TopicCatalog

SUBSCRIBE_WORDS = ("订阅",)
UNSUBSCRIBE_WORDS = ("取消订阅", "退订")
MINE_WORDS = ("我的订阅", "查看订阅", "订阅列表")
# Longer than this after 「订阅」 and naming no topic, it is a question (「订阅号怎么关注」), not a command.
MAX_TOPIC_WORDS = 10

OFFER = "回复 订阅 获取该主题的政策更新（{name}）"
SUBSCRIBED = (
    "已为您订阅「{name}」。有新的政策和通知时我们会推送给您，每周最多一条，晚 22:00 至早 8:00 不打扰。"
    "回复「退订」可随时取消。"
)
ALREADY = "您已订阅「{name}」。回复「我的订阅」查看全部，回复「退订{name}」取消。"
CHOOSE = "可以订阅的主题有：\n{lines}\n请回复「订阅」加主题名称，例如「订阅{example}」。"
NO_TOPICS = "抱歉，目前没有可以订阅的主题。"
UNSUBSCRIBED = "已为您退订：{names}。今后不再向您推送这些主题的消息。"
NOT_SUBSCRIBED = "您目前没有订阅{what}。"
MINE = "您订阅的主题：\n{lines}\n回复「退订」加主题名称取消一个主题，回复「退订」取消全部。"
NONE_YET = "您目前没有订阅任何主题。回复「订阅」加主题名称即可订阅，例如「订阅{example}」。"

Action = Literal["subscribe", "unsubscribe", "mine"]


@dataclass(frozen=True, slots=True)
class Command:
    action: Action
    # What followed the verb (「公积金政策」), empty when nothing did.
    rest: str


def parse(command: str) -> Command | None:
    """The subscription command in a message's command form, or None when it is not one."""
    if command in MINE_WORDS:
        return Command("mine", "")
    for verb in UNSUBSCRIBE_WORDS:
        if command.startswith(verb):
            return Command("unsubscribe", command.removeprefix(verb).strip())
    for verb in SUBSCRIBE_WORDS:
        if command.startswith(verb):
            return Command("subscribe", command.removeprefix(verb).strip())
    return None


async def handle(turn: Turn, ctx: HandlerContext, command_text: str) -> TurnResult | None:
    """Answer a subscription command, or None to let the turn go on (not one, or topics are off)."""
    topics = ctx.topics
    if topics is None or not len(topics):
        return None
    command = parse(command_text)
    if command is None:
        return None
    named = topics.named(command.rest) if command.rest else None
    if command.rest and named is None and len(command.rest) > MAX_TOPIC_WORDS:
        return None
    openid = turn.message.from_user
    session = turn.session
    session.choices = []
    if command.action == "mine":
        mine = [topics.get(t) for t in await ctx.services.subscriptions(openid)]
        names = [t.name for t in mine if t is not None]
        if not names:
            return _reply(turn, NONE_YET.format(example=_example(topics)))
        return _reply(turn, MINE.format(lines="\n".join(f"· {n}" for n in names)))
    if command.action == "unsubscribe":
        if command.rest and named is None:
            return _reply(turn, _choose(topics))
        left = await ctx.services.unsubscribe(openid, named.id if named is not None else None)
        if not left:
            what = f"「{named.name}」" if named is not None else "任何主题"
            return _reply(turn, NOT_SUBSCRIBED.format(what=what))
        names = [topic.name if (topic := topics.get(t)) is not None else t for t in left]
        return _reply(turn, UNSUBSCRIBED.format(names="、".join(f"「{n}」" for n in names)))
    topic = named
    if topic is None and not command.rest and session.offered_topic:
        topic = topics.get(session.offered_topic)
    if topic is None:
        return _reply(turn, _choose(topics))
    session.offered_topic = ""
    if await ctx.services.subscribe(openid, topic.id):
        return _reply(turn, SUBSCRIBED.format(name=topic.name))
    return _reply(turn, ALREADY.format(name=topic.name))


def topic_of_answer(ctx: HandlerContext, faq_id: str) -> Topic | None:
    if ctx.topics is None or ctx.matcher is None:
        return None
    entry = ctx.matcher.entry(faq_id)
    return ctx.topics.for_category(entry.category) if entry is not None else None


async def maybe_offer(turn: Turn, ctx: HandlerContext, result: TurnResult) -> TurnResult:
    """After an FAQ answer in a topic, offer the topic once (the port says whether it is the first time)."""
    if result.route != "faq" or not result.meta.faq_id or not isinstance(result.reply, TextReply):
        return result
    if turn.session.flow is not None:
        return result
    topic = topic_of_answer(ctx, result.meta.faq_id)
    if topic is None or not await ctx.services.offer_topic(turn.message.from_user, topic.id):
        return result
    turn.session.offered_topic = topic.id
    result.reply = TextReply(f"{result.reply.content}\n\n{OFFER.format(name=topic.name)}")
    return result


def _choose(topics: TopicCatalog) -> str:
    lines = "\n".join(f"{i}. {t.name}" for i, t in enumerate(topics, start=1))
    return CHOOSE.format(lines=lines, example=_example(topics))


def _example(topics: TopicCatalog) -> str:
    return next(iter(topics)).name


def _reply(turn: Turn, text: str) -> TurnResult:
    turn.session.consecutive_fallbacks = 0
    return TurnResult(TextReply(text), "menu", turn.session)
