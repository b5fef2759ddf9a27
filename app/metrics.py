"""Prometheus metrics and the `GET /metrics` router.

The callback calls `observe_turn(record)` once per delivery (after the response, next to
`TurnLogger.submit`); the turn log updates its own queue and spool gauges. With several
workers, set PROMETHEUS_MULTIPROC_DIR to an empty directory before they start
(`reset_multiprocess_dir`): prometheus-client then keeps values in files there and
`/metrics` sums them across workers. Call `worker_exited()` when a worker shuts down so its
live gauges stop counting.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    multiprocess,
)

from app.turnlog.record import TurnRecord

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

# Label values come from code, never from users; anything unexpected is folded into "other"
# so a bug cannot explode the number of series.
KNOWN_ROUTES = frozenset(
    {
        "faq", "clarify", "fallback", "flow", "menu", "event", "handoff", "media", "more",
        "unknown", "quiet", "duplicate", "late", "limited",
    }
)
KNOWN_OUTCOMES = frozenset({"passive", "late", "failed", "duplicate"})
# Successful late-delivery details (app.late.LateDelivery.detail).
LATE_SENT = frozenset({"sent", "recorded"})

TURN_LATENCY = Histogram(
    "wxbot_turn_latency_seconds",
    "Time from receiving a delivery to sending the passive response, by route.",
    ["route"],
    # Dense below the 4 s reply budget and around WeChat's 5 s cut-off.
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 3.0, 4.0, 4.5, 5.0, 7.5, 10.0),
)
DECISIONS = Counter("wxbot_decisions_total", "Deliveries by the route that answered them and outcome.",
                    ["route", "outcome"])
DEDUP_HITS = Counter("wxbot_dedup_hits_total", "Retried deliveries answered without processing them again.")
LATE_REPLIES = Counter("wxbot_late_replies_total", "Replies sent after the passive deadline, by result.",
                       ["result"])

TURNLOG_QUEUE_DEPTH = Gauge("wxbot_turnlog_queue_depth", "Turn records waiting to be written.",
                            multiprocess_mode="livesum")
TURNLOG_SPOOL_ROWS = Gauge("wxbot_turnlog_spool_rows", "Turn rows in the local spool awaiting replay.",
                           multiprocess_mode="livesum")
# Every worker on a host measures the same spool directory, so take the max, not the sum.
TURNLOG_SPOOL_BYTES = Gauge("wxbot_turnlog_spool_bytes", "Size of the local spool directory.",
                            multiprocess_mode="max")
MEMORY_STORE_KEYS = Gauge("wxbot_memory_store_keys",
                          "Keys held by the in-process store (sessions, retry replies, rate windows).",
                          multiprocess_mode="livesum")
TURNLOG_WRITTEN = Counter("wxbot_turnlog_written_total", "Turn rows written to the database.")
TURNLOG_SPOOLED = Counter("wxbot_turnlog_spooled_total",
                          "Turn rows written to the spool (database unreachable).")
TURNLOG_REPLAYED = Counter("wxbot_turnlog_replayed_total", "Spooled turn rows replayed into the database.")
TURNLOG_DROPPED = Counter("wxbot_turnlog_dropped_total",
                          "Turn records lost: the queue was full, or the spool could not be written (disk full).")
TURNLOG_SPOOL_FAILING = Gauge("wxbot_turnlog_spool_failing",
                              "1 while the last write to the turn-log spool failed (disk full, I/O error).",
                              multiprocess_mode="max")
TURNLOG_QUARANTINED_BYTES = Counter("wxbot_turnlog_spool_quarantined_bytes_total",
                                    "Spool bytes that were not whole records (torn, corrupted), set aside as *.torn.")
TURNLOG_ERRORS = Counter("wxbot_turnlog_errors_total", "Turn-log failures, by kind.", ["kind"])


# Hot reloads (app.reload): a file that fails to load leaves the old version serving, which is
# right for citizens but must not go unnoticed by the admins (issue 14).
RELOAD_FAILURES = Counter("wxbot_reload_failures_total",
                          "Reloads that failed (the files on disk do not load), by resource.", ["resource"])
RELOAD_FAILING = Gauge("wxbot_reload_failing",
                       "1 while the files on disk fail to load and an older version serves, by resource.",
                       ["resource"], multiprocess_mode="livemax")
RELOAD_VERSION = Gauge("wxbot_reload_version", "Version serving (1 after the first load), by resource.",
                       ["resource"], multiprocess_mode="livemax")
RELOAD_LAST_SUCCESS = Gauge("wxbot_reload_last_success_timestamp_seconds",
                            "Unix time the serving version was loaded (its age: time() minus this), by resource.",
                            ["resource"], multiprocess_mode="livemax")

# Surges of unanswered questions (issue 19, app/surge_watch.py), set by each periodic check. The
# label is a configured account id (bounded by the accounts file), never anything a user sent;
# every worker computes the same figure, so the scrape takes the live maximum, not the sum.
SURGES_ACTIVE = Gauge("wxbot_surges_active",
                      "Clusters of unanswered questions surging now (last 24 h vs the usual daily rate), by account.",
                      ["account"], multiprocess_mode="livemax")
MAX_ACCOUNT_LABELS = 200
_account_labels: set[str] = set()


def account_label(account: str) -> str:
    """A configured account id as a label value; past `MAX_ACCOUNT_LABELS` distinct ones, "other"."""
    label = (account or "default")[:64]
    if label not in _account_labels and len(_account_labels) >= MAX_ACCOUNT_LABELS:
        return "other"
    _account_labels.add(label)
    return label


def observe_reload(resource: str, *, failed: bool, version: int, loaded_at: float | None) -> None:
    """One reload attempt's outcome (resource names come from code, never from users)."""
    if failed:
        RELOAD_FAILURES.labels(resource).inc()
    RELOAD_FAILING.labels(resource).set(1 if failed else 0)
    RELOAD_VERSION.labels(resource).set(version)
    if loaded_at is not None:
        RELOAD_LAST_SUCCESS.labels(resource).set(loaded_at)


