"""A knowledge base that learns from its users, and checks of its own shape (issue 14).

- `propose`: when a citizen picks an option from a 「您是不是想问」 menu, their question is a label
  for the picked entry. Labels are clustered per entry and each cluster's commonest wording is
  proposed as a `similar:` line (with how often it was asked), unless the entry already has it or
  the matcher already answers it with that entry — nothing to learn there.
- `lint`: entry pairs whose phrasings match each other as well as their own (near-duplicates to
  merge or tell apart), entries that none of their own phrasings reaches, phrasings made only of
  stopwords, and synonyms that would help (words that line up across the phrasings of one entry).

Pure functions of a `Matcher` and values; `app/cli/kb.py` reads the turn log and prints.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from rapidfuzz import fuzz, process

from knowledge.matcher import Matcher
from knowledge.normalize import normalize, segment
from knowledge.rerank import question_types
from knowledge.schema import FaqEntry

# Two labels of one entry are one wording when this alike (rapidfuzz ratio on normalised text).
SAME_WORDING = 80.0
# A phrasing of one entry "matches" another entry when that entry scores this high on the first
# stage (0..1): nearly the same words.
NEAR_DUPLICATE = 0.75


@dataclass(frozen=True, slots=True)
class Label:
    """A citizen's question and the entry they picked for it from a menu."""

    question: str
    faq_id: str


@dataclass(slots=True)
class Proposal:
    """New `similar:` lines for one entry, most asked first: (wording, times asked)."""

    entry: FaqEntry
    phrasings: list[tuple[str, int]] = field(default_factory=list)

    @property
    def count(self) -> int:
        return sum(n for _text, n in self.phrasings)

    def yaml(self) -> str:
        """A snippet to paste under the entry (its file and line in the comment)."""
        e = self.entry
        lines = [f"# {e.file}:{e.line}：条目 {e.id}「{e.question}」的 similar 下追加（群众从菜单中选了它）",
                 "    similar:"]
        lines += [f"      - {json.dumps(text, ensure_ascii=False)}  # ×{n}" for text, n in self.phrasings]
        return "\n".join(lines)


