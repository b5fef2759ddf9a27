"""The turn-log helper process: `python -m app.turnlog.child`, started by `TurnLogger`.

Running the writer in its own process keeps its CPU work (masking, hashing, the database
driver) off the worker's GIL, so the event loop answering WeChat never waits for it
(bench/turnlog.py measures the difference). It speaks length-prefixed pickle frames on
stdin/stdout with the one process that started it:

    parent → child   ("config", {...})   ("batch", seq, [item…])   ("stop",)   (frames of ≤ 1024 items)
    child → parent   ("ack", [seq…], stats) ("stats", stats)        ("bye", stats)

Each item is one record or erasure as bytes (`app.turnlog.rows.encode_record`), encoded by
the worker's drain thread.

End of input (the worker died) is treated like "stop": the writer finishes, spooling what it
cannot store, and exits.
"""

from __future__ import annotations

import contextlib
import gc
import logging
import os
import pickle
import select
import struct
import sys
from pathlib import Path
from typing import IO, Any

from app.turnlog.writer import Writer

HEADER = struct.Struct(">I")
# Most records stored in one transaction.
GATHER_MAX = 2000
GC_THRESHOLDS = (50_000, 20, 100)


def pack(message: tuple[Any, ...]) -> bytes:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    return HEADER.pack(len(payload)) + payload


def read_frame(stream: IO[bytes]) -> tuple[Any, ...] | None:
    header = _read_exactly(stream, HEADER.size)
    if header is None:
        return None
    payload = _read_exactly(stream, HEADER.unpack(header)[0])
    if payload is None:
        return None
    message: tuple[Any, ...] = pickle.loads(payload)
    return message


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    chunks: list[bytes] = []
    while size:
        chunk = stream.read(size)
        if not chunk:
            return None
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


def main() -> int:
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "WARNING").upper(),
                        format="%(asctime)s %(levelname)s turnlog-writer: %(message)s")
    # Unbuffered input: select() must see every byte the worker sent, not bytes a buffered
    # reader already pulled in while reading the previous frame.
    stdin: IO[bytes] = sys.stdin.buffer.raw  # type: ignore[union-attr]
    stdout = sys.stdout.buffer
    first = read_frame(stdin)
    if first is None or first[0] != "config":
        return 2
    config: dict[str, Any] = first[1]
    # Below the worker: when the machine is busy, replies get the CPU and the log catches up
    # later (the queue absorbs the difference; overflow is counted).
    with contextlib.suppress(OSError):
        os.nice(config.get("nice", 10))
    # SCHED_BATCH: the kernel never lets this process preempt a worker when it wakes up with a
    # batch; it waits for a free CPU or the next tick. It still gets its fair share of a busy
    # machine (unlike SCHED_IDLE), so the log cannot starve. Linux only.
    with contextlib.suppress(AttributeError, OSError):
        os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
    from app.db.engine import make_engine

    # On SQLite: every transaction takes the write lock up front, polling for it briefly
    # (app.db.engine), as the workers' reply-path writes do; PostgreSQL is unaffected.
    engine = make_engine(config["url"], immediate=True)
    writer = Writer(engine, pseudonym_key=config["key"], spool_dir=Path(config["spool_dir"]),
                    retry_interval_s=config["retry_interval_s"])

    def send(message: tuple[Any, ...]) -> None:
        stdout.write(pack(message))
        stdout.flush()

    writer.tick(force=True)
    # Each transaction allocates thousands of short-lived objects and keeps none: with the
    # default thresholds the collector ran every few hundred rows and cost a sixth of the
    # writer's time. Collections stay on (SQLAlchemy may leave cycles), just rarer.
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    send(("stats", writer.stats.as_dict()))
    try:
        while True:
            ready, _, _ = select.select([stdin], [], [], config["tick_s"])
            if ready:
                # A batch larger than a frame (FRAME_ITEMS) arrives as several, and more batches
                # may be waiting: gather what has arrived and store it as one transaction.
                seqs: list[int] = []
                items: list[bytes] = []
                stop = False
                while True:
                    message = read_frame(stdin)
                    if message is None or message[0] == "stop":
                        stop = True
                        break
                    seqs.append(message[1])
                    items.extend(message[2])
                    if len(items) >= GATHER_MAX or not select.select([stdin], [], [], 0)[0]:
                        break
                if items:
                    writer.write(items)
                try:
                    if seqs:
                        send(("ack", seqs, writer.stats.as_dict()))
                except BrokenPipeError:
                    break  # the worker is gone; what it sent is written or spooled
                if stop:
                    break
                continue
            before = writer.stats.as_dict()
            writer.tick()
            if writer.stats.as_dict() != before:
                try:
                    send(("stats", writer.stats.as_dict()))
                except BrokenPipeError:
                    break
    finally:
        writer.close()
        engine.dispose()
    with contextlib.suppress(BrokenPipeError, ValueError):
        send(("bye", writer.stats.as_dict()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
