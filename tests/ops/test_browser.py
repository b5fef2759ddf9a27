"""The dashboard in a real headless browser: the page loads and its SVG charts hold the seeded data."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from html.parser import HTMLParser
from pathlib import Path

import pytest
import uvicorn
from fastapi import Cookie, FastAPI, HTTPException, Query
from sqlalchemy import Engine

from app.db.engine import make_engine
from app.db.migrate import upgrade
from app.ops.router import build_ops_router, ops_cookie
from bench.common import free_port
from tests.conftest import server_missing
from tests.ops.seed import UNANSWERED, seed

pytestmark = pytest.mark.browser
TOKEN = "browser-test-admin-token"


def chromium_binary() -> str:
    for candidate in (os.environ.get("CHROMIUM"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and Path(candidate).is_file():
            return candidate
    server_missing("chromium is not installed")


@pytest.fixture
def seeded_engine(tmp_path: Path) -> Iterator[Engine]:
    engine = make_engine(f"sqlite:///{tmp_path / 'ops.db'}")
    upgrade(engine)
    seed(engine, datetime.now(UTC))
    yield engine
    engine.dispose()


@pytest.fixture
def dashboard_url(seeded_engine: Engine) -> Iterator[str]:
    def require_admin(token: str | None = Query(None), wxbot_ops: str | None = Cookie(None)) -> None:
        # As the app's reader dependency: the bookmarked ?token=, then the cookie it is traded for.
        if token != TOKEN and wxbot_ops != ops_cookie(TOKEN):
            raise HTTPException(401)

    app = FastAPI()
    app.include_router(build_ops_router(engine=lambda: seeded_engine, require_admin=require_admin))
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}/ops?days=1&token={TOKEN}"
    server.should_exit = True
    thread.join(5)


def chromium(args: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    binary = chromium_binary()
    flags = [
        "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tmp_path / 'chromium-profile'}", "--window-size=390,2200",
    ]
    return subprocess.run([binary, *flags, *args], capture_output=True, text=True, timeout=60, check=False)


class _Charts(HTMLParser):
    """Collects every SVG chart and the data attributes of its marks."""

    def __init__(self) -> None:
        super().__init__()
        self.charts: dict[str, list[dict[str, str | None]]] = {}
        self._current: str | None = None
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        if tag == "svg" and values.get("data-chart"):
            self._current = values["data-chart"]
            self.charts[self._current or ""] = []
        elif self._current is not None:
            self.charts[self._current].append({"tag": tag, **values})

    def handle_endtag(self, tag: str) -> None:
        if tag == "svg":
            self._current = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_dashboard_renders_its_charts_with_the_seeded_data(dashboard_url: str, tmp_path: Path) -> None:
    result = chromium(["--dump-dom", dashboard_url], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    parser = _Charts()
    parser.feed(result.stdout)
    charts = parser.charts
    assert set(charts) == {"latency", "interactions", "routes", "satisfaction", "ticket-ages"}

    lines = {m["data-series"]: m["data-values"] for m in charts["latency"] if m["tag"] == "polyline"}
    assert set(lines) == {"p50", "p95", "p99"}
    p99_values = [float(v) for v in (lines["p99"] or "").split(",")]
    # The one slow FAQ answer (4.2 s) lifts its hour's p99 far above every other (< 200 ms);
    # how far depends on how many turns share that hour with it.
    assert max(p99_values) > 3000

    routes = {m["data-key"]: int(m["data-value"] or 0) for m in charts["routes"] if m["tag"] == "rect"}
    assert routes["faq"] == 14
    assert routes["fallback"] == 4
    assert routes["handoff"] == 1

    satisfaction = {m["data-key"]: int(m["data-value"] or 0) for m in charts["satisfaction"] if m["tag"] == "rect"
                    and m.get("data-key")}
    assert satisfaction == {"满意": 1, "不满意": 1}

    bars = {m["data-label"]: int(m["data-value"] or 0) for m in charts["interactions"] if m.get("data-label")}
    assert sum(bars.values()) >= 12 and bars["2"] == 1  # the booking flow took two messages

    page_text = "".join(parser.text)
    assert UNANSWERED in page_text
    assert re.search(r"服务号运营看板", page_text)


def test_dashboard_screenshot_is_drawn_at_phone_width(dashboard_url: str, tmp_path: Path) -> None:
    shot = tmp_path / "ops.png"
    result = chromium([f"--screenshot={shot}", dashboard_url], tmp_path)
    assert result.returncode == 0, result.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (390, 2200)
    if keep := os.environ.get("OPS_SCREENSHOT"):
        shutil.copy(shot, keep)
