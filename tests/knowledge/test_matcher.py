"""Matcher: answer when sure, offer a menu when close, fall back otherwise; never an inactive entry."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from pydantic import ValidationError

from knowledge.index import Hit
from knowledge.matcher import MatchConfig, Matcher, decide
from knowledge.normalize import Vocabulary
from knowledge.schema import FaqEntry, KnowledgeBase
from tests.knowledge.conftest import BASIC

TODAY = date(2024, 6, 1)


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return Matcher.from_directory(BASIC)


def kb_of(*entries: FaqEntry) -> KnowledgeBase:
    return KnowledgeBase(directory=Path("."), entries=entries, vocabulary=Vocabulary())


def test_a_confident_match_is_answered(matcher: Matcher) -> None:
    result = matcher.match("社保卡丢了怎么补办", TODAY)
    assert (result.decision, result.faq_id) == ("answer", "sb-card-lost")
    assert result.candidates[0].faq_id == "sb-card-lost"


def test_synonyms_from_the_knowledge_folder_apply(matcher: Matcher) -> None:
    result = matcher.match("社会保障卡遗失了去哪补卡", TODAY)
    assert (result.decision, result.faq_id) == ("answer", "sb-card-lost")


def test_an_unrelated_question_falls_back(matcher: Matcher) -> None:
    result = matcher.match("明天会不会下雨", TODAY)
    assert result.decision == "fallback" and result.faq_id is None


def test_two_close_entries_are_offered_as_a_menu() -> None:
    matcher = Matcher(
        kb_of(
            FaqEntry(id="rent", category="公积金", question="租房怎么提取公积金", similar=(), answer="a"),
            FaqEntry(id="leave", category="公积金", question="离职后怎么提取公积金", similar=(), answer="b"),
            FaqEntry(id="passport", category="出入境", question="护照丢了怎么补办", similar=(), answer="c"),
        )
    )
    result = matcher.match("公积金提取", TODAY)
    assert result.decision == "clarify" and result.faq_id is None
    assert {c.faq_id for c in result.candidates} == {"rent", "leave"}


def test_a_bare_topic_shared_by_several_entries_gets_a_menu_not_a_guess(matcher: Matcher) -> None:
    result = matcher.match("公积金", TODAY)
    assert result.decision == "clarify"
    assert {c.faq_id for c in result.candidates} == {"gjj-balance", "gjj-loan", "gjj-withdraw-rent"}


def test_a_disabled_entry_is_never_answered_or_offered(matcher: Matcher) -> None:
    result = matcher.match("退休金什么时候发放", TODAY)
    assert result.faq_id != "sb-retired"
    assert all(c.faq_id != "sb-retired" for c in result.candidates)


def test_an_entry_is_answered_within_its_dates() -> None:
    result = Matcher.from_directory(BASIC).match("灵活就业社保补贴怎么申请", date(2024, 12, 31))
    assert (result.decision, result.faq_id) == ("answer", "sb-2024-subsidy")


def test_an_expired_entry_is_never_answered_or_offered(matcher: Matcher) -> None:
    result = matcher.match("灵活就业社保补贴怎么申请", date(2025, 1, 1))
    assert all(c.faq_id != "sb-2024-subsidy" for c in result.candidates)
    assert result.faq_id != "sb-2024-subsidy"


def test_an_entry_is_not_answered_before_it_starts(matcher: Matcher) -> None:
    result = matcher.match("灵活就业社保补贴怎么申请", date(2023, 12, 31))
    assert all(c.faq_id != "sb-2024-subsidy" for c in result.candidates)


def test_entry_returns_the_full_entry_or_none(matcher: Matcher) -> None:
    entry = matcher.entry("gjj-balance")
    assert entry is not None and entry.answer.startswith("可通过")
    assert matcher.entry("nope") is None


def test_the_fixture_regression_cases_hold(matcher: Matcher) -> None:
    for case in matcher.kb.tests:
        result = matcher.match(case.query, TODAY)
        if case.expect is None:
            assert result.decision != "answer", case.query
        else:
            assert (result.decision, result.faq_id) == ("answer", case.expect), case.query


CONFIG = MatchConfig(answer_threshold=0.6, answer_margin=0.1, clarify_threshold=0.3, menu_size=3, menu_floor=0.2)


def hits(*scores: float) -> list[Hit]:
    return [Hit(f"e{i}", s, coverage=0.5) for i, s in enumerate(scores)]


def test_decide_answers_a_high_score_clearly_ahead() -> None:
    assert decide(hits(0.9, 0.5), CONFIG)[0] == "answer"


def test_decide_clarifies_a_high_score_without_margin() -> None:
    decision, shown = decide(hits(0.9, 0.85, 0.1), CONFIG)
    assert decision == "clarify" and [h.doc_id for h in shown] == ["e0", "e1"]


def test_decide_clarifies_when_the_runner_up_also_contains_every_query_word() -> None:
    both_cover = [Hit("e0", 0.9, coverage=1.0), Hit("e1", 0.5, coverage=1.0)]
    assert decide(both_cover, CONFIG)[0] == "clarify"


def test_decide_answers_a_restatement_of_a_phrase_even_if_the_runner_up_covers_the_query() -> None:
    exact = [Hit("e0", 0.9, coverage=1.0, exact=True), Hit("e1", 0.5, coverage=1.0)]
    assert decide(exact, CONFIG)[0] == "answer"


def test_decide_clarifies_a_plausible_score() -> None:
    assert decide(hits(0.45), CONFIG)[0] == "clarify"


def test_decide_falls_back_below_the_clarify_threshold() -> None:
    assert decide(hits(0.29, 0.2), CONFIG)[0] == "fallback"
    assert decide([], CONFIG)[0] == "fallback"


def test_the_menu_holds_at_most_menu_size_entries() -> None:
    decision, shown = decide(hits(0.5, 0.49, 0.48, 0.47), CONFIG)
    assert decision == "clarify" and len(shown) == 3


def test_config_rejects_a_clarify_threshold_above_the_answer_threshold() -> None:
    with pytest.raises(ValidationError):
        MatchConfig(answer_threshold=0.4, clarify_threshold=0.5)


def test_config_is_read_from_plain_values_like_environment_variables() -> None:
    config = MatchConfig.model_validate({"answer_threshold": "0.7", "menu_size": "2"})
    assert (config.answer_threshold, config.menu_size) == (0.7, 2)
