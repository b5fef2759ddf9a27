"""The second stage: re-rank the first stage's best few entries with a small linear model (issue 14).

The first stage (`PhraseIndex.search`) finds the right entry among its top three for ~96% of the
dev questions but puts it first for only ~87%: the loss is in choosing among close candidates —
siblings that share a topic but differ in what is asked (how to do X / why X failed / when X
arrives / whether X is allowed, negation), near-duplicates, catch-alls. This stage looks at each
of the top `RERANK_DEPTH` candidates again with features the first stage has no room for:

- BM25 of the query against each of the entry's phrasings, on words and on characters +
  character bigrams (IDF from the index, computed at build), as a share of the query's own;
- the first stage's score, its gap to the best, its rank; coverage, precision (how much of the
  phrasing the query does not mention), edit similarity, restatement;
- agreement in question type (`question_types`) and negation between the query and the entry's
  phrasings — what separates siblings, which share almost every content word.

A conditional logit turns the features into the probability that each candidate is the entry
that answers the query, next to "none of these"; `WEIGHTS` were learned on the dev data
(bench/faq_accuracy.py --train, with cross-validation over entries) and are plain constants:
nothing but the standard library at run time. Decisions then compare probabilities
(MatchConfig.rerank_*), which are comparable across queries in a way raw similarity scores are not.
"""

from __future__ import annotations

import math
import re
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Indel

from knowledge.index import MAX_QUERY_CHARS, Analysis, Hit, PhraseIndex
from knowledge.normalize import normalize
from knowledge.rerank_weights import WEIGHTS

# Candidates re-ranked per query; the right entry is among the first stage's top 10 for ~99% of
# the dev questions that have one.
RERANK_DEPTH = 10
# Phrasings of one entry looked at: bounds the cost of catch-all entries with very many phrasings.
MAX_PHRASES = 40
# BM25's usual constants; phrasings are short, so length normalisation is kept mild.
_K1 = 1.2
_B = 0.5

# Question types: what a question asks, independent of its topic. Patterns run on normalised text
# (stopwords kept). The A-not-A forms (能不能, 有没有) are "whether" questions, not negations, so
# they are matched first and removed before negation is looked for.
_TYPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("why", re.compile(r"为什么|为何|为啥|怎么回事|咋回事|怎么会|怎么不|怎么没|怎么还|咋不|咋没|咋还|原因|干嘛")),
    (
        "failed",
        re.compile(r"失败|不成功|不了|无法|不能|出错|错误|报错|异常|不显示|没反应|不上|不进|不到|不出|卡住|不行|不对"),
    ),
    ("when", re.compile(r"什么时候|啥时候|多久|多长时间|几天|几号|几点|何时|哪天|时间|期限|到账")),
    ("where", re.compile(r"哪里|哪儿|在哪|哪个网点|什么地方|啥地方|地址|地点|网点|窗口")),
    ("howmuch", re.compile(r"多少|几个|几张|几次|费用|收费|手续费|价格|几块|钱")),
    (
        "whether",
        re.compile(r"能不能|可不可以|可以不|是不是|会不会|有没有|要不要|需不需要|行不行|能否|是否|可否|吗$|么$|能吗|可以吗"),
    ),
    ("what", re.compile(r"什么意思|是什么|啥意思|指什么|什么是|区别")),
    ("how", re.compile(r"怎么|怎样|如何|咋|怎么办|方法|流程|步骤|手续|办理")),
    ("cancel", re.compile(r"取消|注销|撤销|销户|关闭|解绑|退订|停用|终止")),
)
_A_NOT_A = re.compile(r"(.)[不没]\1|是否|能否|可否")
_NEGATION = re.compile(r"[不没未无别非]")