def _clusters(texts: Counter[str]) -> list[tuple[str, int]]:
    """Single-linkage clusters of alike wordings: (commonest wording, size), largest first."""
    keys = sorted(texts, key=lambda t: (-texts[t], len(t), t))
    folded = [normalize(t).replace(" ", "") for t in keys]
    parent = list(range(len(keys)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, key in enumerate(folded):
        for _match, _score, j in process.extract(key, folded, scorer=fuzz.ratio, score_cutoff=SAME_WORDING,
                                                 limit=None):
            parent[find(j)] = find(i)
    groups: dict[int, list[int]] = defaultdict(list)
    for i in range(len(keys)):
        groups[find(i)].append(i)
    out = [(keys[min(members)], sum(texts[keys[i]] for i in members)) for members in groups.values()]
    out.sort(key=lambda item: (-item[1], item[0]))
    return out


def propose(labels: Iterable[Label], matcher: Matcher, today: date, *, min_count: int = 1) -> list[Proposal]:
    """What the labels teach: per active entry, new wordings for its `similar` list."""
    by_entry: dict[str, Counter[str]] = defaultdict(Counter)
    for label in labels:
        text = label.question.strip()
        if text:
            by_entry[label.faq_id][text] += 1
    # A wording another entry already has would make two entries share a phrasing.
    owner = {normalize(p): e.id for e in matcher.kb.entries for p in e.phrasings()}
    proposals: list[Proposal] = []
    for faq_id, texts in by_entry.items():
        entry = matcher.entry(faq_id)
        if entry is None or not entry.is_active(today):
            continue
        proposal = Proposal(entry)
        for text, count in _clusters(texts):
            if count < min_count or normalize(text) in owner:
                continue
            result = matcher.match(text, today)
            if result.decision == "answer" and result.faq_id == faq_id:
                continue
            proposal.phrasings.append((text, count))
        if proposal.phrasings:
            proposals.append(proposal)
    proposals.sort(key=lambda p: (-p.count, p.entry.id))
    return proposals


# --- lint --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NearDuplicate:
    a: str
    b: str
    # Phrasings of `a` that match `b` nearly as well as `a` itself, out of all of `a`'s.
    shared: int
    total: int
    example: str


@dataclass(frozen=True, slots=True)
class SynonymCandidate:
    word: str
    other: str
    # Pairs of phrasings (within one entry) that differ only in these two words.
    count: int
    example: str


@dataclass(slots=True)
class LintReport:
    near_duplicates: list[NearDuplicate] = field(default_factory=list)
    # Entries none of whose phrasings ranks them first.
    never_win: list[FaqEntry] = field(default_factory=list)
    # (entry, phrasing) made only of stopwords: reachable only by the same greeting.
    stopword_only: list[tuple[FaqEntry, str]] = field(default_factory=list)
    synonyms: list[SynonymCandidate] = field(default_factory=list)


def lint(matcher: Matcher, today: date) -> LintReport:
    report = LintReport()
    index = matcher.index
    vocabulary = matcher.kb.vocabulary
    active = [e for e in matcher.kb.entries if e.is_active(today)]
    pairs: dict[tuple[str, str], list[str]] = defaultdict(list)
    for entry in active:
        phrasings = entry.phrasings()
        wins = 0
        for phrase in phrasings:
            words = [w for w in segment(normalize(phrase), vocabulary) if w not in vocabulary.stopwords]
            if not words:
                report.stopword_only.append((entry, phrase))
            # Winning is what citizens get (both stages); near-duplicates are about wording (first).
            top = matcher.match(phrase, today).candidates
            wins += bool(top) and top[0].faq_id == entry.id
            hits = index.search(phrase, k=4)
            own = next((h.score for h in hits if h.doc_id == entry.id), 0.0)
            for h in hits:
                if h.doc_id != entry.id and h.score >= NEAR_DUPLICATE and h.score >= own - 0.05:
                    pairs[(entry.id, h.doc_id)].append(phrase)
        if not wins:
            report.never_win.append(entry)
    for (a, b), phrases in sorted(pairs.items(), key=lambda item: -len(item[1])):
        entry = matcher.kb.by_id[a]
        total = len(entry.phrasings())
        # A pair once: the side with the larger share of its phrasings in common.
        if (b, a) in pairs and len(pairs[(b, a)]) / len(matcher.kb.by_id[b].phrasings()) > len(phrases) / total:
            continue
        report.near_duplicates.append(NearDuplicate(a, b, len(phrases), total, phrases[0]))
    report.synonyms = synonym_candidates(active, matcher)
    return report


def synonym_candidates(entries: Iterable[FaqEntry], matcher: Matcher, limit: int = 20) -> list[SynonymCandidate]:
    """Word pairs that line up: two phrasings of one entry with the same words but one each.

    「怎么注销账号」 / 「怎么销户账号」 → (注销, 销户). Pairs already synonyms never show up here,
    since both sides are read as their canonical word.
    """
    vocabulary = matcher.kb.vocabulary
    counts: Counter[tuple[str, str]] = Counter()
    examples: dict[tuple[str, str], str] = {}
    for entry in entries:
        bags = []
        for phrase in entry.phrasings():
            words = [w for w in segment(normalize(phrase), vocabulary) if w not in vocabulary.stopwords]
            if words:
                bags.append((phrase, Counter(words)))
        for i, (p1, b1) in enumerate(bags):
            for p2, b2 in bags[i + 1 :]:
                only1, only2 = b1 - b2, b2 - b1
                if sum(only1.values()) == 1 and sum(only2.values()) == 1 and sum((b1 & b2).values()) >= 1:
                    [w1], [w2] = list(only1), list(only2)
                    # Question words and numbers line up with anything: 「在哪里办」/「怎么办」.
                    if w1.isdigit() or w2.isdigit() or (question_types(w1) | question_types(w2)) - {"cancel"}:
                        continue
                    key = (min(w1, w2), max(w1, w2))
                    counts[key] += 1
                    examples.setdefault(key, f"{entry.id}：「{p1}」/「{p2}」")
    return [SynonymCandidate(a, b, n, examples[(a, b)]) for (a, b), n in counts.most_common(limit)]
