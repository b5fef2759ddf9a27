"""Reading flow files: YAML → `Flow`, with every problem pointing at a file and line.

PyYAML's composed node tree keeps line numbers; we keep a map from each key path to its line
so that a pydantic error at `steps[2].ask[0]` or a cross-reference problem found later can be
reported where the admin has to look.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from pydantic import ValidationError

from flows.errors import Problem
from flows.schema import Flow

PathKey = tuple[str | int, ...]


@dataclass(slots=True)
class SourceMap:
    """Line numbers (1-based) of the keys and items of one YAML document."""

    file: str
    lines: dict[PathKey, int] = field(default_factory=dict)

    def line(self, *path: str | int) -> int:
        key: PathKey = tuple(path)
        while key:
            if key in self.lines:
                return self.lines[key]
            key = key[:-1]
        return self.lines.get((), 1)

    def problem(self, message: str, *path: str | int) -> Problem:
        return Problem(self.file, self.line(*path), message)


def _walk(node: yaml.Node, path: PathKey) -> Iterator[tuple[PathKey, int]]:
    yield path, node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value if isinstance(key_node, yaml.ScalarNode) else str(key_node.start_mark)
            yield (*path, key), key_node.start_mark.line + 1
            for sub_path, line in _walk(value_node, (*path, key)):
                # The key's own line wins for the key path itself.
                if sub_path != (*path, key):
                    yield sub_path, line
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            yield from _walk(item, (*path, index))


@dataclass(slots=True)
class Loaded:
    flow: Flow | None
    source: SourceMap
    problems: list[Problem]


def _pydantic_path(loc: tuple[int | str, ...]) -> PathKey:
    # `in` is aliased; pydantic reports the alias, which is what the file says.
    return tuple(loc)


def load_file(path: Path, display_name: str | None = None) -> Loaded:
    name = display_name or path.name
    source = SourceMap(name)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return Loaded(None, source, [Problem(name, 0, f"cannot read: {exc}")])
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark is not None else 0
        reason = getattr(exc, "problem", None) or str(exc)
        return Loaded(None, source, [Problem(name, line, f"YAML syntax: {reason}")])
    if node is not None:
        source.lines.update(_walk(node, ()))
    if not isinstance(data, dict):
        return Loaded(None, source, [Problem(name, 1, "a flow file must be a mapping (id, title, …)")])
    try:
        flow = Flow.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            where = _pydantic_path(error["loc"])
            dotted = ".".join(str(p) for p in where) or "(file)"
            problems.append(source.problem(f"{dotted}: {error['msg']}", *where))
        return Loaded(None, source, problems)
    return Loaded(flow, source, [])
