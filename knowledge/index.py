"""`PhraseIndex`: find the documents whose phrases best match a short user message.

A document is anything with phrasings — an FAQ entry (question + similar questions) or a flow
(trigger phrases). A phrase's score against a query blends four signals, each in 0..1:

- word cosine: jieba words (synonyms mapped, stopwords dropped), binary, weighted by IDF;
- character cosine: single characters, IDF-weighted — robust to segmentation differences and
  one-character typos, which dominate real user messages;
- character-bigram cosine, IDF-weighted — word order and compounds;
- rapidfuzz `ratio` of the two word strings — overall edit similarity.

IDF is computed over documents, not phrases, so that an entry with thirty similar questions does
not make its own words look common. A document's score is its best phrase's, blended with a
smaller share of character evidence from all its phrases together (`ScoreWeights.entry_chars`).

Cost per query must grow far slower than the index: candidates come from inverted lists of words
and bigrams, each list ordered by impact (shortest phrases first, where a shared feature weighs
most) and walked for at most `walk` entries, and only the best `candidates` phrases are scored
exactly. The data lives in flat arrays (one postings array per field, offsets per feature) rather
than per-phrase objects, to keep a 100k-phrase index small.
"""

from __future__ import annotations

import heapq
import math
import operator
from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import chain

from rapidfuzz.distance import Indel

from knowledge.gcpause import collector_paused
from knowledge.normalize import (
    DEFAULT_VOCABULARY,
    Vocabulary,
    add_words,
    normalize,
    segment,
    tokenizer_generation,
)


@dataclass(frozen=True, slots=True)
class Hit:
    doc_id: str
    score: float
    # The document's phrase that matched best (as written).
    phrase: str = ""
    # Share of the query's word weight that one of the document's phrases contains (0..1): when
    # the runner-up covers the query as well as the best, the query does not tell them apart…
    coverage: float = 0.0
    # …unless one of the document's phrases restates the query: nearly the same text, or exactly
    # the query's words (synonyms and stopwords aside).
    exact: bool = False
    # The first stage's score, kept when a second stage re-scores the hit (None: not re-scored).
    first: float | None = None


@dataclass(frozen=True, slots=True)
class ScoreWeights:
    """How much each signal counts; chosen on the dev set with bench/faq_accuracy.py."""

    words: float = 1.0
    chars: float = 2.0
    bigrams: float = 0.5
    ratio: float = 1.0
    # Share of the document's whole-entry character evidence next to its best phrase (see search()).
    entry_chars: float = 0.75


@dataclass(frozen=True, slots=True)
class Analysis:
    """A text as the index sees it."""

    words: tuple[str, ...]
    # The words joined without spaces: what the character-level signals compare.
    text: str


def analyze(text: str, vocabulary: Vocabulary = DEFAULT_VOCABULARY) -> Analysis:
    segmented = segment(normalize(text), vocabulary)
    words = tuple(w for w in segmented if w not in vocabulary.stopwords)
    # A text made only of stopwords (「你好」, 「在吗」, 「谢谢」) keeps them: otherwise an entry
    # written for greetings could never be reached, and such a message would match nothing rather
    # than the entry meant for it. Texts with any content word are unaffected.
    if not words:
        words = tuple(segmented)
    return Analysis(words, "".join(words))


MAX_QUERY_CHARS = 200
# Shares at or above this count as whole, allowing for floating-point rounding.
_FULL = 0.999
# Edit similarity at which two texts say the same thing (「居住证怎么办」 / 「居住证怎么办理」: 0.92).
_NEAR_IDENTICAL = 0.9


def _postings() -> array[int]:
    return array("I")


def _norms(field: _Field, lists: dict[str, array[int]], n_phrases: int) -> array[float]:
    squares = array("d", bytes(8 * n_phrases))
    idf = field.idf
    for f, i in field.ids.items():
        w2 = idf[i] * idf[i]
        for p in lists[f]:
            squares[p] += w2
    return array("d", map(math.sqrt, squares))


def _bigrams(text: str) -> set[str]:
    return set(map(operator.add, text, text[1:]))


