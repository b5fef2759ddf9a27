"""The local spool: turn-log entries wait here as JSON lines while the database is unreachable.

Each writer appends to its own file (`turnlog-<pid>-<random>.jsonl`) and holds an exclusive
`flock` on it, so no other process replays a file that is still being written. Replaying
claims a file with the same lock, feeds its entries to a sink, and deletes it only when the
sink accepted every entry; a failed replay leaves the file for the next attempt. Inserts are
idempotent (`record_id`), so a file replayed twice, or a crash mid-replay, duplicates nothing.
Files left by a crashed worker are claimed by whichever writer replays next.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

Entry = dict[str, Any]
Sink = Callable[[list[Entry]], None]

SUFFIX = ".jsonl"


class Spool:
    def __init__(self, directory: Path, *, chunk: int = 500) -> None:
        self.directory = directory
        self._chunk = chunk
        self._file: IO[str] | None = None
        self._path: Path | None = None
        # Entries this process spooled and has not replayed yet.
        self.pending = 0
        self.corrupt_lines = 0

    def append(self, entries: list[Entry]) -> None:
        if not entries:
            return
        handle = self._active()
        lines = (json.dumps(e, ensure_ascii=False, separators=(",", ":")) + "\n" for e in entries)
        handle.write("".join(lines))
        handle.flush()
        # The spool exists for outages; an fsync per batch is cheap next to losing rows.
        os.fsync(handle.fileno())
        self.pending += len(entries)

    def _active(self) -> IO[str]:
        if self._file is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"turnlog-{os.getpid()}-{secrets.token_hex(4)}{SUFFIX}"
            handle = path.open("a", encoding="utf-8")
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._file, self._path = handle, path
        return self._file

    def close_active(self) -> None:
        """Close (and unlock) the file being appended to; it becomes replayable."""
        if self._file is not None:
            self._file.close()
            self._file = self._path = None

    def files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted(self.directory.glob("*" + SUFFIX))

    def has_files(self) -> bool:
        return bool(self.files())

    def size_bytes(self) -> int:
        total = 0
        for path in self.files():
            try:
                total += path.stat().st_size
            except FileNotFoundError:
                continue
        return total

    def replay(self, sink: Sink) -> int:
        """Feed every claimable spool file to `sink`, oldest first; returns entries replayed.

        Raises whatever `sink` raises (the database went away again); the file stays.
        """
        self.close_active()
        replayed = 0
        for path in self.files():
            replayed += self._replay_file(path, sink)
        self.pending = 0
        return replayed

    def _replay_file(self, path: Path, sink: Sink) -> int:
        try:
            handle = path.open("r", encoding="utf-8")
        except FileNotFoundError:
            return 0
        with handle:
            try:
                fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return 0  # a live writer's active file, or another worker is replaying it
            try:
                if path.stat().st_ino != os.fstat(handle.fileno()).st_ino:
                    return 0
            except FileNotFoundError:
                return 0  # replayed and deleted by another worker while we opened it
            entries = self._parse(handle, path)
            for start in range(0, len(entries), self._chunk):
                sink(entries[start : start + self._chunk])
            path.unlink()
            return len(entries)

    def _parse(self, handle: IO[str], path: Path) -> list[Entry]:
        entries: list[Entry] = []
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                entries.append(json.loads(line))
            except json.JSONDecodeError:
                # Only a crash mid-write leaves a torn line, and only the last one.
                self.corrupt_lines += 1
                log.warning("turnlog spool: skipping torn line %d of %s", number, path.name)
        return entries
