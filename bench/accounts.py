"""A city's accounts in one deployment (issue 16): what 50 accounts cost over one account.

Synthetic content: a shared knowledge base of `--shared` entries (5 phrasings each) and, for each
of `--accounts` accounts, an overlay of `--overlay` entries (a third override shared entries by
id, the rest are the account's own) plus a disable.txt withdrawing three shared entries. Two
services on 127.0.0.1, one uvicorn worker each, the same shared content:

- single: one account (WECHAT_*, KNOWLEDGE_DIR = the shared folder), as a deployment is today;
- city: ACCOUNTS_FILE with every account, each at /wechat/<id> with its own token.

Printed, each as a ratio to the single-account baseline measured in the same run:
- start-up: process start until /healthz answers (every index built);
- worker memory (RSS) after a warm-up;
- FAQ matching p50/p99 in this process: the shared matcher alone against the 50 accounts'
  layered matchers (queries spread over the accounts; no query is repeated on one matcher);
- callback throughput with wrk at concurrency `--concurrency`: single account against
  deliveries spread over all accounts (rounds alternate, the median round is compared).

Goals: memory ≤ 1.3×, FAQ p99 within ±10%, throughput ≥ 0.9×.

    .venv/bin/python bench/accounts.py [--accounts 50] [--shared 1200] [--overlay 35] [--seconds 8]
"""

from __future__ import annotations

import argparse
import gc
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from app.main import GC_THRESHOLDS
from bench.common import ROOT, WrkResult, rss_mb, service, wrk
from bench.faq_speed import PER_ENTRY, Synthetic, write_folder
from knowledge.schema import FaqEntry

TODAY = date(2026, 1, 15)
SCRIPT = ROOT / "bench" / "wrk_accounts.lua"


