"""`wxbot flows check`: validate the flow files an admin edited, before they are reloaded."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated
from zoneinfo import ZoneInfo

import typer

from app.cli.accounts import AccountOpt
from flows.calendar import CalendarError, load_calendar, window_gaps
from flows.consistency import contradictions
from flows.errors import Problem
from flows.registry import check_dir
from flows.schema import Flow

if TYPE_CHECKING:
    from app.settings import Settings


def register(app: typer.Typer) -> None:
    group = typer.Typer(no_args_is_help=True, help="服务流程（flows/*.yaml）")
    group.command("check")(check)
    app.add_typer(group, name="flows")


def check(
    flows_dir: Annotated[Path | None, typer.Option("--flows", help="流程目录，默认为 FLOWS_DIR 设置")] = None,
    calendar_file: Annotated[
        Path | None, typer.Option("--calendar", help="办公日历，默认为 KNOWLEDGE_DIR/calendar.yaml")
    ] = None,
    today: Annotated[
        str | None, typer.Option("--today", help="按这一天检查预约窗口（YYYY-MM-DD），默认今天")
    ] = None,
    knowledge_dir: Annotated[
        Path | None, typer.Option("--knowledge", help="知识库目录，默认为 KNOWLEDGE_DIR 设置")
    ] = None,
    account: AccountOpt = None,
) -> None:
    """检查流程文件：格式错误（文件:行号）、无法到达的步骤、模板和条件中未定义的槽位、预约窗口是否超出已发布的放假安排，
    以及流程 `faq:` 所列常见问题的答案与流程规则（可预约天数、工作日）是否矛盾。"""
    from app.settings import Settings

    settings = Settings()
    calendar_file = calendar_file or settings.knowledge_dir / "calendar.yaml"
    knowledge_dir = knowledge_dir or settings.knowledge_dir
    day = date.fromisoformat(today) if today else datetime.now(ZoneInfo("Asia/Shanghai")).date()
    if flows_dir is None and (account is not None or settings.accounts_file is not None):
        _check_account(account, settings, calendar_file, day)
        return
    directory = flows_dir or settings.flows_dir
    flows, problems = check_dir(directory)
    problems += _faq_contradictions(flows, knowledge_dir)
    messages = [str(problem) for problem in problems] + _calendar_gaps(flows.values(), calendar_file, day)
    for message in messages:
        typer.echo(message, err=True)
    if messages:
        typer.echo(f"{len(messages)} problem(s) in {directory}; nothing was changed.", err=True)
        raise typer.Exit(code=1)
    for flow in flows.values():
        typer.echo(f"ok  {flow.id} v{flow.version}  {flow.title}: {len(flow.steps)} step(s), {len(flow.slots)} slot(s)")


def _calendar_gaps(flows: Iterable[Flow], calendar_file: Path, day: date) -> list[str]:
    try:
        calendar = load_calendar(calendar_file)
    except CalendarError as exc:
        return [str(exc)]
    # A booking window reaching a year without the State Council's schedule would book
    # make-up days as closed and bridge days as open: the admin must add that year first.
    return [f"{calendar_file}: {gap}" for gap in window_gaps(flows, day, calendar)]


def _check_account(account: str | None, settings: Settings, calendar_file: Path, day: date) -> None:
    """The account's flows as the service composes them from its folders (later ones override)."""
    from app.cli.accounts import load_registry, resolve
    from flows.errors import FlowError

    chosen = resolve(account, settings)
    label = f"账号 {chosen.id}（{' + '.join(str(p) for p in chosen.flows)}）"
    try:
        registry = load_registry(chosen)
    except FlowError as exc:
        for problem in exc.problems:
            typer.echo(str(problem), err=True)
        typer.echo(f"{len(exc.problems)} problem(s) in {label}; nothing was changed.", err=True)
        raise typer.Exit(code=1) from None
    messages = _calendar_gaps(list(registry), calendar_file, day)
    for message in messages:
        typer.echo(message, err=True)
    if messages:
        typer.echo(f"{len(messages)} problem(s) in {label}; nothing was changed.", err=True)
        raise typer.Exit(code=1)
    for flow in registry:
        typer.echo(f"ok  {flow.id} v{flow.version}  {flow.title}: {len(flow.steps)} step(s), {len(flow.slots)} slot(s)")


def _faq_contradictions(flows: dict[str, Flow], knowledge_dir: Path) -> list[Problem]:
    """What the FAQ answers a flow names say against the flow's own rules (one source of truth)."""
    if not any(flow.faq for flow in flows.values()):
        return []
    from knowledge.errors import KnowledgeError
    from knowledge.loader import load_knowledge

    try:
        kb = load_knowledge(knowledge_dir)
    except KnowledgeError as exc:
        return [Problem(str(knowledge_dir), 0, f"cannot check the FAQ against the flows: {exc}")]
    answers = {entry.id: entry.answer for entry in kb.entries}
    return [
        Problem(f"{flow.id}.yaml", 0, message)
        for flow in flows.values()
        for message in contradictions(flow, answers)
    ]
