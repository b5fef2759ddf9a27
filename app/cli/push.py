"""`wxbot push plan|send|report CAMPAIGN` (issue 19): a dry run, the resumable send job, and its reach.

Campaigns are `CAMPAIGNS_DIR/<id>.yaml` (knowledge/campaigns.py); the audience is the subscribers
of the campaign's topics (app/db/subscriptions.py); sends are rows in `push_recipients`
(app/push/send.py), so `push send` can be stopped and run again at any point.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn

import typer

from app.cli.accounts import AccountOpt
from app.cli.progress import progress_bar

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from app.accounts import Account
    from app.settings import Settings
    from knowledge.campaigns import Campaign
    from knowledge.topics import TopicCatalog

push_app = typer.Typer(no_args_is_help=True, help="政策推送：按主题向订阅者推送，计划、发送、到达率")
# "Asked about the topic recently", shown in the plan for planning only.
INTEREST_WINDOW = timedelta(days=30)
JsonOpt = Annotated[bool, typer.Option("--json", help="输出 JSON")]
STOPPED = {
    "quiet": "现在是免打扰时段，未发送；免打扰结束后再次运行本命令即可继续。",
    "daily_quota": "已达到微信接口当日调用上限（45009），已暂停；明天再次运行本命令即从中断处继续。",
    "unavailable": "微信接口暂时无法访问，已暂停；稍后再次运行本命令即从中断处继续。",
}


def register(app: typer.Typer) -> None:
    app.add_typer(push_app, name="push")


def _context(account: str | None) -> tuple[Settings, Account, TopicCatalog]:
    from app.cli.accounts import resolve
    from app.settings import Settings
    from knowledge.errors import KnowledgeError
    from knowledge.topics import TOPICS_FILE, TopicCatalog, load_topics

    settings = Settings()
    chosen = resolve(account, settings)
    found = [d / TOPICS_FILE for d in chosen.knowledge if (d / TOPICS_FILE).exists()]
    try:
        topics = load_topics(found[-1]) if found else TopicCatalog([])
    except KnowledgeError as exc:
        _fail([f"错误 {p}" for p in exc.problems])
    return settings, chosen, topics


def _fail(lines: list[str], code: int = 1) -> NoReturn:
    for line in lines:
        typer.echo(line, err=True)
    raise typer.Exit(code=code)


def _campaign(settings: Settings, name: str, topics: TopicCatalog) -> Campaign:
    from knowledge.campaigns import load_campaign
    from knowledge.errors import KnowledgeError

    path = Path(name) if name.endswith((".yaml", ".yml")) else settings.campaigns_dir / f"{name}.yaml"
    if not path.exists():
        _fail([f"找不到活动文件 {path}"], code=2)
    try:
        return load_campaign(path, topics={t.id for t in topics})
    except KnowledgeError as exc:
        _fail([f"错误 {p}" for p in exc.problems])


def _topic_content(chosen: Account, topics: TopicCatalog, camp: Campaign) -> tuple[set[str], set[str]]:
    """The FAQ entry ids and flow ids of the campaign's topics (what 'asked about the topic' means)."""
    from app.cli.accounts import load_matcher
    from knowledge.errors import KnowledgeError

    chosen_topics = [t for i in camp.topics if (t := topics.get(i)) is not None]
    categories = {c for t in chosen_topics for c in t.categories}
    flow_ids = {f for t in chosen_topics for f in t.flows}
    try:
        faq_ids = {e.id for e in load_matcher(chosen).kb.entries if e.category in categories}
    except KnowledgeError:
        faq_ids = set()
    return faq_ids, flow_ids


def _engine(settings: Settings) -> Engine:
    from app.db.engine import make_engine

    return make_engine(settings.database_url)


def _local(at: datetime) -> str:
    from knowledge.campaigns import TZ

    return at.astimezone(TZ).strftime("%Y-%m-%d %H:%M")


