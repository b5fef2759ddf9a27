"""Callback throughput and latency against a floor (FastAPI + wechatpy parse/render only).

Both servers run in this process's lifetime on 127.0.0.1 with one uvicorn worker each and are
driven by wrk with the same signed text deliveries (questions from the sample account's
regression cases, a fresh MsgId and a rotating user per request). Printed: throughput, p50 and
p99 for both at each concurrency, and the service/floor ratio; then resident memory per worker.

Goals (issues 2 and 15): at concurrency 16, ≥ 0.6× the floor's throughput on the embedded
defaults and ≥ 0.5× with `REDIS_URL` set, p99 ≤ 50 ms; ≤ 150 MB resident per worker with the
sample account, warmed up (the in-process store's state after the run is printed beside it).

    .venv/bin/python bench/callback.py [--seconds 10] [--concurrency 1 16 64] [--compare DIR]

`--compare DIR` also serves another version of the code (a source tree, e.g. `git archive main |
tar -x -C DIR`) with the same settings, measured in turn with the two others at each concurrency:
a before/after under the same conditions, which back-to-back runs on a shared machine are not.

The machine drifts: the floor alone served 1,750–3,050 req/s in runs ten minutes apart, and
whichever server was measured third did better than the second in most runs (docs/reliability.md).
So after the warm-up each server's `--seconds` are cut into `--rounds` slices, measured in turn,
the order rotated every round; a round's ratio is the service's throughput over the floor's in
that round, and the figures printed are the medians over the rounds (each round is printed too).
`--rounds 1` measures each server once, in one piece, as before.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import ROOT, WrkResult, citizen_phrasings, metric_total, service, wrk

SCRIPT = ROOT / "bench" / "wrk_post.lua"


def questions_file() -> Path:
    """Citizens' phrasings, one per line, for the wrk script."""
    lines = citizen_phrasings()
    path = Path(tempfile.mkstemp(prefix="wxbot-questions-", suffix=".txt")[1])
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def extra_env() -> dict[str, str]:
    """Settings to try on the service for one run, e.g. BENCH_ENV='TURNLOG_WRITER=process'."""
    pairs = [p.split("=", 1) for p in os.environ.get("BENCH_ENV", "").split() if "=" in p]
    return {k: v for k, v in pairs}


def _median(rounds: list[WrkResult]) -> WrkResult:
    """Each figure's median over the rounds (errors and requests summed)."""
    return WrkResult(
        rps=statistics.median(r.rps for r in rounds),
        p50_ms=statistics.median(r.p50_ms for r in rounds),
        p99_ms=statistics.median(r.p99_ms for r in rounds),
        requests=sum(r.requests for r in rounds),
        errors=sum(r.errors for r in rounds),
    )


def mb(values: list[float]) -> str:
    return ", ".join(f"{m:.0f} MB" for m in values)


def row(name: str, conc: int, r: WrkResult) -> str:
    return (
        f"{name:<8} c={conc:<3} {r.rps:>9.0f} req/s  p50 {r.p50_ms:>7.2f} ms  "
        f"p99 {r.p99_ms:>7.2f} ms  errors {r.errors}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--compare", type=Path, help="another source tree to measure beside this one")
    parser.add_argument("--rounds", type=int, default=4, help="slices of --seconds per server, taken in turn")
    args = parser.parse_args()
    env = {"QUESTIONS_FILE": str(questions_file()), "WRK_USERS": "20000"}
    slice_s = max(2, round(args.seconds / args.rounds))
    slices: dict[tuple[str, int], list[WrkResult]] = {}
    rss: list[float] = []
    # Every request is signed with its own nonce (bench/common.wrk), so the service's replay
    # records are on and measured, as in production.
    with contextlib.ExitStack() as stack:
        floor = stack.enter_context(service("bench.floor_app:app", factory=False, migrate=False))
        svc = stack.enter_context(service(env=extra_env()))
        targets = [("floor", floor), ("service", svc)]
        if args.compare is not None:
            other = {**extra_env(), "PYTHONPATH": str(args.compare.resolve())}
            targets.append(("compared", stack.enter_context(service(env=other))))
        footprint: list[float] = []
        for conc in args.concurrency:
            # Warm each up, then measure them in turn at the same concurrency, round by round.
            for name, target in targets:
                wrk(f"{target.base}/wechat", connections=conc, seconds=2, script=SCRIPT, env=env)
                if name == "service" and not footprint:
                    # Every code path warmed, little state yet: what each worker costs to run.
                    footprint = svc.worker_rss_mb()
            for n in range(args.rounds):
                for name, target in targets[n % len(targets) :] + targets[: n % len(targets)]:
                    result = wrk(f"{target.base}/wechat", connections=conc, seconds=slice_s, script=SCRIPT, env=env)
                    slices.setdefault((name, conc), []).append(result)
                    print(f"round {n + 1} " + row(name, conc, result), flush=True)
        results = {key: _median(rounds) for key, rounds in slices.items()}
        rss = svc.worker_rss_mb()
        writers = svc.writer_rss_mb()
        store_keys = metric_total(svc, "wxbot_memory_store_keys")
    ratios = {
        (name, conc): statistics.median(
            s.rps / f.rps for s, f in zip(slices[(name, conc)], slices[("floor", conc)], strict=True)
        )
        for name, conc in slices
    }
    print(f"\nmedians over {args.rounds} round(s) of {slice_s} s per server")
    print("concurrency  throughput ratio (service/floor)  p99 service  p99 floor")
    for conc in args.concurrency:
        s, f = results[("service", conc)], results[("floor", conc)]
        print(f"{conc:>11}  {ratios[('service', conc)]:>31.2f}  {s.p99_ms:>8.2f} ms  {f.p99_ms:>6.2f} ms")
    if args.compare is not None:
        print(f"\n{args.compare} (compared), same rounds:")
        for conc in args.concurrency:
            c, f = results[("compared", conc)], results[("floor", conc)]
            print(f"{conc:>11}  {ratios[('compared', conc)]:>31.2f}  {c.p99_ms:>8.2f} ms  {f.p99_ms:>6.2f} ms")
    print(f"\nresident memory per service worker, warmed up: {mb(footprint)}"
          f" (plus its turn-log writer helper: {mb(writers)})")
    print(f"after the run: {mb(rss)}, with {store_keys:.0f} keys in the in-process store (sessions of every"
          " user seen, 30 s of replies kept for WeChat's retries, rate windows); with REDIS_URL that state"
          " lives in Redis")
    ok = True
    if 16 in args.concurrency:
        # Issue 15: with Redis ≥ 0.5× the floor; the embedded default ≥ 0.6×, so that it holds the
        # first wave's 0.5× with margin on a noisy machine.
        goal = 0.5 if os.environ.get("REDIS_URL") else 0.6
        ok = ratios[("service", 16)] >= goal and results[("service", 16)].p99_ms <= 50
        print(f"goal at c=16: ratio ≥ {goal:.2f} and p99 ≤ 50 ms → {'met' if ok else 'NOT met'}")
    # Judged on what a worker costs with the sample account; the embedded store's state grows with
    # traffic (bounded by TTLs and its key cap) and is printed above, not hidden.
    mem_ok = all(m <= 150 for m in footprint)
    print(f"goal memory ≤ 150 MB per worker (warmed up) → {'met' if mem_ok else 'NOT met'}")
    errors = sum(r.errors for r in results.values())
    print(f"errors: {errors}")
    return 0 if ok and mem_ok and errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
