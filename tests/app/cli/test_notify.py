"""`wxbot notify reminders` against the fake WeChat API: a dry run, a send and its rerun, the hours."""

from __future__ import annotations

import os
import random
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy import select
from typer.testing import CliRunner

from app.cli import app
from app.db import bookings
from app.db.engine import make_engine
from app.db.migrate import upgrade
from app.db.models import TicketEvent
from handlers.ports import BookingRequest
from tests.db.fixtures import Database, database, postgres_url
from tests.fakes.fake_wechat import FakeWeChat

__all__ = ["database", "postgres_url"]

runner = CliRunner()
REPO = Path(__file__).resolve().parents[3]
AT = "2026-12-07 10:00"  # Monday, Shanghai time: the booking below is tomorrow's
DESK_YAML = """
notify:
  templates:
    reminder:
      template_id: tpl-reminder
      fields: {keyword1: "{business}", keyword2: "{time}", remark: "{note}"}
  reminders: {days_before: 1, at: "09:00", until: "20:00"}
"""


@pytest.fixture
def number(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, wechat: FakeWeChat) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    (tmp_path / "desk.yaml").write_text(DESK_YAML, encoding="utf-8")
    for name, value in {
        "DATABASE_URL": url, "FLOWS_DIR": str(REPO / "flows"), "KNOWLEDGE_DIR": str(REPO / "knowledge"),
        "DESK_CONFIG": str(tmp_path / "desk.yaml"), "WECHAT_APPID": wechat.appid,
        "WECHAT_APPSECRET": wechat.secret, "WECHAT_API_BASE": wechat.url,
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("ACCOUNTS_FILE", raising=False)
    monkeypatch.chdir(tmp_path)
    engine = make_engine(url)
    upgrade(engine)
    request = BookingRequest("booking", "o-cli", "居住证办理", "市政务服务中心", date(2026, 12, 8), "上午", 20, {})
    result = bookings.book(engine, request, now=datetime(2026, 12, 5, 2, 0, tzinfo=UTC))
    engine.dispose()
    assert result.booking is not None
    return result.booking.number


def test_a_dry_run_shows_the_text_and_sends_nothing(number: str, wechat: FakeWeChat) -> None:
    result = runner.invoke(app, ["notify", "reminders", "--dry-run", "--at", AT])
    assert result.exit_code == 0, result.output
    assert f"预约号：{number}" in result.output
    assert "您明天12月8日（周二）上午（9:00-12:00）在市政务服务中心有一个预约。\n业务：居住证办理" in result.output
    assert "地址：幸福大道 1 号（示例地址）" in result.output
    assert "试运行：到期 1 个预约" in result.output
    assert wechat.calls == []


def test_a_send_and_its_rerun(number: str, wechat: FakeWeChat) -> None:
    result = runner.invoke(app, ["notify", "reminders", "--at", AT])
    assert result.exit_code == 0, result.output
    assert "已发送 1（客服消息 0，模板消息 1）" in result.output
    assert [b["touser"] for b in wechat.templates_sent] == ["o-cli"]
    again = runner.invoke(app, ["notify", "reminders", "--at", "2026-12-07 10:05"])
    assert again.exit_code == 0 and "到期 0，已发送 0" in again.output
    assert len(wechat.templates_sent) == 1


def test_outside_the_hours_nothing_is_sent_unless_asked(number: str, wechat: FakeWeChat) -> None:
    result = runner.invoke(app, ["notify", "reminders", "--at", "2026-12-07 07:30"])
    assert result.exit_code == 0 and "不在提醒时段（北京时间 09:00–20:00）" in result.output
    assert wechat.calls_to("template_send") == []
    forced = runner.invoke(app, ["notify", "reminders", "--at", "2026-12-07 07:30", "--ignore-hours"])
    assert "已发送 1" in forced.output


def test_an_unknown_account_is_refused(number: str) -> None:
    result = runner.invoke(app, ["notify", "reminders", "--account", "nope", "--dry-run"])
    assert result.exit_code == 2


def test_a_broken_desk_config_names_the_key(number: str, tmp_path: Path) -> None:
    (tmp_path / "desk.yaml").write_text("notify:\n  reminders: {at: '9点'}\n", encoding="utf-8")
    result = runner.invoke(app, ["notify", "reminders", "--dry-run"])
    assert result.exit_code == 2 and "notify.reminders.at" in result.output


def test_serve_builds_the_notification_task(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from app.main import build_resources
    from app.settings import Settings

    settings = Settings(database_url=f"sqlite:///{tmp_path / 's.db'}", flows_dir=REPO / "flows",
                        knowledge_dir=REPO / "knowledge", turnlog_enabled=False)
    assert build_resources(settings).notifications is not None
    off = settings.model_copy(update={"notify_interval_s": 0})
    assert build_resources(off).notifications is None
    assert timedelta(seconds=settings.notify_interval_s) == timedelta(minutes=5)


@pytest.mark.slow
@pytest.mark.redis
def test_two_processes_at_once_send_each_reminder_once(
    database: Database, redis_url: str, wechat: FakeWeChat, tmp_path: Path
) -> None:
    """Two `wxbot notify reminders` processes started together, sharing the database and Redis
    as two hosts would: every due booking is reminded exactly once."""
    engine = make_engine(database.url)
    upgrade(engine)
    # Numbers from a creation day of their own, so the Redis claims of other runs cannot match.
    created = datetime(2100, 1, 1, 2, 0, tzinfo=UTC) + timedelta(days=random.randrange(36_000))
    numbers = []
    for i in range(16):
        request = BookingRequest("booking", f"o-proc-{i}", "社保卡办理", "市政务服务中心", date(2026, 12, 8),
                                 "上午" if i % 2 else "下午", 20, {})
        result = bookings.book(engine, request, now=created)
        assert result.booking is not None
        numbers.append(result.booking.number)
    (tmp_path / "desk.yaml").write_text(DESK_YAML, encoding="utf-8")
    env = {
        **os.environ, "DATABASE_URL": database.url, "REDIS_URL": redis_url, "FLOWS_DIR": str(REPO / "flows"),
        "KNOWLEDGE_DIR": str(REPO / "knowledge"), "DESK_CONFIG": str(tmp_path / "desk.yaml"),
        "WECHAT_APPID": wechat.appid, "WECHAT_APPSECRET": wechat.secret, "WECHAT_API_BASE": wechat.url,
    }
    env.pop("ACCOUNTS_FILE", None)
    command = [sys.executable, "-m", "app.cli", "notify", "reminders", "--at", AT]
    # Sends slow enough (16 × 0.3 s) that the second process starts while the first is sending.
    wechat.delay("template_send", 0.3)
    try:
        procs = [
            subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            for _ in range(2)
        ]
        outputs = [p.communicate(timeout=120)[0] for p in procs]
        assert all(p.returncode == 0 for p in procs), outputs
        recipients = sorted(b["touser"] for b in wechat.templates_sent)
        assert recipients == sorted(f"o-proc-{i}" for i in range(16)), outputs
        with engine.connect() as conn:
            rows = conn.execute(select(TicketEvent.request_key, TicketEvent.delivery)
                                .where(TicketEvent.action == "reminder")).all()
        assert len(rows) == 16 and {r.delivery for r in rows} == {"sent"}
    finally:
        engine.dispose()
        client = redis.Redis.from_url(redis_url)
        for number in numbers:
            for key in client.scan_iter(match=f"wxbot:notify:once:booking-remind:{number}:*"):
                client.delete(key)
        client.close()
