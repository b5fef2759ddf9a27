"""`wxbot flows check`: validate the flow files an admin edited, before they are reloaded."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flows.registry import check_dir


def register(app: typer.Typer) -> None:
    group = typer.Typer(no_args_is_help=True, help="服务流程（flows/*.yaml）")
    group.command("check")(check)
    app.add_typer(group, name="flows")


def check(
    flows_dir: Annotated[Path | None, typer.Option("--flows", help="流程目录，默认为 FLOWS_DIR 设置")] = None,
) -> None:
    """检查流程文件：格式错误（文件:行号）、无法到达的步骤、模板和条件中未定义的槽位。"""
    directory = flows_dir
    if directory is None:
        from app.settings import Settings

        directory = Settings().flows_dir
    flows, problems = check_dir(directory)
    for problem in problems:
        typer.echo(str(problem), err=True)
    if problems:
        typer.echo(f"{len(problems)} problem(s) in {directory}; nothing was changed.", err=True)
        raise typer.Exit(code=1)
    for flow in flows.values():
        typer.echo(f"ok  {flow.id} v{flow.version}  {flow.title}: {len(flow.steps)} step(s), {len(flow.slots)} slot(s)")
