"""Each account's knowledge and flows, built from shared folders loaded once (issue 16).

Every distinct folder any account lists is one `Reloadable` layer: loaded, indexed and
hot-reloaded on its own, however many accounts use it. An account's matcher and flow registry
are compositions of its layers (knowledge.layered, flows.layered), rebuilt when one of its
layers has been swapped and shared by every account that lists the same folders. A broken
folder keeps its last good layer, so only the accounts that use it stay on their previous
version; the others are untouched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Generic, TypeVar

import structlog

from app.reload import Reloadable
from flows.layered import FlowLayer
from flows.layered import compose as compose_flows
from flows.registry import FlowRegistry
from knowledge.layered import Layer, LayeredMatcher, vocabulary_of
from knowledge.layered import compose as compose_knowledge
from knowledge.matcher import MatchConfig, Matcher

log = structlog.get_logger(__name__)
L = TypeVar("L")
V = TypeVar("V")
AccountMatcher = Matcher | LayeredMatcher


class Composed(Generic[L, V]):
    """The composition of some layers, rebuilt only when one of them has been swapped."""

    def __init__(self, layers: Iterable[Reloadable[L]], build: Callable[[tuple[L, ...], V | None], V]) -> None:
        self.layers = tuple(layers)
        self._build = build
        self._from: tuple[L | None, ...] = ()
        self._value: V | None = None

    def get(self) -> V | None:
        # Called once per turn: a tuple of current values and identity comparisons, no locking
        # (the event loop is the only caller and a swap is one assignment).
        current = tuple(layer.get() for layer in self.layers)
        if len(current) == len(self._from) and all(a is b for a, b in zip(current, self._from, strict=True)):
            return self._value
        loaded = tuple(v for v in current if v is not None)
        if loaded:
            # A layer that never loaded (broken at start-up) is left out until it loads: the
            # account serves what it can rather than nothing.
            try:
                self._value = self._build(loaded, self._value)
            except Exception:  # a composition that cannot be built must not fail every turn
                log.exception("compose_failed", layers=[str(getattr(v, "directory", "?")) for v in loaded])
        self._from = current
        return self._value


class SharedContent:
    """The folders every account uses, each loaded once, and the per-account compositions."""

    def __init__(self, config: MatchConfig, *, on_loaded: Callable[[Path], None] | None = None) -> None:
        """`on_loaded(folder)`: called after each knowledge folder loads (the office calendar rides on one)."""
        self._config = config
        self._on_loaded = on_loaded
        self._knowledge: dict[Path, Reloadable[Layer]] = {}
        self._flows: dict[Path, Reloadable[FlowLayer]] = {}
        self._matchers: dict[tuple[Path, ...], Composed[Layer, AccountMatcher]] = {}
        self._registries: dict[tuple[Path, ...], Composed[FlowLayer, FlowRegistry]] = {}

    @staticmethod
    def _key(folder: Path) -> Path:
        return Path(folder).resolve()

    def _knowledge_layer(self, folder: Path, below: Reloadable[Layer] | None) -> Reloadable[Layer]:
        """`below`: the layer under this one in the first account listing it; its vocabulary is inherited."""
        key = self._key(folder)
        if key not in self._knowledge:
            config = self._config
            on_loaded = self._on_loaded

            def load(directory: Path, previous: Layer | None) -> Layer:
                # Read when this folder loads: the layers below load first (they were registered first).
                inherit = vocabulary_of([below.get()]) if below is not None else None
                layer = Layer.load(directory, config, previous, inherit=inherit)
                if on_loaded is not None:
                    on_loaded(directory)
                return layer

            self._knowledge[key] = Reloadable(f"knowledge:{folder}", Path(folder), load)
        return self._knowledge[key]

    def _flow_layer(self, folder: Path) -> Reloadable[FlowLayer]:
        key = self._key(folder)
        if key not in self._flows:
            self._flows[key] = Reloadable(f"flows:{folder}", Path(folder), FlowLayer.load)
        return self._flows[key]

    def matcher_for(self, folders: tuple[Path, ...]) -> Composed[Layer, AccountMatcher]:
        key = tuple(self._key(f) for f in folders)
        if key not in self._matchers:
            layers: list[Reloadable[Layer]] = []
            for folder in folders:
                layers.append(self._knowledge_layer(folder, layers[-1] if layers else None))
            self._matchers[key] = Composed(layers, lambda loaded, _previous: compose_knowledge(loaded))
        return self._matchers[key]

    def flows_for(self, folders: tuple[Path, ...]) -> Composed[FlowLayer, FlowRegistry]:
        key = tuple(self._key(f) for f in folders)
        if key not in self._registries:
            layers = [self._flow_layer(f) for f in folders]
            self._registries[key] = Composed(layers, compose_flows)
        return self._registries[key]

    def reloadables(self) -> list[Reloadable[Any]]:
        items: list[Reloadable[Any]] = [*self._knowledge.values(), *self._flows.values()]
        # An overlay kept inside the shared folder (knowledge/accounts/rsj in knowledge) is its
        # own layer: the shared layer must not reload, and drop its caches, when it changes.
        folders = {str(Path(item.directory).resolve()) for item in items}
        for item in items:
            mine = str(Path(item.directory).resolve())
            item.exclude = frozenset(f for f in folders if f != mine and f.startswith(mine + "/"))
        return items
