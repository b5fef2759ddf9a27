"""One review cycle of a knowledge base that learns from its users (issue 14), on the dev data.

Half of each entry's held-out questions are replayed as citizens: when the matcher offers a
「您是不是想问」 menu that holds the right entry, the citizen picks it (a label, as the turn log
records it); answers and fallbacks teach nothing. `knowledge.learning.propose` then turns the
labels into `similar:` proposals, an admin accepts every one, and the other half of the
questions — never replayed — is scored before and after.

Both knowledge bases of bench/faq_accuracy.py can be used (`--kb dev|dense`), starting from the
standard questions only or with `--similar` (5) questions per entry. Note: the second stage's
shipped weights and thresholds were fitted on all of the dev data (see bench/faq_accuracy.py for
cross-validated figures); the gain measured here is the loop's, at fixed weights.

    .venv/bin/python bench/faq_learning.py [--kb dev] [--mode similar] [--seed 1]
"""

from __future__ import annotations

import argparse
import dataclasses
import random
import sys
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from faq_accuracy import DEFAULT_DATA, Query, load_split  # noqa: E402

from knowledge.learning import Label, propose  # noqa: E402
from knowledge.loader import with_general_synonyms  # noqa: E402
from knowledge.matcher import MatchConfig, Matcher  # noqa: E402
from knowledge.normalize import GENERAL_SYNONYM_GROUPS, Vocabulary, warm_up  # noqa: E402
from knowledge.schema import FaqEntry, KnowledgeBase  # noqa: E402

TODAY = date(2026, 1, 15)


def build(entries: Sequence[FaqEntry], config: MatchConfig) -> Matcher:
    vocabulary = Vocabulary(synonyms=with_general_synonyms({}))
    words = tuple((w, None) for group in GENERAL_SYNONYM_GROUPS for w in group)
    kb = KnowledgeBase(directory=Path("."), entries=tuple(entries), vocabulary=vocabulary, user_words=words)
    return Matcher(kb, config, cache_size=0)


def score(matcher: Matcher, queries: Sequence[Query]) -> dict[str, float]:
    top1 = right = wrong = menu = 0
    for q in queries:
        result = matcher.match(q.text, TODAY)
        top1 += bool(result.candidates) and result.candidates[0].faq_id == q.expected
        if result.decision == "answer":
            right += result.faq_id == q.expected
            wrong += result.faq_id != q.expected
        elif result.decision == "clarify":
            menu += any(c.faq_id == q.expected for c in result.candidates)
    n = max(len(queries), 1)
    return {"top1": top1 / n, "right": right / n, "wrong": wrong / n, "menu": menu / n,
            "resolved": (right + menu) / n}


def replay(matcher: Matcher, queries: Iterable[Query]) -> list[Label]:
    """Citizens who pick the right option whenever a menu shows it."""
    labels = []
    for q in queries:
        result = matcher.match(q.text, TODAY)
        if result.decision == "clarify" and q.expected is not None and any(
            c.faq_id == q.expected for c in result.candidates
        ):
            labels.append(Label(q.text, q.expected))
    return labels


def pct(x: float) -> str:
    return f"{100 * x:5.1f}%"


def line(label: str, s: dict[str, float]) -> str:
    return (f"  {label:<22} top-1 {pct(s['top1'])}  answered-right {pct(s['right'])}  answered-wrong {pct(s['wrong'])}"
            f"  in-menu {pct(s['menu'])}  resolved≤2 turns {pct(s['resolved'])}")


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--kb", choices=["dev", "dense"], default="dev")
    parser.add_argument("--mode", choices=["standard", "similar", "both"], default="both")
    parser.add_argument("--similar", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(list(argv) if argv is not None else None)
    if not (args.data / "kb.json").is_file():
        raise SystemExit(f"faq-eval data not found in {args.data} (use --data)")
    warm_up()
    for mode in ["standard", "similar"] if args.mode == "both" else [args.mode]:
        split = load_split(args.data, args.kb, mode, args.similar, args.seed)
        by_entry: dict[str | None, list[Query]] = defaultdict(list)
        for q in split.queries:
            by_entry[q.expected].append(q)
        rng = random.Random(args.seed)
        replayed: list[Query] = []
        scored: list[Query] = []
        for qs in by_entry.values():
            qs = list(qs)
            rng.shuffle(qs)
            replayed += qs[: len(qs) // 2]
            scored += qs[len(qs) // 2 :]
        print(f"\n=== {split.name}: {len(split.entries)} entries; {len(replayed)} questions replayed, "
              f"{len(scored)} scored")
        for config_name, config in (("second stage", MatchConfig()), ("first stage only", MatchConfig(rerank=False))):
            matcher = build(split.entries, config)
            before = score(matcher, scored)
            labels = replay(matcher, replayed)
            proposals = propose(labels, matcher, TODAY)
            added = {p.entry.id: [text for text, _n in p.phrasings] for p in proposals}
            entries = [dataclasses.replace(e, similar=(*e.similar, *added.get(e.id, ()))) for e in split.entries]
            after = score(build(entries, config), scored)
            print(f"  [{config_name}] {len(labels)} menu picks → {len(proposals)} entries, "
                  f"{sum(map(len, added.values()))} similar questions accepted")
            print(line("before the cycle", before))
            print(line("after one cycle", after))
            print(f"  after/before: top-1 ×{after['top1'] / before['top1']:.3f}, "
                  f"resolved ×{after['resolved'] / before['resolved']:.3f}")


if __name__ == "__main__":
    main()
