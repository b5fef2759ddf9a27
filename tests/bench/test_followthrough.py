"""The follow-through journey runner: placeholders, captures, and what counts as an interaction."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from bench import followthrough

ROOT = Path(__file__).resolve().parents[2]


class Scripted:
    def __init__(self, replies: dict[str, str]) -> None:
        self.replies = replies
        self.sent: list[tuple[str, str]] = []

    def say(self, openid: str, text: str) -> str:
        self.sent.append((openid, text))
        return self.replies.get(text, "")


def test_placeholders_name_next_years_new_year_and_spring_festival() -> None:
    assert followthrough.placeholders(date(2026, 12, 6)) == {
        "new_year": "2027年1月1日", "spring_festival": "2027年2月6日"
    }


def test_the_shipped_scripts_cover_the_issues_journeys() -> None:
    ids = {s.id for s in followthrough.load(ROOT / "bench" / "journeys_followthrough.yaml")}
    assert {"lookup-complaint", "list-bookings", "cancel-booking", "change-booking-one-sentence", "full-slot",
            "holiday-new-year", "holiday-spring-festival", "rating-with-reason"} <= ids


def test_setup_is_not_counted_and_captures_feed_later_turns() -> None:
    script = followthrough.Script(
        "demo", "demo",
        setup=[followthrough.Turn("投诉", ["已登记"], capture=r"编号：(?P<number>\d{8}-\d{4})")],
        turns=[followthrough.Turn("{number}", ["状态"])],
    )
    sender = Scripted({"投诉": "已登记，编号：20261206-0001", "20261206-0001": "当前状态：新建"})
    result = followthrough.play(sender, script, "r", date(2026, 12, 6))
    assert result.completed and result.interactions == 1
    assert sender.sent[-1] == ("bench-r-demo", "20261206-0001")


def test_a_missing_expectation_fails_the_journey() -> None:
    script = followthrough.Script("demo", "demo", setup=[], turns=[followthrough.Turn("我的预约", ["您的预约"])])
    result = followthrough.play(Scripted({}), script, "r", date(2026, 12, 6))
    assert not result.completed and "lacks" in result.failure
