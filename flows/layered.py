"""Shared flows with local overrides (issue 16): an account's flows as a stack of flow folders.

Each folder is checked and loaded once as a `FlowLayer`, whichever accounts use it. A later
folder's flow with the same id replaces the earlier one, and a later folder's `disable.txt`
(one flow id per line, `#` comments) withdraws a shared flow from the accounts that list it.
`compose` builds the account's `FlowRegistry` from its layers, keeping the versions the
previous registry knew so a citizen half-way through a flow finishes on the version they began.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from flows.errors import FlowError, Problem
from flows.registry import FlowRegistry, check_dir
from flows.schema import Flow
from knowledge.errors import KnowledgeError
from knowledge.layered import read_disabled


@dataclass(frozen=True, slots=True)
class FlowLayer:
    directory: Path
    flows: dict[str, Flow] = field(default_factory=dict)
    disabled: frozenset[str] = frozenset()

    @classmethod
    def load(cls, directory: Path, previous: FlowLayer | None = None) -> FlowLayer:
        """Check and load a folder's flows; raises `FlowError` naming file and line."""
        if not directory.is_dir():
            raise FlowError([Problem(str(directory), 0, "flow folder does not exist")])
        try:
            disabled = read_disabled(directory)
        except KnowledgeError as exc:
            raise FlowError(exc.problems) from None
        has_files = any(directory.glob("*.yaml")) or any(directory.glob("*.yml"))
        if not has_files:
            # An overlay may only withdraw shared flows.
            return cls(directory, {}, disabled)
        flows, problems = check_dir(directory)
        if problems:
            raise FlowError(problems)
        return cls(directory, flows, disabled)


def compose(layers: Sequence[FlowLayer], previous: FlowRegistry | None = None) -> FlowRegistry:
    merged: dict[str, Flow] = {}
    for layer in layers:
        for flow_id in layer.disabled:
            merged.pop(flow_id, None)
        merged.update(layer.flows)
    return FlowRegistry(merged, previous.versions() if previous is not None else None)
