"""Menu picks read back from the turn log: a clarify row, then the number the citizen picked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from app.turnlog.consultations import TurnFacts
from app.turnlog.picks import menu_picks
from knowledge.learning import Label

T0 = datetime(2026, 11, 26, 2, 0, tzinfo=UTC)


def row(n: int, route: str, text: str, faq_id: str = "", **extra: object) -> TurnFacts:
    return TurnFacts(T0 + timedelta(seconds=n), "u1", route, text=text, faq_id=faq_id, **extra)  # type: ignore[arg-type]


def test_a_number_picked_after_a_menu_labels_the_question_with_the_entry() -> None:
    rows = [row(0, "clarify", "公积金提取"), row(1, "faq", "2", "gjj-rent")]
    assert list(menu_picks(rows)) == [Label("公积金提取", "gjj-rent")]


def test_a_direct_answer_is_not_a_pick() -> None:
    rows = [row(0, "clarify", "公积金提取"), row(1, "faq", "租房怎么提取公积金", "gjj-rent")]
    assert list(menu_picks(rows)) == []


def test_a_number_without_a_menu_before_it_is_not_a_pick() -> None:
    rows = [row(0, "fallback", "你们几点下班"), row(1, "faq", "2", "gjj-rent")]
    assert list(menu_picks(rows)) == []


def test_a_retried_delivery_between_menu_and_pick_does_not_hide_the_pick() -> None:
    rows = [
        row(0, "clarify", "公积金提取"),
        row(1, "duplicate", "公积金提取", is_retry=True),
        row(2, "faq", "1", "gjj-leave"),
    ]
    assert list(menu_picks(rows)) == [Label("公积金提取", "gjj-leave")]
