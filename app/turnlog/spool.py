"""The local spool: turn-log entries wait here, framed and checksummed, while the database is unreachable.

File format (`turnlog-<pid>-<random>.spool`), one frame per entry:

    magic 0xA5 | payload length, uint32 big-endian | CRC-32 of the payload, uint32 big-endian | payload

The payload is the entry as UTF-8 JSON. A frame is trusted only when its magic, length and CRC
all agree, so a record cut anywhere (a crash, a full disk, a torn sector) is recognised as torn
instead of being decoded as something else. Reading never stops at a bad frame: the bytes up
to the next frame that checks out (or to the end of the file) are moved to a `*.torn`
quarantine file beside it, counted, and every good frame is replayed. Issue 15: before this,
one line cut inside a multi-byte character raised `UnicodeDecodeError` on every replay and the
writer took it for "database still down" until someone deleted the file by hand.

fsync policy: each `append` is one `write` of the whole batch followed by one `fsync` (and an
fsync of the directory when a file is created). The spool only receives rows during an outage,
so one fsync per batch costs nothing next to losing a batch on power loss. A write that fails
part-way (ENOSPC, EIO) is truncated back to the last whole batch, so the file never ends in a
half record we wrote ourselves; the caller counts that batch as dropped.

Each writer appends to its own file and holds an exclusive `flock` on it, so no other process
replays a file that is still being written. Replaying claims a file with the same lock, feeds
its entries to a sink, and deletes it only when the sink accepted every entry; a sink that
raises leaves the file for the next attempt. Inserts are idempotent (`record_id`), so a file
replayed twice, or a crash mid-replay, duplicates nothing. Files left by a crashed worker are
claimed by whichever writer replays next. Files from before the framed format (`*.jsonl`,
JSON lines) are still replayed, line by line, with undecodable lines quarantined the same way.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import secrets
import struct
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

Entry = dict[str, Any]
Sink = Callable[[list[Entry]], None]

SUFFIX = ".spool"
LEGACY_SUFFIX = ".jsonl"
QUARANTINE_SUFFIX = ".torn"
MAGIC = 0xA5
HEADER = struct.Struct(">BII")
# No entry comes near this; a larger length is a torn or corrupted header, not a record.
MAX_PAYLOAD = 16 * 1024 * 1024


def frame(entry: Entry) -> bytes:
    payload = json.dumps(entry, ensure_ascii=False, separators=(",", ":")).encode()
    return HEADER.pack(MAGIC, len(payload), zlib.crc32(payload)) + payload


def _frame_at(data: bytes, offset: int) -> tuple[Entry, int] | None:
    """The entry framed at `offset` and the offset after it, or None if no valid frame starts there."""
    end = offset + HEADER.size
    if end > len(data) or data[offset] != MAGIC:
        return None
    _, length, crc = HEADER.unpack_from(data, offset)
    if length > MAX_PAYLOAD or end + length > len(data):
        return None
    payload = data[end : end + length]
    if zlib.crc32(payload) != crc:
        return None
    try:
        entry = json.loads(payload)
    except ValueError:  # a CRC collision on garbage; vanishingly rare, still not a record
        return None
    if not isinstance(entry, dict):
        return None
    return entry, end + length


def read_frames(data: bytes) -> Iterator[tuple[Entry | None, bytes]]:
    """Each valid entry as (entry, b""), and each run of bytes that is not one as (None, bytes)."""
    offset = 0
    while offset < len(data):
        found = _frame_at(data, offset)
        if found is not None:
            yield found[0], b""
            offset = found[1]
            continue
        # Resynchronise: the next offset where a whole, checksummed frame starts.
        start = offset
        offset += 1
        while offset < len(data):
            offset = data.find(bytes([MAGIC]), offset)
            if offset < 0:
                offset = len(data)
                break
            if _frame_at(data, offset) is not None:
                break
            offset += 1
        yield None, data[start:offset]


def read_legacy_lines(data: bytes) -> Iterator[tuple[Entry | None, bytes]]:
    for line in data.splitlines(keepends=True):
        if not line.strip():
            continue
        try:
            entry = json.loads(line.decode("utf-8"))
        except ValueError:  # UnicodeDecodeError and JSONDecodeError are both ValueErrors
            yield None, line
            continue
        if isinstance(entry, dict):
            yield entry, b""
        else:
            yield None, line


class Spool:
    def __init__(self, directory: Path, *, chunk: int = 500) -> None:
        self.directory = directory
        self._chunk = chunk
        self._fd: int | None = None
        self._path: Path | None = None
        # Bytes of whole batches in the active file: a failed write is cut back to this.
        self._size = 0
        # Entries this process spooled and has not replayed yet.
        self.pending = 0
        # Runs of bytes moved to quarantine, and their total size.
        self.corrupt_lines = 0
        self.quarantined_bytes = 0
        # Indirection for tests that simulate a full disk.
        self._write: Callable[[int, bytes], int] = os.write

    def append(self, entries: list[Entry]) -> None:
        """Frame, write and fsync `entries` as one batch; raises OSError (the batch is not kept)."""
        if not entries:
            return
        data = b"".join(frame(e) for e in entries)
        fd = self._active()
        try:
            view = memoryview(data)
            while view:
                written = self._write(fd, view.tobytes())
                view = view[written:]
            os.fsync(fd)
        except OSError:
            self._cut_back(fd)
            raise
        self._size += len(data)
        self.pending += len(entries)

    def _cut_back(self, fd: int) -> None:
        """Remove what a failed write left after the last whole batch; if even that fails, the
        reader quarantines the torn tail."""
        try:
            os.ftruncate(fd, self._size)
            os.lseek(fd, self._size, os.SEEK_SET)
        except OSError:
            log.exception("turnlog spool: could not cut back a failed write; its tail will be quarantined")
            self.close_active()

    def _active(self) -> int:
        if self._fd is None:
            self.directory.mkdir(parents=True, exist_ok=True)
            path = self.directory / f"turnlog-{os.getpid()}-{secrets.token_hex(4)}{SUFFIX}"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                _fsync_directory(self.directory)
            except OSError:
                os.close(fd)
                raise
            self._fd, self._path, self._size = fd, path, 0
        return self._fd

    def close_active(self) -> None:
        """Close (and unlock) the file being appended to; it becomes replayable."""
        if self._fd is not None:
            fd, self._fd, self._path, self._size = self._fd, None, None, 0
            os.close(fd)

    def files(self) -> list[Path]:
        if not self.directory.is_dir():
            return []
        return sorted([*self.directory.glob("*" + SUFFIX), *self.directory.glob("*" + LEGACY_SUFFIX)])

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

        Raises whatever `sink` raises; that file stays for the next attempt. Bytes that are not
        a whole record never raise: they are quarantined.
        """
        self.close_active()
        replayed = 0
        for path in self.files():
            replayed += self._replay_file(path, sink)
        self.pending = 0
        return replayed

    def _replay_file(self, path: Path, sink: Sink) -> int:
        try:
            handle = path.open("rb")
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
            data = handle.read()
            reader = read_legacy_lines if path.suffix == LEGACY_SUFFIX else read_frames
            entries: list[Entry] = []
            torn: list[bytes] = []
            for entry, junk in reader(data):
                if entry is not None:
                    entries.append(entry)
                else:
                    torn.append(junk)
            for start in range(0, len(entries), self._chunk):
                sink(entries[start : start + self._chunk])
            if torn:
                self._quarantine(path, torn)
            path.unlink()
            return len(entries)

    def _quarantine(self, path: Path, torn: list[bytes]) -> None:
        size = sum(map(len, torn))
        self.corrupt_lines += len(torn)
        self.quarantined_bytes += size
        log.warning("turnlog spool: %d bytes of %s were not whole records; kept in %s%s",
                    size, path.name, path.name, QUARANTINE_SUFFIX)
        try:
            with (path.parent / (path.name + QUARANTINE_SUFFIX)).open("ab") as out:
                out.write(b"".join(torn))
        except OSError:
            # A full disk must not keep the good records from replaying; the bytes were unusable.
            log.exception("turnlog spool: could not keep the torn bytes of %s", path.name)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
