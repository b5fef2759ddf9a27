"""`wxbot menu`: show validates and prints, push sends to WeChat (the fake, over loopback)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app
from app.menu import load_menu
from tests.fakes.fake_wechat import FakeWeChat

ROOT = Path(__file__).resolve().parents[3]
SAMPLE = ROOT / "knowledge" / "menu.yaml"


@pytest.fixture
def wechat(wechat_server: FakeWeChat, monkeypatch: pytest.MonkeyPatch) -> FakeWeChat:
    """The fake WeChat, and settings pointing the CLI at it and at the sample account's files."""
    wechat_server.reset()
    monkeypatch.setenv("KNOWLEDGE_DIR", str(ROOT / "knowledge"))
    monkeypatch.setenv("FLOWS_DIR", str(ROOT / "flows"))
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.setenv("WECHAT_APPID", wechat_server.appid)
    monkeypatch.setenv("WECHAT_APPSECRET", wechat_server.secret)
    monkeypatch.setenv("WECHAT_API_BASE", wechat_server.url)
    return wechat_server


def test_show_validates_and_prints_the_sample_menu(wechat: FakeWeChat) -> None:
    result = CliRunner().invoke(app, ["menu", "show"])
    assert result.exit_code == 0, result.output
    assert "校验通过" in result.stdout
    assert "预约办事  [click flow:booking]" in result.stdout


def test_show_json_is_what_push_would_send(wechat: FakeWeChat) -> None:
    result = CliRunner().invoke(app, ["menu", "show", "--json"])
    assert json.loads(result.stdout) == load_menu(SAMPLE).to_wechat()


def test_show_of_a_broken_file_exits_non_zero_naming_file_and_line(
    wechat: FakeWeChat, tmp_path: Path
) -> None:
    broken = tmp_path / "menu.yaml"
    broken.write_text("button:\n  - name: 人工\n    type: click\n    key: flow:nowhere\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["menu", "show", "--file", str(broken)])
    assert result.exit_code == 1
    assert f"{broken}:4: key 'flow:nowhere' 指向不存在的流程 'nowhere'" in result.stderr


def test_push_sends_the_menu_to_wechat(wechat: FakeWeChat) -> None:
    result = CliRunner().invoke(app, ["menu", "push"])
    assert result.exit_code == 0, result.output
    assert wechat.menu == load_menu(SAMPLE).to_wechat()


def test_push_of_a_broken_file_sends_nothing(wechat: FakeWeChat, tmp_path: Path) -> None:
    broken = tmp_path / "menu.yaml"
    broken.write_text("button: []\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["menu", "push", "--file", str(broken)])
    assert result.exit_code == 1
    assert wechat.calls == []


def test_push_refused_by_wechat_exits_non_zero_with_the_errcode(wechat: FakeWeChat) -> None:
    wechat.fail_next("menu_create", 40018)
    result = CliRunner().invoke(app, ["menu", "push"])
    assert result.exit_code == 1
    assert "errcode 40018" in result.stderr


def test_push_without_an_app_secret_says_what_is_missing(
    wechat: FakeWeChat, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WECHAT_APPSECRET", "")
    result = CliRunner().invoke(app, ["menu", "push"])
    assert result.exit_code == 2
    assert "WECHAT_APPSECRET" in result.stderr
    assert wechat.calls == []


def test_current_prints_the_menu_wechat_holds(wechat: FakeWeChat) -> None:
    CliRunner().invoke(app, ["menu", "push"])
    result = CliRunner().invoke(app, ["menu", "current"])
    assert json.loads(result.stdout) == {"menu": load_menu(SAMPLE).to_wechat()}
