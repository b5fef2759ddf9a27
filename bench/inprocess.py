"""CPU per delivery, in-process: the app's ASGI callable driven with signed deliveries, no HTTP.

`bench/callback.py` measures what WeChat sees, but on a shared two-core machine its throughput
moves by ±10–20% from run to run (wrk, the server, Redis and other sessions share the cores). This
one measures only the worker's own work: the app built by `app.main:create_app` (lifespan and all,
uvloop) is called directly with the benchmark's signed text deliveries, 16 in flight, and the
process's CPU time per delivery is printed for each round. The turn-log writer runs in its helper
process, as served, so its CPU is not counted (as in `bench/callback.py`'s per-worker figures).

Citizens come back: with `--users N` the deliveries cycle through N citizens, so later rounds
hold more citizens mid-flow (a booking or complaint started by an earlier phrasing) and show what
their turns cost. Every phrasing is sent three times before the first round (the steady state of
a worker that has seen the sample phrasings).

    .venv/bin/python bench/inprocess.py [--rounds 5] [--per-round 10000] [--users 20000]
        [--redis URL] [--compare DIR]

`--compare DIR` runs the same measurement on another source tree (e.g. `git archive <rev> | tar -x
-C DIR`) in a child process, alternating with this tree round by round, and prints both.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def _child(tree: Path, args: argparse.Namespace, rounds: int) -> list[float]:
    """One measurement in a fresh process on `tree`: the CPU µs per delivery of each round."""
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", str(tree), "--rounds", str(rounds),
           "--per-round", str(args.per_round), "--users", str(args.users)]
    if args.redis:
        cmd += ["--redis", args.redis]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=tree).stdout
    return [float(x) for x in json.loads(out.strip().splitlines()[-1])]


def _measure(tree: Path, args: argparse.Namespace) -> list[float]:
    """In this process (a child): build the app from `tree`, warm it, time the rounds."""
    sys.path.insert(0, str(tree))
    workdir = Path(tempfile.mkdtemp(prefix="wxbot-inprocess-"))
    os.environ.update(
        APP_ENV="dev", DATABASE_URL=f"sqlite:///{workdir}/wxbot.db", KNOWLEDGE_DIR=str(tree / "knowledge"),
        FLOWS_DIR=str(tree / "flows"), LOG_LEVEL="ERROR", TURNLOG_WRITER="process",
    )
    if args.redis:
        os.environ["REDIS_URL"] = args.redis
    subprocess.run([sys.executable, "-m", "app.cli", "db", "upgrade"], check=True, capture_output=True, cwd=tree)

    import uvloop

    from app.main import create_app
    from app.wechat.crypto import sign
    from bench.common import DEV_TOKEN, citizen_phrasings

    phrasings = citizen_phrasings()
    # Citizens and message ids of their own per run: a run after another on the same Redis must
    # not find the first one's sessions, dedup records or replay records.
    run_id = os.urandom(4).hex()
    counter = [random.Random(run_id).randrange(10**9) * 10**6]

    async def run() -> list[float]:
        app = create_app()
        lifespan = app.router.lifespan_context(app)
        await lifespan.__aenter__()
        timestamp = str(int(time.time()))

        async def deliver() -> None:
            counter[0] += 1
            n = counter[0]
            nonce = f"{run_id}{n}"
            query = f"signature={sign(DEV_TOKEN, timestamp, nonce)}&timestamp={timestamp}&nonce={nonce}"
            body = (
                "<xml><ToUserName><![CDATA[gh_bench]]></ToUserName>"
                f"<FromUserName><![CDATA[o_inprocess_{run_id}_{n % args.users}]]></FromUserName>"
                f"<CreateTime>{timestamp}</CreateTime><MsgType><![CDATA[text]]></MsgType>"
                f"<Content><![CDATA[{phrasings[n % len(phrasings)]}]]></Content><MsgId>{n}</MsgId></xml>"
            ).encode()
            scope = {
                "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
                "scheme": "http", "path": "/wechat", "raw_path": b"/wechat", "query_string": query.encode(),
                "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
                "headers": [(b"host", b"bench"), (b"content-type", b"text/xml"),
                            (b"content-length", str(len(body)).encode())],
            }
            sent = False

            async def receive() -> dict[str, Any]:
                nonlocal sent
                if not sent:
                    sent = True
                    return {"type": "http.request", "body": body, "more_body": False}
                await asyncio.Event().wait()  # the client stays until the response is sent
                raise AssertionError("unreachable")

            statuses: list[int] = []

            async def send(message: MutableMapping[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    statuses.append(message["status"])

            await app(scope, receive, send)
            if statuses != [200]:
                raise SystemExit(f"delivery answered {statuses}")

        async def deliveries(count: int) -> None:
            async def sender() -> None:
                for _ in range(count // 16):
                    await deliver()

            await asyncio.gather(*(sender() for _ in range(16)))

        await deliveries(len(phrasings) * 3)
        cpu: list[float] = []
        for _ in range(args.rounds):
            started = time.process_time()
            await deliveries(args.per_round)
            cpu.append((time.process_time() - started) / args.per_round * 1e6)
        await lifespan.__aexit__(None, None, None)
        return cpu

    return uvloop.run(run())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", type=int, default=10_000)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--redis", help="REDIS_URL for the service's store, a spare database (default: in-process)")
    parser.add_argument("--compare", type=Path, help="another source tree, measured alternately")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(_measure(args.child.resolve(), args)))
        return 0
    trees = [("this tree", ROOT)] + ([("compared", args.compare.resolve())] if args.compare else [])
    # Alternating whole runs (each warms itself up): a drift of the machine hits both alike.
    results: dict[str, list[float]] = {name: [] for name, _ in trees}
    for attempt in range(2 if args.compare else 1):
        for name, tree in trees if attempt % 2 == 0 else list(reversed(trees)):
            rounds = _child(tree, args, args.rounds)
            results[name] += rounds
            print(f"{name:<10} CPU per delivery by round: " + " ".join(f"{r:.0f}" for r in rounds) + " µs",
                  flush=True)
    print()
    for name, rounds in results.items():
        print(f"{name:<10} median {statistics.median(rounds):.0f} µs per delivery over {len(rounds)} rounds"
              f" ({args.per_round} deliveries each, {args.users} citizens, "
              f"{'Redis' if args.redis else 'in-process store'})")
    if args.compare:
        mine, other = statistics.median(results["this tree"]), statistics.median(results["compared"])
        print(f"ratio this/compared: {mine / other:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
