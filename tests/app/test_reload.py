"""Hot reload: file changes, SIGHUP and admin calls swap in a new value; a broken file never does."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import threading
import time
from pathlib import Path

import pytest
from prometheus_client import REGISTRY

from app.reload import Reloadable, Reloader, describe_problems
from app.stores.base import StoreUnavailable
from app.stores.memory import MemoryStore
from knowledge.matcher import Matcher
from tests.knowledge.conftest import BASIC


class Problem:
    def __init__(self, file: str, line: int, message: str) -> None:
        self.file, self.line, self.message = file, line, message


class BadFile(Exception):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("bad file")
        self.problems = problems


class TextLoader:
    """Loads `value.txt`; 'broken' in it raises with a problem; records calls and what it replaced."""

    def __init__(self) -> None:
        self.calls: list[str | None] = []

    def __call__(self, directory: Path, previous: str | None) -> str:
        self.calls.append(previous)
        text = (directory / "value.txt").read_text(encoding="utf-8").strip()
        if "broken" in text:
            raise BadFile([Problem("value.txt", 3, "broken on purpose")])
        return text


def touch(path: Path, text: str) -> None:
    """Write and move the mtime forward, so the change is seen even within one clock tick."""
    stat = path.stat() if path.exists() else None
    path.write_text(text, encoding="utf-8")
    if stat is not None:
        os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    (tmp_path / "value.txt").write_text("v1", encoding="utf-8")
    return tmp_path


@pytest.fixture
def loader() -> TextLoader:
    return TextLoader()


@pytest.fixture
def item(folder: Path, loader: TextLoader) -> Reloadable[str]:
    reloadable = Reloadable("text", folder, loader)
    reloadable.load_now()
    return reloadable


def test_the_first_load_makes_the_value_current(item: Reloadable[str]) -> None:
    assert (item.current, item.version) == ("v1", 1)


def test_current_before_any_load_is_an_error(folder: Path, loader: TextLoader) -> None:
    with pytest.raises(RuntimeError):
        _ = Reloadable("text", folder, loader).current


async def test_a_changed_file_is_picked_up_by_the_poll(item: Reloadable[str], folder: Path) -> None:
    touch(folder / "value.txt", "v2")
    reports = await Reloader([item]).poll_once()
    assert [r.status for r in reports] == ["loaded"]
    assert (item.current, item.version) == ("v2", 2)


async def test_an_unchanged_folder_is_not_reloaded(item: Reloadable[str], loader: TextLoader) -> None:
    assert await Reloader([item]).poll_once() == []
    assert len(loader.calls) == 1


async def test_the_loader_gets_the_value_it_replaces(
    item: Reloadable[str], folder: Path, loader: TextLoader
) -> None:
    touch(folder / "value.txt", "v2")
    await item.reload("admin")
    assert loader.calls == [None, "v1"]


async def test_a_broken_file_keeps_the_old_value_and_names_file_and_line(
    item: Reloadable[str], folder: Path
) -> None:
    touch(folder / "value.txt", "broken")
    report = await item.reload("admin")
    assert report.status == "failed" and report.problems == ["value.txt:3: broken on purpose"]
    assert (item.current, item.version) == ("v1", 1)
    assert item.last_report == report


async def test_a_broken_file_is_retried_only_when_it_changes_again(
    item: Reloadable[str], folder: Path, loader: TextLoader
) -> None:
    reloader = Reloader([item])
    touch(folder / "value.txt", "broken")
    assert [r.status for r in await reloader.poll_once()] == ["failed"]
    assert await reloader.poll_once() == []
    touch(folder / "value.txt", "v3")
    assert [r.status for r in await reloader.poll_once()] == ["loaded"]
    assert item.current == "v3" and len(loader.calls) == 3


async def test_an_unexpected_loader_error_is_reported_and_the_old_value_kept(folder: Path) -> None:
    def explode(directory: Path, previous: str | None) -> str:
        if previous is not None:
            raise ZeroDivisionError("bug")
        return "v1"

    item = Reloadable("text", folder, explode)
    item.load_now()
    report = await item.reload("admin")
    assert report.status == "failed" and report.problems == ["ZeroDivisionError: bug"]
    assert item.current == "v1"


async def test_an_admin_reload_reloads_even_when_nothing_changed(item: Reloadable[str]) -> None:
    reports = await Reloader([item]).reload()
    assert [r.status for r in reports] == ["loaded"] and item.version == 2


async def test_sighup_reloads(item: Reloadable[str], folder: Path) -> None:
    reloader = Reloader([item], interval=3600)
    await reloader.start()
    try:
        touch(folder / "value.txt", "v2")
        os.kill(os.getpid(), signal.SIGHUP)
        for _ in range(200):
            if item.current == "v2":
                break
            await asyncio.sleep(0.01)
        assert item.current == "v2" and item.last_report is not None
        assert item.last_report.trigger == "signal"
    finally:
        await reloader.stop()


async def test_the_poller_runs_on_its_own(item: Reloadable[str], folder: Path) -> None:
    reloader = Reloader([item], interval=0.02)
    await reloader.start()
    try:
        touch(folder / "value.txt", "v2")
        for _ in range(200):
            if item.current == "v2":
                break
            await asyncio.sleep(0.01)
        assert item.current == "v2"
    finally:
        await reloader.stop()


async def test_one_admin_call_reaches_every_worker_through_the_store(folder: Path) -> None:
    store = MemoryStore()
    loaders = [TextLoader(), TextLoader()]
    items = [Reloadable("text", folder, loader) for loader in loaders]
    for item in items:
        item.load_now()
    here, there = Reloader([items[0]], store, interval=3600), Reloader([items[1]], store, interval=3600)
    await here.start()
    await there.start()
    try:
        touch(folder / "value.txt", "v2")
        await here.reload_everywhere()
        assert items[0].current == "v2"

        reports = await there.poll_once()
        assert [(r.status, r.trigger) for r in reports] == [("loaded", "generation")]
        assert items[1].current == "v2"
        # The worker that took the admin call does not reload again for its own bump.
        assert await here.poll_once() == []
    finally:
        await here.stop()
        await there.stop()
        await store.close()


class DownStore(MemoryStore):
    async def get(self, key: str) -> bytes | None:
        raise StoreUnavailable("down")

    async def incr(self, key: str, ttl: float) -> int:
        raise StoreUnavailable("down")


async def test_file_polling_and_admin_reloads_work_while_the_store_is_down(
    item: Reloadable[str], folder: Path
) -> None:
    reloader = Reloader([item], DownStore())
    touch(folder / "value.txt", "v2")
    assert [r.status for r in await reloader.poll_once()] == ["loaded"]
    assert [r.status for r in await reloader.reload_everywhere()] == ["loaded"]


async def test_a_slow_build_runs_off_the_event_loop(folder: Path) -> None:
    release = threading.Event()

    def slow(directory: Path, previous: str | None) -> str:
        if previous is not None:
            release.wait(5)
        return "built"

    item = Reloadable("slow", folder, slow)
    item.load_now()
    reload = asyncio.create_task(item.reload("admin"))
    ticks = 0
    started = time.perf_counter()
    while time.perf_counter() - started < 0.2:
        await asyncio.sleep(0.01)
        ticks += 1
    assert not reload.done() and ticks >= 10
    release.set()
    assert (await reload).status == "loaded"


async def test_a_broken_knowledge_file_is_reported_with_file_and_line(tmp_path: Path) -> None:
    folder = tmp_path / "knowledge"
    shutil.copytree(BASIC, folder)
    item: Reloadable[Matcher] = Reloadable(
        "faq", folder, lambda directory, previous: Matcher.from_directory(directory, previous=previous)
    )
    first = item.load_now()
    faq = folder / "faq" / "gongjijin.yaml"
    touch(faq, faq.read_text(encoding="utf-8").replace("    answer: 可通过", "    answr: 可通过"))
    report = await item.reload("poll")
    assert report.status == "failed"
    assert any(p.startswith("faq/gongjijin.yaml:") and "answr" in p for p in report.problems)
    assert item.current is first


def test_describe_problems_falls_back_to_the_error_itself() -> None:
    assert describe_problems(ValueError("boom")) == ["ValueError: boom"]


def _failures(resource: str) -> float:
    return REGISTRY.get_sample_value("wxbot_reload_failures_total", {"resource": resource}) or 0.0


async def test_files_that_fail_to_load_are_counted_and_shown_stale_while_the_old_version_serves(
    folder: Path, loader: TextLoader
) -> None:
    item = Reloadable("stale-check", folder, loader)
    item.load_now()
    assert item.health()["status"] == "loaded"
    before = _failures("stale-check")
    touch(folder / "value.txt", "broken")
    await item.reload("poll")
    health = item.health()
    assert (health["status"], health["version"], health["failures"]) == ("stale", 1, 1)
    assert health["problems"] == ["value.txt:3: broken on purpose"] and health["age_s"] >= 0
    assert item.current == "v1"
    assert _failures("stale-check") == before + 1
    assert REGISTRY.get_sample_value("wxbot_reload_failing", {"resource": "stale-check"}) == 1

    touch(folder / "value.txt", "v2")
    await item.reload("poll")
    assert item.health()["status"] == "loaded" and item.health()["version"] == 2
    assert REGISTRY.get_sample_value("wxbot_reload_failing", {"resource": "stale-check"}) == 0


def test_a_first_load_that_fails_is_counted_and_nothing_serves(folder: Path, loader: TextLoader) -> None:
    (folder / "value.txt").write_text("broken", encoding="utf-8")
    item = Reloadable("never-loaded", folder, loader)
    with pytest.raises(BadFile):
        item.load_now()
    assert item.health()["status"] == "failed" and _failures("never-loaded") == 1
