"""`wxbot notify reminders`: send the booking reminders due now (app/reminders.py), once each.

The same work `wxbot serve` does every NOTIFY_INTERVAL_S; run it from cron instead with
NOTIFY_INTERVAL_S=0, or by hand to see what would go out (`--dry-run`). Safe beside a running
server and a second copy of itself: every reminder is claimed in the database first.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Annotated

import typer

from app.cli.accounts import AccountOpt
from app.cli.progress import progress_bar

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from app.accounts import Account
    from app.desk.config import DeskConfig
    from app.reminders import FlowsFor, ReminderSummary
    from app.settings import Settings
    from flows.schema import BookingSpec

notify_app = typer.Typer(no_args_is_help=True, help="通知群众：预约提醒（前一天）、发送中断的通知")


def register(app: typer.Typer) -> None:
    app.add_typer(notify_app, name="notify")


def _accounts(settings: Settings, account: str | None) -> tuple[Account, ...]:
    from app.cli.accounts import _accounts as all_accounts
    from app.cli.accounts import resolve

    if account is not None:
        return (resolve(account, settings),)
    return all_accounts(settings)


def _desk_config(settings: Settings) -> DeskConfig:
    from app.desk.config import DeskConfigError, load_desk_config

    try:
        return load_desk_config(settings.desk_config, settings.service_hours)
    except DeskConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(code=2) from None


def _flows_for(settings: Settings, accounts: tuple[Account, ...]) -> FlowsFor:
    """Each account's booking flows as the service composes them (hall address, opening hours)."""
    from app.cli.accounts import load_registry
    from flows.errors import FlowError
    from flows.registry import FlowRegistry, load_flows

    registries: dict[str, FlowRegistry | None] = {}
    for account in accounts:
        try:
            registries[account.id] = (
                load_registry(account) if settings.accounts_file is not None else load_flows(settings.flows_dir)
            )
        except FlowError:
            typer.echo(f"注意：账号 {account.id} 的流程未能加载（见 wxbot flows check），提醒中不写大厅地址和时段时间",
                       err=True)
            registries[account.id] = None

    def booking_spec(account_id: str, flow_id: str) -> BookingSpec | None:
        registry = registries.get(account_id)
        flow = registry.current(flow_id) if registry is not None else None
        return flow.booking if flow is not None else None

    return booking_spec


def _parse_at(raw: str | None) -> datetime | None:
    if raw is None:
        return None
    from app.reminders import SHANGHAI

    try:
        at = datetime.fromisoformat(raw)
    except ValueError:
        typer.echo(f"--at：时间格式应为「2026-12-07 09:00」，收到「{raw}」", err=True)
        raise typer.Exit(code=2) from None
    return (at if at.tzinfo is not None else at.replace(tzinfo=SHANGHAI)).astimezone(UTC)


@notify_app.command("reminders")
def reminders_command(
    account: AccountOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="只列出将发送的提醒和内容，不发送、不记录")] = False,
    ignore_hours: Annotated[
        bool, typer.Option("--ignore-hours", help="不在提醒时段（notify.reminders.at–until）内也发送")
    ] = False,
    at: Annotated[
        str | None, typer.Option("--at", help="按这个北京时间计算哪些预约到期（如「2026-12-07 09:00」），用于试运行")
    ] = None,
) -> None:
    """发送到期的预约提醒（默认预约日前一天 09:00–20:00）：每个预约只提醒一次，可与服务同时运行。"""
    from app.db.engine import make_engine

    settings = _settings()
    chosen = _accounts(settings, account)
    config = _desk_config(settings)
    policy = config.reminders
    now = _parse_at(at) or datetime.now(UTC)
    if not policy.enabled and not dry_run:
        typer.echo("预约提醒已关闭（DESK_CONFIG notify.reminders.enabled: false），未发送。")
        return
    engine = make_engine(settings.database_url)
    try:
        summary, settled, resent = asyncio.run(
            _run(settings, engine, chosen, config, now, dry_run=dry_run, ignore_hours=ignore_hours)
        )
    finally:
        engine.dispose()
    _report(summary, policy_hours=f"{policy.at:%H:%M}–{policy.until:%H:%M}", dry_run=dry_run)
    if settled:
        typer.echo(f"发送中断、无法确认是否送达的通知：{settled} 条，已标记为「无法确认」，不会重发。")
    if resent:
        typer.echo(f"补发了 {resent} 条此前未发出的工单通知。")


def _settings() -> Settings:
    from app.settings import Settings

    return Settings()


async def _run(
    settings: Settings, engine: Engine, accounts: tuple[Account, ...], config: DeskConfig, now: datetime,
    *, dry_run: bool, ignore_hours: bool,
) -> tuple[ReminderSummary, int, int]:
    from app.desk import outbox
    from app.notify import Notifier, TurnLogWindow
    from app.reminders import send_reminders
    from app.stores.factory import build_store
    from app.wxapi import WeChatClient

    store = build_store(settings.redis_url)
    window = TurnLogWindow(engine, settings.pseudonym_key.get_secret_value().encode())
    clients = {
        a.id: WeChatClient(appid=a.appid, secret=a.appsecret, store=store, base_url=settings.wechat_api_base)
        for a in accounts if a.appsecret and a.appid
    }
    notifiers = {
        a.id: Notifier(client=clients.get(a.id), window=window, templates=config.templates, store=store)
        for a in accounts
    }

    def notifier_for(account_id: str) -> Notifier:
        return notifiers.get(account_id) or Notifier(client=None, window=window)

    settled = resent = 0
    try:
        if not dry_run:
            settled = await asyncio.to_thread(outbox.settle_stuck, engine, now=now)
            resent = await outbox.deliver_stale(engine, notifier_for, now=now)
        with progress_bar("预约提醒") as progress:
            summary = await send_reminders(
                engine, notifier_for, config.reminders, flows_for=_flows_for(settings, accounts),
                accounts=[a.id for a in accounts], now=now, dry_run=dry_run, ignore_hours=ignore_hours,
                progress=progress,
            )
    finally:
        for client in clients.values():
            await client.aclose()
        await store.close()
    return summary, settled, resent


def _report(summary: ReminderSummary, *, policy_hours: str, dry_run: bool) -> None:
    from app.notify import Delivery

    if summary.outside_hours:
        typer.echo(f"现在不在提醒时段（北京时间 {policy_hours}），未发送；需要时加 --ignore-hours。")
        return
    if dry_run:
        for due, text in summary.planned:
            typer.echo(f"—— {due.number}（{due.account}）{due.day:%Y-%m-%d} {due.period}\n{text}")
        typer.echo(f"试运行：到期 {summary.due} 个预约，将各发送一条提醒（未发送，未记录）。")
        return
    typer.echo(
        f"预约提醒：到期 {summary.due}，已发送 {summary.sent}（客服消息 {summary.sent_kf}，模板消息 "
        f"{summary.sent_template}），无法送达 {summary.impossible}，失败 {summary.failed}，"
        f"已由其他进程处理或已取消/改约 {summary.skipped}"
    )
    for detail, count in sorted(summary.errors.items()):
        typer.echo(f"  {Delivery(False, '', detail).describe()}：{count}")
