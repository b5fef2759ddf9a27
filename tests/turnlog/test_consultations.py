from __future__ import annotations

from datetime import timedelta

from app.turnlog.consultations import Rules, group_user
from tests.turnlog.facts import at

RULES = Rules(idle=timedelta(minutes=30), reask_window=timedelta(hours=24))


def shape(rows: list) -> list[tuple[int, bool]]:  # type: ignore[type-arg]
    return [(c.interactions, c.resolved) for c in group_user(rows, RULES)]


def test_an_idle_gap_starts_a_new_consultation() -> None:
    rows = [at(0, faq_id="a"), at(10, faq_id="b"), at(45, faq_id="c")]
    assert [c.interactions for c in group_user(rows, RULES)] == [2, 1]


def test_faq_answer_not_reasked_within_the_window_is_resolved() -> None:
    assert shape([at(0, faq_id="a"), at(60 * 30, faq_id="a")]) == [(1, True), (1, True)]


def test_faq_answer_reasked_within_the_window_is_not_resolved() -> None:
    rows = [at(0, faq_id="a"), at(120, faq_id="a")]
    assert shape(rows) == [(1, False), (1, True)]


def test_reask_inside_the_same_consultation_still_resolves_on_the_last_answer() -> None:
    rows = [at(0, faq_id="a"), at(1, "fallback", text="没看懂"), at(2, faq_id="a")]
    assert shape(rows) == [(3, True)]


def test_consultation_ending_on_a_fallback_is_not_resolved() -> None:
    rows = [at(0, faq_id="a"), at(1, "fallback", text="那外地户口呢")]
    assert shape(rows) == [(2, False)]


def test_completed_flow_resolves_and_closes_the_consultation() -> None:
    rows = [
        at(0, "flow", flow_id="booking", step="date"),
        at(1, "flow", flow_id="booking", step="confirm", resolved=True),
        at(2, faq_id="a"),
    ]
    assert shape(rows) == [(2, True), (1, True)]


def test_abandoned_flow_is_not_resolved() -> None:
    rows = [at(0, "flow", flow_id="booking", step="date"), at(1, "flow", flow_id="booking", step="time")]
    assert shape(rows) == [(2, False)]


def test_rating_answer_belongs_to_the_closed_consultation_and_is_not_an_interaction() -> None:
    rows = [
        at(0, "flow", flow_id="complaint", step="text"),
        at(1, "flow", flow_id="complaint", step="done", resolved=True),
        at(2, "menu", satisfaction="满意"),
    ]
    (only,) = group_user(rows, RULES)
    assert (only.interactions, only.resolved, only.satisfaction) == (2, True, "满意")


def test_negative_rating_overrides_a_completed_flow() -> None:
    rows = [at(0, "flow", flow_id="x", resolved=True), at(1, "menu", satisfaction="不满意")]
    assert shape(rows) == [(1, False)]


def test_positive_rating_resolves_an_faq_consultation() -> None:
    rows = [at(0, faq_id="a"), at(1, "menu", satisfaction="基本满意"), at(5, faq_id="a")]
    assert shape(rows)[0] == (1, True)


def test_handoff_closes_the_consultation_unresolved() -> None:
    rows = [at(0, "fallback", text="?"), at(1, "handoff"), at(2, "quiet"), at(3, faq_id="a")]
    assert shape(rows) == [(2, False), (1, True)]


def test_faq_answer_followed_by_a_handoff_is_not_resolved() -> None:
    rows = [at(0, faq_id="a"), at(60, "handoff")]
    assert shape(rows) == [(1, False), (1, False)]


def test_a_different_flow_starts_a_new_consultation_but_faq_then_flow_does_not() -> None:
    rows = [
        at(0, faq_id="booking-howto"),
        at(1, "flow", flow_id="booking", step="date"),
        at(2, "flow", flow_id="complaint", step="text"),
    ]
    assert [c.interactions for c in group_user(rows, RULES)] == [2, 1]


def test_retries_duplicates_and_quiet_turns_are_not_interactions() -> None:
    rows = [
        at(0, faq_id="a"),
        at(0.1, "duplicate", is_retry=True),
        at(0.2, "quiet"),
    ]
    assert shape(rows) == [(1, True)]


def test_menu_taps_count_but_other_events_do_not() -> None:
    rows = [
        at(0, "event", msg_type="event", event="subscribe"),
        at(1, "menu", msg_type="event", event="CLICK"),
        at(2, "event", msg_type="event", event="LOCATION"),
        at(3, faq_id="a"),
    ]
    assert shape(rows) == [(2, True)]


def test_late_reply_with_an_faq_id_counts_as_an_faq_answer() -> None:
    rows = [at(0, "late", faq_id="a", outcome="late")]
    assert shape(rows) == [(1, True)]


def test_unanswered_texts_and_abandoned_clarify_questions_are_collected() -> None:
    rows = [at(0, "fallback", text="公积金异地转移"), at(1, "clarify", text="社保")]
    (only,) = group_user(rows, RULES)
    assert only.unanswered == ["公积金异地转移"]
    assert only.abandoned == "社保"


def test_answered_clarify_menu_is_not_abandoned() -> None:
    rows = [at(0, "clarify", text="社保"), at(1, faq_id="social-card")]
    (only,) = group_user(rows, RULES)
    assert only.abandoned == ""
