"""`wxbot menu show | push | current`: the account's custom menu (knowledge/menu.yaml)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import typer

from app.accounts import Account
from app.cli.accounts import AccountOpt
from app.menu import Menu, MenuError, MenuTargets, describe, load_menu
from app.settings import Settings
from app.stores.factory import build_store
from app.wxapi import WeChatClient, WeChatError


def register(app: typer.Typer) -> None:
    group = typer.Typer(no_args_is_help=True, help="公众号自定义菜单（knowledge/menu.yaml）")
    group.command("show")(show)
    group.command("push")(push)
    group.command("current")(current)
    app.add_typer(group, name="menu")


_FILE = typer.Option(None, "--file", help="菜单文件，默认为 KNOWLEDGE_DIR/menu.yaml（多账号时为账号的 menu）")


def _account(settings: Settings, account_id: str | None) -> Account | None:
    """The account `--account` names (or the only one of an accounts file); None: the WECHAT_* one."""
    if account_id is None and settings.accounts_file is None:
        return None
    from app.cli.accounts import resolve

    return resolve(account_id, settings)


def show(
    file: Path | None = _FILE,
    as_json: bool = typer.Option(False, "--json", help="输出推送给微信的 JSON"),
    account: AccountOpt = None,
) -> None:
    """校验菜单（结构、微信的长度限制、key 指向的流程/条目/分类）并显示。"""
    settings = Settings()
    path, menu = _load(settings, file, _account(settings, account))
    if as_json:
        typer.echo(json.dumps(menu.to_wechat(), ensure_ascii=False, indent=2))
        return
    typer.echo(f"{path}：校验通过，{len(menu.buttons)} 个一级菜单，{len(menu.leaves())} 个菜单项")
    typer.echo(describe(menu))


def push(file: Path | None = _FILE, account: AccountOpt = None) -> None:
    """校验后把菜单推送到微信（menu/create）。需要 WECHAT_APPID 和 WECHAT_APPSECRET（或账号的 appid/appsecret）。"""
    settings = Settings()
    chosen = _account(settings, account)
    path, menu = _load(settings, file, chosen)
    asyncio.run(_call(settings, lambda client: client.create_menu(menu.to_wechat()), chosen))
    typer.echo(f"已推送 {path}（{len(menu.leaves())} 个菜单项）；用户最长约 5 分钟后看到新菜单。")


def current(account: AccountOpt = None) -> None:
    """显示微信上当前生效的菜单（menu/get）。"""
    settings = Settings()
    held = asyncio.run(_call(settings, lambda client: client.get_menu(), _account(settings, account)))
    if held is None:
        typer.echo("该公众号当前没有自定义菜单。")
        return
    typer.echo(json.dumps(held, ensure_ascii=False, indent=2))


def _load(settings: Settings, file: Path | None, account: Account | None = None) -> tuple[Path, Menu]:
    if account is not None:
        path = file or account.menu or account.knowledge[-1] / "menu.yaml"
        targets, notes = _account_targets(account)
    else:
        path = file or settings.knowledge_dir / "menu.yaml"
        targets, notes = _targets(settings)
    for note in notes:
        typer.echo(f"注意：{note}", err=True)
    try:
        return path, load_menu(path, targets)
    except MenuError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        typer.echo(f"{path}：{len(exc.problems)} 个问题，菜单未使用。", err=True)
        raise typer.Exit(code=1) from exc


def _targets(settings: Settings) -> tuple[MenuTargets, list[str]]:
    """What click keys may point at, from the flows and knowledge the service would load."""
    from flows.errors import FlowError
    from flows.registry import load_flows
    from knowledge.errors import KnowledgeError
    from knowledge.loader import load_knowledge

    notes: list[str] = []
    flows: set[str] | None = None
    flow_keys: set[str] = set()
    try:
        registry = load_flows(settings.flows_dir)
        flows = {flow.id for flow in registry}
        flow_keys = {key for flow in registry for key in flow.triggers.menu}
    except FlowError:
        notes.append(f"流程目录 {settings.flows_dir} 未能加载（见 wxbot flows check），未核对 flow: 菜单项")
    faqs: set[str] | None = None
    categories: set[str] | None = None
    try:
        kb = load_knowledge(settings.knowledge_dir)
        faqs = {entry.id for entry in kb.entries}
        categories = {entry.category for entry in kb.entries}
    except KnowledgeError:
        notes.append(f"知识库 {settings.knowledge_dir} 未能加载（见 wxbot kb check），未核对 faq:/cat: 菜单项")
    return MenuTargets(flows=flows, flow_keys=flow_keys, faqs=faqs, categories=categories), notes


def _account_targets(account: Account) -> tuple[MenuTargets, list[str]]:
    """What the account's click keys may point at: its composed flows and knowledge."""
    from app.cli.accounts import load_matcher, load_registry
    from flows.errors import FlowError
    from knowledge.errors import KnowledgeError

    notes: list[str] = []
    flows: set[str] | None = None
    flow_keys: set[str] = set()
    try:
        registry = load_registry(account)
        flows = {flow.id for flow in registry}
        flow_keys = {key for flow in registry for key in flow.triggers.menu}
    except FlowError:
        notes.append(f"账号 {account.id} 的流程未能加载（见 wxbot flows check --account），未核对 flow: 菜单项")
    faqs: set[str] | None = None
    categories: set[str] | None = None
    try:
        kb = load_matcher(account).kb
        faqs = {entry.id for entry in kb.entries}
        categories = {entry.category for entry in kb.entries}
    except KnowledgeError:
        notes.append(f"账号 {account.id} 的知识库未能加载（见 wxbot kb check --account），未核对 faq:/cat: 菜单项")
    return MenuTargets(flows=flows, flow_keys=flow_keys, faqs=faqs, categories=categories), notes


T = TypeVar("T")


async def _call(
    settings: Settings, call: Callable[[WeChatClient], Awaitable[T]], account: Account | None = None
) -> T:
    store = build_store(settings.redis_url)
    if account is None:
        client = WeChatClient.from_settings(settings, store)
    else:
        client = (
            WeChatClient(appid=account.appid, secret=account.appsecret, store=store, base_url=settings.wechat_api_base)
            if account.appsecret and account.appid
            else None
        )
    if client is None:
        await store.close()
        typer.echo("需要配置 WECHAT_APPID 和 WECHAT_APPSECRET 才能访问微信接口。", err=True)
        raise typer.Exit(code=2)
    try:
        return await call(client)
    except WeChatError as exc:
        typer.echo(f"微信接口调用失败：{exc}", err=True)
        raise typer.Exit(code=1) from exc
    finally:
        await client.aclose()
        await store.close()