def _route_label(route: str) -> str:
    return route if route in KNOWN_ROUTES else "other"


# Labelled children, looked up once per label pair: `labels()` takes a lock and builds a key.
_children: dict[tuple[str, str], tuple[Any, Any]] = {}


def _child(route: str, outcome: str) -> tuple[Any, Any]:
    pair = _children.get((route, outcome))
    if pair is None:
        pair = (DECISIONS.labels(route, outcome), TURN_LATENCY.labels(route))
        _children[(route, outcome)] = pair
    return pair


def observe_turn(record: TurnRecord) -> None:
    """Count one delivery. Cheap and never raises: call it after the response is sent."""
    try:
        route = _route_label(record.route)
        outcome = record.outcome if record.outcome in KNOWN_OUTCOMES else "other"
        decisions, latency = _child(route, outcome)
        decisions.inc()
        latency.observe(max(record.latency_ms, 0.0) / 1000.0)
        if record.is_retry or record.route == "duplicate":
            DEDUP_HITS.inc()
        if record.outcome == "late":
            LATE_REPLIES.labels("sent" if record.late_detail in LATE_SENT else "failed").inc()
    except Exception:
        TURNLOG_ERRORS.labels("metrics").inc()


def registry_for_scrape() -> CollectorRegistry:
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return registry
    return REGISTRY


# Gauges read at scrape time rather than kept current on the hot path, by name (an app built
# again, as tests do, replaces its hook instead of adding one).
_scrape_hooks: dict[str, Callable[[], None]] = {}


def on_scrape(name: str, hook: Callable[[], None]) -> None:
    _scrape_hooks[name] = hook


def render_metrics() -> bytes:
    for hook in list(_scrape_hooks.values()):
        try:
            hook()
        except Exception:
            TURNLOG_ERRORS.labels("metrics").inc()
    return generate_latest(registry_for_scrape())


def build_metrics_router(dependencies: Sequence[Callable[..., Any]] = ()) -> APIRouter:
    """`GET /metrics`. Pass `require_admin` (or a scrape-token check) to protect it;
    without dependencies, restrict it at the network edge."""
    router = APIRouter(dependencies=[Depends(dep) for dep in dependencies])

    @router.get("/metrics", include_in_schema=False)
    def metrics() -> Response:
        return Response(render_metrics(), media_type=CONTENT_TYPE_LATEST)

    return router


def reset_multiprocess_dir() -> None:
    """Empty PROMETHEUS_MULTIPROC_DIR; run once before the workers start (values survive otherwise)."""
    directory = os.environ.get(MULTIPROC_ENV)
    if not directory:
        return
    path = Path(directory)
    if path.exists():
        shutil.rmtree(path)
    path.mkdir(parents=True)


def worker_exited(pid: int | None = None) -> None:
    """Drop a finished worker's live gauges (queue depth, spool rows) from the sums."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid or os.getpid())  # type: ignore[no-untyped-call]


WECHAT_API_CALLS = Counter("wxbot_wechat_api_calls_total", "Calls to the WeChat API, by api and outcome.",
                           ["api", "outcome"])


def observe_wechat_api(api: str, outcome: str) -> None:
    """Observer for `app.wxapi` (ApiStats): one count per call; unknown outcomes fold to "other"."""
    from app.wxapi.stats import APIS
    from app.wxapi.stats import KNOWN_OUTCOMES as API_OUTCOMES

    WECHAT_API_CALLS.labels(api if api in APIS else "other", outcome if outcome in API_OUTCOMES else "other").inc()
