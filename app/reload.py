"""Hot reload of file-backed resources (the knowledge base, the flows), in every worker.

A `Reloadable` holds the current value built from one folder; a reload builds a new value in a
worker thread (so building a 10k-entry index never stalls replies) and swaps it in with one
assignment, so each turn sees one consistent version. If the loader fails — a YAML error, a
duplicate id — the old value keeps serving and the report names file, line and problem.

The `Reloader` triggers reloads:
- polling the folders' file mtimes every `interval` seconds (each worker polls for itself);
- SIGHUP;
- on demand (`POST /admin/reload`): `reload_everywhere()` reloads this worker and bumps a
  generation counter in the shared `Store`, which every worker's poll watches, so one admin call
  reaches all workers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

import structlog

from app import metrics
from app.stores.base import Store, StoreUnavailable
from knowledge.gcpause import collector_paused

log = structlog.get_logger(__name__)

T = TypeVar("T")
# Builds the value from its folder; gets the value it will replace (or None) so that it can reuse
# work. Raises on bad input, ideally with `.problems`: items with `file`, `line`, `message`.
Loader = Callable[[Path, T | None], T]
Trigger = Literal["start", "poll", "signal", "admin", "generation"]
Status = Literal["loaded", "unchanged", "failed"]

GENERATION_KEY = "reload:generation"
# The generation counter must outlive any worker; Store keys all have a TTL.
GENERATION_TTL_S = 10 * 365 * 24 * 3600.0
WATCHED_SUFFIXES = (".yaml", ".yml", ".txt", ".json")
Fingerprint = tuple[tuple[str, int, int], ...]


@dataclass(frozen=True, slots=True)
class ReloadReport:
    name: str
    status: Status
    trigger: Trigger
    # "file:line: message" for each problem, when status is "failed".
    problems: list[str] = field(default_factory=list)
    duration_ms: float = 0.0
    # How many values this resource has had (1 after the first load).
    version: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "status": self.status,
            "trigger": self.trigger,
            "problems": self.problems,
            "duration_ms": round(self.duration_ms, 1),
            "version": self.version,
        }


def describe_problems(exc: BaseException) -> list[str]:
    """The loader's problems as "file:line: message" lines, or the error itself."""
    problems = getattr(exc, "problems", None)
    if isinstance(problems, list | tuple) and problems:
        lines = []
        for p in problems:
            file, line, message = getattr(p, "file", None), getattr(p, "line", None), getattr(p, "message", None)
            if isinstance(file, str) and isinstance(line, int) and message is not None:
                lines.append(f"{file}:{line}: {message}" if line else f"{file}: {message}")
            else:
                lines.append(str(p))
        return lines
    return [f"{type(exc).__name__}: {exc}"]


def fingerprint(directory: Path, exclude: frozenset[str] = frozenset()) -> Fingerprint:
    """What the folder's watched files look like now: (path, mtime_ns, size), sorted.

    `exclude`: absolute paths of sub-folders watched as resources of their own (an account's
    overlay inside the shared knowledge folder), so that editing one does not reload the other.
    """
    found: list[tuple[str, int, int]] = []
    if not directory.is_dir():
        return ()
    for root, dirs, files in os.walk(directory):
        if exclude:
            dirs[:] = [d for d in dirs if os.path.realpath(os.path.join(root, d)) not in exclude]
        for name in files:
            if name.endswith(WATCHED_SUFFIXES) and not name.startswith("."):
                path = os.path.join(root, name)
                try:
                    st = os.stat(path)
                except OSError:
                    continue  # deleted between listing and stat: the next poll sees the new state
                found.append((os.path.relpath(path, directory), st.st_mtime_ns, st.st_size))
    return tuple(sorted(found))


