"""Fixed-rate load of signed, realistic traffic against 1 and then 2 workers sharing Redis and a database.

The mix: FAQ questions from many citizens, flow conversations (each citizen answers after the
previous reply, as people do), menu clicks, and WeChat's retries of deliveries already sent.
Requests are scheduled open-loop at a fixed rate and latency is measured from the scheduled
time, so a stall shows up in the percentiles instead of silently lowering the rate.

For each worker count it prints throughput, p50/p99 latency, errors, late replies and the
workers' resident memory sampled over the run. Goal (issue 7): zero errors, p99 ≤ 100 ms at
200 messages/s, memory flat over the run.

    .venv/bin/python bench/load.py [--rate 200] [--seconds 60] [--workers 1 2]
        [--redis-url URL] [--database-url URL]

Without --redis-url a private redis-server is started on a free loopback port. Without
--database-url, TEST_POSTGRES_URL is used when set, else a temporary SQLite file (noted in the
output: SQLite is the single-host default, not the production set-up).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.wechat.simulator import Delivery, Simulator
from bench.common import ROOT, Service, citizen_phrasings, free_port, service

# A flow conversation: the first message as citizens write it, then the answers they give.
FLOW_SCRIPTS = [
    ["我想预约下周三上午去办社保卡", "张三 13812345678", "确认", "满意"],
    ["投诉一下，办事大厅排队太久了没人管", "不用了", "1"],
    ["查一下办件进度", "SQ20261120000123"],
    ["我想开个公司要办营业执照", "有限公司"],
]


def menu_keys() -> list[str]:
    data = yaml.safe_load((ROOT / "knowledge" / "menu.yaml").read_text(encoding="utf-8"))
    keys: list[str] = []

    def walk(buttons: list[dict[str, object]]) -> None:
        for button in buttons:
            if button.get("key"):
                keys.append(str(button["key"]))
            walk(button.get("sub_button", []) or button.get("sub_buttons", []) or [])  # type: ignore[arg-type]

    walk(data.get("button", []) or data.get("buttons", []))
    return keys or ["flow:booking"]


@dataclass
class Stats:
    latencies_ms: list[float] = field(default_factory=list)
    errors: int = 0
    error_kinds: dict[str, int] = field(default_factory=dict)
    late: int = 0
    sent: int = 0
    by_kind: dict[str, int] = field(default_factory=dict)
    memory: list[tuple[float, list[float]]] = field(default_factory=list)

    def error(self, kind: str) -> None:
        self.errors += 1
        self.error_kinds[kind] = self.error_kinds.get(kind, 0) + 1


class Traffic:
    """Decides what each scheduled request is; keeps per-citizen flow state."""

    def __init__(self, sim: Simulator, seed: int) -> None:
        self.sim = sim
        self.rng = random.Random(seed)
        self.questions = citizen_phrasings()
        self.keys = menu_keys()
        self.recent: list[Delivery] = []
        self.users = 0
        # Citizens in a flow who are waiting for their reply, and those ready to answer.
        self.ready: list[tuple[str, list[str]]] = []

    def _user(self, prefix: str) -> str:
        self.users += 1
        return f"o_load_{prefix}_{self.users}"

    def next(self) -> tuple[str, Delivery, tuple[str, list[str]] | None]:
        roll = self.rng.random()
        if roll < 0.10 and self.recent:
            # WeChat re-delivers the very same request when it did not see our answer in time.
            return "retry", self.rng.choice(self.recent[-50:]), None
        if roll < 0.20:
            user = self._user("menu")
            return "menu", self.sim.deliver(self.sim.event(user, "CLICK", self.rng.choice(self.keys))), None
        if roll < 0.40:
            if self.ready and self.rng.random() < 0.7:
                user, rest = self.ready.pop(0)
            else:
                user, rest = self._user("flow"), list(self.rng.choice(FLOW_SCRIPTS))
            text, rest = rest[0], rest[1:]
            return "flow", self.sim.deliver(self.sim.text(user, text)), (user, rest) if rest else None
        user = self._user("faq")
        delivery = self.sim.deliver(self.sim.text(user, self.rng.choice(self.questions)))
        self.recent.append(delivery)
        return "faq", delivery, None


async def drive(svc: Service, rate: float, seconds: float, seed: int) -> Stats:
    stats = Stats()
    sim = Simulator("wxbotdev")
    traffic = Traffic(sim, seed)
    limits = httpx.Limits(max_connections=256, max_keepalive_connections=64)
    async with httpx.AsyncClient(base_url=svc.base, timeout=10, limits=limits) as client:
        started = time.perf_counter()
        total = int(rate * seconds)
        tasks: set[asyncio.Task[None]] = set()

        async def one(kind: str, delivery: Delivery, follow: tuple[str, list[str]] | None, due: float) -> None:
            try:
                response = await client.post("/wechat", params=delivery.params, content=delivery.body)
            except httpx.HTTPError as exc:
                stats.error(type(exc).__name__)
                return
            stats.latencies_ms.append((time.perf_counter() - due) * 1000)
            if response.status_code != 200:
                stats.error(f"http_{response.status_code}")
                return
            if response.text == "success" and kind in ("faq", "flow"):
                stats.late += 1
            if follow is not None:
                traffic.ready.append(follow)

        async def sample_memory() -> None:
            while True:
                stats.memory.append((time.perf_counter() - started, svc.worker_rss_mb()))
                await asyncio.sleep(5)

        sampler = asyncio.create_task(sample_memory())
        for i in range(total):
            due = started + i / rate
            delay = due - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            kind, delivery, follow = traffic.next()
            stats.sent += 1
            stats.by_kind[kind] = stats.by_kind.get(kind, 0) + 1
            task = asyncio.create_task(one(kind, delivery, follow, due))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
        if tasks:
            await asyncio.wait(tasks, timeout=15)
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        stats.memory.append((time.perf_counter() - started, svc.worker_rss_mb()))
        elapsed = time.perf_counter() - started
        stats.by_kind["elapsed_s"] = int(elapsed)
    return stats


@contextlib.contextmanager
def private_redis() -> Iterator[str]:
    if shutil.which("redis-server") is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server) and no --redis-url given")
    port = free_port()
    workdir = tempfile.mkdtemp(prefix="wxbot-redis-")
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", workdir],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    try:
        for _ in range(50):
            with contextlib.suppress(OSError):
                import socket

                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            time.sleep(0.1)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def report(workers: int, rate: float, stats: Stats) -> dict[str, float]:
    elapsed = stats.by_kind.pop("elapsed_s", 1)
    throughput = len(stats.latencies_ms) / max(elapsed, 1)
    p50, p99 = percentile(stats.latencies_ms, 0.5), percentile(stats.latencies_ms, 0.99)
    print(f"\n== {workers} worker(s), target {rate:.0f} msg/s")
    print(f"  sent {stats.sent}  mix {stats.by_kind}")
    print(f"  throughput {throughput:.1f} msg/s   p50 {p50:.1f} ms   p99 {p99:.1f} ms   max "
          f"{max(stats.latencies_ms, default=float('nan')):.1f} ms")
    print(f"  errors {stats.errors} {stats.error_kinds or ''}   late replies {stats.late}")
    print("  memory (MB per worker) over time:")
    for at, values in stats.memory:
        print(f"    t={at:5.0f}s  " + "  ".join(f"{v:6.1f}" for v in values))
    first = statistics.mean(stats.memory[1][1]) if len(stats.memory) > 2 else float("nan")
    last = statistics.mean(stats.memory[-1][1]) if stats.memory else float("nan")
    growth = last - first
    print(f"  memory growth after warm-up: {growth:+.1f} MB per worker")
    return {"throughput": throughput, "p50": p50, "p99": p99, "errors": stats.errors, "growth": growth}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--redis-url")
    parser.add_argument("--database-url", default=os.environ.get("TEST_POSTGRES_URL"))
    parser.add_argument("--seed", type=int, default=20261126)
    args = parser.parse_args()

    results: dict[int, dict[str, float]] = {}
    with contextlib.ExitStack() as stack:
        redis_url = args.redis_url or stack.enter_context(private_redis())
        database = args.database_url
        if not database:
            database = f"sqlite:///{tempfile.mkdtemp(prefix='wxbot-load-')}/wxbot.db"
            print("note: no --database-url / TEST_POSTGRES_URL: using SQLite (single-host default)")
        env = {
            "REDIS_URL": redis_url,
            "DATABASE_URL": database,
            # One user may not send more than 30 messages a minute; load users are distinct.
            "TIMESTAMP_WINDOW_S": "0",
            "PROMETHEUS_MULTIPROC_DIR": tempfile.mkdtemp(prefix="wxbot-prom-"),
        }
        for workers in args.workers:
            with service(workers=workers, env=env) as svc:
                time.sleep(1.0 + workers)  # every worker has loaded jieba and the indexes
                stats = asyncio.run(drive(svc, args.rate, args.seconds, args.seed + workers))
                results[workers] = report(workers, args.rate, stats)
    print("\nsummary")
    print("workers  throughput   p50 ms   p99 ms  errors  memory growth MB")
    for workers, r in results.items():
        print(f"{workers:>7}  {r['throughput']:>10.1f}  {r['p50']:>7.1f}  {r['p99']:>7.1f}  {r['errors']:>6.0f}"
              f"  {r['growth']:>+8.1f}")
    if 1 in results and 2 in results:
        print(f"p99 ratio 2 workers / 1 worker: {results[2]['p99'] / results[1]['p99']:.2f}")
    ok = all(r["errors"] == 0 and r["p99"] <= 100 for r in results.values())
    print(f"goal: zero errors and p99 ≤ 100 ms at {args.rate:.0f} msg/s → {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
