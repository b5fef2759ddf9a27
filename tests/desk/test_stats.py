"""Ticket service levels for ops: response and resolution percentiles, share within target,
open tickets by age — in `ticket_stats`, `wxbot report` and the dashboard."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, update
from typer.testing import CliRunner

from app.cli import app
from app.db.engine import make_engine
from app.db.migrate import upgrade
from app.db.models import Ticket
from app.db.tickets import create_ticket
from app.desk.stats import ticket_stats

NOW = datetime(2026, 12, 4, 8, 0, tzinfo=UTC)  # Friday 16:00 in Shanghai


def seed(engine: Engine) -> None:
    """Three tickets from Thursday 16:00: answered in 1 h and closed in 1 day, answered in 20 h (late:
    1.8 service hours end Friday 09:18)
    and still open, and one never answered; one open ticket 10 days old."""
    thursday = NOW - timedelta(days=1)
    numbers = [create_ticket(engine, "complaint", f"o{i}", {}, now=thursday) for i in range(3)]
    old = create_ticket(engine, "complaint", "o9", {}, now=NOW - timedelta(days=10))
    with engine.begin() as conn:
        conn.execute(update(Ticket).where(Ticket.number == numbers[0]).values(
            first_response_at=thursday + timedelta(hours=1), resolved_at=thursday + timedelta(days=1),
            status="已办结", due_at=None))
        conn.execute(update(Ticket).where(Ticket.number == numbers[1]).values(
            first_response_at=thursday + timedelta(hours=20), status="办理中"))
        conn.execute(update(Ticket).where(Ticket.number == old).values(due_at=NOW - timedelta(days=5)))


def test_ticket_stats_measure_response_resolution_and_age(engine: Engine) -> None:
    seed(engine)
    stats = ticket_stats(engine, NOW - timedelta(days=2), NOW, NOW)
    assert stats.created == 3
    assert stats.first_response_hours == {"p50": 10.5, "p90": 18.1}
    assert stats.resolution_hours == {"p50": 24.0, "p90": 24.0}
    assert stats.responded_within_target == 0.5
    assert stats.resolved_within_target == 1.0
    assert stats.open_by_age == {"1天内": 0, "1-3天": 2, "3-7天": 0, "7天以上": 1}
    assert stats.open_overdue >= 1


def test_wxbot_report_prints_the_ticket_section(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'r.db'}"
    engine = make_engine(url)
    upgrade(engine)
    seed(engine)
    engine.dispose()
    monkeypatch.setenv("DATABASE_URL", url)
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["report", "--since", "2026-12-01", "--until", "2026-12-05"])
    assert result.exit_code == 0, result.output
    assert "首次响应    p50 10.5 小时  p90 18.1 小时  时限内 50.0%" in result.output
    assert "7天以上 1" in result.output
