"""Errors raised while loading flows; the `Problem` type is the knowledge base's, shared on purpose."""

from __future__ import annotations

from knowledge.errors import Problem

__all__ = ["FlowError", "Problem"]


class FlowError(Exception):
    """The flows cannot be loaded; `problems` lists every error found, not just the first."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        shown = "\n".join(str(p) for p in problems[:20])
        more = f"\n… and {len(problems) - 20} more" if len(problems) > 20 else ""
        super().__init__(f"{len(problems)} problem(s) in the flows:\n{shown}{more}")
