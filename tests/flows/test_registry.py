"""The registry: menu keys, version archive across reloads, and a broken reload never replacing a good one."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from flows.errors import FlowError
from flows.registry import FlowRegistry, load_flows
from handlers.flow import TRIGGER_THRESHOLD
from tests.flows.conftest import FLOWS_DIR


def copy_flows(tmp_path: Path) -> Path:
    target = tmp_path / "flows"
    target.mkdir()
    for path in FLOWS_DIR.glob("*.yaml"):
        shutil.copy(path, target / path.name)
    return target


def test_menu_keys_find_their_flow(registry: FlowRegistry) -> None:
    flow = registry.by_menu_key("flow:complaint")
    assert flow is not None and flow.id == "complaint"


def test_a_reload_keeps_the_versions_sessions_started_on(tmp_path: Path) -> None:
    directory = copy_flows(tmp_path)
    first = load_flows(directory)
    booking = directory / "booking.yaml"
    booking.write_text(booking.read_text(encoding="utf-8").replace("version: 1", "version: 2"), encoding="utf-8")
    second = load_flows(directory, previous=first)
    current = second.current("booking")
    assert current is not None and current.version == "2"
    old = second.get("booking", "1")
    assert old is not None and old is first.current("booking")


def test_a_broken_file_raises_and_the_caller_keeps_the_working_registry(tmp_path: Path) -> None:
    directory = copy_flows(tmp_path)
    working = load_flows(directory)
    (directory / "progress.yaml").write_text("id: progress\ntitle: [\n", encoding="utf-8")
    with pytest.raises(FlowError) as caught:
        load_flows(directory, previous=working)
    assert caught.value.problems[0].file == "progress.yaml"
    assert working.current("progress") is not None


def test_trigger_index_finds_a_flow_by_its_phrases(registry: FlowRegistry) -> None:
    [hit, *_] = registry.trigger_index().search("我要投诉", k=1)
    assert hit.doc_id == "complaint" and hit.score >= TRIGGER_THRESHOLD
