"""The real service as a subprocess (uvicorn, factory app) and a signed WeChat client for it.

Fault tests drive the service the way WeChat does — signed plaintext-mode deliveries over HTTP on
127.0.0.1 — and time every answer, so that "nothing hangs past the deadline" is measured, not
assumed. Rows in the turn log are counted through SQLAlchemy once the service has shut down and
flushed its queue.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypedDict, cast

import httpx
from sqlalchemy import func, select

from app.db.engine import make_engine
from app.db.models import TurnRow
from app.settings import DEV_ADMIN_TOKEN, DEV_TOKEN
from app.wechat.simulator import Simulator
from bench.common import free_port

ROOT = Path(__file__).resolve().parents[2]
# WeChat gives up after 5 s; the service's own budget (REPLY_DEADLINE_S) defaults to 4 s.
WECHAT_GIVES_UP_S = 5.0


@dataclass
class Service:
    """One uvicorn worker serving `app.main:create_app` with the environment given."""

    env: dict[str, str]
    workdir: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "service.log"

    def start(self, timeout: float = 60.0) -> Service:
        env = {
            **os.environ,
            "APP_ENV": "dev",
            "LOG_LEVEL": "WARNING",
            "PYTHONPATH": str(ROOT),
            "TURNLOG_SPOOL_DIR": str(self.workdir / "spool"),
            **self.env,
        }
        # Settings from the developer's shell must not leak in: this service is configured here only.
        for name in ("REDIS_URL", "DATABASE_URL", "FLOW_ENDPOINTS", "WECHAT_APPSECRET", "WECHAT_API_BASE"):
            if name not in self.env:
                env.pop(name, None)
        cmd = [sys.executable, "-m", "uvicorn", "app.main:create_app", "--factory",
               "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning", "--no-access-log"]
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(cmd, env=env, cwd=self.workdir, stdout=log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"service exited during start-up:\n{self.log()[-3000:]}")
            try:
                httpx.get(self.base + "/healthz", timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"service did not answer /healthz within {timeout:.0f} s:\n{self.log()[-3000:]}")

    def stop(self, timeout: float = 30.0) -> bool:
        """SIGTERM and wait: the lifespan drains late replies and flushes the turn log first.

        True when the process shut down by itself (uvicorn re-raises SIGTERM once its shutdown
        is complete, so -SIGTERM is a clean exit too); False when it had to be killed.
        """
        if self.process is None:
            return True
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        code = self.process.returncode
        self.process = None
        return code in (0, -signal.SIGTERM)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def crashes(self) -> list[str]:
        """Log lines that mean a bug: a request escaped every handler (a 500), a handler raised
        (the user got the generic apology), a late turn died, or the app failed to start.

        Failures the service expects under a fault (a ticket not written, a backend timing out)
        are logged too, with tracebacks; they are not crashes.
        """
        markers = ("Exception in ASGI application", "handler failed", "late turn failed",
                   "Application startup failed")
        return [line for line in self.log().splitlines() if any(m in line for m in markers)]


class SessionView(TypedDict):
    """What GET /admin/sessions/{openid} answers (the fields the tests read)."""

    flow: str
    step: str
    awaiting: list[str]
    slots: dict[str, str]


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    seconds: float
    body: str
    fields: dict[str, str]

    @property
    def content(self) -> str:
        """The text shown to the user; "" for `success` (nothing shown now)."""
        return self.fields.get("Content", "")

    @property
    def is_success(self) -> bool:
        return self.status == 200 and self.body.strip() == "success"


class Wire:
    """Signed deliveries to one service, each timed; counts deliveries for the turn-log check."""

    def __init__(self, base: str, token: str = DEV_TOKEN) -> None:
        self.sim = Simulator(token)
        self.client = httpx.Client(base_url=base, timeout=httpx.Timeout(15.0))
        self.deliveries = 0
        self.replies: list[Reply] = []

    def close(self) -> None:
        self.client.close()

    def deliver(self, fields: dict[str, str]) -> Reply:
        delivery = self.sim.deliver(fields)
        started = time.perf_counter()
        response = self.client.post("/wechat", params=delivery.params, content=delivery.body)
        seconds = time.perf_counter() - started
        self.deliveries += 1
        parsed = self.sim.read_reply(response.text, delivery.params["nonce"]) if response.status_code == 200 else {}
        reply = Reply(response.status_code, seconds, response.text, parsed)
        self.replies.append(reply)
        return reply

    def say(self, openid: str, text: str) -> Reply:
        return self.deliver(self.sim.text(openid, text))

    def admin(self, method: str, path: str) -> httpx.Response:
        return self.client.request(method, path, headers={"Authorization": f"Bearer {DEV_ADMIN_TOKEN}"})

    def session(self, openid: str) -> SessionView | None:
        """The flow the user is in (GET /admin/sessions/{openid}), None when there is none."""
        response = self.admin("GET", f"/admin/sessions/{openid}")
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return cast(SessionView, response.json())

    def slowest(self) -> float:
        return max((r.seconds for r in self.replies), default=0.0)


def count_turn_rows(database_url: str) -> int:
    engine = make_engine(database_url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(TurnRow)).scalar_one())
    finally:
        engine.dispose()


def serve_sample_account(env: dict[str, str], tmp_path: Path) -> Iterator[Service]:
    """The sample account's service on `env` (its stores and database), stopped afterwards."""
    svc = Service(
        {**env, "KNOWLEDGE_DIR": str(ROOT / "knowledge"), "FLOWS_DIR": str(ROOT / "flows")}, tmp_path
    ).start()
    yield svc
    svc.stop()


def wire_to(service: Service) -> Iterator[Wire]:
    client = Wire(service.base)
    yield client
    client.close()


def answer_only(content: str) -> str:
    """A reply without the one-time topic offer (issue 19), which depends on the citizen, not on faults."""
    return content.split(TOPIC_OFFER_SEPARATOR, 1)[0]


TOPIC_OFFER_SEPARATOR = "\n\n回复 订阅"
