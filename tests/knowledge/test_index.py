"""PhraseIndex: generic phrase matching, scored 0..1, candidates from the inverted lists."""

from __future__ import annotations

import pytest
from rapidfuzz.distance import Indel

import knowledge.index as index_module
from knowledge.index import MAX_QUERY_CHARS, PhraseIndex
from knowledge.normalize import Vocabulary

DOCS = [
    ("card", ["社保卡丢了怎么补办", "社保卡遗失补卡"]),
    ("record", ["怎么查询社保缴费记录", "社保交了多少年"]),
    ("rent", ["租房怎么提取公积金", "付房租能不能取公积金"]),
    ("passport", ["护照过期了怎么换发", "护照快到期了怎么办"]),
]


@pytest.fixture(scope="module")
def index() -> PhraseIndex:
    return PhraseIndex(DOCS)


def test_a_phrase_as_written_ranks_its_document_first_with_a_top_score(index: PhraseIndex) -> None:
    [hit, *_] = index.search("租房怎么提取公积金", k=3)
    assert hit.doc_id == "rent" and hit.score > 0.95


def test_scores_are_between_zero_and_one_and_sorted(index: PhraseIndex) -> None:
    hits = index.search("社保卡怎么补", k=4)
    scores = [h.score for h in hits]
    assert all(0.0 <= s <= 1.0 for s in scores) and scores == sorted(scores, reverse=True)


def test_a_hit_names_the_phrase_that_matched_best(index: PhraseIndex) -> None:
    [hit, *_] = index.search("社保卡遗失了要补卡", k=1)
    assert (hit.doc_id, hit.phrase) == ("card", "社保卡遗失补卡")


def test_one_wrong_character_still_finds_the_document(index: PhraseIndex) -> None:
    assert index.search("护照过其了怎么换", k=1)[0].doc_id == "passport"


def test_a_word_every_document_shares_counts_less_than_a_rare_one() -> None:
    docs = [("a", ["怎么办理护照"]), ("b", ["怎么办理签证"]), ("c", ["怎么办理居住证"])]
    [hit, *_] = PhraseIndex(docs).search("护照怎么弄", k=3)
    assert hit.doc_id == "a"


def test_k_limits_the_number_of_documents(index: PhraseIndex) -> None:
    assert len(index.search("怎么", k=2)) <= 2


def test_allow_filters_documents_out(index: PhraseIndex) -> None:
    hits = index.search("社保卡丢了怎么补办", k=4, allow=lambda doc_id: doc_id != "card")
    assert hits and all(h.doc_id != "card" for h in hits)


def test_a_message_of_only_stopwords_matches_nothing(index: PhraseIndex) -> None:
    assert index.search("你好，请问一下", k=3) == []


def test_a_synonym_scores_like_its_canonical_word() -> None:
    vocabulary = Vocabulary(synonyms={"社会保障卡": "社保卡"})
    docs = [("card", ["社保卡丢了怎么补办"]), ("bank", ["银行卡丢了怎么挂失"])]
    index = PhraseIndex(docs, vocabulary)
    assert index.search("社会保障卡丢了", k=2) == index.search("社保卡丢了", k=2)


def test_only_a_bounded_shortlist_is_scored_exactly(monkeypatch: pytest.MonkeyPatch) -> None:
    docs = [(f"d{i}", [f"第{i}号业务怎么办理", f"办理第{i}号业务要带什么材料"]) for i in range(2000)]
    index = PhraseIndex(docs, candidates=40)
    scored: list[str] = []
    real = Indel.normalized_similarity

    def recording(a: str, b: str) -> float:
        scored.append(b)
        return float(real(a, b))

    monkeypatch.setattr(Indel, "normalized_similarity", recording)
    [hit, *_] = index.search("第1234号业务怎么办理", k=3)
    assert hit.doc_id == "d1234"
    assert 0 < len(scored) <= 40


def test_reusing_the_old_index_skips_segmentation_and_gives_the_same_results(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    index = PhraseIndex(DOCS)
    calls: list[str] = []
    real = index_module.analyze

    def counting(text: str, vocabulary: Vocabulary = index.vocabulary) -> index_module.Analysis:
        calls.append(text)
        return real(text, vocabulary)

    monkeypatch.setattr(index_module, "analyze", counting)
    docs = [*DOCS, ("new", ["新生儿怎么上户口"])]
    rebuilt = PhraseIndex(docs, reuse=index)
    assert calls == ["新生儿怎么上户口"]
    query = "社保卡丢了要去哪里补"
    calls.clear()
    fresh = PhraseIndex(docs)
    assert rebuilt.search(query, k=3) == fresh.search(query, k=3)


def test_unchanged_phrasings_share_the_old_index_outright() -> None:
    index = PhraseIndex(DOCS)
    same = PhraseIndex([(doc_id, list(phrases)) for doc_id, phrases in DOCS], reuse=index)
    assert same._w is index._w and same._wnorm is index._wnorm
    queries = ["社保卡丢了要去哪里补", "护照过期", "公积金怎么取"]
    fresh = PhraseIndex(DOCS)
    for query in queries:
        assert same.search(query, k=3) == fresh.search(query, k=3)
    # One phrasing changed: a real rebuild, exactly as from scratch.
    edited = [(doc_id, [*phrases, "补办社保卡要带户口本吗"] if i == 0 else phrases) for i, (doc_id, phrases) in
              enumerate(DOCS)]
    rebuilt = PhraseIndex(edited, reuse=index)
    assert rebuilt._w is not index._w
    for query in [*queries, "补办社保卡要带户口本吗"]:
        assert rebuilt.search(query, k=3) == PhraseIndex(edited).search(query, k=3)


def test_reuse_is_ignored_when_the_vocabulary_changed() -> None:
    index = PhraseIndex(DOCS)
    vocabulary = Vocabulary(synonyms={"补办": "补卡"})
    rebuilt = PhraseIndex(DOCS, vocabulary, reuse=index)
    fresh = PhraseIndex(DOCS, vocabulary)
    assert rebuilt.search("社保卡补办", k=2) == fresh.search("社保卡补办", k=2)


def test_a_very_long_message_is_matched_on_its_beginning(index: PhraseIndex) -> None:
    essay = "护照过期了怎么换发，" * 30 + "租房提取公积金" * 50
    assert index.search(essay, k=3) == index.search(essay[:MAX_QUERY_CHARS], k=3)
    assert index.search(essay, k=1)[0].doc_id == "passport"
