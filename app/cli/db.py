"""`wxbot db`: migrate the database and apply the retention policy."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

import typer

from app.settings import Settings

db_app = typer.Typer(no_args_is_help=True, help="数据库：迁移与数据保留")


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")


@db_app.command()
def upgrade(revision: str = typer.Option("head", help="目标版本")) -> None:
    """把数据库迁移到最新结构（启动前运行；重复运行无副作用）。"""
    from app.db.engine import make_engine
    from app.db.migrate import current_revision
    from app.db.migrate import upgrade as run_upgrade

    settings = Settings()
    engine = make_engine(settings.database_url)
    try:
        run_upgrade(engine, revision)
        typer.echo(f"database at revision {current_revision(engine)}")
    finally:
        engine.dispose()


def parse_day(value: str) -> datetime:
    """`YYYY-MM-DD` (local midnight, Asia/Shanghai) or an ISO datetime (local if naive) → aware UTC."""
    from app.turnlog.report import LOCAL_TZ

    try:
        if len(value) == 10:
            moment = datetime.combine(date.fromisoformat(value), time.min)
        else:
            moment = datetime.fromisoformat(value)
    except ValueError as exc:
        raise typer.BadParameter(f"不是日期：{value!r}（示例：2026-11-01）") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=LOCAL_TZ)
    return moment.astimezone(UTC)


@db_app.command()
def purge(
    before: str = typer.Option(..., "--before", help="删除此日期（北京时间 0 点）之前的对话记录，如 2026-05-01"),
) -> None:
    """按保留期限删除旧的对话记录（turn log），并清理过期的注销擦除记录。"""
    from app.db.engine import make_engine
    from app.turnlog.store import expire_erasures, purge_before

    cutoff = parse_day(before)
    settings = Settings()
    engine = make_engine(settings.database_url)
    try:
        deleted = purge_before(engine, cutoff)
        expire_erasures(engine, datetime.now(UTC))
    finally:
        engine.dispose()
    typer.echo(f"deleted {deleted} turn rows received before {cutoff.isoformat()}")
