"""`kill -HUP` on the `wxbot serve` master reloads content in every worker; it restarts none (issue 15).

uvicorn's supervisor answers SIGHUP by replacing its workers (a connection reset for whoever was
being answered); the README promises a reload. The master forwards the signal to its workers,
whose lifespan reloads the FAQ and flows on SIGHUP.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from bench.common import free_port

ROOT = Path(__file__).resolve().parents[3]
pytestmark = [pytest.mark.slow, pytest.mark.redis]


def children(pid: int) -> set[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return {int(p) for p in path.read_text().split()} if path.exists() else set()


def wait_for_log(path: Path, done: Callable[[str], bool], timeout: float = 90) -> str:
    """The log's text once `done` holds for it (or when `timeout` has passed)."""
    deadline = time.monotonic() + timeout
    text = path.read_text(errors="replace")
    while not done(text) and time.monotonic() < deadline:
        time.sleep(0.2)
        text = path.read_text(errors="replace")
    return text


def test_hup_on_the_master_reloads_every_worker_without_restarting_one(redis_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = {**os.environ, "APP_ENV": "dev", "REDIS_URL": redis_url, "DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}",
           "TURNLOG_SPOOL_DIR": str(tmp_path / "spool"), "KNOWLEDGE_DIR": str(ROOT / "knowledge"),
           "FLOWS_DIR": str(ROOT / "flows"), "PYTHONPATH": str(ROOT), "LOG_LEVEL": "INFO"}
    log = (tmp_path / "serve.log").open("wb")
    master = subprocess.Popen([sys.executable, "-m", "app.cli", "serve", "--port", str(port), "--workers", "2"],
                              env=env, cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 90
        ready = 0
        while time.monotonic() < deadline and ready < 5:
            try:
                ready = ready + 1 if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200 else 0
            except httpx.HTTPError:
                ready = 0
            time.sleep(0.5)
        assert ready, (tmp_path / "serve.log").read_text(errors="replace")[-3000:]
        # Both workers past start-up (their SIGHUP handler is installed in the lifespan): on a
        # loaded machine the second may still be loading when the first answers.
        logged = wait_for_log(tmp_path / "serve.log", lambda t: t.count("Application startup complete") >= 2)
        assert logged.count("Application startup complete") >= 2, logged[-3000:]
        workers = children(master.pid)
        assert len(workers) >= 2
        os.kill(master.pid, signal.SIGHUP)
        # Each worker reloads both resources on the signal (rebuilding indexes: seconds when loaded).
        text = wait_for_log(tmp_path / "serve.log", lambda t: t.count("signal") >= 4 and "reloaded" in t)
        assert text.count("signal") >= 4 and "reloaded" in text, text[-3000:]
        assert master.poll() is None
        assert children(master.pid) == workers, "the workers were replaced"
        assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=5).status_code == 200
        assert "restarting processes" not in (tmp_path / "serve.log").read_text(errors="replace")
    finally:
        master.send_signal(signal.SIGTERM)
        try:
            master.wait(30)
        except subprocess.TimeoutExpired:
            master.kill()
        log.close()
