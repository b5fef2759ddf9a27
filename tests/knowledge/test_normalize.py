"""Normalisation and segmentation: what the matcher compares is folded and canonical."""

from __future__ import annotations

import jieba
import pytest
from hypothesis import given
from hypothesis import strategies as st

from knowledge.normalize import (
    Vocabulary,
    add_words,
    normalize,
    segment,
    tokenize,
    tokenizer_generation,
)


def test_full_width_letters_and_digits_become_half_width() -> None:
    assert normalize("ＡＢＣ１２３") == "abc123"


def test_traditional_characters_become_simplified() -> None:
    assert normalize("社會保險卡遺失") == "社会保险卡遗失"


def test_upper_case_is_lowered() -> None:
    assert normalize("Level2") == "level2"


def test_punctuation_folds_to_single_spaces_and_is_trimmed() -> None:
    assert normalize("  社保卡，丢了！！怎么办？") == "社保卡 丢了 怎么办"


@given(st.text(alphabet="社會保险卡丢了怎麼办ＡａB1２ ，。!?\t「」-", max_size=30))
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


def test_tokenize_maps_synonyms_to_the_canonical_word() -> None:
    add_words([("社会保险", None)])
    vocabulary = Vocabulary(synonyms={"社会保险": "社保"})
    assert "社保" in tokenize("社会保险怎么交", vocabulary)
    assert "社会保险" not in tokenize("社会保险怎么交", vocabulary)


def test_tokenize_drops_stopwords() -> None:
    words = tokenize("请问一下我的社保卡丢了怎么办呢")
    assert "请问" not in words and "的" not in words and "呢" not in words
    assert "怎么办" in words


def test_question_words_are_not_stopwords() -> None:
    assert {"怎么", "哪里", "多久"} <= set(tokenize("怎么办理 在哪里 要多久"))


def test_learnt_words_are_cut_out_whole() -> None:
    assert "掌上办事厅" not in segment(normalize("用掌上办事厅办理"))
    add_words([("掌上办事厅", None)])
    assert "掌上办事厅" in segment(normalize("用掌上办事厅办理"))


def test_generation_changes_only_when_a_word_is_new() -> None:
    add_words([("新办件编号", None)])
    before = tokenizer_generation()
    add_words([("新办件编号", None)])
    assert tokenizer_generation() == before
    add_words([("另一个新词语", None)])
    assert tokenizer_generation() == before + 1


def test_segmenting_unknown_words_never_needs_jiebas_hmm_model() -> None:
    # Rare characters and an unknown compound: without the HMM they fall apart into single
    # characters rather than reaching the stand-in for the model, which was never loaded.
    assert tokenize("犇骉办理营业执照") == ["犇", "骉", "办理", "营业执照"]
    with pytest.raises(RuntimeError, match="HMM"):
        jieba.finalseg.cut("犇骉")