def build_content(root: Path, accounts: int, shared: int, overlay: int) -> tuple[Synthetic, list[str]]:
    """Write the shared folder, every overlay and the accounts file; return the generator and account ids."""
    overrides = overlay // 3
    own = overlay - overrides
    syn = Synthetic((shared + accounts * own) * PER_ENTRY)
    rng = random.Random(16)
    shared_entries = syn.entries[:shared]
    write_folder(root / "shared", shared_entries)
    ids = [f"acct{i:02d}" for i in range(accounts)]
    lines = ["accounts:"]
    for i, account in enumerate(ids):
        folder = root / "accounts" / account
        replaced = [
            FaqEntry(e.id, e.category, e.question, e.similar, f"{account} 的本地答案：{e.answer}")
            for e in rng.sample(shared_entries, overrides)
        ]
        mine = syn.entries[shared + i * own : shared + (i + 1) * own]
        write_folder(folder, [*replaced, *mine], files=2)
        withdrawn = rng.sample([e.id for e in shared_entries], 3)
        (folder / "disable.txt").write_text("\n".join(withdrawn) + "\n", encoding="utf-8")
        lines += [
            f"  - id: {account}",
            f"    name: 账号{i}",
            f"    appid: wxbench{i:010d}",
            f"    token: {account}token",
            f"    knowledge: [{root / 'shared'}, {folder}]",
            f"    flows: [{ROOT / 'flows'}]",
            f"    menu: {folder / 'menu.yaml'}",
        ]
    (root / "accounts.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return syn, ids


def faq_latency(root: Path, ids: list[str], queries: list[str]) -> tuple[dict[str, float], dict[str, float], float]:
    """p50/p99 (ms) of the shared matcher alone and of the accounts' layered matchers; RSS the overlays added."""
    from knowledge.layered import Layer, LayeredMatcher, vocabulary_of
    from knowledge.matcher import Matcher
    from knowledge.normalize import warm_up

    warm_up()
    single = Matcher.from_directory(root / "shared")
    base = Layer.load(root / "shared")
    gc.collect()
    before = rss_mb_self()
    inherit = vocabulary_of([base])
    layered = [LayeredMatcher([base, Layer.load(root / "accounts" / a, inherit=inherit)]) for a in ids]
    gc.collect()
    overlays_mb = rss_mb_self() - before
    # As the service does after start-up (app.main): what is loaded lives for the process, and
    # the collector runs rarely, so neither side's percentiles are full collections.
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    single_ms: list[float] = []
    layered_ms: list[float] = []
    for n, query in enumerate(queries):
        account = layered[n % len(layered)]
        # Alternate which goes first, so neither always finds the other's work in the CPU caches.
        order = ((single, single_ms), (account, layered_ms)) if n % 2 else ((account, layered_ms), (single, single_ms))
        for matcher, samples in order:
            started = time.perf_counter()
            matcher.match(query, TODAY)
            samples.append((time.perf_counter() - started) * 1000)
    return pct(single_ms), pct(layered_ms), overlays_mb


def rss_mb_self() -> float:
    import os

    return rss_mb(os.getpid())


def pct(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {"p50": statistics.median(ordered), "p99": ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]}


def signed(token: str, path: str) -> str:
    from app.wechat.crypto import sign

    ts, nonce = str(int(time.time())), "20261206"
    return f"{path}?signature={sign(token, ts, nonce)}&timestamp={ts}&nonce={nonce}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--accounts", type=int, default=50)
    parser.add_argument("--shared", type=int, default=1200)
    parser.add_argument("--overlay", type=int, default=35)
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--queries", type=int, default=4000)
    parser.add_argument("--faq-only", action="store_true", help="only the in-process FAQ matching")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="wxbot-accounts-"))
    try:
        syn, ids = build_content(root, args.accounts, args.shared, args.overlay)
        print(f"content: shared {args.shared} entries, {len(ids)} accounts × {args.overlay} overlay entries "
              f"({args.overlay // 3} overrides) + 3 withdrawn each", flush=True)

        queries = syn.queries(args.queries)
        single_faq, city_faq, overlays_mb = faq_latency(root, ids, queries)
        print(f"FAQ matching, {len(queries)} queries: single p50 {single_faq['p50']:.3f} ms p99 "
              f"{single_faq['p99']:.3f} ms; layered over {len(ids)} accounts p50 {city_faq['p50']:.3f} ms "
              f"p99 {city_faq['p99']:.3f} ms → p50 ratio {city_faq['p50'] / single_faq['p50']:.2f}, "
              f"p99 ratio {city_faq['p99'] / single_faq['p99']:.2f}", flush=True)
        print(f"in-process memory the {len(ids)} overlays added to the shared index: {overlays_mb:.1f} MB", flush=True)
        if args.faq_only:
            return 0

        questions = root / "questions.txt"
        questions.write_text("\n".join(syn.queries(3000)) + "\n", encoding="utf-8")
        single_paths = root / "single.txt"
        single_paths.write_text(signed("singletoken", "/wechat") + "\n", encoding="utf-8")
        city_paths = root / "city.txt"
        city_paths.write_text("\n".join(signed(f"{a}token", f"/wechat/{a}") for a in ids) + "\n", encoding="utf-8")
        common = {"TIMESTAMP_WINDOW_S": "0", "RATE_LIMIT_PER_MINUTE": "0"}
        single_env = {**common, "KNOWLEDGE_DIR": str(root / "shared"), "WECHAT_TOKEN": "singletoken"}
        city_env = {**common, "ACCOUNTS_FILE": str(root / "accounts.yaml")}
        wrk_env = {"QUESTIONS_FILE": str(questions), "WRK_USERS": "20000"}

        started = time.perf_counter()
        with service(env=single_env) as single:
            single_start = time.perf_counter() - started
            started = time.perf_counter()
            with service(env=city_env) as city:
                city_start = time.perf_counter() - started
                targets = {"single": (single, single_paths), "city": (city, city_paths)}
                for _name, (svc, paths) in targets.items():
                    wrk(svc.base + "/", connections=args.concurrency, seconds=2, script=SCRIPT,
                        env={**wrk_env, "PATHS_FILE": str(paths)})
                memory = {name: svc.worker_rss_mb()[0] for name, (svc, _) in targets.items()}
                rounds: dict[str, list[WrkResult]] = {"single": [], "city": []}
                for r in range(args.rounds):
                    order = ["single", "city"] if r % 2 == 0 else ["city", "single"]
                    for name in order:
                        svc, paths = targets[name]
                        result = wrk(svc.base + "/", connections=args.concurrency, seconds=args.seconds,
                                     script=SCRIPT, env={**wrk_env, "PATHS_FILE": str(paths)})
                        rounds[name].append(result)
                        print(f"round {r + 1} {name:<6} {result.rps:>7.0f} req/s  p50 {result.p50_ms:6.2f} ms  "
                              f"p99 {result.p99_ms:6.2f} ms  errors {result.errors}", flush=True)
        print()
        print(f"start-up (every index built): single {single_start:.1f} s, {len(ids)} accounts {city_start:.1f} s "
              f"→ {city_start / single_start:.2f}×")
        mem_ratio = memory["city"] / memory["single"]
        print(f"worker memory: single {memory['single']:.0f} MB, {len(ids)} accounts {memory['city']:.0f} MB "
              f"→ {mem_ratio:.2f}× (goal ≤ 1.30)")
        faq_ratio = city_faq["p99"] / single_faq["p99"]
        print(f"FAQ p99: {faq_ratio:.2f}× (goal 0.90–1.10)")
        single_rps = statistics.median(r.rps for r in rounds["single"])
        city_rps = statistics.median(r.rps for r in rounds["city"])
        rps_ratio = city_rps / single_rps
        print(f"callback throughput at c={args.concurrency}, median of {args.rounds} rounds: single "
              f"{single_rps:.0f} req/s, spread over {len(ids)} accounts {city_rps:.0f} req/s → {rps_ratio:.2f}× "
              f"(goal ≥ 0.90)")
        errors = sum(r.errors for rs in rounds.values() for r in rs)
        print(f"errors: {errors}")
        ok = mem_ratio <= 1.3 and 0.9 <= faq_ratio <= 1.1 and rps_ratio >= 0.9 and errors == 0
        print(f"goals {'met' if ok else 'NOT all met'}")
        return 0 if ok else 1
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main())
