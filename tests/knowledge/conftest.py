"""Fixtures for the knowledge tests: a small knowledge folder under fixtures/ and copies to break."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

BASIC = Path(__file__).resolve().parent / "fixtures" / "basic"


@pytest.fixture
def kb_dir(tmp_path: Path) -> Path:
    """A writable copy of the basic fixture folder."""
    target = tmp_path / "knowledge"
    shutil.copytree(BASIC, target)
    return target