@push_app.command("plan")
def plan_command(campaign: str, account: AccountOpt = None, as_json: JsonOpt = False) -> None:
    """试运行：各渠道的受众人数、频次上限和免打扰时段的影响、预计发送时间。不发送任何消息。"""
    from app.db import subscriptions
    from app.push import store
    from app.push.reach import interest
    from knowledge.campaigns import plan

    settings, chosen, topics = _context(account)
    camp = _campaign(settings, campaign, topics)
    faq_ids, flow_ids = _topic_content(chosen, topics, camp)
    engine = _engine(settings)
    now = datetime.now(UTC)
    try:
        asked = interest(engine, now - INTEREST_WINDOW, account=chosen.id, faq_ids=faq_ids, flow_ids=flow_ids)
        audience = subscriptions.subscribers(engine, list(camp.topics), account=chosen.id)
        recent = store.recent_counts(engine, camp.id, camp.cap_days, now, account=chosen.id)
        result = plan(camp, audience, recent, store.existing(engine, camp.id, account=chosen.id), now)
    finally:
        engine.dispose()
    data = {
        "campaign": camp.id, "title": camp.title, "channel": camp.channel, "topics": list(camp.topics),
        "audience": result.audience, "capped": result.capped, "already": result.already,
        "to_send": result.to_send, "quiet_hours": str(camp.quiet), "deferred": result.deferred,
        "start_at": result.start_at.isoformat(), "end_at": result.end_at.isoformat(),
        "cap": {"count": camp.cap_count, "days": camp.cap_days},
        "asked_recently": asked,
    }
    if as_json:
        typer.echo(json.dumps(data, ensure_ascii=False))
        return
    channel = (
        "模板消息（逐个发给订阅者）" if camp.channel == "template" else f"群发（标签 {camp.tag_id}，标签与订阅同步）"
    )
    names = "、".join(t.name if (t := topics.get(i)) is not None else i for i in camp.topics)
    lines = [
        f"活动 {camp.id}：{camp.title}",
        f"主题：{names}",
        f"渠道：{channel}",
        f"订阅者：{result.audience}（近 {INTEREST_WINDOW.days} 天咨询过该主题的市民 {asked} 人，仅为计数）",
        f"频次上限（每 {camp.cap_days} 天 {camp.cap_count} 条）排除：{result.capped}",
        f"本活动此前已处理：{result.already}",
        f"将发送：{result.to_send}",
        f"预计开始：{_local(result.start_at)}"
        + (f"（处于免打扰时段 {camp.quiet}，顺延）" if result.deferred else ""),
        f"预计完成：{_local(result.end_at)}（每秒 {camp.rate_per_second:g} 条，免打扰时段 {camp.quiet} 暂停）",
        "（试运行，未发送任何消息）",
    ]
    typer.echo("\n".join(lines))


@push_app.command("send")
def send_command(
    campaign: str,
    account: AccountOpt = None,
    ignore_quiet: Annotated[bool, typer.Option("--ignore-quiet", help="免打扰时段也发送（仅限紧急通知）")] = False,
) -> None:
    """发送活动：可随时中断，再次运行即从中断处继续，不会重复发送，也不会遗漏。"""
    from functools import partial

    from app.cli.menu import _call
    from app.push.links import link
    from app.push.send import send

    settings, chosen, topics = _context(account)
    camp = _campaign(settings, campaign, topics)
    engine = _engine(settings)
    key = settings.pseudonym_key.get_secret_value().encode()
    links = partial(link, settings.public_base_url, key) if settings.public_base_url else None
    try:
        with progress_bar("发送中") as progress:
            summary = asyncio.run(_call(
                settings,
                lambda client: send(engine, client, camp, account=chosen.id, progress=progress,
                                    ignore_quiet=ignore_quiet, link=links),
                chosen if settings.accounts_file is not None else None,
            ))
    finally:
        engine.dispose()
    typer.echo(
        f"活动 {camp.id}：目标 {summary.targeted}，已发送 {summary.sent}，"
        f"拒收/未关注 {summary.blocked}，受限待重试 {summary.limited}，失败 {summary.failed}，"
        f"状态待确认 {summary.unknown}，频次上限排除 {summary.capped}"
    )
    if summary.errcodes:
        typer.echo("微信错误码：" + "，".join(f"{code}×{n}" for code, n in sorted(summary.errcodes.items())))
    if summary.stopped:
        typer.echo(STOPPED[summary.stopped])
        raise typer.Exit(code=3)


@push_app.command("report")
def report_command(campaign: str, account: AccountOpt = None, as_json: JsonOpt = False) -> None:
    """到达情况：目标 → 已发送 → 已送达 → 10 天内咨询该主题 → 退订；10 天到达率 = 送达 / 目标（目标 75%）。"""
    from app.push.reach import reach
    from app.turnlog.privacy import Pseudonymiser

    settings, chosen, topics = _context(account)
    camp = _campaign(settings, campaign, topics)
    faq_ids, flow_ids = _topic_content(chosen, topics, camp)
    engine = _engine(settings)
    try:
        result = reach(
            engine, camp.id, camp.topics, account=chosen.id,
            pseudonym=Pseudonymiser(settings.pseudonym_key.get_secret_value().encode()),
            faq_ids=faq_ids, flow_ids=flow_ids,
        )
    finally:
        engine.dispose()
    if as_json:
        typer.echo(json.dumps(result.as_dict(), ensure_ascii=False))
        return
    figure = "—" if result.reach_10d is None else f"{result.reach_10d:.1%}"
    verdict = "达标" if result.met else "未达标"
    typer.echo("\n".join([
        f"活动 {camp.id}：{camp.title}",
        f"目标 {result.targeted} → 已发送 {result.sent} → 已送达 {result.delivered} → 打开链接 {result.opened} → "
        f"10 天内咨询该主题 {result.consulted} → 退订 {result.unsubscribed}",
        f"频次上限排除 {result.capped}，拒收/未关注 {result.blocked}，未送达（微信回报失败）{result.failed}",
        f"10 天到达率（送达 / 目标）：{figure}，目标 {result.target:.0%}，{verdict}",
    ]))
