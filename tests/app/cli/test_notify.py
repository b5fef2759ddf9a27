"""`wxbot notify reminders` against the fake WeChat API: a dry run, a send and its rerun, the hours."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from app.db import bookings
from app.db.engine import make_engine
from app.db.migrate import upgrade
from handlers.ports import BookingRequest
from tests.fakes.fake_wechat import FakeWeChat

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
