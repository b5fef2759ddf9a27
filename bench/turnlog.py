"""The turn log's cost on the callback: throughput and p99 with the log on and off.

One service (bench/turnlog_app.py: the real app, one uvicorn worker, SQLite turn log in a
temporary folder) answers one continuous wrk load of the signed text deliveries that
bench/callback.py sends, and its turn log is switched on and off every `--segment` seconds.
Each "on" segment's throughput (deliveries the server completed, over the segment's length,
which lasts until the writer has caught up with it) is set against the mean of the two "off"
segments around it, which cancels any drift slower than a segment. The verdict is the median of
those ratios, printed with a bootstrap 95% interval. The run is spread over `--services` fresh
services, since the log's cost may differ from one process to the next.

Why not two services measured in turns, as this benchmark did before: on this shared machine
throughput swings by ±20% within seconds (other guests' load) and two identical processes can
differ by a few percent for their whole lives. Rounds seconds apart in separate processes needed
nine minutes to bound a 5% cost to ±3%; segments half a second apart in one process bound it
to about ±1% in seven and a half (measured with `--aa`, which keeps the log off in both kinds
of segment, so its ratios show the method's own noise and bias: 1.002, 0.990–1.012).

p99 is the server's time for each delivery (ASGI call to response sent) by the segment it
finished in: wrk cannot split its latencies by segment.

Afterwards each service is stopped (its logger drains on shutdown) and the rows in its database
are counted against the deliveries it served with the log on, to show the log kept up rather
than dropped. The worker's own share of the cost is also timed directly, free of the machine's
noise: the in-process cost of `TurnLogger.submit` and of encoding a batch on the drain thread,
and the helper process's CPU per logged delivery.

Goal (issue 5): ≤ 5% throughput loss with the turn log on, judged on the whole 95% interval:
a median above 0.95 with an interval reaching below it is reported as not met.

    .venv/bin/python bench/turnlog.py [--segment 0.5] [--segments 240] [--services 3] [--concurrency 16]
                                      [--writer process|thread] [--aa]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.turnlog.report import percentile
from bench.callback import SCRIPT, questions_file
from bench.common import Service, WrkResult, median_interval, service, signed_query, wrk


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def writer_pids(server_pid: int) -> list[int]:
    """The turn-log helper process(es) started by the server (TURNLOG_WRITER=process)."""
    children = Path(f"/proc/{server_pid}/task/{server_pid}/children")
    kids = [int(p) for p in children.read_text().split()] if children.exists() else []
    return [k for k in kids if b"app.turnlog.child" in Path(f"/proc/{k}/cmdline").read_bytes()]


def count_rows(url: str) -> int:
    from sqlalchemy import func, select

    from app.db.engine import make_engine
    from app.db.models import TurnRow

    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(TurnRow)).scalar_one())
    finally:
        engine.dispose()


def worker_cost_us(samples: int = 50_000) -> tuple[float, float]:
    """CPU time per record of the log's two steps in the worker, in µs: `TurnLogger.submit` on
    the event loop's thread, and encoding a batch on the drain thread (`_take`), which shares
    the worker's GIL. Timed in a loop in this process, so free of the machine's noise, but with
    warmer caches than a busy worker gives them."""
    from datetime import UTC, datetime

    from app.db.engine import make_engine
    from app.turnlog.logger import TurnLogger
    from app.turnlog.record import TurnRecord

    engine = make_engine("sqlite://")
    # Not started: records stay queued until this takes them.
    logger = TurnLogger(engine, pseudonym_key=b"bench", spool_dir=Path(tempfile.gettempdir()),
                        queue_size=samples + 1, batch_size=1000)
    stages = dict.fromkeys(("verify", "decrypt", "parse", "dedup", "lock", "load", "handle", "save", "render"), 123)
    record = TurnRecord(
        received_at=datetime.now(UTC), account="gh_0123456789ab", openid="oAbCdEfGhIjKlMnOpQrStUvWxYz0",
        msg_type="text", dedup_key="oAbCdEfGhIjKlMnOpQrStUvWxYz0:24680135791113", text="社保卡丢了怎么补办？",
        route="faq", reply_type="text", reply_bytes=412, latency_ms=3.456, stages=stages,
        consultation_id="9f" * 16, turn_index=1, faq_id="social-card-replace", score=93.5,
    )
    start = time.thread_time()
    for _ in range(samples):
        logger.submit(record)
    submitted = time.thread_time()
    encoded = 0
    while batch := logger._take():
        encoded += len(batch)
    taken = time.thread_time()
    assert encoded == samples
    engine.dispose()
    return (submitted - start) / samples * 1e6, (taken - submitted) / samples * 1e6


def switch(svc: Service, state: str) -> dict[str, Any]:
    """End the service's current segment and start one with the log `state`; the one that ended."""
    request = urllib.request.Request(f"{svc.base}/bench/turnlog/{state}", method="POST", data=b"")
    with urllib.request.urlopen(request, timeout=30) as response:
        ended: dict[str, Any] = json.loads(response.read())
    return ended


def neighbour_ratios(segments: list[tuple[str, float]]) -> list[float]:
    """Each "on" segment's throughput over the mean of the "off" segments on either side of it."""
    return [rate / ((segments[i - 1][1] + segments[i + 1][1]) / 2)
            for i, (label, rate) in enumerate(segments[1:-1], start=1) if label == "on"]


