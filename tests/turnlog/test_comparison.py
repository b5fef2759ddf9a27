"""One view across accounts (issue 16): per-account figures and unanswered questions shared by accounts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine
from typer.testing import CliRunner

from app.cli import app
from app.db.tickets import create_ticket
from app.turnlog.comparison import compare
from app.turnlog.consultations import Rules
from app.turnlog.logger import TurnLogger
from app.turnlog.report import build_report
from tests.turnlog.records import T0, record


def log_two_accounts(engine: Engine, tmp_path: Path) -> None:
    turnlog = TurnLogger(engine, pseudonym_key=b"k", spool_dir=tmp_path / "spool", flush_interval_s=0.02)
    turnlog.start()
    # rsj: two FAQ answers (fast) and one unanswered question; gjj: the same unanswered question
    # in other words, and a slow fallback; gaj: an unanswered question nobody else asked.
    turnlog.submit(record(0, account="rsj", openid="a", latency_ms=10))
    turnlog.submit(record(1, account="rsj", openid="b", latency_ms=20))
    turnlog.submit(record(2, account="rsj", openid="c", route="fallback", faq_id="", text="公积金怎么转到外地"))
    turnlog.submit(record(3, account="gjj", openid="c", route="fallback", faq_id="", text="公积金怎么转去外地啊",
                          latency_ms=300))
    turnlog.submit(record(4, account="gaj", openid="d", route="fallback", faq_id="", text="养狗要登记吗"))
    turnlog.stop()


def test_a_report_can_be_limited_to_one_account(engine: Engine, tmp_path: Path) -> None:
    log_two_accounts(engine, tmp_path)
    assert build_report(engine, rules=Rules(), account="rsj").to_json()["turns"] == 3
    assert build_report(engine, rules=Rules(), account="gjj").to_json()["turns"] == 1
    assert build_report(engine, rules=Rules()).to_json()["turns"] == 5


def test_the_comparison_has_each_accounts_figures_and_tickets(engine: Engine, tmp_path: Path) -> None:
    log_two_accounts(engine, tmp_path)
    create_ticket(engine, "complaint", "o1", {}, account="gjj", now=T0 - timedelta(days=5))
    create_ticket(engine, "complaint", "o2", {}, account="gjj", now=T0)
    result = compare(engine, T0 - timedelta(hours=1), T0 + timedelta(hours=1), Rules(), now=T0)
    by_id = {a.account: a for a in result.accounts}
    assert set(by_id) == {"rsj", "gjj", "gaj"}
    assert by_id["rsj"].turns == 3 and by_id["gjj"].turns == 1
    assert by_id["gjj"].p95_ms == 300.0
    assert by_id["rsj"].fallback is not None and abs(by_id["rsj"].fallback - 1 / 3) < 0.01
    assert (by_id["gjj"].open_tickets, by_id["gjj"].overdue_tickets) == (2, 1)
    assert (by_id["rsj"].open_tickets, by_id["rsj"].overdue_tickets) == (0, 0)


def test_questions_unanswered_on_several_accounts_are_listed_once(engine: Engine, tmp_path: Path) -> None:
    log_two_accounts(engine, tmp_path)
    result = compare(engine, T0 - timedelta(hours=1), T0 + timedelta(hours=1), Rules(), now=T0)
    (shared,) = result.shared_unanswered
    assert shared["accounts"] == {"rsj": 1, "gjj": 1}
    assert shared["count"] == 2
    assert "养狗要登记吗" not in {q for item in result.shared_unanswered for q in item["examples"]}


def test_wxbot_report_compare_prints_the_table(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log_two_accounts(engine, tmp_path)
    monkeypatch.setenv("DATABASE_URL", engine.url.render_as_string(hide_password=False))
    monkeypatch.delenv("ACCOUNTS_FILE", raising=False)
    result = CliRunner().invoke(app, ["report", "--compare", "--since", "2026-11-25", "--until", "2026-11-27"])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["账号", "消息", "p95"]
    assert any(line.startswith("rsj") and " 3 " in line for line in lines)
    assert "多个账号都未能解答的问题" in result.stdout
    single = CliRunner().invoke(app, ["report", "--json", "--since", "2026-11-25", "--until", "2026-11-27"])
    assert single.exit_code == 0, single.output


def test_one_pass_over_all_accounts_matches_one_report_per_account(engine: Engine, tmp_path: Path) -> None:
    from app.turnlog.report import build_reports_by_account

    log_two_accounts(engine, tmp_path)
    since, until = T0 - timedelta(hours=1), T0 + timedelta(hours=1)
    together = build_reports_by_account(engine, since, until, Rules())
    assert set(together) == {"rsj", "gjj", "gaj"}
    for account, report in together.items():
        alone = build_report(engine, since, until, Rules(), account=account)
        assert report.to_json() == alone.to_json()
    # An account asked for without rows is reported empty, not left out.
    assert build_reports_by_account(engine, since, until, Rules(), ["quiet"])["quiet"].to_json()["turns"] == 0
