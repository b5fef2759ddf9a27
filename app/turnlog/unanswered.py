"""Group the questions the bot could not answer by similarity, most asked first.

Users phrase one question many ways (「社保卡丢了怎么办」「社保卡丢了咋办啊」), so counting
exact strings would scatter one gap over many rows. Texts are normalised (full-width → half-width,
punctuation and polite filler dropped) and clustered: two phrasings share a cluster when they
resemble each other (rapidfuzz `ratio`) or one (of four characters or more) is contained in
the other (「社保卡丢了」 in 「我的社保卡丢了怎么补办」), transitively.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field

from rapidfuzz import fuzz, process

# Polite openings and sentence-final particles carry no meaning but dominate short texts.
_PREFIXES = (
    "你好", "您好", "请问一下", "请问", "麻烦问一下", "麻烦问下", "麻烦", "我想问一下", "我想问", "想问一下", "问一下",
)
_SUFFIXES = ("吗", "呢", "啊", "呀", "吧", "哈", "谢谢", "谢谢你")
_NOISE = re.compile(r"[\W_]+", re.UNICODE)

SIMILARITY = 72.0


def normalise(text: str) -> str:
    text = _NOISE.sub("", unicodedata.normalize("NFKC", text).lower())
    changed = True
    while changed and text:
        changed = False
        for prefix in _PREFIXES:
            if text.startswith(prefix) and len(text) > len(prefix):
                text, changed = text[len(prefix) :], True
        for suffix in _SUFFIXES:
            if text.endswith(suffix) and len(text) > len(suffix):
                text, changed = text[: -len(suffix)], True
    return text


@dataclass(slots=True)
class Cluster:
    texts: Counter[str] = field(default_factory=Counter)

    @property
    def count(self) -> int:
        return sum(self.texts.values())

    @property
    def question(self) -> str:
        """The most frequent phrasing, shortest first among equals: what an admin reads."""
        return self.phrasings(1)[0]

    def phrasings(self, limit: int = 5) -> list[str]:
        ordered = sorted(self.texts.items(), key=lambda item: (-item[1], len(item[0]), item[0]))
        return [text for text, _count in ordered[:limit]]


# Pairwise comparison is quadratic; the long tail past this many distinct phrasings is
# asked once or twice each and stays unclustered.
MAX_KEYS = 2000


def cluster(texts: Iterable[str], threshold: float = SIMILARITY) -> list[Cluster]:
    """Clusters (single linkage over normalised phrasings) sorted by size, largest first."""
    counts: Counter[str] = Counter(t.strip() for t in texts if t and t.strip())
    by_key: dict[str, Counter[str]] = {}
    for text, count in counts.items():
        key = normalise(text)
        if key:
            by_key.setdefault(key, Counter())[text] += count
    keys = sorted(by_key, key=lambda k: (-sum(by_key[k].values()), k))
    head = keys[:MAX_KEYS]
    parent = list(range(len(head)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, key in enumerate(head):
        for _match, _score, j in process.extract(key, head, scorer=fuzz.ratio, score_cutoff=threshold,
                                                 limit=None):
            parent[find(j)] = find(i)
        if len(key) >= 4:
            for j, other in enumerate(head):
                if key in other:
                    parent[find(j)] = find(i)
    groups: dict[int, Cluster] = {}
    for i, key in enumerate(head):
        groups.setdefault(find(i), Cluster()).texts.update(by_key[key])
    clusters = list(groups.values()) + [Cluster(Counter(by_key[key])) for key in keys[MAX_KEYS:]]
    clusters.sort(key=lambda c: (-c.count, c.question))
    return clusters
