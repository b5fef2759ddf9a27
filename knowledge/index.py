"""`PhraseIndex`: find the documents whose phrases best match a short user message.

A document is anything with phrasings — an FAQ entry (question + similar questions) or a flow
(trigger phrases). A phrase's score against a query blends four signals, each in 0..1:

- word cosine: jieba words (synonyms mapped, stopwords dropped), binary, weighted by IDF;
- character cosine: single characters, IDF-weighted — robust to segmentation differences and
  one-character typos, which dominate real user messages;
- character-bigram cosine, IDF-weighted — word order and compounds;
- rapidfuzz `ratio` of the two word strings — overall edit similarity.

IDF is computed over documents, not phrases, so that an entry with thirty similar questions does
not make its own words look common. A document's score is its best phrase's.

Cost per query must grow far slower than the index, so candidates come from inverted lists of
words and bigrams, and only the best `candidates` phrases are scored exactly. A feature found in
more than `posting_cap` phrases is too common to be worth walking (its IDF is near zero); it still
counts in the exact score. The data lives in flat arrays rather than per-phrase objects to keep a
100k-phrase index small.
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

from rapidfuzz.distance import Indel

from knowledge.normalize import DEFAULT_VOCABULARY, Vocabulary, normalize, segment, tokenizer_generation


@dataclass(frozen=True, slots=True)
class Hit:
    doc_id: str
    score: float
    # The document's phrase that matched best (as written).
    phrase: str = ""


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
    words = tuple(w for w in segment(normalize(text), vocabulary) if w not in vocabulary.stopwords)
    return Analysis(words, "".join(words))


def _bigrams(text: str) -> set[str]:
    return {text[i : i + 2] for i in range(len(text) - 1)}


class _Field:
    """One kind of feature (words, chars or bigrams): vocabulary, IDF and optional postings."""

    __slots__ = ("default_idf", "idf", "postings", "vocab")

    def __init__(self, doc_features: list[set[str]], n_docs: int) -> None:
        df: dict[str, int] = {}
        for features in doc_features:
            for f in features:
                df[f] = df.get(f, 0) + 1
        self.vocab: dict[str, float] = {}
        # BM25's IDF, always positive: log(1 + (N - df + 0.5) / (df + 0.5)).
        for f, n in df.items():
            self.vocab[f] = math.log(1.0 + (n_docs - n + 0.5) / (n + 0.5))
        # A feature no document has is as informative as the rarest one.
        self.default_idf = math.log(1.0 + (n_docs + 0.5) / 0.5)
        self.postings: dict[str, array[int]] = {}

    def weight(self, feature: str) -> float:
        return self.vocab.get(feature, self.default_idf)

    def norm(self, features: Iterable[str]) -> float:
        return math.sqrt(sum(self.weight(f) ** 2 for f in features))

    def add_postings(self, phrase_features: list[set[str]]) -> None:
        lists: dict[str, list[int]] = {}
        for p, features in enumerate(phrase_features):
            for f in features:
                lists.setdefault(f, []).append(p)
        self.postings = {f: array("I", ps) for f, ps in lists.items()}


class PhraseIndex:
    """An inverted index over documents `(doc_id, phrases)`; `search` returns the best documents."""

    def __init__(
        self,
        docs: Iterable[tuple[str, Sequence[str]]],
        vocabulary: Vocabulary = DEFAULT_VOCABULARY,
        weights: ScoreWeights | None = None,
        *,
        reuse: PhraseIndex | None = None,
        candidates: int = 64,
        posting_cap: int = 3000,
    ) -> None:
        """Index `docs`; `reuse` is the index this one replaces, whose segmentations are reused.

        Segmentation is most of the build cost (~45 µs a phrase), and a reload usually changes a
        few phrases among thousands; an old segmentation is valid while the vocabulary is the same
        and the tokenizer has learnt no word since.
        """
        self.vocabulary = vocabulary
        self.weights = weights or ScoreWeights()
        self._candidates = candidates
        self._posting_cap = posting_cap
        self._generation = tokenizer_generation()
        known: dict[str, str] = {}
        if reuse is not None and reuse.vocabulary == vocabulary and reuse._generation == self._generation:
            known = dict(zip(reuse._texts, reuse._words, strict=True))
        self._doc_ids: list[str] = []
        owner: list[int] = []
        self._texts: list[str] = []  # per phrase: as written
        self._words: list[str] = []  # per phrase: " word word … " (canonical, space-padded)
        doc_words: list[set[str]] = []
        doc_bigrams: list[set[str]] = []
        # Per document: in how many of its phrases each character occurs, and how many phrases.
        doc_char_counts: list[dict[str, int]] = []
        doc_sizes: list[int] = []
        for doc_id, phrases in docs:
            d = len(self._doc_ids)
            self._doc_ids.append(doc_id)
            words: set[str] = set()
            bigrams: set[str] = set()
            char_counts: dict[str, int] = {}
            size = 0
            for phrase in dict.fromkeys(phrases):
                padded = known.get(phrase)
                if padded is None:
                    a = analyze(phrase, vocabulary)
                    if not a.words:
                        continue
                    padded = f" {' '.join(a.words)} "
                owner.append(d)
                self._texts.append(phrase)
                self._words.append(padded)
                text = padded.replace(" ", "")
                words.update(padded.split())
                bigrams.update(_bigrams(text))
                for ch in set(text):
                    char_counts[ch] = char_counts.get(ch, 0) + 1
                size += 1
            doc_words.append(words)
            doc_bigrams.append(bigrams)
            doc_char_counts.append(char_counts)
            doc_sizes.append(size)
        self._owner = array("I", owner)
        n_docs = max(len(self._doc_ids), 1)
        self._w = _Field(doc_words, n_docs)
        self._c = _Field([set(counts) for counts in doc_char_counts], n_docs)
        self._b = _Field(doc_bigrams, n_docs)
        del doc_words, doc_bigrams, known

        # The entry's character profile: each character weighted by IDF and by the share of the
        # entry's phrases that contain it. Stored as a string of the characters plus a parallel
        # array of shares (str.find is a cheap lookup), to stay small at 100k phrases.
        self._doc_chars: list[str] = []
        self._doc_shares: list[array[float]] = []
        doc_norms: list[float] = []
        for counts, size in zip(doc_char_counts, doc_sizes, strict=True):
            chars = "".join(counts)
            shares = array("f", (counts[ch] / size for ch in chars))
            self._doc_chars.append(chars)
            self._doc_shares.append(shares)
            weighted = (self._c.weight(ch) * share for ch, share in zip(chars, shares, strict=True))
            doc_norms.append(math.sqrt(sum(w * w for w in weighted)))
        self._doc_cnorm = array("d", doc_norms)
        del doc_char_counts

        phrase_words = [set(s.split()) for s in self._words]
        phrase_bigrams = [_bigrams(s.replace(" ", "")) for s in self._words]
        self._wnorm = array("d", (self._w.norm(ws) for ws in phrase_words))
        self._bnorm = array("d", (self._b.norm(bs) for bs in phrase_bigrams))
        self._cnorm = array("d", (self._c.norm(set(s.replace(" ", ""))) for s in self._words))
        self._w.add_postings(phrase_words)
        self._b.add_postings(phrase_bigrams)

    def __len__(self) -> int:
        return len(self._doc_ids)

    @property
    def phrase_count(self) -> int:
        return len(self._words)

    def search(self, query: str, k: int = 3, allow: Callable[[str], bool] | None = None) -> list[Hit]:
        """The `k` best documents for `query`, best first, scores in 0..1; `allow` filters documents."""
        a = analyze(query, self.vocabulary)
        if not a.words or not self._words:
            return []
        q_words = set(a.words)
        q_chars = set(a.text)
        q_bigrams = _bigrams(a.text)
        qw = {f: self._w.weight(f) ** 2 for f in q_words}
        qb = {f: self._b.weight(f) ** 2 for f in q_bigrams}
        qc = {f: self._c.weight(f) ** 2 for f in q_chars}
        qw_norm = math.sqrt(sum(qw.values()))
        qb_norm = math.sqrt(sum(qb.values())) or 1.0
        qc_norm = math.sqrt(sum(qc.values()))

        phrases = self._shortlist(qw, qw_norm, qb, qb_norm)
        weights = self.weights
        total = weights.words + weights.chars + weights.bigrams + weights.ratio
        # Substring tests on the stored strings are much cheaper than building per-phrase sets:
        # a char or bigram is in the phrase iff it is a substring of its text, and a word iff
        # " word " is a substring of the space-padded word string.
        q_padded = [(f" {f} ", v) for f, v in qw.items()]
        q_chars_w = list(qc.items())
        q_bigrams_w = list(qb.items())
        ratio = Indel.normalized_similarity
        best: dict[int, float] = {}
        best_phrase: dict[int, int] = {}
        owner = self._owner
        for p in phrases:
            padded = self._words[p]
            p_text = padded.replace(" ", "")
            w_dot = sum([v for f, v in q_padded if f in padded])
            c_dot = sum([v for f, v in q_chars_w if f in p_text])
            b_dot = sum([v for f, v in q_bigrams_w if f in p_text])
            score = (
                weights.words * w_dot / (qw_norm * self._wnorm[p])
                + weights.chars * c_dot / (qc_norm * self._cnorm[p])
                + (weights.bigrams * b_dot / (qb_norm * self._bnorm[p]) if b_dot else 0.0)
                + weights.ratio * ratio(a.text, p_text)
            ) / total
            d = owner[p]
            if score > best.get(d, -1.0):
                best[d] = score
                best_phrase[d] = p
        # The best phrase decides, with a share for the whole entry: a query often combines words
        # that the entry's phrasings use separately (measured: +3 points top-1 on the dev set
        # with similar questions, no change without them).
        share = weights.entry_chars
        if share:
            for d, score in best.items():
                chars, shares = self._doc_chars[d], self._doc_shares[d]
                dot = 0.0
                for f, v in q_chars_w:
                    i = chars.find(f)
                    if i >= 0:
                        dot += v * shares[i]
                entry_score = dot / (qc_norm * self._doc_cnorm[d]) if dot else 0.0
                best[d] = (score + share * entry_score) / (1.0 + share)
        ranked = sorted(best.items(), key=lambda item: -item[1])
        hits: list[Hit] = []
        for d, score in ranked:
            doc_id = self._doc_ids[d]
            if allow is None or allow(doc_id):
                hits.append(Hit(doc_id, min(score, 1.0), self._texts[best_phrase[d]]))
                if len(hits) == k:
                    break
        return hits

    def _shortlist(
        self, qw: dict[str, float], qw_norm: float, qb: dict[str, float], qb_norm: float
    ) -> list[int]:
        """Phrases worth scoring exactly: the best by word + bigram cosine over the inverted lists."""
        weights = self.weights
        acc_w: dict[int, float] = {}
        acc_b: dict[int, float] = {}
        skipped: list[tuple[array[int], float, dict[int, float]]] = []
        for field, q, norm, acc, weight in (
            (self._w, qw, qw_norm, acc_w, weights.words),
            (self._b, qb, qb_norm, acc_b, weights.bigrams),
        ):
            for f, w2 in q.items():
                plist = field.postings.get(f)
                if plist is None:
                    continue
                inc = weight * w2 / norm
                if len(plist) > self._posting_cap:
                    skipped.append((plist, inc, acc))
                    continue
                get = acc.get
                for p in plist:
                    acc[p] = get(p, 0.0) + inc
        if not acc_w and not acc_b:
            # Only very common features matched: walk a bounded part of their lists.
            for plist, inc, acc in skipped:
                get = acc.get
                for p in plist[: self._posting_cap]:
                    acc[p] = get(p, 0.0) + inc
        wnorm, bnorm = self._wnorm, self._bnorm
        rough = {p: s / wnorm[p] for p, s in acc_w.items()}
        for p, s in acc_b.items():
            rough[p] = rough.get(p, 0.0) + s / bnorm[p]
        if len(rough) <= self._candidates:
            return list(rough)
        return heapq.nlargest(self._candidates, rough, key=rough.__getitem__)
