"""The flows in service: loaded from a directory, checked, and kept with their older versions.

A registry is immutable once built. Reloading builds a new one (`load_flows(dir, previous=old)`)
that also keeps every version the old one knew, so a citizen half-way through version 2 of a flow
finishes on version 2 after version 3 is loaded. A directory with any problem raises `FlowError`
and the caller keeps serving the registry it has: a broken file never replaces a working flow.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator, Mapping
from pathlib import Path
from typing import TypeVar, cast

from flows.check import check_flow
from flows.errors import FlowError, Problem
from flows.loader import load_file
from flows.schema import Flow
from knowledge.index import Hit, PhraseIndex
from knowledge.normalize import normalize

TRIGGER_CACHE_SIZE = 2048
# `remembered` keeps a few kinds of answer per text (the intents, the flow an FAQ answer offers):
# room for each of them for as many texts as the trigger hits. Recent texts are kept, so a cycle
# of phrasings longer than the room would find none of them (every look-up a miss).
MEMO_KINDS = 2
T = TypeVar("T")


class FlowRegistry:
    def __init__(
        self, flows: Mapping[str, Flow], archive: Mapping[tuple[str, str], Flow] | None = None
    ) -> None:
        self._current = dict(flows)
        self._versions: dict[tuple[str, str], Flow] = dict(archive or {})
        for flow in self._current.values():
            self._versions[(flow.id, flow.version)] = flow
        self._menu = {key: flow.id for flow in self._current.values() for key in flow.triggers.menu}
        self._index: PhraseIndex | None = None
        self._hits: OrderedDict[str, list[Hit]] = OrderedDict()
        self._memo: OrderedDict[Hashable, object] = OrderedDict()
        # Exclude words, normalised once rather than for every message.
        self._excludes = {flow.id: [normalize(w) for w in flow.triggers.exclude] for flow in self._current.values()}

    def trigger_index(self) -> PhraseIndex:
        """The current flows' trigger phrases (and titles), in the FAQ matcher's phrase index.

        Built on first use: a registry loaded only to be checked never pays for segmentation.
        """
        if self._index is None:
            self._index = PhraseIndex(
                (flow.id, [*flow.triggers.phrases, *flow.triggers.examples, flow.title])
                for flow in self._current.values()
            )
        return self._index

    def trigger_hits(self, text: str) -> list[Hit]:
        """Every current flow ranked by its trigger phrases for `text`, best first.

        Every message is matched against the triggers, and citizens repeat the same phrasings,
        so recent results are kept; the registry is immutable, so they never go stale.
        """
        hits = self._hits.get(text)
        if hits is None:
            hits = self.trigger_index().search(text, k=max(len(self._current), 1))
            self._hits[text] = hits
            if len(self._hits) > TRIGGER_CACHE_SIZE:
                self._hits.popitem(last=False)
        return hits

    def remembered(self, key: Hashable, compute: Callable[[], T]) -> T:
        """`compute()`, remembered for this registry under `key` (bounded, most recent kept).

        For pure functions of the registry and the key, such as which flow a message triggers:
        the registry never changes, so a remembered answer is always this version's answer.
        """
        if key in self._memo:
            self._memo.move_to_end(key)
            return cast(T, self._memo[key])
        value = compute()
        self._memo[key] = value
        if len(self._memo) > TRIGGER_CACHE_SIZE * MEMO_KINDS:
            self._memo.popitem(last=False)
        return value

    def excluded(self, flow_id: str, normalized_text: str) -> bool:
        """Whether the message names one of the flow's exclude words (it is about something else)."""
        return any(word in normalized_text for word in self._excludes.get(flow_id, ()))

    def __iter__(self) -> Iterator[Flow]:
        return iter(self._current.values())

    def __len__(self) -> int:
        return len(self._current)

    def __contains__(self, flow_id: object) -> bool:
        return flow_id in self._current

    def current(self, flow_id: str) -> Flow | None:
        return self._current.get(flow_id)

    def get(self, flow_id: str, version: str) -> Flow | None:
        """The exact version a session started on, if this process still knows it."""
        return self._versions.get((flow_id, version))

    def by_menu_key(self, key: str) -> Flow | None:
        flow_id = self._menu.get(key)
        return None if flow_id is None else self._current.get(flow_id)

    def versions(self) -> dict[tuple[str, str], Flow]:
        return dict(self._versions)


def check_dir(directory: Path) -> tuple[dict[str, Flow], list[Problem]]:
    """Every flow in `directory` that loads cleanly, and every problem found in any file."""
    flows: dict[str, Flow] = {}
    seen_in: dict[str, str] = {}
    problems: list[Problem] = []
    files = sorted(directory.glob("*.yaml")) + sorted(directory.glob("*.yml"))
    if not files:
        problems.append(Problem(str(directory), 0, "no flow files (*.yaml) found"))
    for path in files:
        loaded = load_file(path)
        problems.extend(loaded.problems)
        if loaded.flow is None:
            continue
        flow_problems = check_flow(loaded.flow, loaded.source)
        problems.extend(flow_problems)
        flow = loaded.flow
        if flow.id in seen_in:
            message = f"flow id {flow.id!r} is also used by {seen_in[flow.id]}"
            problems.append(loaded.source.problem(message, "id"))
            continue
        seen_in[flow.id] = path.name
        if not flow_problems:
            flows[flow.id] = flow
    return flows, problems


def load_flows(directory: Path | str, previous: FlowRegistry | None = None) -> FlowRegistry:
    """Load and check every flow in `directory`; raise `FlowError` listing all problems."""
    flows, problems = check_dir(Path(directory))
    if problems:
        raise FlowError(problems)
    return FlowRegistry(flows, previous.versions() if previous is not None else None)
