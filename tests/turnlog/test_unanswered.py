from __future__ import annotations

from app.turnlog.unanswered import cluster, normalise


def test_normalise_drops_punctuation_polite_filler_and_full_width() -> None:
    assert normalise("您好，请问社保卡丢了怎么办啊？？") == "社保卡丢了怎么办"
    assert normalise("ＡＢＣ １２３") == "abc123"


def test_rephrasings_share_a_cluster() -> None:
    (only,) = cluster(["公积金怎么提取", "公积金提取", "公积金如何提取呢"])
    assert only.count == 3


def test_a_short_question_inside_a_longer_one_joins_it() -> None:
    (only,) = cluster(["社保卡丢了", "我的社保卡丢了怎么补办"])
    assert only.count == 2


def test_unrelated_questions_stay_apart() -> None:
    assert len(cluster(["护照过期了怎么办", "营业执照年报", "孩子上学要什么材料"])) == 3


def test_clusters_are_ordered_by_size_and_named_by_the_commonest_phrasing() -> None:
    clusters = cluster(["护照过期", "社保卡丢了", "社保卡丢了", "社保卡丢了吗"])
    assert [(c.question, c.count) for c in clusters] == [("社保卡丢了", 3), ("护照过期", 1)]


def test_blank_texts_are_ignored() -> None:
    assert cluster(["", "  ", "？"]) == []
