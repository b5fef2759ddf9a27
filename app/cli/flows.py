"""`wxbot flows check`: validate the flow files an admin edited, before they are reloaded."""

from __future__ import annotations

from datetime import date, datetime
from pathlib import Path
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from flows.calendar import CalendarError, load_calendar, window_gaps
from flows.registry import check_dir


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
) -> None:
    """检查流程文件：格式错误（文件:行号）、无法到达的步骤、模板和条件中未定义的槽位、预约窗口是否超出已发布的放假安排。"""
    directory = flows_dir
    if directory is None or calendar_file is None:
        from app.settings import Settings

        settings = Settings()
        directory = directory or settings.flows_dir
        calendar_file = calendar_file or settings.knowledge_dir / "calendar.yaml"
    day = date.fromisoformat(today) if today else datetime.now(ZoneInfo("Asia/Shanghai")).date()
    flows, problems = check_dir(directory)
    messages = [str(problem) for problem in problems]
    try:
        calendar = load_calendar(calendar_file)
    except CalendarError as exc:
        messages.append(str(exc))
    else:
        # A booking window reaching a year without the State Council's schedule would book
        # make-up days as closed and bridge days as open: the admin must add that year first.
        messages += [f"{calendar_file}: {gap}" for gap in window_gaps(flows.values(), day, calendar)]
    for message in messages:
        typer.echo(message, err=True)
    if messages:
        typer.echo(f"{len(messages)} problem(s) in {directory}; nothing was changed.", err=True)
        raise typer.Exit(code=1)
    for flow in flows.values():
        typer.echo(f"ok  {flow.id} v{flow.version}  {flow.title}: {len(flow.steps)} step(s), {len(flow.slots)} slot(s)")