class _Field:
    """One kind of feature (words, chars or bigrams): IDF per feature, and impact-ordered postings."""

    __slots__ = ("default_idf", "idf", "ids", "offsets", "postings")

    def __init__(self, df: dict[str, int], n_docs: int) -> None:
        self.ids: dict[str, int] = {f: i for i, f in enumerate(df)}
        # BM25's IDF, always positive: log(1 + (N - df + 0.5) / (df + 0.5)).
        self.idf = array("d", (math.log(1.0 + (n_docs - n + 0.5) / (n + 0.5)) for n in df.values()))
        # A feature no document has is as informative as the rarest one.
        self.default_idf = math.log(1.0 + (n_docs + 0.5) / 0.5)
        self.offsets = array("I", [0])
        self.postings = array("I")

    def weight(self, feature: str) -> float:
        i = self.ids.get(feature)
        return self.default_idf if i is None else self.idf[i]

    def squared(self) -> array[float]:
        """IDF² by feature id."""
        return array("d", (w * w for w in self.idf))

    def set_postings(self, lists: dict[str, array[int]], norms: array[float]) -> None:
        """Concatenate the postings, each list in impact order: smallest phrase norm first."""
        offsets = [0]
        postings = self.postings
        key = norms.__getitem__
        for f in self.ids:
            plist = lists.get(f)
            if plist:
                postings.extend(sorted(plist, key=key) if len(plist) > 1 else plist)
            offsets.append(len(postings))
        self.offsets = array("I", offsets)

    def walk(self, feature: str, limit: int) -> array[int] | None:
        i = self.ids.get(feature)
        if i is None:
            return None
        start = self.offsets[i]
        return self.postings[start : min(self.offsets[i + 1], start + limit)]


