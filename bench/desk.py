"""The staff desk's queue page with 100,000 tickets, measured beside the callback under load.

One service (one uvicorn worker, as deployed per core) on a database seeded with 100,000
tickets spread over 90 days (a third open). Three phases of the same length, back to back:

  A. the callback alone under its usual load: bench/load.py's realistic mix (FAQ questions,
     flow conversations, menu clicks, WeChat re-deliveries) paced at --rate messages a second;
  B. the desk alone: --clients staff sessions, each opening a page every --think seconds (the
     default queue, later pages, filters, a phone search, closed tickets, a ticket page);
  C. both at once: the desk's p95 while the callback is loaded, and the callback's throughput
     and p99 against A.

Goals (issue 17): the queue page p95 ≤ 200 ms with 100,000 tickets (in C); the callback keeps
its rate with p99 ≤ 100 ms (bench/load.py's goal) while staff work. Printed with ratios to A:
the machine is shared and noisy.

    .venv/bin/python bench/desk.py [--seconds 10] [--tickets 100000] [--clients 8 --think 1] [--database-url URL]

`--database-url` (or TEST_POSTGRES_URL) seeds a private schema on PostgreSQL; otherwise SQLite.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import Engine, create_engine, insert, text

from app.db.engine import make_engine, normalise_url
from app.db.migrate import upgrade
from app.db.models import Ticket
from app.desk import staff
from app.turnlog.report import percentile
from bench.common import WrkResult, service, wrk
from bench.load import CONNECTIONS
from bench.load import SCRIPT as MIX
from bench.load import inputs as mix_inputs

PASSWORD = "bench-desk-password"
KINDS = ("投诉", "建议", "留言", "预约")
CATEGORIES = ("服务态度", "办事效率", "环境设施", "政策规定", "意见建议", "其他")
STATUSES = ("新建", "已受理", "办理中", "已办结", "已办结", "已办结", "已退回", "已撤销", "已办结")
PAGES = (
    "/desk/",
    "/desk/?page=2",
    "/desk/?page=40",
    "/desk/?kind=投诉",
    "/desk/?category=服务态度&kind=投诉",
    "/desk/?assignee=none",
    "/desk/?status=已办结",
    "/desk/?status=all&page=500",
    "/desk/?age=7d",
    "/desk/?q={phone}",
    "/desk/tickets/{number}",
)


def seed(engine: Engine, count: int) -> tuple[list[str], list[str]]:
    """`count` tickets over 90 days; returns some phones and numbers to search for."""
    rng = random.Random(17)
    now = datetime.now(UTC)
    phones: list[str] = []
    numbers: list[str] = []
    batch: list[dict[str, object]] = []
    for i in range(count):
        created = now - timedelta(seconds=rng.uniform(0, 90 * 86400))
        status = rng.choice(STATUSES)
        open_ = status in ("新建", "已受理", "办理中")
        phone = f"13{rng.randrange(10**9):09d}"
        number = f"{created:%Y%m%d}-{i:06d}"
        response_due = created + timedelta(hours=rng.choice((2, 4, 20)))
        resolve_due = created + timedelta(days=7)
        kind = rng.choice(KINDS)
        batch.append({
            "number": number, "created_at": created, "flow_id": "complaint", "openid": f"o-bench-{i}",
            "fields": {"问题类别": rng.choice(CATEGORIES), "具体情况": "窗口排队时间太长。", "联系电话": phone},
            "status": status, "account": "default", "kind": kind, "category": rng.choice(CATEGORIES),
            "phone": phone, "assignee": rng.choice(("", "", "wang", "li")), "consultation_id": uuid.uuid4().hex,
            "updated_at": created, "first_response_at": None if status == "新建" else created + timedelta(hours=1),
            "resolved_at": None if open_ else created + timedelta(days=2),
            "response_due_at": response_due, "resolve_due_at": resolve_due,
            "due_at": (response_due if status == "新建" else resolve_due) if open_ else None,
        })
        if i % 500 == 0:
            phones.append(phone)
            numbers.append(number)
        if len(batch) == 5000:
            with engine.begin() as conn:
                conn.execute(insert(Ticket), batch)
            batch = []
    if batch:
        with engine.begin() as conn:
            conn.execute(insert(Ticket), batch)
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("ANALYZE tickets"))
    else:
        with engine.begin() as conn:
            conn.execute(text("ANALYZE"))
    return phones, numbers


def login(base: str, username: str) -> httpx.Client:
    client = httpx.Client(base_url=base, timeout=30, follow_redirects=False)
    page = client.get("/desk/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    response = client.post("/desk/login", data={"username": username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 303, response.text[:500]
    return client


def desk_load(
    sessions: list[httpx.Client], seconds: float, phones: list[str], numbers: list[str], think: float
) -> list[float]:
    """Every staff session (logged in beforehand: a login's argon2 hash is ~0.1 s of CPU on
    purpose, and staff log in once a day) fetches pages for `seconds`, `think` seconds apart
    (a person reads what they opened); the latencies in ms."""
    latencies: list[float] = []
    lock = threading.Lock()
    errors: list[str] = []

    def run(n: int, client: httpx.Client) -> None:
        rng = random.Random(n)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            path = rng.choice(PAGES).format(phone=rng.choice(phones), number=rng.choice(numbers))
            start = time.perf_counter()
            response = client.get(path)
            elapsed = (time.perf_counter() - start) * 1000
            if response.status_code != 200:
                errors.append(f"{path}: {response.status_code}")
                continue
            with lock:
                latencies.append(elapsed)
            time.sleep(think * rng.uniform(0.5, 1.5))

    threads = [threading.Thread(target=run, args=(n, c)) for n, c in enumerate(sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(seconds + 60)
    if errors:
        print(f"desk errors: {len(errors)} (first: {errors[0]})")
    return latencies


def summary(values: list[float]) -> str:
    values = sorted(values)
    return (f"{len(values)} pages  p50 {percentile(values, 50):.1f} ms  p95 {percentile(values, 95):.1f} ms  "
            f"max {values[-1]:.1f} ms  mean {statistics.fmean(values):.1f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--tickets", type=int, default=100_000)
    # A busy service centre: eight staff each opening a page every second or so (0 = flat out).
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--think", type=float, default=1.0, help="seconds between one person's pages")
    parser.add_argument("--rate", type=float, default=200, help="callback messages a second")
    parser.add_argument("--database-url", default=os.environ.get("TEST_POSTGRES_URL"))
    args = parser.parse_args()

    schema = ""
    if args.database_url:
        base_url = normalise_url(args.database_url)
        schema = f"bench_desk_{uuid.uuid4().hex[:8]}"
        admin = create_engine(base_url)
        with admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        sep = "&" if "?" in base_url else "?"
        url = f"{base_url}{sep}options=-csearch_path%3D{schema}"
    else:
        url = f"sqlite:///{tempfile.mkdtemp(prefix='wxbot-bench-desk-')}/desk.db"
    try:
        engine = make_engine(url)
        upgrade(engine)
        started = time.perf_counter()
        phones, numbers = seed(engine, args.tickets)
        for n in range(args.clients):
            staff.add(engine, f"staff{n}", "agent", PASSWORD)
        print(f"seeded {args.tickets} tickets on {engine.dialect.name} in {time.perf_counter() - started:.1f} s")
        engine.dispose()

        # Each wrk connection paces itself (bench/wrk_mix.lua), so the rate is about --rate.
        env = {**mix_inputs(), "RATE_DELAY_MS": str(max(1, int(CONNECTIONS * 1000 / args.rate) - 20))}
        with service(env={"DATABASE_URL": url}, migrate=False) as svc:
            # wrk signs every request with its own nonce (bench/common.py): no replays.
            callback_url = f"{svc.base}/wechat"
            wrk(callback_url, connections=CONNECTIONS, seconds=2, script=MIX, env=env)  # warm up
            sessions = [login(svc.base, f"staff{n}") for n in range(args.clients)]
            desk_load(sessions[:2], 2, phones, numbers, 0)  # warm up

            alone: WrkResult = wrk(callback_url, connections=CONNECTIONS, seconds=args.seconds, script=MIX, env=env)
            desk_alone = desk_load(sessions, args.seconds, phones, numbers, args.think)
            beside: list[float] = []
            loader = threading.Thread(target=lambda: beside.extend(
                desk_load(sessions, args.seconds, phones, numbers, args.think)))
            loader.start()
            loaded: WrkResult = wrk(callback_url, connections=CONNECTIONS, seconds=args.seconds, script=MIX, env=env)
            loader.join(args.seconds + 90)
            for session in sessions:
                session.close()
    finally:
        if schema:
            with admin.begin() as conn:
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
            admin.dispose()

    print(f"A callback alone      {args.rate:.0f}/s: {alone.rps:.0f} req/s  p50 {alone.p50_ms:.2f} ms  "
          f"p99 {alone.p99_ms:.2f} ms  errors {alone.errors}")
    print(f"B desk alone          {args.clients} staff: {summary(desk_alone)}")
    print(f"C desk beside load    {args.clients} staff: {summary(beside)}")
    print(f"C callback beside desk {args.rate:.0f}/s: {loaded.rps:.0f} req/s  p50 {loaded.p50_ms:.2f} ms  "
          f"p99 {loaded.p99_ms:.2f} ms  errors {loaded.errors}")
    ratio = loaded.rps / alone.rps
    p95 = percentile(sorted(beside), 95) or float("inf")
    print(f"\ncallback throughput with the desk in use / alone: {ratio:.2f}   "
          f"p99 {loaded.p99_ms / alone.p99_ms:.2f}×")
    print(f"desk p95 beside the load / alone: {p95 / (percentile(sorted(desk_alone), 95) or 1):.2f}×")
    ok_desk, ok_cb = p95 <= 200, ratio >= 0.95 and loaded.p99_ms <= 100
    verdict = "met" if ok_desk else "NOT met"
    print(f"goal queue p95 ≤ 200 ms with {args.tickets} tickets beside the callback → {verdict}")
    print(f"goal callback keeps its rate (≥ 0.95×) with p99 ≤ 100 ms beside the desk → {'met' if ok_cb else 'NOT met'}")
    return 0 if ok_desk and ok_cb and alone.errors + loaded.errors == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
