"""The app factory: settings are read and every resource is built once, in the lifespan.

`build_resources` wires the layers together (store, database, turn log, knowledge and flows with
hot reload, services, the WeChat API client and the late-reply sender, the turn processor);
`create_app` adds the routes and runs start-up and shutdown in the right order.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine

from app import admin_sessions, callback, demo, errors, logs, metrics
from app.accounts import single_account
from app.calendar_watch import CalendarWatch
from app.db.engine import make_engine
from app.deps import AdminDep, Resources, ResourcesDep, require_admin
from app.late import LateReplySender
from app.late_sender import build_late_sender
from app.ops.router import build_ops_router
from app.reload import Reloadable, Reloader
from app.services import AppServices, parse_endpoints
from app.settings import ConfigError, MatchSettings, Settings
from app.stores.factory import build_store
from app.stores.memory import MemoryStore
from app.turnlog.logger import TurnLogger
from app.turnlog.record import TurnRecord
from app.turns import TurnProcessor, TurnSink
from app.wechat.crypto import MessageCrypto
from app.wxapi.client import WeChatClient
from flows.registry import FlowRegistry, load_flows
from handlers import handoff as handoff_handler
from handlers.context import HandlerContext, HandoffConfig
from knowledge.matcher import MatchConfig, Matcher
from knowledge.normalize import warm_up

log = logging.getLogger("wxbot")


class LoggingSink:
    """Every finished turn goes to the metrics and to the turn log's queue; neither blocks."""

    def __init__(self, turnlog: TurnLogger | None) -> None:
        self.turnlog = turnlog

    def submit(self, record: TurnRecord) -> None:
        metrics.observe_turn(record)
        if self.turnlog is not None:
            self.turnlog.submit(record)

    def erase_user(self, openid: str) -> None:
        if self.turnlog is not None:
            self.turnlog.erase_user(openid)


def _knowledge_loader(config: MatchConfig, calendar: CalendarWatch) -> Any:
    def load(directory: Path, previous: Matcher | None) -> Matcher:
        matcher = Matcher.from_directory(directory, config, previous=previous)
        # calendar.yaml lives with the knowledge base and is reloaded with it.
        calendar.load()
        return matcher

    return load


def _flows_loader(directory: Path, previous: FlowRegistry | None) -> FlowRegistry:
    # Older versions stay in the registry so a session started on one can finish on it.
    return load_flows(directory, previous=previous)


def _handoff_config(settings: Settings) -> HandoffConfig:
    try:
        handoff_handler.parse_hours(settings.service_hours)
    except ValueError as exc:
        raise ConfigError(f"SERVICE_HOURS: {exc}") from exc
    return HandoffConfig(
        agent_account=settings.kf_account,
        hours=settings.service_hours,
        fallbacks_before_handoff=settings.fallbacks_before_handoff,
    )


def build_resources(
    settings: Settings,
    *,
    late_sender: LateReplySender | None = None,
    sink: TurnSink | None = None,
    engine: Engine | None = None,
) -> Resources:
    """Every long-lived resource; nothing here does network I/O (start-up does, in the lifespan)."""
    account = single_account(settings)
    store = build_store(settings.redis_url)
    if isinstance(store, MemoryStore):
        memory_store = store
        metrics.on_scrape("memory_store_keys", lambda: metrics.MEMORY_STORE_KEYS.set(len(memory_store)))
    aes_key = settings.wechat_aes_key.get_secret_value()
    message_crypto = (
        MessageCrypto(settings.wechat_token.get_secret_value(), aes_key, settings.wechat_appid)
        if len(aes_key) == 43
        else None
    )
    if settings.wechat_encrypt_mode != "plain" and message_crypto is None:
        raise ConfigError("WECHAT_AES_KEY (43 characters) is required in compatible and safe mode")
    db = engine or make_engine(settings.database_url)
    turnlog = TurnLogger.from_settings(settings, db) if sink is None else None
    turn_sink: TurnSink = sink or LoggingSink(turnlog)

    flows: Reloadable[FlowRegistry] = Reloadable("flows", settings.flows_dir, _flows_loader)
    calendar = CalendarWatch(settings.knowledge_dir / "calendar.yaml", flows.get)
    knowledge: Reloadable[Matcher] = Reloadable(
        "knowledge", settings.knowledge_dir, _knowledge_loader(MatchConfig(**MatchSettings().model_dump()), calendar)
    )
    services = AppServices(engine=db, endpoints=parse_endpoints(settings.flow_endpoints), account=account.id)
    wechat = WeChatClient.from_settings(settings, store, observer=metrics.observe_wechat_api)
    late = late_sender or build_late_sender(wechat)
    handoff = _handoff_config(settings)

    def context() -> HandlerContext:
        # Read once per turn: a reload swapping either mid-turn cannot mix two versions.
        return HandlerContext(
            matcher=knowledge.get(),
            flows=flows.get(),
            services=services,
            handoff=handoff,
            session_timeout_s=settings.session_ttl_s,
            account=account.id,
        )

    def erase(openid: str) -> None:
        eraser = getattr(turn_sink, "erase_user", None)
        if eraser is not None:
            eraser(openid)

    processor = TurnProcessor(
        store=store,
        context=context,
        late_sender=late,
        sink=turn_sink,
        app_id=settings.wechat_appid,
        deadline_s=settings.reply_deadline_s,
        session_ttl_s=settings.session_ttl_s,
        dedup_ttl_s=settings.dedup_ttl_s,
        lock_ttl_s=settings.lock_ttl_s,
        rate_limit_per_minute=settings.rate_limit_per_minute,
        on_session_deleted=erase,
        account=account.id,
    )
    return Resources(
        settings=settings,
        store=store,
        crypto=message_crypto,
        processor=processor,
        late_sender=late,
        sink=turn_sink,
        pseudonym_key=settings.pseudonym_key.get_secret_value().encode(),
        reloadables=[knowledge, flows],
        engine=db,
        turnlog=turnlog,
        services=services,
        wechat=wechat,
        reloader=Reloader([knowledge, flows], store),
        calendar=calendar,
    )


