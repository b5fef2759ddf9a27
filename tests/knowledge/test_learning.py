"""Learning from menu picks (`propose`) and the knowledge base's own check-up (`lint`)."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from knowledge.learning import Label, lint, propose, synonym_candidates
from knowledge.matcher import Matcher
from knowledge.normalize import Vocabulary
from knowledge.schema import FaqEntry, KnowledgeBase

TODAY = date(2024, 6, 1)


def matcher_of(*entries: FaqEntry) -> Matcher:
    return Matcher(KnowledgeBase(directory=Path("."), entries=entries, vocabulary=Vocabulary()), cache_size=0)


def entry(faq_id: str, question: str, *similar: str) -> FaqEntry:
    return FaqEntry(id=faq_id, category="测试", question=question, similar=similar, answer="答", file="faq/t.yaml",
                    line=3)


@pytest.fixture(scope="module")
def matcher() -> Matcher:
    return matcher_of(
        entry("rent", "租房怎么提取公积金", "租房提公积金要什么材料"),
        entry("leave", "离职后怎么提取公积金", "辞职了公积金能取出来吗"),
        entry("passport", "护照丢了怎么补办", "护照遗失补发"),
    )


def test_picks_of_one_wording_become_one_similar_line_with_its_count(matcher: Matcher) -> None:
    labels = [Label("公积金付房租能提吗", "rent")] * 3 + [Label("公积金付房租能提嘛", "rent")]
    [proposal] = propose(labels, matcher, TODAY)
    assert proposal.entry.id == "rent"
    assert proposal.phrasings == [("公积金付房租能提吗", 4)]
    assert '- "公积金付房租能提吗"  # ×4' in proposal.yaml() and "faq/t.yaml:3" in proposal.yaml()


def test_wordings_the_entry_already_has_or_already_answers_are_not_proposed(matcher: Matcher) -> None:
    labels = [Label("租房提公积金要什么材料", "rent"), Label("护照丢了怎么补办呀", "passport")]
    assert propose(labels, matcher, TODAY) == []


def test_labels_for_unknown_entries_are_ignored(matcher: Matcher) -> None:
    assert propose([Label("公积金付房租能提吗", "gone")], matcher, TODAY) == []


def test_min_count_keeps_only_wordings_asked_often_enough(matcher: Matcher) -> None:
    labels = [Label("公积金付房租能提吗", "rent"), *[Label("不干了公积金怎么拿", "leave")] * 2]
    assert [p.entry.id for p in propose(labels, matcher, TODAY, min_count=2)] == ["leave"]


def test_lint_names_near_duplicate_entries() -> None:
    m = matcher_of(
        entry("a", "社保卡丢了怎么补办", "社保卡掉了怎么办"),
        entry("b", "社保卡遗失怎么补办", "社保卡丢了怎么补"),
        entry("c", "护照丢了怎么补办"),
    )
    pairs = {(d.a, d.b) for d in lint(m, TODAY).near_duplicates}
    assert pairs & {("a", "b"), ("b", "a")}
    assert not any("c" in pair for pair in pairs)


def test_lint_names_phrasings_made_only_of_stopwords() -> None:
    m = matcher_of(entry("hello", "你好", "您好"), entry("card", "社保卡丢了怎么补办"))
    assert [(e.id, p) for e, p in lint(m, TODAY).stopword_only] == [("hello", "你好"), ("hello", "您好")]


def test_a_greeting_entry_is_reachable() -> None:
    m = matcher_of(entry("hello", "你好", "您好"), entry("card", "社保卡丢了怎么补办"))
    assert m.match("你好", TODAY).candidates[0].faq_id == "hello"


def test_words_that_line_up_across_one_entrys_phrasings_are_synonym_candidates() -> None:
    m = matcher_of(entry("lost", "护照丢了怎么补办", "护照遗失怎么补办", "护照遗失补发"))
    [candidate] = synonym_candidates(m.kb.entries, m)
    # 「丢了」 is one word once a knowledge base has taught the shared tokenizer the general synonyms.
    assert {candidate.word, candidate.other} in ({"丢", "遗失"}, {"丢了", "遗失"}) and candidate.count == 1
    assert "lost" in candidate.example


def test_question_words_are_not_synonym_candidates() -> None:
    m = matcher_of(entry("where", "护照在哪里办", "护照怎么办"))
    assert synonym_candidates(m.kb.entries, m) == []