class Reloadable(Generic[T]):
    """One resource built from one folder, swapped atomically on reload."""

    def __init__(self, name: str, directory: Path, loader: Loader[T]) -> None:
        self.name = name
        self.directory = directory
        self._loader = loader
        self._value: T | None = None
        self._version = 0
        # The files as of the last attempt, good or bad: a broken file is retried when it
        # changes again, not every poll.
        self._attempted: Fingerprint | None = None
        self._lock = asyncio.Lock()
        self.last_report: ReloadReport | None = None
        # Sub-folders that are resources of their own (see `fingerprint`).
        self.exclude: frozenset[str] = frozenset()
        # Health: when the serving version was loaded (wall clock), and failed attempts since.
        self.loaded_at: float | None = None
        self.failures = 0
        # The last attempt failed: the files on disk do not load, and the old version (if any) serves.
        self.failing = False

    @property
    def current(self) -> T:
        """The value serving now; only valid after a successful first load."""
        if self._value is None:
            raise RuntimeError(f"{self.name} has not been loaded")
        return self._value

    def get(self) -> T | None:
        return self._value

    @property
    def version(self) -> int:
        return self._version

    def load_now(self) -> T:
        """First load, synchronously (start-up, CLI); raises the loader's error."""
        files = fingerprint(self.directory, self.exclude)
        started = time.perf_counter()
        try:
            value = self._loader(self.directory, None)
        except Exception as exc:
            self._attempted = files
            self._failed(ReloadReport(self.name, "failed", "start", describe_problems(exc), _ms(started)))
            raise
        self._swap(value, files, "start", started)
        return value

    def health(self) -> dict[str, Any]:
        """For /healthz: loaded, failed (nothing serves) or stale (the files on disk fail to load
        and an older version serves), with the serving version, its age and the problems."""
        status = "failed" if self._value is None else "stale" if self.failing else "loaded"
        body: dict[str, Any] = {"status": status, "version": self._version, "failures": self.failures}
        if self.loaded_at is not None:
            body["age_s"] = round(time.time() - self.loaded_at, 1)
        if self.failing and self.last_report is not None:
            body["problems"] = self.last_report.problems[:10]
        return body

    def _failed(self, report: ReloadReport) -> None:
        self.last_report = report
        self.failures += 1
        self.failing = True
        metrics.observe_reload(self.name, failed=True, version=self._version, loaded_at=self.loaded_at)

    def _load(self, previous: T | None) -> T:
        # Parsing and indexing allocate enough to trigger full collections, which would stop the
        # event loop too; see knowledge.gcpause.
        with collector_paused():
            return self._loader(self.directory, previous)

    def changed_on_disk(self) -> bool:
        return fingerprint(self.directory, self.exclude) != self._attempted

    async def reload(self, trigger: Trigger, *, force: bool = True) -> ReloadReport:
        """Rebuild in a worker thread and swap; on failure keep the old value and report why.

        Without `force`, nothing happens unless the files changed since the last attempt.
        """
        async with self._lock:
            files = await asyncio.to_thread(fingerprint, self.directory, self.exclude)
            if not force and files == self._attempted:
                return ReloadReport(self.name, "unchanged", trigger, version=self._version)
            self._attempted = files
            started = time.perf_counter()
            try:
                value = await asyncio.to_thread(self._load, self._value)
            except Exception as exc:  # any loader failure must leave the old value serving
                problems = describe_problems(exc)
                report = ReloadReport(
                    self.name, "failed", trigger, problems, _ms(started), version=self._version
                )
                self._failed(report)
                has_problems = bool(getattr(exc, "problems", None))
                log.error(
                    "reload_failed",
                    resource=self.name,
                    trigger=trigger,
                    directory=str(self.directory),
                    problems=problems[:50],
                    problem_count=len(problems),
                    exc_info=None if has_problems else exc,
                )
                return report
            return self._swap(value, files, trigger, started)

    def _swap(self, value: T, files: Fingerprint, trigger: Trigger, started: float) -> ReloadReport:
        self._value = value
        self._attempted = files
        self._version += 1
        report = ReloadReport(self.name, "loaded", trigger, [], _ms(started), version=self._version)
        self.last_report = report
        self.loaded_at = time.time()
        self.failing = False
        metrics.observe_reload(self.name, failed=False, version=self._version, loaded_at=self.loaded_at)
        log.info("reloaded", resource=self.name, trigger=trigger, duration_ms=round(report.duration_ms, 1),
                 version=self._version)
        return report


def _ms(started: float) -> float:
    return 1000 * (time.perf_counter() - started)


class Reloader:
    """Triggers reloads of its resources: file polling, SIGHUP, admin calls, the shared generation."""

    def __init__(
        self,
        items: Sequence[Reloadable[Any]],
        store: Store | None = None,
        *,
        interval: float = 2.0,
        generation_key: str = GENERATION_KEY,
    ) -> None:
        self.items = list(items)
        self._store = store
        self._interval = interval
        self._key = generation_key
        self._seen_generation: bytes | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending: set[asyncio.Task[Any]] = set()
        self._signal_installed = False

    async def start(self) -> None:
        """Start polling and listen for SIGHUP; call after the first load of every item."""
        self._seen_generation = await self._read_generation()
        self._task = asyncio.create_task(self._poll_forever(), name="reloader")
        loop = asyncio.get_running_loop()
        try:
            loop.add_signal_handler(signal.SIGHUP, self._on_sighup)
            self._signal_installed = True
        except (NotImplementedError, RuntimeError, ValueError, AttributeError):
            # Not the main thread, or no SIGHUP on this platform: polling and admin still work.
            log.info("reload_sighup_unavailable")

    async def stop(self) -> None:
        if self._signal_installed:
            with contextlib.suppress(Exception):
                asyncio.get_running_loop().remove_signal_handler(signal.SIGHUP)
            self._signal_installed = False
        tasks = [t for t in (self._task, *self._pending) if t is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._task = None

    async def reload(self, trigger: Trigger = "admin") -> list[ReloadReport]:
        """Reload every item in this worker now, changed or not."""
        return [await item.reload(trigger) for item in self.items]

    async def reload_everywhere(self) -> list[ReloadReport]:
        """Reload here, and have every other worker reload at its next poll (POST /admin/reload)."""
        reports = await self.reload("admin")
        if self._store is not None:
            try:
                generation = await self._store.incr(self._key, GENERATION_TTL_S)
            except StoreUnavailable:
                log.warning("reload_generation_unavailable", key=self._key)
            else:
                # We are already up to date: do not reload again when our own poll sees it.
                self._seen_generation = str(generation).encode()
        return reports

    async def poll_once(self) -> list[ReloadReport]:
        """One polling round: the shared generation first, then each folder's files."""
        generation = await self._read_generation()
        if generation is not None and generation != self._seen_generation:
            self._seen_generation = generation
            return await self.reload("generation")
        reports = []
        for item in self.items:
            report = await item.reload("poll", force=False)
            if report.status != "unchanged":
                reports.append(report)
        return reports

    async def _read_generation(self) -> bytes | None:
        if self._store is None:
            return None
        try:
            return await self._store.get(self._key)
        except StoreUnavailable:
            return None

    async def _poll_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.poll_once()
            except Exception:  # the poller must survive anything; the next round tries again
                log.exception("reload_poll_failed")

    def _on_sighup(self) -> None:
        self._spawn(self.reload("signal"))

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task = asyncio.ensure_future(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)