async def _start(res: Resources) -> None:
    # jieba's dictionary (~1 s, ~80 MB) loads once, before the first user is served.
    await asyncio.to_thread(warm_up)
    if res.calendar is not None:
        # Before the knowledge base: a broken FAQ file must not leave the shipped calendar in service.
        await asyncio.to_thread(res.calendar.load)
    for item in res.reloadables:
        try:
            await asyncio.to_thread(item.load_now)
        except Exception as exc:
            # A broken file at start-up must not take the whole account down: the other
            # resource still serves, the error names file and line, and the poller picks up
            # the fix as soon as the admin saves it.
            from app.reload import describe_problems

            log.error("initial load failed", extra={"resource": item.name, "problems": describe_problems(exc)})
    if res.turnlog is not None:
        res.turnlog.start()
    if res.reloader is not None:
        await res.reloader.start()
    if res.calendar is not None:
        res.calendar.start()


async def _stop(res: Resources) -> None:
    if res.calendar is not None:
        await res.calendar.stop()
    if res.reloader is not None:
        await res.reloader.stop()
    # Late replies still in flight need the WeChat client and the store: drain them first.
    await res.processor.drain(wait_s=res.settings.reply_deadline_s + 10)
    if res.wechat is not None:
        await res.wechat.aclose()
    if res.services is not None:
        await res.services.close()
    if res.turnlog is not None:
        await asyncio.to_thread(res.turnlog.stop)
    await res.store.close()
    metrics.worker_exited(os.getpid())


def _admin_router() -> APIRouter:
    router = APIRouter(prefix="/admin", dependencies=[AdminDep])

    @router.post("/reload")
    async def reload(res: ResourcesDep) -> JSONResponse:
        """Reload the knowledge base and the flows in every worker; a broken file changes nothing."""
        assert res.reloader is not None
        reports = await res.reloader.reload_everywhere()
        ok = all(r.status != "failed" for r in reports)
        return JSONResponse({"ok": ok, "reports": [r.to_dict() for r in reports]}, status_code=200 if ok else 422)

    return router


GIL_SWITCH_INTERVAL_S = 0.001
GC_THRESHOLDS = (20_000, 20, 20)


def create_app(settings: Settings | None = None, resources: Resources | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.check_production()
    logs.configure(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        res = resources or build_resources(settings)
        app.state.resources = res
        await _start(res)
        # Everything loaded so far (jieba's dictionary, the indexes) lives for the whole process:
        # moving it out of the collector's sight keeps full collections from pausing replies.
        gc.collect()
        gc.freeze()
        # Sixteen turns in flight hold their containers alive; at the default threshold of 700 the
        # collector ran every few requests and traversed all of them. With collections ~30×
        # rarer most are freed by reference counting first: ~8% less CPU per request and a lower
        # p99 in bench/callback.py (A/B in one run).
        gc.set_threshold(*GC_THRESHOLDS)
        # The event loop answering WeChat shares the GIL with a few helper threads (the turn-log
        # drain, ticket writes, reload polling). At the default 5 ms switch interval a busy
        # helper holds the loop off for up to 5 ms per handover, which showed up as a doubled p99
        # in bench/callback.py; 1 ms gave p99 40 ms instead of 60 at the same throughput.
        sys.setswitchinterval(GIL_SWITCH_INTERVAL_S)
        try:
            yield
        finally:
            await _stop(res)

    app = FastAPI(title="wxbot", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    errors.install(app)
    # First in the routing table, and a Starlette route rather than a FastAPI one: every WeChat
    # delivery comes here. It still passes the app's middleware and exception handlers
    # (app/errors.py) but skips FastAPI's per-request endpoint machinery and the included
    # routers' indirection, about a tenth of the worker's CPU on this path.
    app.add_route("/wechat", callback.receive, methods=["POST"])
    app.include_router(callback.router)
    app.include_router(_admin_router())
    app.include_router(admin_sessions.router, dependencies=[AdminDep])
    app.include_router(metrics.build_metrics_router())
    if settings.app_env == "dev":
        app.include_router(demo.router)

    def database(res: ResourcesDep) -> Engine:
        assert res.engine is not None, "build_resources always makes an engine"
        return res.engine

    app.include_router(build_ops_router(engine=database, require_admin=require_admin))

    @app.get("/healthz")
    async def healthz(res: ResourcesDep) -> JSONResponse:
        store_ok = await res.store.ping()
        loaded = {item.name: item.get() is not None for item in res.reloadables}
        health = {item.name: item.health() for item in res.reloadables}
        # "stale": the files on disk fail to load and the last good version keeps serving.
        fresh = all(h["status"] == "loaded" for h in health.values())
        body: dict[str, Any] = {
            "status": "ok" if store_ok and fresh else "degraded",
            "store": "ok" if store_ok else "unavailable",
            **{name: h["status"] for name, h in health.items()},
            "reload": health,
        }
        if res.turnlog is not None:
            body["turnlog"] = "spooling" if res.turnlog.database_down else "ok"
        if res.calendar is not None:
            # 「incomplete」: a booking window reaches a year whose holiday schedule is not in calendar.yaml.
            body["calendar"] = res.calendar.health()
        # 503 only when we cannot answer at all; a degraded store still answers FAQs.
        return JSONResponse(body, status_code=200 if store_ok or any(loaded.values()) else 503)

    return app
