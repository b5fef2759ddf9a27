"""The loaded knowledge base: FAQ entries, vocabulary and regression cases, as immutable values."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from knowledge.errors import Problem
from knowledge.normalize import Vocabulary


@dataclass(frozen=True, slots=True)
class FaqEntry:
    id: str
    category: str
    question: str
    similar: tuple[str, ...]
    answer: str
    keywords: tuple[str, ...] = ()
    valid_from: date | None = None
    valid_until: date | None = None
    enabled: bool = True
    # Where the entry was written, for admin messages.
    file: str = ""
    line: int = 0

    def is_active(self, today: date) -> bool:
        """Enabled and within its validity dates (both ends inclusive)."""
        if not self.enabled:
            return False
        if self.valid_from is not None and today < self.valid_from:
            return False
        return self.valid_until is None or today <= self.valid_until

    def phrasings(self) -> list[str]:
        """The standard question first, then the alternate phrasings."""
        return [self.question, *self.similar]


@dataclass(frozen=True, slots=True)
class RegressionCase:
    """An admin's expectation from tests.yaml: `query` is answered by `expect` (None: not answered)."""

    query: str
    expect: str | None
    file: str = ""
    line: int = 0


@dataclass(frozen=True, slots=True)
class KnowledgeBase:
    directory: Path
    entries: tuple[FaqEntry, ...]
    vocabulary: Vocabulary
    # Words the tokenizer must know (user dictionary, synonyms, keywords), with optional jieba freq.
    user_words: tuple[tuple[str, int | None], ...] = ()
    tests: tuple[RegressionCase, ...] = ()
    # Worth an admin's look: expired entries.
    warnings: tuple[Problem, ...] = ()
    by_id: dict[str, FaqEntry] = field(default_factory=dict, compare=False, repr=False)
    # FAQ file (relative path) → (digest of its bytes, its entries): lets a reload skip unchanged files.
    parsed: dict[str, tuple[bytes, tuple[FaqEntry, ...]]] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if not self.by_id:
            self.by_id.update((e.id, e) for e in self.entries)

    def entry(self, faq_id: str) -> FaqEntry | None:
        return self.by_id.get(faq_id)