TYPE_NAMES = tuple(name for name, _ in _TYPES)
# Feature names, in the order of `WEIGHTS` (see bench/faq_accuracy.py, which learns them).
FEATURES = (
    "bias",
    "score",
    "gap_to_best",
    "margin",
    "inv_rank",
    "bm25_words",
    "bm25_chars",
    "bm25_words_rel",
    "bm25_chars_rel",
    "coverage",
    "precision",
    "ratio",
    "exact",
    "type_agree",
    "type_conflict",
    "standard_type_agree",
    "negation_agree",
    "entry_bm25_chars",
    # The same comparisons against the entry's phrasing closest to the query (edit similarity):
    # the one a sibling's wording would be told apart by.
    "closest_type_agree",
    "closest_type_conflict",
    "closest_negation_agree",
    "problem_mismatch",
    "when_mismatch",
    "whether_mismatch",
    "entry_word_coverage",
    "standard_precision",
)
# "Why did X fail" and "X failed" ask about a problem; "how do I X" does not.
_PROBLEM = frozenset({"why", "failed"})


def question_types(normalized: str) -> frozenset[str]:
    """The kinds of question `normalized` asks (see `_TYPES`); empty for a bare topic."""
    return frozenset(name for name, pattern in _TYPES if pattern.search(normalized))


def negated(normalized: str) -> bool:
    """Says that something is not, did not or cannot happen (A-not-A questions aside)."""
    return _NEGATION.search(_A_NOT_A.sub("", normalized)) is not None


@dataclass(frozen=True, slots=True)
class Phrasing:
    """What the reranker needs of one indexed phrasing, computed once at build."""

    words: tuple[str, ...]
    text: str
    types: frozenset[str]
    negated: bool


