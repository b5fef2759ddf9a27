"""Shared knowledge with local overrides: one account's FAQ as a stack of knowledge folders (issue 16).

A city's accounts share most of their content. Each folder is loaded and indexed once, as a
`Layer`, however many accounts use it; an account's `LayeredMatcher` only composes the layers it
lists, so memory grows with the content and not with the number of accounts. Later layers win:
an entry whose id a later layer defines replaces the earlier one, and a later layer's
`disable.txt` (one entry id per line, `#` comments) hides shared entries the account does not
offer.

This is a composition over the `Matcher`'s public API (`match`, `entry`, `kb`, `config`): each
layer decides with its own matcher, entries hidden by later layers are dropped from its
candidates, and the survivors are merged by score. When only one layer has anything to say and
nothing of it was hidden, that layer's own decision is returned unchanged, so an account whose
overlay does not touch a question gets exactly the shared matcher's answer.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date
from pathlib import Path

from knowledge.errors import KnowledgeError, Problem
from knowledge.loader import load_knowledge
from knowledge.matcher import MATCH_CACHE_SIZE, Candidate, MatchConfig, Matcher, MatchResult, Thresholds
from knowledge.normalize import Vocabulary
from knowledge.schema import FaqEntry, KnowledgeBase, RegressionCase

DISABLE_FILE = "disable.txt"
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]*$")


def read_disabled(directory: Path) -> frozenset[str]:
    """The ids listed in the folder's `disable.txt` (none when there is no such file)."""
    path = directory / DISABLE_FILE
    if not path.is_file():
        return frozenset()
    problems: list[Problem] = []
    ids: set[str] = set()
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise KnowledgeError([Problem(DISABLE_FILE, 0, f"无法读取文件：{exc}")]) from None
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if not _ID.match(line):
            problems.append(Problem(DISABLE_FILE, number, f"{line!r} 不是条目 id"))
        elif line in ids:
            problems.append(Problem(DISABLE_FILE, number, f"条目 id {line} 重复出现"))
        ids.add(line)
    if problems:
        raise KnowledgeError(problems)
    return frozenset(ids)


def has_faq(directory: Path) -> bool:
    return any(directory.glob("faq/*.yaml")) or any(directory.glob("faq/*.yml"))


@dataclass(frozen=True, slots=True)
class Layer:
    """One knowledge folder: its own entries, indexed once, and the earlier entries it disables."""

    directory: Path
    # None for a folder with no FAQ files of its own (only disable.txt, say).
    matcher: Matcher | None
    disabled: frozenset[str] = frozenset()
    ids: frozenset[str] = field(default=frozenset())

    @classmethod
    def load(
        cls,
        directory: Path,
        config: MatchConfig | None = None,
        previous: Layer | None = None,
        *,
        inherit: Vocabulary | None = None,
    ) -> Layer:
        """Load and index a folder; raises `KnowledgeError` naming file and line.

        `inherit`: the vocabulary of the layers below (an overlay's). An overlay rarely has its
        own synonyms.yaml, yet its citizens write 医保卡 for 社保卡 just the same: without the
        shared synonyms an overridden entry scored 0.32 where the shared one scored 0.97. The
        overlay's own synonyms and stopwords are added to the inherited ones.
        """
        if not directory.is_dir():
            raise KnowledgeError([Problem(str(directory), 0, "知识库目录不存在")])
        disabled = read_disabled(directory)
        matcher = None
        if has_faq(directory):
            reuse = previous.matcher if previous is not None else None
            kb = load_knowledge(directory, previous=reuse.kb if reuse is not None else None)
            if inherit is not None:
                own = kb.vocabulary
                vocabulary = Vocabulary(
                    synonyms={**inherit.synonyms, **own.synonyms}, stopwords=inherit.stopwords | own.stopwords
                )
                kb = replace(kb, vocabulary=vocabulary)
            matcher = Matcher(kb, config, previous=reuse)
        ids = frozenset(e.id for e in matcher.kb.entries) if matcher is not None else frozenset()
        return cls(directory, matcher, disabled, ids)


def _thresholds(matcher: Matcher) -> tuple[float, float, float, float]:
    """(answer, margin, clarify, menu floor) on the scale of this matcher's scores.

    A matcher with a second stage states its own (`thresholds`); otherwise the config's apply.
    """
    stated = getattr(matcher, "thresholds", None)
    if stated is not None:
        return (float(stated.answer), float(stated.margin), float(stated.clarify), float(stated.menu_floor))
    c = matcher.config
    return (c.answer_threshold, c.answer_margin, c.clarify_threshold, c.menu_floor)


