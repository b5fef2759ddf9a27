from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from fastapi import FastAPI, HTTPException
from fastapi.testclient import TestClient
from prometheus_client import REGISTRY

from app import metrics
from app.main import build_resources
from app.settings import Settings
from tests.turnlog.records import record


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_observe_turn_counts_the_decision_and_its_latency() -> None:
    before = value("wxbot_decisions_total", route="faq", outcome="passive")
    count_before = value("wxbot_turn_latency_seconds_count", route="faq")
    slow_before = value("wxbot_turn_latency_seconds_bucket", route="faq", le="0.25")
    metrics.observe_turn(record(1, route="faq", latency_ms=300))
    assert value("wxbot_decisions_total", route="faq", outcome="passive") == before + 1
    assert value("wxbot_turn_latency_seconds_count", route="faq") == count_before + 1
    assert value("wxbot_turn_latency_seconds_bucket", route="faq", le="0.25") == slow_before


def test_retries_count_as_dedup_hits() -> None:
    before = value("wxbot_dedup_hits_total")
    metrics.observe_turn(record(1, route="duplicate", is_retry=True, outcome="duplicate"))
    assert value("wxbot_dedup_hits_total") == before + 1


def test_late_replies_are_counted_by_result() -> None:
    sent = value("wxbot_late_replies_total", result="sent")
    failed = value("wxbot_late_replies_total", result="failed")
    metrics.observe_turn(record(1, route="late", outcome="late", late_detail="sent"))
    metrics.observe_turn(record(2, route="late", outcome="late", late_detail="45015 window closed"))
    assert value("wxbot_late_replies_total", result="sent") == sent + 1
    assert value("wxbot_late_replies_total", result="failed") == failed + 1


def test_unexpected_routes_are_folded_into_other() -> None:
    before = value("wxbot_decisions_total", route="other", outcome="passive")
    metrics.observe_turn(record(1, route="user-controlled-garbage"))
    assert value("wxbot_decisions_total", route="other", outcome="passive") == before + 1


def test_metrics_endpoint_serves_the_exposition_format() -> None:
    app = FastAPI()
    app.include_router(metrics.build_metrics_router())
    response = TestClient(app).get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    for name in ("wxbot_turn_latency_seconds", "wxbot_decisions_total", "wxbot_dedup_hits_total",
                 "wxbot_late_replies_total", "wxbot_turnlog_queue_depth", "wxbot_turnlog_spool_bytes"):
        assert name in response.text


def test_metrics_endpoint_applies_the_given_dependencies() -> None:
    def deny() -> None:
        raise HTTPException(403)

    app = FastAPI()
    app.include_router(metrics.build_metrics_router([deny]))
    assert TestClient(app).get("/metrics").status_code == 403


WORKER = """
from app import metrics
from tests.turnlog.records import record
for _ in range({n}):
    metrics.observe_turn(record(1, route="faq"))
metrics.TURNLOG_QUEUE_DEPTH.set({n})
if {exited}:
    metrics.worker_exited()
"""

SCRAPE = """
import sys
from app import metrics
sys.stdout.write(metrics.render_metrics().decode())
"""


def test_multiprocess_mode_sums_every_worker(tmp_path: Path) -> None:
    env = {**os.environ, metrics.MULTIPROC_ENV: str(tmp_path)}
    root = Path(__file__).resolve().parents[2]
    for n, exited in ((2, True), (3, False)):
        script = WORKER.format(n=n, exited=exited)
        subprocess.run([sys.executable, "-c", script], env=env, cwd=root, check=True, timeout=60)
    out = subprocess.run([sys.executable, "-c", SCRAPE], env=env, cwd=root, check=True, timeout=60,
                         capture_output=True, text=True).stdout
    assert 'wxbot_decisions_total{outcome="passive",route="faq"} 5.0' in out
    # Queue depth is a live gauge: a worker that said it exited no longer counts.
    assert "wxbot_turnlog_queue_depth 3.0" in out


def test_the_in_process_store_size_is_read_when_scraped() -> None:
    settings = Settings(app_env="dev", redis_url=None, database_url="sqlite://")
    store = build_resources(settings).store
    asyncio.run(store.set("session:o1", b"{}", 60))
    asyncio.run(store.set("session:o2", b"{}", 60))
    metrics.render_metrics()
    assert value("wxbot_memory_store_keys") == 2