def latency_ms(values: list[int], p: float) -> float:
    """The p-th percentile of server-side times in µs, in ms, computed as `wxbot report` does."""
    found = percentile(sorted(values), p)
    return float("nan") if found is None else found / 1000


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--segment", type=float, default=0.5, help="seconds between switches of the log")
    parser.add_argument("--segments", type=int, default=240, help="segments per service, alternating off/on")
    parser.add_argument("--services", type=int, default=3, help="fresh services the segments run in, one after another")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--writer", choices=["process", "thread"], default="process",
                        help="where the service runs its writer (TURNLOG_WRITER)")
    parser.add_argument("--aa", action="store_true",
                        help="calibration: the log stays off in the 'on' segments too, so ratios show the noise")
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="wxbot-bench-turnlog-"))
    wrk_env = {"QUESTIONS_FILE": str(questions_file()), "WRK_USERS": "20000"}
    ratios: list[float] = []
    latencies: dict[str, list[int]] = {"off": [], "on": []}
    lengths: dict[str, list[float]] = {"off": [], "on": []}
    loads: list[WrkResult] = []
    logged = rows = 0
    # The helper's CPU over the measured segments, and the deliveries it logged in them.
    helper_cpu, helper_logged = 0.0, 0
    for n in range(args.services):
        url = f"sqlite:///{data / f'service{n}.db'}"
        env = {"TIMESTAMP_WINDOW_S": "0", "TURNLOG_SPOOL_DIR": str(data / "spool"), "TURNLOG_WRITER": args.writer,
               "TURNLOG_ENABLED": "true", "DATABASE_URL": url}
        segments: list[tuple[str, float]] = []
        with service("bench.turnlog_app:create_app", env=env) as svc:
            target = f"{svc.base}/wechat?{signed_query()}"
            helpers = writer_pids(svc.process.pid)
            # Warm-up with the log on (the service starts that way).
            wrk(target, connections=args.concurrency, seconds=2, script=SCRIPT, env=wrk_env)
            # One load for all the segments, from a thread while this one switches the log.
            loader = ThreadPoolExecutor(1).submit(wrk, target, connections=args.concurrency,
                                                  seconds=int(args.segments * args.segment) + 3,
                                                  script=SCRIPT, env=wrk_env)
            time.sleep(1.0)
            ended = switch(svc, "off")  # the warm-up, and the load's first second
            logged += len(ended["latencies_us"])
            helpers_before = sum(cpu_seconds(h) for h in helpers)
            label, deadline = "off", time.perf_counter()
            for k in range(args.segments):
                following = "on" if k % 2 == 0 else "off"
                deadline += args.segment
                time.sleep(max(0.0, deadline - time.perf_counter()))
                ended = switch(svc, "off" if args.aa else following)
                served = ended["latencies_us"]
                segments.append((label, len(served) / ended["seconds"]))
                latencies[label].extend(served)
                lengths[label].append(ended["seconds"])
                if ended["state"] == "on":
                    logged += len(served)
                    helper_logged += len(served)
                label = following
            load = loader.result()
            helper_cpu += sum(cpu_seconds(h) for h in helpers) - helpers_before
            loads.append(load)
        # The service has exited: its logger drained its queue in the lifespan shutdown.
        rows += count_rows(url)
        mine = neighbour_ratios(segments)
        ratios.extend(mine)
        print(f"service {n + 1}: {len(mine)} on segments, median ratio {statistics.median(mine):.3f}; "
              f"wrk {load.rps:.0f} req/s overall, errors {load.errors}", flush=True)

    low, high = median_interval(ratios)
    quartiles = statistics.quantiles(ratios, n=4)
    p99 = {state: latency_ms(values, 99) for state, values in latencies.items()}
    p50 = {state: latency_ms(values, 50) for state, values in latencies.items()}
    print()
    print(f"concurrency {args.concurrency}, {args.services} services × {args.segments} segments of {args.segment} s, "
          f"writer: {args.writer}{', A/A calibration (log off in both)' if args.aa else ''}")
    print(f"throughput ratio on/off {statistics.median(ratios):.3f}: median of {len(ratios)} 'on' segments, each "
          f"over the mean of its two neighbours (95% interval {low:.3f}–{high:.3f}; interquartile "
          f"{quartiles[0]:.3f}–{quartiles[2]:.3f}: this machine's noise)")
    for state in ("off", "on"):
        print(f"turn log {state:<3}  server-side p50 {p50[state]:>6.2f} ms  p99 {p99[state]:>6.2f} ms "
              f"over {len(latencies[state])} deliveries; segments {statistics.mean(lengths[state]):.3f} s on average")
    print(f"p99 ratio on/off {p99['on'] / p99['off']:.2f}")
    submit, encode = worker_cost_us()
    print(f"in the worker, timed in a loop: TurnLogger.submit {submit:.1f} µs per record on the event loop's "
          f"thread, encoding {encode:.1f} µs per record on the drain thread")
    if helper_logged and helper_cpu:
        print(f"writer helper process CPU: {helper_cpu / helper_logged * 1e6:.0f} µs per logged delivery "
              "(off the worker's GIL)")
    print(f"rows written: {rows} for {logged} deliveries served with the log on ({rows / max(logged, 1):.3f}; "
          "deliveries in flight at a switch add or miss a few)")
    ok = low >= 0.95
    errors = sum(r.errors for r in loads)
    print(f"goal: throughput loss ≤ 5%, the whole 95% interval at or above 0.95 → {'met' if ok else 'NOT met'}; "
          f"errors: {errors}")
    return 0 if ok and errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
