"""A campaign to many subscribers against the fake WeChat API (issue 19): throughput, memory, and
a send killed with SIGKILL at random points and resumed — every recipient messaged exactly once.

The fake WeChat runs in this process on 127.0.0.1; each `push send` runs in a child process
(SQLite file database) that is killed with SIGKILL `--kills` times at random moments. Between
runs, WeChat's TEMPLATESENDJOBFINISH reports for the messages it accepted are recorded, as the
callback would (they settle a message the kill left unrecorded); the last run resumes with the
settle time passed. Printed: throughput of the uninterrupted baseline run (messages/s), the
child's own peak RSS (VmHWM) for the baseline and for the final run over `--subscribers` (the
audience is written by one INSERT … SELECT and the rows are read in batches, so memory should not
grow with it), and the exactly-once check.

    .venv/bin/python bench/push.py [--subscribers 100000] [--kills 2] [--seed 1]
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert

from app.db.engine import make_engine
from app.db.migrate import upgrade
from app.db.models import Subscription
from app.push import store
from bench.common import ROOT
from tests.fakes.fake_wechat import FakeWeChat

CHILD = """
import asyncio, resource, sys
from datetime import UTC, datetime
from pathlib import Path
sys.path.insert(0, {root!r})
from app.db.engine import make_engine
from app.push.send import send
from app.stores.memory import MemoryStore
from app.wxapi.client import WeChatClient
from knowledge.campaigns import load_campaign

async def main() -> None:
    engine = make_engine({url!r})
    client = WeChatClient(appid={appid!r}, secret={secret!r}, store=MemoryStore(), base_url={base!r})
    summary = await send(engine, client, load_campaign(Path({campaign!r})), ignore_quiet=True,
                         settle_s=float(sys.argv[1]))
    await client.aclose()
    print("RESULT", summary.sent, summary.unknown, round(peak_mb(), 1), flush=True)

def peak_mb() -> float:
    # VmHWM: this process's own high-water mark. ru_maxrss is not: Linux carries into it the
    # address space the child was spawned from (the bench itself, which holds every message
    # the fake WeChat accepted), so it grew with the audience while the job did not.
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

asyncio.run(main())
"""


def _seed(url: str, n: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    with engine.begin() as conn:
        for start in range(0, n, 5000):
            conn.execute(insert(Subscription), [
                {"account": "default", "openid": f"o{i:07d}", "topic": "gjj", "status": "subscribed",
                 "created_at": now, "updated_at": now}
                for i in range(start, min(n, start + 5000))
            ])
    engine.dispose()


def _campaign(folder: Path, name: str) -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(
        "title: 公积金新政\ntopics: [gjj]\nchannel: template\ntemplate_id: TPL\ncontent: 利率下调。\n"
        "rate_per_second: 1000\nfrequency_cap: {count: 100, days: 1}\n",
        encoding="utf-8",
    )
    return path


def _script(folder: Path, url: str, fake: FakeWeChat, campaign: Path) -> Path:
    script = folder / f"child_{campaign.stem}.py"
    script.write_text(CHILD.format(root=str(ROOT), url=url, appid=fake.appid, secret=fake.secret, base=fake.url,
                                   campaign=str(campaign)), encoding="utf-8")
    return script


def _report_accepted(url: str, fake: FakeWeChat, done: int) -> int:
    """TEMPLATESENDJOBFINISH for every message accepted since `done`, as WeChat would post them."""
    engine = make_engine(url)
    bodies = fake.templates
    for index in range(done, len(bodies)):
        store.record_template_result(engine, str(bodies[index]["touser"]), str(200001 + index), "success")
    engine.dispose()
    return len(bodies)


def _result(stdout: str) -> list[str]:
    """The child's RESULT line (its logs share stdout)."""
    line = next(line for line in reversed(stdout.splitlines()) if line.startswith("RESULT "))
    return line.split()[1:]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=100_000)
    parser.add_argument("--baseline", type=int, default=2_000)
    parser.add_argument("--kills", type=int, default=2)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    folder = Path(tempfile.mkdtemp(prefix="wxbot-push-bench-"))
    with FakeWeChat() as fake:
        # Baseline: a small audience, one uninterrupted run.
        small = f"sqlite:///{folder / 'small.db'}"
        _seed(small, args.baseline)
        started = time.perf_counter()
        out = subprocess.run([sys.executable, str(_script(folder, small, fake, _campaign(folder, "base"))), "600"],
                             capture_output=True, text=True, check=True).stdout
        out = _result(out)
        base_s = time.perf_counter() - started
        base_rate = int(out[0]) / base_s
        base_rss = float(out[2])
        print(f"baseline: {args.baseline} subscribers, {out[0]} sent in {base_s:.1f} s = {base_rate:.0f} msg/s "
              f"(child start-up included), peak RSS {base_rss:.0f} MB", flush=True)
        fake.reset()

        big = f"sqlite:///{folder / 'big.db'}"
        _seed(big, args.subscribers)
        script = _script(folder, big, fake, _campaign(folder, "big"))
        expected_s = args.subscribers / max(base_rate, 1.0)
        reported = 0
        started = time.perf_counter()
        # The send job's own time (child runs, start-up included), without the reports posted
        # back between runs, which is the callback's work in production.
        job_s = 0.0
        for kill in range(args.kills):
            run_started = time.perf_counter()
            child = subprocess.Popen([sys.executable, str(script), "600"], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
            time.sleep(rng.uniform(0.2, 0.6) * expected_s / args.kills + 2.0)
            os.kill(child.pid, signal.SIGKILL)
            child.wait()
            job_s += time.perf_counter() - run_started
            print(f"kill {kill + 1}: SIGKILL after {len(fake.templates)} accepted", flush=True)
            reported = _report_accepted(big, fake, reported)
        # Resume once with the settle time (WeChat has reported what it accepted), to the end.
        run_started = time.perf_counter()
        out = _result(subprocess.run([sys.executable, str(script), "0"], capture_output=True, text=True,
                                     check=True).stdout)
        job_s += time.perf_counter() - run_started
        total_s = time.perf_counter() - started
        counts = Counter(str(body["touser"]) for body in fake.templates)
        twice = sum(1 for n in counts.values() if n > 1)
        missing = args.subscribers - len(counts)
        print(f"campaign: {args.subscribers} subscribers, {len(fake.templates)} messages in {total_s:.1f} s "
              f"({len(fake.templates) / total_s:.0f} msg/s incl. {args.kills} kills and restarts and the reports "
              f"between them); the job's own runs {job_s:.1f} s = {len(fake.templates) / job_s:.0f} msg/s "
              f"= {len(fake.templates) / job_s / base_rate:.2f}x baseline; "
              f"final run peak RSS {float(out[2]):.0f} MB = {float(out[2]) / base_rss:.2f}x baseline")
        print(f"exactly once: {'yes' if not twice and not missing else 'NO'} "
              f"(messaged twice: {twice}, never messaged: {missing}; rows sent: {out[0]}, unknown: {out[1]})")


if __name__ == "__main__":
    main()