class LayeredMatcher:
    """An account's FAQ over several layers, later ones overriding earlier ones by entry id."""

    def __init__(self, layers: Sequence[Layer], *, cache_size: int = MATCH_CACHE_SIZE) -> None:
        self.layers = tuple(layers)
        # For each layer, the ids later layers define or disable: its own copies are not served.
        hidden: list[frozenset[str]] = []
        later: frozenset[str] = frozenset()
        for layer in reversed(self.layers):
            hidden.append(later)
            later = later | layer.ids | layer.disabled
        self._hidden = tuple(reversed(hidden))
        self._active = tuple(
            (layer.matcher, hide) for layer, hide in zip(self.layers, self._hidden, strict=True) if layer.matcher
        )
        if not self._active:
            where = str(self.layers[-1].directory) if self.layers else "?"
            raise KnowledgeError([Problem(where, 0, "没有任何 FAQ 条目")])
        self.config = self._active[0][0].config
        self._cache: OrderedDict[tuple[str, date], MatchResult] = OrderedDict()
        self._cache_size = cache_size
        self._kb: KnowledgeBase | None = None

    @property
    def kb(self) -> KnowledgeBase:
        """The entries this account serves, in file order, overrides in the place of what they replace.

        Built on first use (category menus, `wxbot kb check`): turns only need `match` and `entry`.
        """
        if self._kb is None:
            self._kb = self._merged_kb()
        return self._kb

    @property
    def thresholds(self) -> Thresholds:
        """The decision thresholds on this account's scores: those of its first (shared) layer."""
        return self._active[0][0].thresholds

    @property
    def phrase_count(self) -> int:
        """Phrasings indexed in all layers (an overridden entry's shared phrasings included)."""
        return sum(m.index.phrase_count for m, _ in self._active)

    def entry(self, faq_id: str) -> FaqEntry | None:
        for layer in reversed(self.layers):
            if layer.matcher is not None:
                found = layer.matcher.entry(faq_id)
                if found is not None:
                    return found
            if faq_id in layer.disabled:
                return None
        return None

    def match(self, query: str, today: date) -> MatchResult:
        key = (query, today)
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        result = self._match(query, today)
        if self._cache_size:
            self._cache[key] = result
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return result

    def _match(self, query: str, today: date) -> MatchResult:
        answer_t, margin_t, clarify_t, floor_t = _thresholds(self._active[0][0])
        heard: list[tuple[MatchResult, list[Candidate]]] = []
        speaking: list[tuple[MatchResult, bool]] = []
        for matcher, hide in self._active:
            result = matcher.match(query, today)
            kept = [c for c in result.candidates if c.faq_id not in hide]
            if len(kept) != len(result.candidates):
                lost = [c for c in result.candidates if c.faq_id in hide]
                trimmed = result.faq_id in hide or any(c.score >= clarify_t for c in lost)
                # Entries hidden by a later layer are never shown, even in a fallback's list.
                result = MatchResult(result.decision, result.faq_id, result.score, kept)
            else:
                trimmed = False
            heard.append((result, kept))
            # A layer speaks when it has a plausible entry to offer by its own judgement, or lost
            # one to a later layer. Its own decision counts, not only the scores: a second stage's
            # scores are shares among a layer's few candidates, so a small overlay can give a weak
            # candidate a share above the menu threshold while itself deciding it knows nothing.
            if trimmed or (result.decision != "fallback" and any(c.score >= clarify_t for c in kept)):
                speaking.append((result, trimmed))
        if not speaking:
            return heard[0][0]
        if len(speaking) == 1 and not speaking[0][1]:
            return speaking[0][0]
        merged = sorted(
            ((c, result) for result, kept in heard for c in kept), key=lambda item: -item[0].score
        )
        top = [c for c, _ in merged[: self.config.menu_size]]
        if not merged or merged[0][0].score < clarify_t:
            return MatchResult("fallback", None, merged[0][0].score if merged else 0.0, top)
        best, owner = merged[0]
        runner_up = merged[1][0].score if len(merged) > 1 else 0.0
        # Answer only when the layer the best entry comes from was itself sure of it (it alone
        # knows how the words cover the question) and nothing from another layer comes close.
        if (
            best.score >= answer_t
            and best.score - runner_up >= margin_t
            and owner.decision == "answer"
            and owner.faq_id == best.faq_id
        ):
            return MatchResult("answer", best.faq_id, best.score, top)
        menu = [top[0], *(c for c in top[1:] if c.score >= floor_t)]
        return MatchResult("clarify", None, best.score, menu)

    def _merged_kb(self) -> KnowledgeBase:
        order: dict[str, FaqEntry] = {}
        removed: set[str] = set()
        tests: list[RegressionCase] = []
        warnings: list[Problem] = []
        words: list[tuple[str, int | None]] = []
        for layer in self.layers:
            for faq_id in layer.disabled:
                order.pop(faq_id, None)
                removed.add(faq_id)
            if layer.matcher is None:
                continue
            kb = layer.matcher.kb
            for entry in kb.entries:
                # Assigning to an existing key keeps its place: an override sits where the shared entry was.
                order[entry.id] = entry
            tests.extend(kb.tests)
            warnings.extend(kb.warnings)
            words.extend(kb.user_words)
        last = self._active[-1][0].kb
        # A shared regression case about an entry this account withdrew does not apply to it.
        tests = [t for t in tests if t.expect is None or t.expect in order]
        return KnowledgeBase(
            directory=self.layers[-1].directory,
            entries=tuple(order.values()),
            vocabulary=last.vocabulary,
            user_words=tuple(words),
            tests=tuple(tests),
            warnings=tuple(warnings),
        )


def vocabulary_of(layers: Sequence[Layer | None]) -> Vocabulary | None:
    """The vocabulary the next layer inherits: that of the last loaded layer with entries."""
    for layer in reversed(layers):
        if layer is not None and layer.matcher is not None:
            return layer.matcher.kb.vocabulary
    return None


def load_layers(
    folders: Sequence[Path], config: MatchConfig | None = None
) -> list[Layer]:
    """Each folder as a layer, each inheriting the vocabulary of the ones before it."""
    layers: list[Layer] = []
    for folder in folders:
        layers.append(Layer.load(folder, config, inherit=vocabulary_of(layers)))
    return layers


def compose(layers: Sequence[Layer]) -> Matcher | LayeredMatcher:
    """What an account's turns match against: the one layer's matcher itself when nothing overlays it."""
    with_entries = [layer for layer in layers if layer.matcher is not None]
    if len(layers) == 1 and with_entries:
        assert with_entries[0].matcher is not None
        return with_entries[0].matcher
    return LayeredMatcher(layers)
