"""Shared flows with local overrides (issue 16)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flows.errors import FlowError
from flows.layered import FlowLayer, compose

FLOWS = Path(__file__).resolve().parents[2] / "flows"


def overlay(tmp_path: Path, disable: str = "", progress_title: str | None = None) -> Path:
    folder = tmp_path / "local"
    folder.mkdir()
    if disable:
        (folder / "disable.txt").write_text(disable, encoding="utf-8")
    if progress_title is not None:
        text = (FLOWS / "progress.yaml").read_text(encoding="utf-8")
        lines = [f"title: {progress_title}" if line.startswith("title:") else line for line in text.splitlines()]
        (folder / "progress.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder


def test_a_later_flow_with_the_same_id_replaces_the_shared_one(tmp_path: Path) -> None:
    registry = compose([FlowLayer.load(FLOWS), FlowLayer.load(overlay(tmp_path, progress_title="本区办件进度查询"))])
    progress = registry.current("progress")
    assert progress is not None and progress.title == "本区办件进度查询"
    assert "booking" in registry


def test_an_account_can_withdraw_a_shared_flow(tmp_path: Path) -> None:
    registry = compose([FlowLayer.load(FLOWS), FlowLayer.load(overlay(tmp_path, disable="complaint\n"))])
    assert "complaint" not in registry
    assert {"booking", "progress"} <= {flow.id for flow in registry}


def test_a_broken_overlay_flow_names_its_file(tmp_path: Path) -> None:
    folder = overlay(tmp_path)
    (folder / "bad.yaml").write_text("id: [\n", encoding="utf-8")
    with pytest.raises(FlowError) as caught:
        FlowLayer.load(folder)
    assert any("bad.yaml" in p.file for p in caught.value.problems)


def test_sessions_started_on_the_old_version_keep_it_after_a_recompose(tmp_path: Path) -> None:
    shared = FlowLayer.load(FLOWS)
    first = compose([shared])
    old = first.current("progress")
    assert old is not None
    second = compose([shared, FlowLayer.load(overlay(tmp_path, progress_title="新标题"))], previous=first)
    assert second.get("progress", old.version) is not None
