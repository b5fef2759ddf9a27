"""The turn log's cost on the callback: throughput and p99 with TURNLOG_ENABLED on and off.

Two copies of the service run side by side on 127.0.0.1 (one uvicorn worker each, SQLite turn
log in a temporary folder), driven by wrk with the same signed text deliveries as
bench/callback.py. Rounds alternate off/on so drift on this shared machine hits both alike;
the verdict is the median of the back-to-back pairs' throughput ratios, printed with a
bootstrap 95% interval. On this machine one 2 s round differs from the next by ±10% for no
reason of ours, and one process can run a few percent faster than an identical one for its
whole life, so the rounds are spread over `--pairs` fresh pairs of services (sharing a hash
seed, started in alternating order). That interval covers the rounds' noise only: whole runs
still differ by more (`--aa` runs the same comparison with the log off on both sides, to show
the noise). Afterwards the "on" services are stopped (their loggers drain on shutdown) and
their rows are counted against the requests wrk completed, to show the log kept up rather
than dropped.

The worker's own share of the cost is also timed directly, free of that noise: the
in-process cost of `TurnLogger.submit` (encoding and queueing one record), set against the
"off" service's CPU per request.

Goal (issue 5): ≤ 5% throughput loss with the turn log on.

    .venv/bin/python bench/turnlog.py [--seconds 2] [--rounds 60] [--pairs 6] [--concurrency 16]
                                      [--writer process|thread] [--aa]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.callback import SCRIPT, questions_file
from bench.common import WrkResult, median_interval, service, signed_query, wrk


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


def submit_cost_us(samples: int = 50_000) -> float:
    """CPU time of one `TurnLogger.submit` (encode and queue a record like the callback's), in µs.

    Timed in this process, so free of the machine noise that the throughput rounds carry."""
    from datetime import UTC, datetime

    from app.db.engine import make_engine
    from app.turnlog.logger import TurnLogger
    from app.turnlog.record import TurnRecord

    engine = make_engine("sqlite://")
    # Not started: records stay queued, so this times the submit alone.
    logger = TurnLogger(engine, pseudonym_key=b"bench", spool_dir=Path(tempfile.gettempdir()),
                        queue_size=samples + 1, batch_size=samples + 1)
    stages = dict.fromkeys(("verify", "decrypt", "parse", "dedup", "lock", "load", "handle", "save", "render"), 0.123)
    record = TurnRecord(
        received_at=datetime.now(UTC), account="gh_0123456789ab", openid="oAbCdEfGhIjKlMnOpQrStUvWxYz0",
        msg_type="text", dedup_key="oAbCdEfGhIjKlMnOpQrStUvWxYz0:24680135791113", text="社保卡丢了怎么补办？",
        route="faq", reply_type="text", reply_bytes=412, latency_ms=3.456, stages=stages,
        consultation_id="9f" * 16, turn_index=1, faq_id="social-card-replace", score=93.5,
    )
    start = time.thread_time()
    for _ in range(samples):
        logger.submit(record)
    spent = time.thread_time() - start
    assert logger.queue_depth == samples
    engine.dispose()
    return spent / samples * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=2, help="length of one measured round")
    parser.add_argument("--rounds", type=int, default=60, help="measured rounds per variant (alternating)")
    parser.add_argument("--pairs", type=int, default=6,
                        help="fresh pairs of services the rounds are spread over")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--writer", choices=["process", "thread"], default="process",
                        help="where the 'on' service runs its writer (TURNLOG_WRITER)")
    parser.add_argument("--aa", action="store_true",
                        help="calibration: the 'on' service also runs with the log off, so ratios show the noise")
    args = parser.parse_args()

    data = Path(tempfile.mkdtemp(prefix="wxbot-bench-turnlog-"))
    on_url = f"sqlite:///{data / 'on.db'}"
    wrk_env = {"QUESTIONS_FILE": str(questions_file()), "WRK_USERS": "20000"}
    base_env = {"TIMESTAMP_WINDOW_S": "0", "TURNLOG_SPOOL_DIR": str(data / "spool"), "TURNLOG_WRITER": args.writer}
    results: dict[str, list[WrkResult]] = {"off": [], "on": []}
    # CPU the service process spent per request: unlike req/s, barely moved by whatever else
    # runs on this machine, so it is the steadier measure of the log's own cost.
    cpu_per_request: dict[str, list[float]] = {"off": [], "on": []}
    helper_cpu_per_request: list[float] = []
    sent_to_on = 0
    off_env = {**base_env, "TURNLOG_ENABLED": "false", "DATABASE_URL": f"sqlite:///{data / 'off.db'}"}
    on_env = {**base_env, "TURNLOG_ENABLED": "false" if args.aa else "true", "DATABASE_URL": on_url}
    rounds_per_pair = -(-args.rounds // args.pairs)
    for block in range(args.pairs):
        # A fresh pair of services per block, sharing one hash seed, started in alternating
        # order: one process can run a few percent faster than an identical one for its whole
        # life (memory layout, hash order), which no number of rounds with the same two
        # processes averages out.
        seed = str(random.SystemRandom().randrange(2**32))
        first, second = ("off", "on") if block % 2 == 0 else ("on", "off")
        envs = {"off": {**off_env, "PYTHONHASHSEED": seed}, "on": {**on_env, "PYTHONHASHSEED": seed}}
        with service(env=envs[first]) as a, service(env=envs[second]) as b:
            targets = {first: a, second: b}
            for name, svc in targets.items():
                warm = wrk(f"{svc.base}/wechat?{signed_query()}", connections=args.concurrency, seconds=2,
                           script=SCRIPT, env=wrk_env)
                sent_to_on += warm.requests if name == "on" else 0
            for n in range(min(rounds_per_pair, args.rounds - block * rounds_per_pair)):
                order = ("off", "on") if n % 2 == 0 else ("on", "off")
                for name in order:
                    # One uvicorn worker: the server process itself serves.
                    pid = targets[name].process.pid
                    helpers = writer_pids(pid)
                    before = cpu_seconds(pid)
                    helpers_before = sum(cpu_seconds(h) for h in helpers)
                    r = wrk(f"{targets[name].base}/wechat?{signed_query()}", connections=args.concurrency,
                            seconds=args.seconds, script=SCRIPT, env=wrk_env)
                    # The writer may still be draining this round's last batch: let it finish.
                    time.sleep(1.0)
                    cpu_per_request[name].append((cpu_seconds(pid) - before) / max(r.requests, 1) * 1e6)
                    if helpers:
                        spent = sum(cpu_seconds(h) for h in helpers) - helpers_before
                        helper_cpu_per_request.append(spent / max(r.requests, 1) * 1e6)
                    results[name].append(r)
                    sent_to_on += r.requests if name == "on" else 0
                    print(f"pair {block + 1} round {n + 1} {name:<3} {r.rps:>8.0f} req/s  p50 {r.p50_ms:>6.2f} ms  "
                          f"p99 {r.p99_ms:>6.2f} ms  errors {r.errors}", flush=True)
    # Every service has exited: each "on" one drained its queue in the lifespan shutdown.
    rows = count_rows(on_url)

    def rps(name: str) -> float:
        return sum(r.requests for r in results[name]) / (args.seconds * args.rounds)

    def p99(name: str) -> float:
        return statistics.median(r.p99_ms for r in results[name])

    ratio = rps("on") / rps("off")
    pair_ratios = [on.rps / off.rps for on, off in zip(results["on"], results["off"], strict=True)]
    cpu_off, cpu_on = statistics.median(cpu_per_request["off"]), statistics.median(cpu_per_request["on"])
    print()
    print(f"concurrency {args.concurrency}, {args.rounds} × {args.seconds} s per variant, writer: {args.writer}")
    print(f"turn log off  {rps('off'):>8.0f} req/s   p99 {p99('off'):>6.2f} ms (median of rounds)")
    print(f"turn log on   {rps('on'):>8.0f} req/s   p99 {p99('on'):>6.2f} ms (median of rounds)")
    quartiles = statistics.quantiles(pair_ratios, n=4) if len(pair_ratios) > 1 else [pair_ratios[0]] * 3
    low, high = median_interval(pair_ratios)
    print(f"throughput ratio on/off {statistics.median(pair_ratios):.3f} median of {len(pair_ratios)} round pairs "
          f"(95% interval {low:.3f}–{high:.3f}; pairs' interquartile {quartiles[0]:.3f}–{quartiles[2]:.3f}: "
          f"this machine's noise), {ratio:.3f} pooled; p99 ratio on/off {p99('on') / p99('off'):.2f}")
    print(f"service CPU per request: off {cpu_off:.0f} µs, on {cpu_on:.0f} µs → "
          f"{(cpu_on / cpu_off - 1) * 100:+.1f}% (the log's cost inside the worker, as noisy as the rounds)")
    submit = submit_cost_us()
    print(f"TurnLogger.submit, timed in-process: {submit:.1f} µs per record = {submit / cpu_off * 100:.1f}% "
          "of the 'off' service's CPU per request (the log's only work on the worker's own thread)")
    if helper_cpu_per_request:
        print(f"writer helper process CPU per request: {statistics.median(helper_cpu_per_request):.0f} µs "
              "(off the worker's GIL)")
    print(f"rows written by the 'on' service: {rows} for {sent_to_on} completed requests "
          f"({rows / max(sent_to_on, 1):.3f}; in-flight requests at each round's end add a few)")
    # Judged on the median of back-to-back pairs: robust to one disturbed round, which on a shared
    # two-core machine happens in most runs.
    ok = statistics.median(pair_ratios) >= 0.95
    errors = sum(r.errors for rs in results.values() for r in rs)
    print(f"goal: throughput loss ≤ 5% → {'met' if ok else 'NOT met'}; errors: {errors}")
    return 0 if ok and errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