class Reranker:
    """Scores an index's candidates for a query; built once per index, immutable."""

    def __init__(
        self, index: PhraseIndex, weights: Sequence[float] = WEIGHTS, *, reuse: Reranker | None = None
    ) -> None:
        if len(weights) != len(FEATURES):
            raise ValueError(f"expected {len(FEATURES)} weights, got {len(weights)}")
        self.index = index
        self.weights = tuple(weights)
        known: dict[str, Phrasing] = {}
        if reuse is not None:
            known = dict(zip(reuse.index.phrase_texts, reuse._phrasings, strict=True))
        phrasings: list[Phrasing] = []
        for text, padded in zip(index.phrase_texts, index.phrase_words, strict=True):
            found = known.get(text)
            if found is None or found.words != tuple(padded.split()):
                folded = normalize(text)
                words = tuple(padded.split())
                found = Phrasing(words, "".join(words), question_types(folded), negated(folded))
            phrasings.append(found)
        self._phrasings: list[Phrasing] = phrasings
        n = max(len(phrasings), 1)
        avg_words = sum(len(p.words) for p in phrasings) / n or 1.0
        avg_chars = sum(len(p.text) for p in phrasings) / n or 1.0
        # Per phrasing, what every query would recompute: BM25's length normalisation (words,
        # characters) and the phrasing's own word weight (for precision).
        self._w_norm = array("d", (_K1 * (1 - _B + _B * len(p.words) / avg_words) for p in phrasings))
        self._c_norm = array("d", (_K1 * (1 - _B + _B * len(p.text) / avg_chars) for p in phrasings))
        idf = index.word_idf
        self._own = array("d", (sum(map(idf, p.words)) or 1.0 for p in phrasings))

    def rerank(self, query: str, hits: list[Hit], analysis: Analysis | None = None) -> list[Hit]:
        """`hits` (the first stage's, best first) re-scored as probabilities, best first."""
        if not hits:
            return hits
        a = analysis or self.index.analyze(query)
        rows = self.features(query, hits, a)
        weights = self.weights
        z = [min(max(sum(w * x for w, x in zip(weights, row, strict=True)), -30.0), 30.0) for row in rows]
        # A choice among the candidates and "none of these" (score 0): the probabilities of all
        # candidates and of "none" sum to 1 (see `fit` in bench/faq_accuracy.py).
        top = max(max(z), 0.0)
        e = [math.exp(v - top) for v in z]
        total = sum(e) + math.exp(-top)
        out = [Hit(h.doc_id, v / total, h.phrase, h.coverage, h.exact, h.score) for h, v in zip(hits, e, strict=True)]
        out.sort(key=lambda h: -h.score)
        return out

    def features(self, query: str, hits: Sequence[Hit], a: Analysis) -> list[list[float]]:
        """One row of `FEATURES` per hit."""
        index = self.index
        folded = normalize(query[:MAX_QUERY_CHARS])
        q_types = question_types(folded)
        q_neg = negated(folded)
        q_words = set(a.words)
        w_idf = {w: index.word_idf(w) for w in q_words}
        q_grams = set(a.text) | {a.text[i : i + 2] for i in range(len(a.text) - 1)}
        c_idf = {g: index.char_idf(g) for g in q_grams}
        w_self = sum(w_idf.values()) or 1.0
        c_self = sum(c_idf.values()) or 1.0
        best = hits[0].score
        scores = [h.score for h in hits]

        raw: list[list[float]] = []
        phrasings, w_norm, c_norm, own = self._phrasings, self._w_norm, self._c_norm, self._own
        similarity = Indel.normalized_similarity
        w_items = list(w_idf.items())
        c_items = list(c_idf.items())
        k1 = _K1 + 1
        for rank, hit in enumerate(hits):
            bm_w = bm_c = ratio = precision = std_precision = 0.0
            agree = conflict = neg_agree = 0.0
            chars_seen: set[str] = set()
            words_seen: set[str] = set()
            counted = 0
            std_agree = 0.0
            closest: Phrasing | None = None
            for p in index.doc_phrases(hit.doc_id)[:MAX_PHRASES]:
                ph = phrasings[p]
                words, text = ph.words, ph.text
                norm = w_norm[p]
                shared = 0.0
                total = 0.0
                for w, weight in w_items:
                    tf = words.count(w)
                    if tf:
                        shared += weight
                        total += weight * tf * k1 / (tf + norm)
                bm_w = max(bm_w, total)
                precision = max(precision, shared / own[p])
                if not counted:
                    std_precision = shared / own[p]
                words_seen.update(words)
                norm = c_norm[p]
                total = 0.0
                for g, weight in c_items:
                    tf = text.count(g)
                    if tf:
                        total += weight * tf * k1 / (tf + norm)
                bm_c = max(bm_c, total)
                alike = similarity(a.text, text)
                if closest is None or alike > ratio:
                    ratio, closest = alike, ph
                chars_seen.update(text)
                if q_types:
                    if q_types & ph.types:
                        agree += 1
                        if not counted:
                            std_agree = 1.0
                    elif ph.types:
                        conflict += 1
                neg_agree += ph.negated == q_neg
                counted += 1
            n = max(counted, 1)
            entry_chars = sum(c_idf[c] for c in set(a.text) if c in chars_seen) / c_self
            entry_words = sum(v for w, v in w_items if w in words_seen) / w_self
            c_types = closest.types if closest is not None else frozenset()
            c_neg = closest.negated if closest is not None else False
            others = [s for i, s in enumerate(scores) if i != rank]
            raw.append(
                [
                    1.0,
                    hit.score,
                    hit.score - best,
                    hit.score - (max(others) if others else 0.0),
                    1.0 / (rank + 1),
                    bm_w / w_self,
                    bm_c / c_self,
                    bm_w,
                    bm_c,
                    hit.coverage,
                    precision,
                    ratio,
                    1.0 if hit.exact else 0.0,
                    agree / n,
                    conflict / n,
                    std_agree,
                    neg_agree / n,
                    entry_chars,
                    1.0 if q_types & c_types else 0.0,
                    1.0 if q_types and c_types and not q_types & c_types else 0.0,
                    1.0 if c_neg == q_neg else 0.0,
                    1.0 if bool(q_types & _PROBLEM) != bool(c_types & _PROBLEM) else 0.0,
                    1.0 if ("when" in q_types) != ("when" in c_types) else 0.0,
                    1.0 if ("whether" in q_types) != ("whether" in c_types) else 0.0,
                    entry_words,
                    std_precision,
                ]
            )
        # Relative BM25: the share of the best candidate's, so that the model compares candidates.
        for col in (7, 8):
            top = max(row[col] for row in raw) or 1.0
            for row in raw:
                row[col] /= top
        return raw
