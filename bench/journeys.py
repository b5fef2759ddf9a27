"""Interactions per completed consultation for the service flows (issue 4), over signed HTTP.

Plays bench/journeys.yaml against a running service: each journey sends the citizen's first
message to POST /wechat (plaintext mode, signature = sha1(sorted([token, timestamp, nonce]))),
then reads GET /admin/sessions/{openid} (admin token) to see which slots the service is waiting
for, and a scripted citizen answers exactly those from the journey's facts (「确认」 at the
confirmation, 「确认」 again after a failed submission) until the flow completes.

Reported: interactions per completed consultation (mean, median, p90; each user message is one
interaction, counted up to the completion; the rating answer after it is reported separately),
completion rate, and every slot asked twice. Baselines in the same run: the same journeys started
from the menu (a `flow:<id>` click, then answering what is asked one fact at a time — the desk
without reading the first message, the citizen giving one fact per message as at a desk), and
the service-desk report's 4 interactions.

Goal: mean ≤ 2.0, completion 100%, no slot asked twice.

    .venv/bin/python bench/journeys.py [--url http://127.0.0.1:8000] [--admin-token T] [--token T]
                                       [--journeys bench/journeys.yaml] [--max-turns 8] [-v]

Without --url it starts its own service on 127.0.0.1 (app.main:create_app, or --app) with a fake
progress backend on 127.0.0.1, and stops both; with --url the service's own FLOW_ENDPOINTS answer
(in the dev profile, its built-in demo backend).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from app.settings import DEV_ADMIN_TOKEN  # noqa: E402
from app.wechat.simulator import Simulator  # noqa: E402
from bench import followthrough  # noqa: E402
from bench.common import DEV_TOKEN, free_port, service  # noqa: E402

SERVICE_DESK_BASELINE = 4.0
BUDGET_S = 240.0


# -- the fake approval system -------------------------------------------------------------------
class _Progress(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        number = parse_qs(urlparse(self.path).query).get("number", [""])[0]
        body = json.dumps({"item": "居住证办理", "status": "审核中", "detail": f"{number} 预计3个工作日内办结"})
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        return None


@contextlib.contextmanager
def fake_backend() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), _Progress)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/progress"
    finally:
        server.shutdown()
        server.server_close()


# -- the scripted citizen ------------------------------------------------------------------------
@dataclass
class Journey:
    id: str
    flow: str
    first: str
    facts: dict[str, str]


@dataclass
class Played:
    journey: Journey
    mode: str
    completed: bool = False
    interactions: int = 0
    rated: bool = False
    asked_twice: list[str] = field(default_factory=list)
    failure: str = ""
    transcript: list[tuple[str, str]] = field(default_factory=list)


class Client:
    def __init__(self, base: str, token: str, admin_token: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=10)
        self.sim = Simulator(token)
        self.admin = {"Authorization": f"Bearer {admin_token}"}

    def send(self, fields: dict[str, str]) -> str:
        delivery = self.sim.deliver(fields)
        response = self.http.post("/wechat", params=delivery.params, content=delivery.body)
        response.raise_for_status()
        reply = self.sim.read_reply(response.text, delivery.params["nonce"])
        return reply.get("Content", reply.get("MsgType", ""))

    def say(self, openid: str, text: str) -> str:
        return self.send(self.sim.text(openid, text))

    def session(self, openid: str) -> dict[str, Any] | None:
        response = self.http.get(f"/admin/sessions/{openid}", headers=self.admin)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def serves_sessions(self) -> bool:
        response = self.http.get("/admin/sessions/bench-probe", headers=self.admin)
        return response.status_code == 404


def answer(awaiting: list[str], facts: dict[str, str], one_at_a_time: bool) -> str:
    if awaiting == ["confirm"]:
        return "确认"
    known = [facts[name] for name in awaiting if name in facts]
    return "，".join(known[:1] if one_at_a_time else known)


def play(client: Client, journey: Journey, mode: str, run: str, max_turns: int) -> Played:
    played = Played(journey, mode)
    openid = f"bench-{run}-{mode}-{journey.id}"
    asked: set[str] = set()
    if mode == "desk":
        reply = client.send(client.sim.event(openid, "CLICK", f"flow:{journey.flow}"))
        played.transcript.append((f"[menu flow:{journey.flow}]", reply))
    else:
        reply = client.send(client.sim.text(openid, journey.first))
        played.transcript.append((journey.first, reply))
    played.interactions = 1
    for _ in range(max_turns):
        state = client.session(openid)
        if state is None:
            played.failure = "flow ended without completing" if played.interactions > 1 else "no flow started"
            return played
        if state["flow"] != journey.flow:
            played.failure = f"started {state['flow']}, expected {journey.flow}"
            return played
        if state["resolved"]:
            played.completed = True
            if state["awaiting"] == ["satisfaction"]:
                reply = client.send(client.sim.text(openid, "满意"))
                played.transcript.append(("满意", reply))
                played.rated = client.session(openid) is None
            return played
        awaiting = [name for name in state["awaiting"] if name != "confirm"]
        played.asked_twice += [name for name in awaiting if name in asked]
        asked.update(awaiting)
        text = answer(state["awaiting"], journey.facts, one_at_a_time=mode == "desk")
        if not text:
            played.failure = f"citizen does not know {state['awaiting']}"
            return played
        reply = client.send(client.sim.text(openid, text))
        played.transcript.append((text, reply))
        played.interactions += 1
    played.failure = f"not completed within {max_turns} turns"
    return played


def percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    index = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return float(ordered[index])


def report(name: str, results: list[Played], show_twice: bool = True) -> float:
    done = [r.interactions for r in results if r.completed]
    rate = len(done) / len(results) if results else 0.0
    mean = statistics.mean(done) if done else float("nan")
    twice = [f"{r.journey.id}:{slot}" for r in results for slot in r.asked_twice]
    median = statistics.median(done) if done else float("nan")
    p90 = percentile(done, 0.9) if done else float("nan")
    ratings = [1 if r.rated else 0 for r in results if r.completed]
    with_rating = mean + statistics.mean(ratings) if done else float("nan")
    shown = " " + ", ".join(twice) if twice and show_twice else ""
    print(
        f"{name:<14} completed {len(done)}/{len(results)} ({rate:.0%})  interactions mean {mean:.2f}  "
        f"median {median:.1f}  p90 {p90:.1f}  with rating answer mean {with_rating:.2f}  "
        f"slots asked twice {len(twice)}{shown}"
    )
    return mean


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--url", help="a running service; default: start one on 127.0.0.1")
    parser.add_argument("--app", default="app.main:create_app", help="uvicorn factory for the started service")
    parser.add_argument("--token", default=DEV_TOKEN)
    parser.add_argument("--admin-token", default=DEV_ADMIN_TOKEN)
    parser.add_argument("--journeys", type=Path, default=ROOT / "bench" / "journeys.yaml")
    parser.add_argument("--max-turns", type=int, default=8)
    parser.add_argument("--followthrough", type=Path, default=ROOT / "bench" / "journeys_followthrough.yaml",
                        help="follow-through scripts (bench/followthrough.py); '' to skip")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every transcript")
    args = parser.parse_args()
    journeys = [
        Journey(j["id"], j["flow"], j["first"], {k: str(v) for k, v in (j.get("facts") or {}).items()})
        for j in yaml.safe_load(args.journeys.read_text(encoding="utf-8"))
    ]

    with contextlib.ExitStack() as stack:
        base = args.url
        if base is None:
            progress_url = stack.enter_context(fake_backend())
            env = {
                "FLOW_ENDPOINTS": json.dumps({"progress": {"url": progress_url, "timeout": 2}}),
                "ADMIN_TOKEN": args.admin_token,
                "WECHAT_TOKEN": args.token,
                "WECHAT_ENCRYPT_MODE": "plain",
                "RATE_LIMIT_PER_MINUTE": "100000",
            }
            base = stack.enter_context(service(args.app, env=env)).base
        client = Client(base, args.token, args.admin_token)
        if not client.serves_sessions():
            print(f"{base} does not answer GET /admin/sessions/{{openid}} with this admin token", file=sys.stderr)
            return 2
        started = time.monotonic()
        run = str(int(time.time()))
        results: dict[str, list[Played]] = {"first message": [], "desk baseline": []}
        for mode, key in (("text", "first message"), ("desk", "desk baseline")):
            for journey in journeys:
                if time.monotonic() - started > BUDGET_S:
                    print(f"time budget of {BUDGET_S:.0f}s reached; stopping early")
                    break
                results[key].append(play(client, journey, mode, run, args.max_turns))
        scripts = followthrough.load(args.followthrough) if str(args.followthrough) else []
        today = followthrough.today_in_shanghai()
        scripted = [followthrough.play(client, script, run, today) for script in scripts]

    print(f"{len(journeys)} journeys against {base} in {time.monotonic() - started:.1f}s")
    ours = report("first message", results["first message"])
    desk = report("desk baseline", results["desk baseline"], show_twice=False)
    print(
        f"ratio ours/desk baseline {ours / desk:.2f}   ours/service-desk report ({SERVICE_DESK_BASELINE:g}) "
        f"{ours / SERVICE_DESK_BASELINE:.2f}"
    )
    per_flow: dict[str, list[int]] = {}
    for r in results["first message"]:
        if r.completed:
            per_flow.setdefault(r.journey.flow, []).append(r.interactions)
    print(
        "per flow (first message): "
        + "  ".join(f"{flow} {statistics.mean(v):.2f}" for flow, v in sorted(per_flow.items()))
    )
    for r in results["first message"]:
        if r.failure or r.asked_twice or args.verbose:
            print(f"\n--- {r.journey.id} ({r.mode}) {r.failure or 'ok'} interactions={r.interactions}")
            for said, reply in r.transcript:
                print(f"  > {said}\n    {reply.replace(chr(10), chr(10) + '    ')}")
    scripted_ok = followthrough.report(scripted) if scripted else True
    ok = (
        scripted_ok
        and all(r.completed for r in results["first message"])
        and ours <= 2.0
        and not any(r.asked_twice for r in results["first message"])
    )
    print("\ngoal (mean ≤ 2.0, completion 100%, no slot asked twice):", "met" if ok else "NOT met")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
