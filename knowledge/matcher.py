"""`Matcher`: for one user message, answer an FAQ entry, offer a numbered choice, or fall back.

Two stages: the index (`knowledge.index`) finds the best active entries, and the second stage
(`knowledge.rerank`, on unless MATCH_RERANK=false) re-scores its top 10 as probabilities. The
decision follows from the scores: answer when the best is confident *and* clearly ahead of the
runner-up (two close entries mean we do not know which one the user meant); offer a menu of the
close ones when the best is plausible; fall back otherwise. A citizen told the wrong thing with
confidence is worse off than one shown a menu (issue 14).

Thresholds live in `MatchConfig`, one set per stage. The defaults were chosen with
bench/faq_accuracy.py by cross-validation over the entries of the dev data, under ≤ 3% answered
wrong and ≤ 3% out-of-scope answered (≤ 5% on a knowledge base twice as dense built from the same
data), so that unseen questions stay within 5%.

Disabled entries are not indexed at all; entries outside their validity dates are filtered per
query, so an entry expires at midnight without a reload.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from knowledge.index import Hit, PhraseIndex, ScoreWeights
from knowledge.loader import load_knowledge
from knowledge.normalize import add_words
from knowledge.rerank import RERANK_DEPTH, Reranker
from knowledge.schema import FaqEntry, KnowledgeBase

Decision = Literal["answer", "clarify", "fallback"]
# Distinct recent questions remembered per matcher (a few hundred KB at most).
MATCH_CACHE_SIZE = 2048
# Coverage (Hit.coverage) that counts as "contains every word of the query", allowing for rounding.
FULL_COVERAGE = 0.999


class MatchConfig(BaseModel):
    """Decision thresholds on the 0..1 score; app settings expose them as MATCH_<FIELD> variables."""

    model_config = ConfigDict(frozen=True)

    # Answer directly at or above this score…
    answer_threshold: float = Field(default=0.45, ge=0.0, le=1.0)
    # …and only when the runner-up is at least this far behind.
    answer_margin: float = Field(default=0.06, ge=0.0, le=1.0)
    # Below this the best entry is not offered at all: fall back.
    clarify_threshold: float = Field(default=0.25, ge=0.0, le=1.0)
    # Most entries in a 「您是不是想问」 menu…
    menu_size: int = Field(default=3, ge=1, le=9)
    # …and the score the entries after the first need to join it.
    menu_floor: float = Field(default=0.1, ge=0.0, le=1.0)

    # The second stage (knowledge.rerank): on by default; MATCH_RERANK=false switches it off and the
    # thresholds above apply to the first stage's scores again.
    rerank: bool = True
    # With the second stage, the same decisions on its probabilities (0..1, summing to at most 1
    # over the candidates) that an entry is the one asked about. Tuned on out-of-fold scores under
    # ≤ 3% answered-wrong and out-of-scope answered on the dev data, ≤ 5% on a knowledge base twice
    # as dense (bench/faq_accuracy.py --train; each of 5 folds chose 0.825–0.85 / 0 / 0.19–0.25).
    # A probability of 0.8 leaves the runner-up at most 0.2: the margin is implied.
    rerank_answer_threshold: float = Field(default=0.825, ge=0.0, le=1.0)
    rerank_answer_margin: float = Field(default=0.0, ge=0.0, le=1.0)
    rerank_clarify_threshold: float = Field(default=0.25, ge=0.0, le=1.0)
    rerank_menu_floor: float = Field(default=0.0, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ordered(self) -> MatchConfig:
        if self.clarify_threshold > self.answer_threshold:
            raise ValueError("clarify_threshold must not exceed answer_threshold")
        if self.rerank_clarify_threshold > self.rerank_answer_threshold:
            raise ValueError("rerank_clarify_threshold must not exceed rerank_answer_threshold")
        return self

    def thresholds(self, reranked: bool) -> Thresholds:
        """The thresholds that apply to scores of the first stage, or of the second (`reranked`)."""
        if reranked:
            return Thresholds(
                self.rerank_answer_threshold, self.rerank_answer_margin, self.rerank_clarify_threshold,
                self.rerank_menu_floor,
            )
        return Thresholds(self.answer_threshold, self.answer_margin, self.clarify_threshold, self.menu_floor)


@dataclass(frozen=True, slots=True)
class Thresholds:
    answer: float
    margin: float
    clarify: float
    menu_floor: float


@dataclass(frozen=True, slots=True)
class Candidate:
    faq_id: str
    question: str
    score: float


@dataclass(frozen=True, slots=True)
class MatchResult:
    decision: Decision
    faq_id: str | None
    score: float
    # Best first. For "clarify" exactly the menu offered; otherwise the top entries, for logs and `wxbot ask`.
    candidates: list[Candidate]


class Matcher:
    """Matches queries against one loaded knowledge base; immutable, so it can be swapped whole."""

    def __init__(
        self,
        kb: KnowledgeBase,
        config: MatchConfig | None = None,
        weights: ScoreWeights | None = None,
        *,
        previous: Matcher | None = None,
        cache_size: int = MATCH_CACHE_SIZE,
    ) -> None:
        """Index `kb`; `previous` is the matcher this one replaces (its work is reused, see PhraseIndex)."""
        self.kb = kb
        self.config = config or MatchConfig()
        self._cache: OrderedDict[tuple[str, date], MatchResult] = OrderedDict()
        self._cache_size = cache_size
        add_words(kb.user_words)
        docs = []
        for entry in kb.entries:
            if entry.enabled:
                phrases = entry.phrasings()
                if entry.keywords:
                    phrases.append(" ".join(entry.keywords))
                docs.append((entry.id, phrases))
        self.index: PhraseIndex = PhraseIndex(
            docs, kb.vocabulary, weights, reuse=previous.index if previous is not None else None
        )
        self.reranker: Reranker | None = None
        if self.config.rerank:
            reuse = previous.reranker if previous is not None else None
            if reuse is not None and reuse.index is self.index:
                self.reranker = reuse
            else:
                self.reranker = Reranker(self.index, reuse=reuse)

    @property
    def thresholds(self) -> Thresholds:
        """The thresholds that apply to this matcher's scores (`MatchResult.score`, candidates)."""
        return self.config.thresholds(self.reranker is not None)

    @classmethod
    def from_directory(
        cls, directory: Path, config: MatchConfig | None = None, previous: Matcher | None = None
    ) -> Matcher:
        """Load, validate and index a knowledge folder; raises `KnowledgeError`."""
        kb = load_knowledge(directory, previous=previous.kb if previous is not None else None)
        return cls(kb, config, previous=previous)

    def entry(self, faq_id: str) -> FaqEntry | None:
        return self.kb.entry(faq_id)

    def match(self, query: str, today: date) -> MatchResult:
        """The decision for `query`; repeated questions are answered from a small per-version cache.

        Citizens ask the same popular questions over and over (and one turn may ask twice: the
        flow triggers compare against the FAQ). The matcher is immutable and replaced whole on
        reload, so the cache can never serve an answer from an older knowledge base.
        """
        if not self._cache_size:
            return self._match(query, today)
        key = (query, today)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        result = self._match(query, today)
        self._cache[key] = result
        if len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return result

    def _match(self, query: str, today: date) -> MatchResult:
        config = self.config

        def active(faq_id: str) -> bool:
            entry = self.kb.entry(faq_id)
            return entry is not None and entry.is_active(today)

        reranker = self.reranker
        if reranker is None:
            hits = self.index.search(query, k=max(config.menu_size, 2), allow=active)
        else:
            analysis = self.index.analyze(query)
            first = self.index.search(query, k=max(config.menu_size, RERANK_DEPTH), allow=active, analysis=analysis)
            hits = reranker.rerank(query, first, analysis)
        decision, shown = decide(hits, config, reranked=reranker is not None)
        candidates = [Candidate(h.doc_id, self.kb.by_id[h.doc_id].question, round(h.score, 4)) for h in shown]
        best = hits[0].score if hits else 0.0
        return MatchResult(decision, hits[0].doc_id if decision == "answer" else None, best, candidates)


