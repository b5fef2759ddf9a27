"""`wxbot flows check` fails when a booking window reaches a year without a published holiday schedule."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from app.cli import app
from flows.calendar import SHIPPED

ROOT = Path(__file__).resolve().parents[3]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def test_check_passes_while_the_booking_window_stays_in_published_years() -> None:
    code, out, err = run("flows", "check", "--flows", str(ROOT / "flows"), "--calendar", str(SHIPPED),
                         "--today", "2026-11-20")
    assert code == 0, err
    assert "ok  booking" in out


def test_check_fails_when_the_booking_window_reaches_an_unpublished_year() -> None:
    code, _out, err = run("flows", "check", "--flows", str(ROOT / "flows"), "--calendar", str(SHIPPED),
                          "--today", "2026-12-06")
    assert code == 1
    assert "'booking'" in err and "2027" in err and "no published schedule" in err


def test_check_reports_a_broken_calendar_file(tmp_path: Path) -> None:
    broken = tmp_path / "calendar.yaml"
    broken.write_text("years:\n  2026:\n    holidays: []\n", encoding="utf-8")
    code, _out, err = run("flows", "check", "--flows", str(ROOT / "flows"), "--calendar", str(broken),
                          "--today", "2026-06-01")
    assert code == 1
    assert "calendar.yaml" in err and "source" in err
