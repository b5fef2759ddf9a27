"""What the real-browser tests share: the whole app served on 127.0.0.1 in a thread, and a
headless Chromium driven by Selenium through Debian's chromedriver (nothing is downloaded).
Screenshots go under test-artifacts/<name>/ (or $TEST_ARTIFACTS/<name>/)."""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import uvicorn
from sqlalchemy.engine import Engine

from app.late import RecordingLateSender
from app.main import build_resources, create_app
from app.settings import Settings
from bench.common import free_port
from tests.conftest import server_missing
from tests.desk.conftest import TableSink


def binary(env: str, *candidates: str) -> str:
    """The program named by `env`, else the first candidate that exists, else skip (fail in CI)."""
    for candidate in (os.environ.get(env), *candidates, shutil.which(Path(candidates[0]).name)):
        if candidate and Path(candidate).is_file():
            return candidate
    server_missing(f"{candidates[0]} is not installed")


@contextlib.contextmanager
def served(settings: Settings, engine: Engine) -> Iterator[str]:
    """The app for `settings` on a free port (turn log rows written straight to `engine`); its base URL."""
    resources = build_resources(settings, late_sender=RecordingLateSender(), sink=TableSink(engine), engine=engine)
    app = create_app(settings, resources=resources)
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.started, "the service did not start"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextlib.contextmanager
def chromium(profile: Path, window: str = "1366,900") -> Iterator[Any]:
    """A headless Chromium with a fresh profile in `profile`; quit on leaving."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary("CHROMIUM", "/usr/bin/chromium")
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 f"--window-size={window}", f"--user-data-dir={profile}", "--lang=zh-CN"):
        options.add_argument(flag)
    service = Service(executable_path=binary("CHROMEDRIVER", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()


def artefacts(name: str) -> Path:
    folder = Path(os.environ.get("TEST_ARTIFACTS", "test-artifacts")) / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder
