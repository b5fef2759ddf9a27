"""`TurnLogger`: takes a `TurnRecord` per delivery and gets it into the database, off the hot path.

`submit` only appends the record to a bounded in-memory queue (no lock, no I/O, never
raises); a full queue drops the record and counts it (`wxbot_turnlog_dropped_total`) rather
than slow a reply. A drain thread takes batches off the queue, encodes them to bytes
(`app.turnlog.rows.encode_record`) and hands them to the writer core (`app.turnlog.writer`),
which masks, pseudonymises and inserts them, or spools them while the database is unreachable
and replays them when it returns. Each record gets its id when it is encoded, so every insert
is idempotent: nothing is lost or written twice.

Where the writer runs:
- `process` (the default): in a helper process (`app.turnlog.child`) fed over a pipe, so its
  CPU work never holds the worker's GIL; the drain thread only encodes and moves bytes.
  If the helper dies, the logger falls back to `thread` with the batches it had not confirmed.
- `thread`: on the drain thread itself (tests, in-memory SQLite, or TURNLOG_WRITER=thread).

Lifecycle (app lifespan): `TurnLogger.from_settings(settings, engine)`, `start()`, and on
shutdown `await asyncio.to_thread(logger.stop)`, which drains the queue (or spools it).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Literal, Protocol

from sqlalchemy import Engine

import app
from app import metrics
from app.db.engine import is_sqlite_file, writer_engine
from app.turnlog.child import pack, read_frame
from app.turnlog.record import TurnRecord
from app.turnlog.rows import encode_erase, encode_record
from app.turnlog.writer import Writer, WriterStats

if TYPE_CHECKING:
    from app.settings import Settings

log = logging.getLogger(__name__)

WriterMode = Literal["process", "thread"]
# A default batch (TURNLOG_BATCH_SIZE, 1000) goes in one frame, so the writer stores it as one
# transaction: four transactions of 128 rows cost a quarter more per row than one of 512.
FRAME_ITEMS = 1024


@dataclass(slots=True)
class TurnLogStats:
    written: int = 0
    spooled: int = 0
    replayed: int = 0
    # Records lost: queue full (at submit) or spool unwritable (disk full, in the writer).
    dropped: int = 0
    rejected: int = 0
    errors: int = 0


def _utcnow() -> datetime:
    return datetime.now(UTC)


# Random per process, so ids from several workers and hosts never collide; a counter below it
# keeps ids from one process distinct within a nanosecond without a random draw per record
# (os.urandom is a system call on the hot path).
_ID_PREFIX = os.urandom(5).hex()
_id_counter = itertools.count()


def _new_id_prefix() -> None:
    # A worker forked from a pre-loaded parent must not share its prefix.
    global _ID_PREFIX
    _ID_PREFIX = os.urandom(5).hex()


os.register_at_fork(after_in_child=_new_id_prefix)


def record_id() -> str:
    """Unique per delivery (makes replays idempotent) and time-ordered, so the unique index
    grows at its end instead of taking random inserts: nanoseconds, then 40 random bits for
    the process and a 24-bit counter (32 hex digits in all, as before)."""
    return f"{time.time_ns():016x}{_ID_PREFIX}{next(_id_counter) & 0xFFFFFF:06x}"


class _Backend(Protocol):
    def write(self, batch: list[bytes]) -> None: ...
    def tick(self) -> None: ...
    def stats(self) -> WriterStats: ...
    def close(self, timeout: float) -> None: ...


class _ThreadBackend:
    """The writer on the drain thread: simple, and all its CPU work shares the worker's GIL."""

    def __init__(self, writer: Writer, done: Callable[[int], None]) -> None:
        self.writer = writer
        self._done = done
        # The first tick replays what an earlier run left in the spool, on the drain thread.
        self._first_tick = True

    def write(self, batch: list[bytes]) -> None:
        try:
            self.writer.write(batch)
        finally:
            self._done(len(batch))

    def tick(self) -> None:
        self.writer.tick(force=self._first_tick)
        self._first_tick = False

    def stats(self) -> WriterStats:
        return self.writer.stats

    def close(self, timeout: float) -> None:
        self.writer.close()


class _ChildDied(Exception):
    pass


class _ProcessBackend:
    """The writer in a helper process; this side packs batches and reads confirmations."""

    def __init__(self, config: dict[str, Any], done: Callable[[int], None],
                 spooler: Callable[[], Writer]) -> None:
        self._done = done
        self._spooler = spooler
        self._stats = WriterStats()
        self._lock = threading.Lock()
        # Batches sent but not yet confirmed: resent to a fallback writer if the child dies.
        self._unacked: dict[int, list[bytes]] = {}
        self._seq = itertools.count(1)
        package_root = str(Path(app.__file__).resolve().parent.parent)
        env = {k: v for k, v in os.environ.items() if k != metrics.MULTIPROC_ENV}
        env["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, env.get("PYTHONPATH", "")) if p)
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "app.turnlog.child"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            # Its own session: a Ctrl-C meant for the server must not kill it before it drains.
            start_new_session=True,
        )
        assert self._proc.stdin is not None and self._proc.stdout is not None
        self._stdin: IO[bytes] = self._proc.stdin
        self._stdin.write(pack(("config", config)))
        self._stdin.flush()
        self.alive = True
        self._reader = threading.Thread(target=self._read, args=(self._proc.stdout,), name="turnlog-acks",
                                        daemon=True)
        self._reader.start()

    def _read(self, stream: IO[bytes]) -> None:
        while True:
            try:
                message = read_frame(stream)
            except Exception:
                message = None
            if message is None:
                self.alive = False
                return
            kind = message[0]
            if kind == "ack":
                # One acknowledgement for every frame stored in one transaction.
                with self._lock:
                    done = sum(len(self._unacked.pop(seq, [])) for seq in message[1])
                    self._stats = WriterStats(**message[2])
                self._done(done)
            elif kind in ("stats", "bye"):
                with self._lock:
                    self._stats = WriterStats(**message[1])

    def write(self, batch: list[bytes]) -> None:
        # Frames of a bounded size, so a confirmation never waits for a whole large batch.
        for start in range(0, len(batch), FRAME_ITEMS):
            try:
                self._write_frame(batch[start : start + FRAME_ITEMS])
            except _ChildDied:
                # The frames not sent yet go to the fallback writer with the unconfirmed ones.
                rest = batch[start + FRAME_ITEMS :]
                if rest:
                    with self._lock:
                        self._unacked[next(self._seq)] = rest
                raise

    def _write_frame(self, batch: list[bytes]) -> None:
        seq = next(self._seq)
        frame = pack(("batch", seq, batch))
        with self._lock:
            # Registered before sending: if the child is gone, the fallback writes it.
            self._unacked[seq] = batch
        if not self.alive:
            raise _ChildDied
        try:
            self._stdin.write(frame)
            self._stdin.flush()
        except (BrokenPipeError, OSError, ValueError) as exc:
            self.alive = False
            raise _ChildDied from exc

    def _spool_unconfirmed(self, items: list[bytes]) -> None:
        writer = self._spooler()
        writer.spool_only(items)  # the database is the thing that hung: do not wait on it again
        writer.close()
        log.error("turnlog: spooled %d records the writer process had not confirmed", len(items))
        self._done(len(items))

    def take_unacked(self) -> list[bytes]:
        with self._lock:
            pending = [item for seq in sorted(self._unacked) for item in self._unacked[seq]]
            self._unacked.clear()
        return pending

    def tick(self) -> None:
        return None  # the child keeps its own time

    def stats(self) -> WriterStats:
        with self._lock:
            return self._stats

    def close(self, timeout: float) -> None:
        if self.alive:
            with contextlib.suppress(BrokenPipeError, OSError, ValueError):
                self._stdin.write(pack(("stop",)))
                self._stdin.flush()
        with contextlib.suppress(BrokenPipeError, OSError, ValueError):
            self._stdin.close()
        try:
            self._proc.wait(timeout)
        except subprocess.TimeoutExpired:
            log.error("turnlog writer process did not exit within %.1fs; killing it", timeout)
            self._proc.kill()
            self._proc.wait()
        self._reader.join(timeout)
        if self._proc.stdout is not None:
            self._proc.stdout.close()
        if unconfirmed := self.take_unacked():
            # The helper was stuck (a database that accepts connections but not writes) and
            # had to be killed: keep what it had not confirmed in the spool for the next run.
            self._spool_unconfirmed(unconfirmed)


