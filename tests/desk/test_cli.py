"""`wxbot staff …` and `wxbot tickets export`."""

from __future__ import annotations

from pathlib import Path

import pytest
from openpyxl import load_workbook
from typer.testing import CliRunner

from app.cli import app
from app.db.engine import make_engine
from app.db.migrate import upgrade
from app.db.tickets import create_ticket
from app.desk import staff

runner = CliRunner()


@pytest.fixture
def db_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    return url


def test_staff_add_reads_the_password_from_stdin(db_url: str) -> None:
    result = runner.invoke(app, ["staff", "add", "zhou", "--role", "agent"], input="a-long-password\n")
    assert result.exit_code == 0, result.output
    engine = make_engine(db_url)
    assert staff.authenticate(engine, "zhou", "a-long-password") is not None
    engine.dispose()


def test_staff_add_takes_no_password_argument(db_url: str) -> None:
    result = runner.invoke(app, ["staff", "add", "zhou", "--role", "agent", "--password", "x"])
    assert result.exit_code != 0


def test_a_short_password_or_unknown_role_is_refused(db_url: str) -> None:
    assert runner.invoke(app, ["staff", "add", "zhou", "--role", "agent"], input="short\n").exit_code == 1
    assert runner.invoke(app, ["staff", "add", "zhou", "--role", "boss"], input="a-long-password\n").exit_code == 1


def test_list_disable_passwd_and_audit(db_url: str) -> None:
    runner.invoke(app, ["staff", "add", "zhou", "--role", "admin"], input="a-long-password\n")
    assert "zhou\tadmin\t启用" in runner.invoke(app, ["staff", "list"]).output
    assert runner.invoke(app, ["staff", "passwd", "zhou"], input="another-long-one\n").exit_code == 0
    assert runner.invoke(app, ["staff", "disable", "zhou"]).exit_code == 0
    assert "zhou\tadmin\t停用" in runner.invoke(app, ["staff", "list"]).output
    audit = runner.invoke(app, ["staff", "audit"]).output
    assert "新增用户" in audit and "修改密码" in audit and "停用用户" in audit
    assert runner.invoke(app, ["staff", "disable", "nobody"]).exit_code == 1


def test_tickets_export_csv_and_xlsx(db_url: str, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    number = create_ticket(engine, "complaint", "o1", {"问题类别": "服务态度", "联系电话": "13812345678"})
    engine.dispose()
    result = runner.invoke(app, ["tickets", "export", "--since", "2020-01-01", "--format", "csv"])
    assert result.exit_code == 0, result.output
    assert result.stdout_bytes.startswith("\ufeff编号".encode())
    assert number in result.stdout
    out = tmp_path / "t.xlsx"
    result = runner.invoke(app, ["tickets", "export", "--since", "2020-01-01", "--format", "xlsx", "-o", str(out)])
    assert result.exit_code == 0, result.output
    sheet = load_workbook(out).active
    assert sheet is not None
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][0] == "编号" and rows[1][0] == number and rows[1][1] == "投诉"
    assert runner.invoke(app, ["tickets", "export", "--since", "2099-01-01", "--format", "pdf"]).exit_code != 0
