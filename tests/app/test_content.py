"""Per-account compositions of shared layers (issue 16): rebuilt only when a layer is swapped."""

from __future__ import annotations

from pathlib import Path

from app.content import Composed
from app.reload import Reloadable


def layer(name: str, values: list[str]) -> Reloadable[str]:
    def load(directory: Path, previous: str | None) -> str:
        value = values.pop(0)
        if value == "broken":
            raise ValueError("broken")
        return value

    return Reloadable(name, Path("."), load)


def test_the_composition_is_rebuilt_only_when_a_layer_was_swapped() -> None:
    shared, local = layer("shared", ["s1", "s2"]), layer("local", ["l1"])
    shared.load_now()
    local.load_now()
    builds: list[tuple[str, ...]] = []

    def build(values: tuple[str, ...], previous: str | None) -> str:
        builds.append(values)
        return "+".join(values)

    composed = Composed([shared, local], build)
    assert composed.get() == "s1+l1"
    assert composed.get() == "s1+l1"
    assert builds == [("s1", "l1")]
    shared.load_now()
    assert composed.get() == "s2+l1"
    assert len(builds) == 2


def test_a_layer_that_never_loaded_is_left_out_until_it_does() -> None:
    shared, local = layer("shared", ["s1"]), layer("local", ["l1"])
    local.load_now()
    composed = Composed([shared, local], lambda values, _previous: "+".join(values))
    assert composed.get() == "l1"
    shared.load_now()
    assert composed.get() == "s1+l1"


def test_a_composition_that_cannot_be_built_keeps_the_previous_one() -> None:
    shared = layer("shared", ["s1", "s2"])
    shared.load_now()

    def build(values: tuple[str, ...], previous: str | None) -> str:
        if values == ("s2",):
            raise ValueError("nothing to serve")
        return values[0]

    composed = Composed([shared], build)
    assert composed.get() == "s1"
    shared.load_now()
    assert composed.get() == "s1"