class PhraseIndex:
    """An inverted index over documents `(doc_id, phrases)`; `search` returns the best documents."""

    def __init__(
        self,
        docs: Iterable[tuple[str, Sequence[str]]],
        vocabulary: Vocabulary = DEFAULT_VOCABULARY,
        weights: ScoreWeights | None = None,
        *,
        reuse: PhraseIndex | None = None,
        # Measured on the dev set (bench/faq_accuracy.py): 16 candidates from postings walked 100
        # deep rank exactly as 64 from 300 do (top-1 87.1% vs 87.2% with similar questions, 69.1%
        # both without), at about half the cost per query.
        candidates: int = 16,
        walk: int = 100,
    ) -> None:
        """Index `docs`; `reuse` is the index this one replaces, whose segmentations are reused.

        Segmentation is most of the build cost (~45 µs a phrase), and a reload usually changes a
        few phrases among thousands; an old segmentation is valid while the vocabulary is the same
        and the tokenizer has learnt no word since.
        """
        self.vocabulary = vocabulary
        self.weights = weights or ScoreWeights()
        self._candidates = candidates
        self._walk = walk
        # Synonyms only apply to words the tokenizer cuts out whole.
        add_words((w, None) for w in {*vocabulary.synonyms, *vocabulary.synonyms.values()})
        self._generation = tokenizer_generation()
        self._docs = [(doc_id, tuple(phrases)) for doc_id, phrases in docs]
        if reuse is not None and self._same_input(reuse):
            # An edit that touched answers, dates or categories only (the most common kind): every
            # posting and weight would come out exactly as in the old index, so share them.
            self._adopt(reuse)
            return
        with collector_paused():
            self._build(self._docs, reuse)

    def _segments_like(self, other: PhraseIndex) -> bool:
        """`other`'s segmentations are valid here: same vocabulary, and no word learnt since."""
        return other.vocabulary == self.vocabulary and other._generation == self._generation

    def _same_input(self, other: PhraseIndex) -> bool:
        return (
            other._docs == self._docs
            and self._segments_like(other)
            and other.weights == self.weights
            and (other._candidates, other._walk) == (self._candidates, self._walk)
        )

    def _adopt(self, other: PhraseIndex) -> None:
        """Share `other`'s built arrays (an index is never modified once built)."""
        for name, value in vars(other).items():
            if name not in vars(self):
                setattr(self, name, value)

    def _build(self, docs: Iterable[tuple[str, Sequence[str]]], reuse: PhraseIndex | None) -> None:
        vocabulary = self.vocabulary
        known: dict[str, str] = {}
        if reuse is not None and self._segments_like(reuse):
            known = dict(zip(reuse._texts, reuse._words, strict=True))

        self._doc_ids: list[str] = []
        owner = array("I")
        self._texts: list[str] = []  # per phrase: as written
        self._words: list[str] = []  # per phrase: " word word … " (canonical, space-padded)
        # Built in one pass over the phrases, without keeping each phrase's feature sets (at
        # 100k phrases those sets alone would take ~200 MB): postings per feature, document
        # frequencies, and per document in how many of its phrases each character occurs.
        w_lists: defaultdict[str, array[int]] = defaultdict(_postings)
        b_lists: defaultdict[str, array[int]] = defaultdict(_postings)
        w_df: Counter[str] = Counter()
        b_df: Counter[str] = Counter()
        c_df: Counter[str] = Counter()
        # The entry's character profile: each character with the share of the entry's phrases
        # that contain it (weighted by IDF when scoring). Stored as a string of the characters and
        # a parallel array of shares (str.find is a cheap lookup), to stay small at 100k phrases.
        self._doc_chars: list[str] = []
        self._doc_shares: list[array[float]] = []
        # Each document's phrases are contiguous: the first one's number, per document (and a sentinel).
        doc_first = array("I")
        for doc_id, phrases in docs:
            d = len(self._doc_ids)
            self._doc_ids.append(doc_id)
            doc_first.append(len(self._words))
            doc_texts: list[str] = []
            doc_w: set[str] = set()
            doc_b: set[str] = set()
            first = len(self._words)
            for phrase in dict.fromkeys(phrases):
                padded = known.get(phrase)
                if padded is None:
                    a = analyze(phrase, vocabulary)
                    if not a.words:
                        continue
                    padded = f" {' '.join(a.words)} "
                p = len(self._words)
                owner.append(d)
                self._texts.append(phrase)
                self._words.append(padded)
                text = padded.replace(" ", "")
                features = set(padded.split())
                doc_w |= features
                for f in features:
                    w_lists[f].append(p)
                features = _bigrams(text)
                doc_b |= features
                for f in features:
                    b_lists[f].append(p)
                doc_texts.append(text)
            # In how many of the entry's phrases each character occurs, counted in one C-level pass.
            char_counts = Counter(chain.from_iterable(map(set, doc_texts)))
            w_df.update(doc_w)
            b_df.update(doc_b)
            c_df.update(char_counts.keys())
            size = max(len(self._words) - first, 1)
            self._doc_chars.append("".join(char_counts))
            self._doc_shares.append(array("f", (n / size for n in char_counts.values())))
        del known
        doc_first.append(len(self._words))
        self._doc_first = doc_first
        self._doc_number = {doc_id: d for d, doc_id in enumerate(self._doc_ids)}
        self._owner = owner
        n_docs = max(len(self._doc_ids), 1)
        self._w = _Field(w_df, n_docs)
        self._b = _Field(b_df, n_docs)
        self._c = _Field(c_df, n_docs)
        del w_df, b_df, c_df
        # Norms from the postings: every phrase in a feature's list gets that feature's IDF².
        # (Cheaper than rebuilding each phrase's feature sets a second time.)
        n_phrases = len(self._words)
        self._wnorm = _norms(self._w, w_lists, n_phrases)
        self._bnorm = _norms(self._b, b_lists, n_phrases)
        # Characters are never used to find candidates, so they have no postings: their norms
        # come straight from each phrase's characters.
        c2, c_id, sqrt = self._c.squared().__getitem__, self._c.ids.__getitem__, math.sqrt
        self._cnorm = array("d", [sqrt(sum(map(c2, map(c_id, set(w.replace(" ", "")))))) for w in self._words])
        self._w.set_postings(w_lists, self._wnorm)
        self._b.set_postings(b_lists, self._bnorm)
        del w_lists, b_lists

        doc_norms: list[float] = []
        for chars, shares in zip(self._doc_chars, self._doc_shares, strict=True):
            squares = map(c2, map(c_id, chars))
            doc_norms.append(math.sqrt(sum(w2 * share * share for w2, share in zip(squares, shares, strict=True))))
        self._doc_cnorm = array("d", doc_norms)

    def __len__(self) -> int:
        return len(self._doc_ids)

    @property
    def phrase_count(self) -> int:
        return len(self._words)

    @property
    def phrase_texts(self) -> list[str]:
        """Every indexed phrase as written, in phrase-number order."""
        return self._texts

    @property
    def phrase_words(self) -> list[str]:
        """Every indexed phrase's canonical words, space-padded (" word word "), in phrase-number order."""
        return self._words

    def doc_phrases(self, doc_id: str) -> range:
        """The phrase numbers of one document (empty for an unknown one)."""
        d = self._doc_number.get(doc_id)
        return range(0) if d is None else range(self._doc_first[d], self._doc_first[d + 1])

    def word_idf(self, word: str) -> float:
        return self._w.weight(word)

    def char_idf(self, gram: str) -> float:
        """IDF of a character (one) or a character bigram (two)."""
        return self._c.weight(gram) if len(gram) == 1 else self._b.weight(gram)

    def analyze(self, query: str) -> Analysis:
        """The query as this index reads it."""
        # Cost grows with the message; a question fits well within the bound (the longest of 3,380
        # real ones in the dev set has 97 characters), an essay is matched on its beginning.
        return analyze(query[:MAX_QUERY_CHARS], self.vocabulary)

    def search(
        self, query: str, k: int = 3, allow: Callable[[str], bool] | None = None, *, analysis: Analysis | None = None
    ) -> list[Hit]:
        """The `k` best documents for `query`, best first, scores in 0..1; `allow` filters documents."""
        a = analysis or self.analyze(query)
        if not a.words or not self._words:
            return []
        # Query weights are IDF², since a shared feature carries the same IDF on both sides.
        qw = {f: self._w.weight(f) ** 2 for f in set(a.words)}
        qb = {f: self._b.weight(f) ** 2 for f in _bigrams(a.text)}
        qc = {f: self._c.weight(f) ** 2 for f in set(a.text)}
        qw_norm = math.sqrt(sum(qw.values()))
        qb_norm = math.sqrt(sum(qb.values())) or 1.0
        qc_norm = math.sqrt(sum(qc.values()))

        weights = self.weights
        total = weights.words + weights.chars + weights.bigrams + weights.ratio
        # Substring tests on the stored strings are much cheaper than building per-phrase sets:
        # a char or bigram is in the phrase iff it is a substring of its text, and a word iff
        # " word " is a substring of the space-padded word string.
        q_padded = [(f" {f} ", v) for f, v in qw.items()]
        q_chars = list(qc.items())
        q_bigrams = list(qb.items())
        ratio = Indel.normalized_similarity
        best: dict[int, float] = {}
        best_phrase: dict[int, int] = {}
        coverage: dict[int, float] = {}
        exact: set[int] = set()
        q_total = qw_norm * qw_norm
        owner, words, wnorm, bnorm, cnorm = self._owner, self._words, self._wnorm, self._bnorm, self._cnorm
        for p in self._shortlist(qw, qw_norm, qb, qb_norm):
            padded = words[p]
            p_text = padded.replace(" ", "")
            w_dot = sum([v for f, v in q_padded if f in padded])
            c_dot = sum([v for f, v in q_chars if f in p_text])
            b_dot = sum([v for f, v in q_bigrams if f in p_text])
            similarity = ratio(a.text, p_text)
            score = (
                weights.words * w_dot / (qw_norm * wnorm[p])
                + weights.chars * c_dot / (qc_norm * cnorm[p])
                + (weights.bigrams * b_dot / (qb_norm * bnorm[p]) if b_dot else 0.0)
                + weights.ratio * similarity
            ) / total
            d = owner[p]
            if score > best.get(d, -1.0):
                best[d] = score
                best_phrase[d] = p
            if w_dot > coverage.get(d, 0.0):
                coverage[d] = w_dot
            # A restatement: nearly the same text, or the same word set (everything the query
            # says is in the phrase and nothing more).
            if similarity >= _NEAR_IDENTICAL or (w_dot >= _FULL * q_total and w_dot >= _FULL * wnorm[p] * wnorm[p]):
                exact.add(d)
        # The best phrase decides, with a share for the whole entry: a query often combines words
        # that the entry's phrasings use separately (measured: +3 points top-1 on the dev set
        # with similar questions, no change without them).
        share = weights.entry_chars
        if share:
            for d, score in best.items():
                chars, shares = self._doc_chars[d], self._doc_shares[d]
                dot = 0.0
                for f, v in q_chars:
                    i = chars.find(f)
                    if i >= 0:
                        dot += v * shares[i]
                entry_score = dot / (qc_norm * self._doc_cnorm[d]) if dot else 0.0
                best[d] = (score + share * entry_score) / (1.0 + share)
        hits: list[Hit] = []
        for d in sorted(best, key=best.__getitem__, reverse=True):
            doc_id = self._doc_ids[d]
            if allow is None or allow(doc_id):
                cover = min(coverage.get(d, 0.0) / q_total, 1.0)
                hits.append(Hit(doc_id, min(best[d], 1.0), self._texts[best_phrase[d]], cover, d in exact))
                if len(hits) == k:
                    break
        return hits

    def _shortlist(
        self, qw: dict[str, float], qw_norm: float, qb: dict[str, float], qb_norm: float
    ) -> list[int]:
        """Phrases worth scoring exactly: the best by word + bigram cosine over the inverted lists."""
        weights = self.weights
        rough: dict[int, float] = {}
        get = rough.get
        for field, q, q_norm, norms, weight in (
            (self._w, qw, qw_norm, self._wnorm, weights.words),
            (self._b, qb, qb_norm, self._bnorm, weights.bigrams),
        ):
            for f, w2 in q.items():
                plist = field.walk(f, self._walk)
                if plist:
                    inc = weight * w2 / q_norm
                    for p in plist:
                        rough[p] = get(p, 0.0) + inc / norms[p]
        if len(rough) <= self._candidates:
            return list(rough)
        return heapq.nlargest(self._candidates, rough, key=rough.__getitem__)