class TurnLogger:
    def __init__(
        self,
        engine: Engine | None,
        *,
        pseudonym_key: bytes,
        spool_dir: Path,
        queue_size: int = 10_000,
        batch_size: int = 500,
        flush_interval_s: float = 0.5,
        retry_interval_s: float = 5.0,
        enabled: bool = True,
        mode: WriterMode = "thread",
        clock: Callable[[], datetime] = _utcnow,
    ) -> None:
        self.enabled = enabled and engine is not None
        self._engine = engine
        self._key = pseudonym_key
        self._spool_dir = spool_dir
        # Records as submitted and erasures already encoded (`app.turnlog.rows.encode_erase`),
        # in submission order.
        self._queue: deque[TurnRecord | bytes] = deque()
        self._queue_size = queue_size
        self._batch_size = batch_size
        self._flush_interval = flush_interval_s
        self._retry_interval = retry_interval_s
        self._clock = clock
        self.mode: WriterMode = "thread" if engine is None or _in_memory(engine) else mode
        self.stats = TurnLogStats()
        self._ids = itertools.count(1)
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._done = threading.Condition()
        self._processed = 0
        # Records dropped at submit (queue full): never reach the writer, so flush() counts them.
        self._queue_dropped = 0
        # Ids consumed by flush() markers and by records that could not be encoded: never processed.
        self._unqueued = 0
        self._thread: threading.Thread | None = None
        self._backend: _Backend | None = None
        self._reported = WriterStats()
        self._report_lock = threading.Lock()
        self._owns_engine = False
        # What the writer thread writes with (_new_writer), made when first needed.
        self._write_engine: Engine | None = None

    @classmethod
    def from_settings(cls, settings: Settings, engine: Engine | None = None) -> TurnLogger:
        """Build from settings; with no engine given, one is made for DATABASE_URL and owned."""
        owns = engine is None and settings.turnlog_enabled
        if owns:
            from app.db.engine import make_engine

            engine = make_engine(settings.database_url)
        logger = cls(
            engine,
            pseudonym_key=settings.pseudonym_key.get_secret_value().encode(),
            spool_dir=settings.turnlog_spool_dir,
            queue_size=settings.turnlog_queue_size,
            batch_size=settings.turnlog_batch_size,
            flush_interval_s=settings.turnlog_flush_interval_s,
            enabled=settings.turnlog_enabled,
            mode=settings.turnlog_writer,
        )
        logger._owns_engine = owns
        return logger

    # --- the hot path -------------------------------------------------------------------

    def submit(self, record: TurnRecord) -> None:
        """Queue one delivery's record. Never blocks, never raises.

        The record is encoded later, on the drain thread: the caller must not change it after
        submitting it. Encoding it here cost the worker 20 µs a record, against 6–9 µs for the
        same code in a loop: between two submits the rest of a turn's work pushes pickle's code
        and data out of the CPU's caches, while a batch encoded in one loop keeps them warm."""
        if not self.enabled:
            return
        next(self._ids)
        if len(self._queue) >= self._queue_size:
            self._queue_dropped += 1
            self.stats.dropped += 1
            try:
                metrics.TURNLOG_DROPPED.inc()
            except Exception:  # a metrics file we cannot write must not reach the reply
                log.exception("turnlog: could not count a dropped record")
            return
        self._queue.append(record)
        if len(self._queue) >= self._batch_size and not self._wake.is_set():
            self._wake.set()

    def erase_user(self, openid: str) -> None:
        """Pseudonymise every row of this user beyond recovery (on unsubscribe).

        Ordered after the user's records already submitted, never dropped; rows still queued
        elsewhere or spooled are caught on their way in (`turn_erasures`).
        """
        if not self.enabled:
            return
        next(self._ids)
        self._queue.append(encode_erase(openid, self._clock()))
        self._wake.set()

    # --- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        if not self.enabled or self._thread is not None:
            return
        self._stopping.clear()
        self._backend = self._make_backend()
        self._thread = threading.Thread(target=self._run, name="turnlog-writer", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write (or spool) everything queued, then stop. Blocking: run it in a thread from async code."""
        if self._thread is not None:
            self._stopping.set()
            self._wake.set()
            self._thread.join(timeout)
            if self._thread.is_alive():
                log.error("turnlog writer did not stop within %.1fs; %d records queued",
                          timeout, len(self._queue))
            self._thread = None
        if self._backend is not None:
            self._backend.close(timeout)
            self._report()
            self._backend = None
        if self._write_engine is not None and self._write_engine is not self._engine:
            self._write_engine.dispose()
        if self._owns_engine and self._engine is not None:
            self._engine.dispose()

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything submitted so far is written or spooled (tests, benchmarks)."""
        with self._done:
            self._unqueued += 1
            target = next(self._ids)
        self._wake.set()
        deadline = time.monotonic() + timeout
        with self._done:
            while self._processed + self._queue_dropped + self._unqueued < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._done.wait(remaining)
        self._report()
        return True

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    @property
    def database_down(self) -> bool:
        return self._backend is not None and self._backend.stats().down

    def health(self) -> dict[str, str]:
        """For /healthz: "ok", "spooling" (database down, rows kept) or "spool_failed" (rows being
        lost: the spool cannot be written, e.g. the disk is full), with the spool's last error."""
        backend = self._backend
        if backend is None:
            return {"turnlog": "ok"}
        now = backend.stats()
        if now.spool_error:
            return {"turnlog": "spool_failed", "turnlog_spool_error": now.spool_error}
        return {"turnlog": "spooling" if now.down else "ok"}

    # --- the drain thread ----------------------------------------------------------------------

    def _make_backend(self) -> _Backend:
        assert self._engine is not None
        if self.mode == "process":
            try:
                return _ProcessBackend(
                    {
                        "url": self._engine.url.render_as_string(hide_password=False),
                        "key": self._key,
                        "spool_dir": str(self._spool_dir.resolve()),
                        "retry_interval_s": self._retry_interval,
                        "tick_s": self._flush_interval,
                    },
                    self._mark_done,
                    self._new_writer,
                )
            except OSError:
                log.exception("turnlog: could not start the writer process; writing on a thread")
                self.mode = "thread"
        return self._thread_backend()

    def _new_writer(self) -> Writer:
        assert self._engine is not None
        if self._write_engine is None:
            # On a SQLite file the writer takes the write lock up front and polls for it briefly,
            # as the helper process and the reply-path writes do (app.db.engine.writer_engine).
            self._write_engine = writer_engine(self._engine) if is_sqlite_file(self._engine) else self._engine
        return Writer(self._write_engine, pseudonym_key=self._key, spool_dir=self._spool_dir,
                      retry_interval_s=self._retry_interval, clock=self._clock)

    def _thread_backend(self) -> _ThreadBackend:
        return _ThreadBackend(self._new_writer(), self._mark_done)

    def _mark_done(self, count: int) -> None:
        with self._done:
            self._processed += count
            self._done.notify_all()

    def _run(self) -> None:
        while True:
            self._wake.wait(self._flush_interval)
            self._wake.clear()
            stopping = self._stopping.is_set()
            try:
                self._drain()
            except Exception:
                self.stats.errors += 1
                metrics.TURNLOG_ERRORS.labels("writer").inc()
                log.exception("turnlog writer loop failed")
            self._report()
            if stopping and not self._queue:
                break

    def _drain(self) -> None:
        assert self._backend is not None
        self._backend.tick()
        while batch := self._take():
            try:
                self._backend.write(batch)
            except _ChildDied:
                self._fall_back()
            if len(batch) < self._batch_size:
                break

    def _fall_back(self) -> None:
        """The helper process died: write its unconfirmed batches and everything after on a thread."""
        old = self._backend
        assert isinstance(old, _ProcessBackend)
        metrics.TURNLOG_ERRORS.labels("writer_process").inc()
        log.error("turnlog writer process exited; writing on a thread from now on")
        pending = old.take_unacked()
        old.close(timeout=1.0)
        self.mode = "thread"
        backend = self._thread_backend()
        with self._report_lock:
            self._backend = backend
            self._reported = WriterStats()
        # Counted once when the thread writer finishes them.
        for start in range(0, len(pending), self._batch_size):
            backend.write(pending[start : start + self._batch_size])

    def _take(self) -> list[bytes]:
        """The next batch off the queue, encoded."""
        batch: list[bytes] = []
        while len(batch) < self._batch_size:
            try:
                item = self._queue.popleft()
            except IndexError:
                break
            if isinstance(item, bytes):
                batch.append(item)
                continue
            try:
                batch.append(encode_record(record_id(), item))
            except Exception:
                self._unencodable()
        return batch

    def _unencodable(self) -> None:
        # A record with a field of an unexpected type is lost alone, and counted.
        self.stats.errors += 1
        metrics.TURNLOG_ERRORS.labels("prepare").inc()
        log.exception("turnlog: could not encode record")
        with self._done:
            self._unqueued += 1
            self._done.notify_all()

    def _report(self) -> None:
        """Carry the writer's counts into the logger's stats and the Prometheus metrics."""
        with self._report_lock:
            self._report_locked()

    def _report_locked(self) -> None:
        backend = self._backend
        if backend is None:
            return
        now = backend.stats()
        last = self._reported
        for name, counter in (
            ("written", metrics.TURNLOG_WRITTEN),
            ("spooled", metrics.TURNLOG_SPOOLED),
            ("replayed", metrics.TURNLOG_REPLAYED),
        ):
            delta = getattr(now, name) - getattr(last, name)
            if delta > 0:
                counter.inc(delta)
                setattr(self.stats, name, getattr(self.stats, name) + delta)
        for name, kind in (("rejected", "rejected"), ("errors", "writer"), ("spool_errors", "spool")):
            delta = getattr(now, name) - getattr(last, name)
            if delta > 0:
                metrics.TURNLOG_ERRORS.labels(kind).inc(delta)
                if hasattr(self.stats, name):
                    setattr(self.stats, name, getattr(self.stats, name) + delta)
        dropped = now.dropped - last.dropped
        if dropped > 0:
            metrics.TURNLOG_DROPPED.inc(dropped)
            self.stats.dropped += dropped
        quarantined = now.quarantined_bytes - last.quarantined_bytes
        if quarantined > 0:
            metrics.TURNLOG_QUARANTINED_BYTES.inc(quarantined)
        metrics.TURNLOG_SPOOL_FAILING.set(1 if now.spool_error else 0)
        self._reported = WriterStats(**now.as_dict())
        metrics.TURNLOG_QUEUE_DEPTH.set(len(self._queue))
        metrics.TURNLOG_SPOOL_ROWS.set(now.spool_pending)
        metrics.TURNLOG_SPOOL_BYTES.set(now.spool_bytes)


def _in_memory(engine: Engine) -> bool:
    """An in-memory SQLite database exists only in this process: no helper can reach it."""
    database = engine.url.database or ""
    return engine.dialect.name == "sqlite" and (database in ("", ":memory:") or "mode=memory" in str(engine.url))