def decide(hits: list[Hit], config: MatchConfig, *, reranked: bool = False) -> tuple[Decision, list[Hit]]:
    """The decision for ranked hits, and the hits to show (the menu, for "clarify").

    `reranked`: the scores are the second stage's probabilities (its own thresholds apply, and it
    has already weighed coverage, so `_indistinct` does not).
    """
    t = config.thresholds(reranked)
    if reranked and len(hits) < RERANK_DEPTH:
        # The second stage's scores are shares among the candidates it was given, and it was fitted
        # on full lists of RERANK_DEPTH. With fewer (a small knowledge base such as an account's
        # overlay of a few entries, or a question sharing words with few phrasings) a hit sharing
        # one word with the question could take a share above the menu line. There it only chooses
        # among what the first stage itself found plausible. Measured cross-validated on the dev
        # data (bench/faq_accuracy.py, 2026-12-06): top-1 and answered-wrong unchanged, out-of-scope
        # questions shown a menu 44.7/38.7% → 32.0/27.3% (standard/with similar), at a cost of
        # 0.7/1.3 points resolved within two turns (82.2/94.5% → 81.5/93.2%).
        hits = [h for h in hits if h.first is None or h.first >= config.clarify_threshold]
    top = hits[: config.menu_size]
    if not hits or hits[0].score < t.clarify:
        return "fallback", top
    best, runner_up = hits[0].score, (hits[1].score if len(hits) > 1 else 0.0)
    if best >= t.answer and best - runner_up >= t.margin and (reranked or not _indistinct(hits, config)):
        return "answer", top
    return "clarify", [top[0], *(h for h in top[1:] if h.score >= t.menu_floor)]


def _indistinct(hits: list[Hit], config: MatchConfig) -> bool:
    """The runner-up contains every word of the query too, so nothing the user said favours the best.

    Typically a bare topic (「护照」, 「公积金」) that several entries are about: the best one then
    wins only by being the shortest, and a menu serves the user better than a guess. Not when the
    best has a phrase with exactly the query's words: the admins wrote that question. (On the dev
    set this affects ~1% of questions and moves a few answers into menus, at no cost in the share
    resolved within two turns.)
    """
    if len(hits) < 2 or hits[1].score < config.clarify_threshold or hits[0].exact:
        return False
    return hits[0].coverage >= FULL_COVERAGE and hits[1].coverage >= FULL_COVERAGE
