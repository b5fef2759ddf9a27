"""`wxbot accounts check|list` and `--account` on the one-account commands, on the shipped example."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from app.cli import app

REPO = Path(__file__).resolve().parents[3]
EXAMPLE = REPO / "deploy" / "accounts.example.yaml"


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Path:
    """The example accounts file with its demo secrets, run from the repository root."""
    monkeypatch.chdir(REPO)
    for line in (REPO / "deploy" / "accounts.example.env").read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.partition("=")
            monkeypatch.setenv(name, value)
    monkeypatch.setenv("ACCOUNTS_FILE", str(EXAMPLE))
    for name in ("MATCH_ANSWER_THRESHOLD", "MATCH_ANSWER_MARGIN", "MATCH_CLARIFY_THRESHOLD", "MATCH_MENU_SIZE"):
        monkeypatch.delenv(name, raising=False)
    return EXAMPLE


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_the_example_accounts_file_checks_clean(example: Path) -> None:
    code, out, err = run("accounts", "check")
    assert code == 0, err
    assert "3 个账号" in out and "0 个错误" in out


def test_list_shows_each_accounts_path_and_folders_without_secrets(example: Path) -> None:
    code, out, _ = run("accounts", "list")
    assert code == 0
    assert "/wechat/rsj" in out and "/wechat/gjj" in out and "/wechat/gaj" in out
    assert "knowledge + knowledge/accounts/gjj" in out
    for line in (REPO / "deploy" / "accounts.example.env").read_text(encoding="utf-8").splitlines():
        value = line.partition("=")[2]
        if value and not line.startswith("#"):
            assert value not in out


def test_check_names_a_missing_variable(example: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GJJ_TOKEN")
    code, _, err = run("accounts", "check")
    assert code == 1
    assert f"{EXAMPLE}:" in err and "GJJ_TOKEN" in err


def test_check_reports_a_broken_overlay_with_its_folder(example: Path, tmp_path: Path) -> None:
    overlay = tmp_path / "broken"
    (overlay / "faq").mkdir(parents=True)
    (overlay / "faq" / "x.yaml").write_text("category: x\nentries:\n  - id: a\n    question: [\n", "utf-8")
    text = EXAMPLE.read_text(encoding="utf-8").replace("knowledge/accounts/gaj]", f"{overlay}]")
    accounts = tmp_path / "accounts.yaml"
    accounts.write_text(text, encoding="utf-8")
    code, _, err = run("accounts", "check", "--file", str(accounts))
    assert code == 1
    assert f"{overlay}/faq/x.yaml:" in err


def test_ask_with_an_account_uses_its_overrides(example: Path) -> None:
    code, out, _ = run("ask", "--account", "rsj", "--json", "社保卡丢了怎么补办")
    assert code == 0 and '"faq_id": "shebao-001"' in out
    code, out, _ = run("ask", "--account", "gjj", "--json", "护照过期了怎么换发")
    assert code == 0 and "churujing-002" not in out  # gjj withdrew the passport entries


def test_a_one_account_command_needs_account_when_there_are_several(example: Path) -> None:
    code, _, err = run("ask", "你好")
    assert code == 2 and "--account" in err
    code, _, err = run("ask", "--account", "nobody", "你好")
    assert code == 2 and "nobody" in err


def test_flows_and_menu_checks_take_the_account(example: Path) -> None:
    code, out, _ = run("flows", "check", "--account", "gjj", "--today", "2026-06-01")
    assert code == 0 and "business_licence" not in out and "booking" in out
    code, out, _ = run("menu", "show", "--account", "gjj")
    assert code == 0 and "knowledge/accounts/gjj/menu.yaml" in out
