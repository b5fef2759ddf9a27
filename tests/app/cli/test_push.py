"""`wxbot push plan|send|report` end to end: SQLite, the sample topics, the fake WeChat on loopback."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from app.db import subscriptions
from app.db.engine import make_engine
from app.db.migrate import upgrade
from tests.fakes.fake_wechat import FakeWeChat

ROOT = Path(__file__).resolve().parents[3]
CAMPAIGN = (
    "title: 公积金新政\ntopics: [gongjijin]\nchannel: template\ntemplate_id: TPL\n"
    "content: 利率下调。\nrate_per_second: 1000\n"
)


@pytest.fixture
def env(wechat_server: FakeWeChat, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> FakeWeChat:
    wechat_server.reset()
    url = f"sqlite:///{tmp_path / 'wx.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.setenv("KNOWLEDGE_DIR", str(ROOT / "knowledge"))
    monkeypatch.setenv("FLOWS_DIR", str(ROOT / "flows"))
    monkeypatch.setenv("CAMPAIGNS_DIR", str(tmp_path))
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("WECHAT_APPID", wechat_server.appid)
    monkeypatch.setenv("WECHAT_APPSECRET", wechat_server.secret)
    monkeypatch.setenv("WECHAT_API_BASE", wechat_server.url)
    (tmp_path / "gjj.yaml").write_text(CAMPAIGN, encoding="utf-8")
    engine = make_engine(url)
    upgrade(engine)
    for i in range(5):
        subscriptions.subscribe(engine, f"o{i}", "gongjijin")
    subscriptions.subscribe(engine, "o_other", "shebao")
    engine.dispose()
    return wechat_server


def test_plan_is_a_dry_run_with_the_audience(env: FakeWeChat) -> None:
    result = CliRunner().invoke(app, ["push", "plan", "gjj", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert (data["audience"], data["capped"], data["to_send"]) == (5, 0, 5)
    assert data["quiet_hours"] == "22:00–08:00"
    assert data["asked_recently"] == 0
    assert env.calls == []
    text = CliRunner().invoke(app, ["push", "plan", "gjj"])
    assert "将发送：5" in text.stdout and "试运行" in text.stdout


def test_send_then_report(env: FakeWeChat) -> None:
    sent = CliRunner().invoke(app, ["push", "send", "gjj", "--ignore-quiet"])
    assert sent.exit_code == 0, sent.output
    assert "已发送 5" in sent.stdout
    assert sorted(body["touser"] for body in env.templates) == [f"o{i}" for i in range(5)]
    report = CliRunner().invoke(app, ["push", "report", "gjj", "--json"])
    assert report.exit_code == 0, report.output
    data = json.loads(report.stdout)
    # WeChat has not reported delivery yet: sent, not delivered.
    assert (data["targeted"], data["sent"], data["delivered"], data["reach_10d"], data["met"]) == (5, 5, 0, 0.0, False)
    text = CliRunner().invoke(app, ["push", "report", "gjj"])
    assert "10 天到达率（送达 / 目标）：0.0%，目标 75%，未达标" in text.stdout


def test_a_broken_campaign_names_file_and_line(env: FakeWeChat, tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text(CAMPAIGN.replace("gongjijin", "nope"), encoding="utf-8")
    result = CliRunner().invoke(app, ["push", "plan", "bad"])
    assert result.exit_code == 1
    assert "bad.yaml:2: 主题 'nope' 不存在" in result.output
