"""`wxbot staff` (desk logins and their audit log) and `wxbot tickets export`.

Passwords are read from standard input, never taken as an argument: arguments end up in shell
history and in `ps` for every user on the host. A terminal is asked twice without echo; a pipe
gives one line (`printf '%s\\n' "$PW" | wxbot staff add …`).
"""

from __future__ import annotations

import getpass
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from app.cli.db import parse_day
from app.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy import Engine

staff_app = typer.Typer(no_args_is_help=True, help="工单台工作人员账号与审计日志")
tickets_app = typer.Typer(no_args_is_help=True, help="工单导出")
CLI_ACTOR = "cli"


def register(app: typer.Typer) -> None:
    app.add_typer(staff_app, name="staff")
    app.add_typer(tickets_app, name="tickets")


@contextmanager
def _engine() -> Iterator[Engine]:
    from app.db.engine import make_engine

    engine = make_engine(Settings().database_url)
    try:
        yield engine
    finally:
        engine.dispose()


def _read_password() -> str:
    if sys.stdin.isatty():
        first = getpass.getpass("新密码：")
        if getpass.getpass("再输一次：") != first:
            raise typer.BadParameter("两次输入的密码不一致")
        return first
    return sys.stdin.readline().rstrip("\r\n")


def _fail(message: str) -> None:
    typer.echo(message, err=True)
    raise typer.Exit(1)


@staff_app.command("add")
def add(
    username: str,
    role: str = typer.Option(..., "--role", help="admin | agent | viewer"),
    accounts: str = typer.Option("", "--accounts", help="只能查看这些公众号的工单（逗号分隔，默认全部）"),
) -> None:
    """新增工作人员（密码从标准输入读取）。"""
    from app.desk import staff

    password = _read_password()
    with _engine() as engine:
        try:
            member = staff.add(engine, username, role, password, [a for a in accounts.split(",") if a])
        except staff.StaffError as exc:
            _fail(str(exc))
            return
        staff.audit(engine, CLI_ACTOR, "staff_add", detail=f"{username} {role}")
    typer.echo(f"已创建 {member.username}（{member.role}）")


@staff_app.command("list")
def list_staff() -> None:
    """列出工作人员。"""
    from app.desk import staff

    with _engine() as engine:
        members = staff.all_staff(engine)
    for m in members:
        last = m.last_login_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M") if m.last_login_at else "-"
        state = "停用" if m.disabled else "启用"
        scope = ",".join(m.accounts) or "全部"
        typer.echo(f"{m.username}\t{m.role}\t{state}\t公众号:{scope}\t最近登录:{last}")


@staff_app.command("disable")
def disable(username: str) -> None:
    """停用账号，并立即结束其所有登录会话。"""
    from app.desk import staff

    with _engine() as engine:
        try:
            staff.disable(engine, username)
        except staff.StaffError as exc:
            _fail(str(exc))
            return
        staff.audit(engine, CLI_ACTOR, "staff_disable", detail=username)
    typer.echo(f"已停用 {username}")


@staff_app.command("passwd")
def passwd(username: str) -> None:
    """修改密码（从标准输入读取），并结束其所有登录会话。"""
    from app.desk import staff

    password = _read_password()
    with _engine() as engine:
        try:
            staff.set_password(engine, username, password)
        except staff.StaffError as exc:
            _fail(str(exc))
            return
        staff.audit(engine, CLI_ACTOR, "staff_passwd", detail=username)
    typer.echo(f"已修改 {username} 的密码")


@staff_app.command("audit")
def audit(
    days: int = typer.Option(7, "--days", help="最近几天"),
    actor: str = typer.Option("", "--user", help="只看这个用户"),
    ticket: str = typer.Option("", "--ticket", help="只看这个工单"),
    limit: int = typer.Option(200, "--limit"),
) -> None:
    """查看审计日志（谁在何时对哪个工单做了什么）。"""
    from app.desk import staff
    from app.desk.sla import SHANGHAI

    with _engine() as engine:
        entries = staff.audit_entries(
            engine, since=datetime.now(UTC) - timedelta(days=days), actor=actor, ticket=ticket, limit=limit
        )
    for e in entries:
        at = e.at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M:%S")
        typer.echo(f"{at}\t{e.actor}\t{e.label}\t{e.ticket_number or '-'}\t{e.detail}\t{e.address}")


@tickets_app.command("export")
def export(
    since: str = typer.Option(..., "--since", help="起始日期（北京时间），如 2026-11-01"),
    until: str | None = typer.Option(None, "--until", help="截止日期（不含），默认现在"),
    fmt: str = typer.Option("csv", "--format", help="csv | xlsx"),
    out: str | None = typer.Option(None, "--output", "-o", help="输出文件；csv 默认写到标准输出"),
) -> None:
    """导出工单（csv 带 BOM，Excel 可直接打开；xlsx 需 -o）。"""
    from app.desk import staff
    from app.desk import tickets as repo
    from app.desk.router import EXPORT_HEADER, export_record, tickets_csv

    output = Path(out) if out else None
    start = parse_day(since)
    end = parse_day(until) if until else datetime.now(UTC)
    if fmt not in ("csv", "xlsx"):
        raise typer.BadParameter("--format 只能是 csv 或 xlsx")
    if fmt == "xlsx" and output is None:
        raise typer.BadParameter("xlsx 需要用 -o 指定输出文件")
    with _engine() as engine:
        rows = repo.export_rows(engine, repo.QueueFilter(status="all"), since=start, until=end)
        staff.audit(engine, CLI_ACTOR, "export", detail=f"{fmt} {len(rows)} rows {since}..{until or 'now'}")
    if fmt == "csv":
        data = ("\ufeff" + tickets_csv(rows)).encode("utf-8")
        if output is None:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        else:
            output.write_bytes(data)
    else:
        from openpyxl import Workbook

        book = Workbook()
        sheet = book.active
        assert sheet is not None
        sheet.title = "工单"
        sheet.append(list(EXPORT_HEADER))
        for ticket in rows:
            sheet.append(export_record(ticket))
        assert output is not None
        book.save(output)
    if output is not None:
        typer.echo(f"已导出 {len(rows)} 件工单到 {output}")
