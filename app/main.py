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
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy.engine import Engine
from starlette.routing import Route

from app import admin_sessions, callback, demo, errors, logs, metrics
from app.accounts import DEFAULT_ACCOUNT, Account, AccountsError, configured_accounts, default_of
from app.asgi import WxbotApp
from app.calendar_watch import CalendarWatch
from app.content import SharedContent
from app.db.engine import make_engine
from app.db.writes import Writes
from app.deps import AccountRuntime, AdminDep, Resources, ResourcesDep, require_metrics_token, require_ops_reader
from app.desk import router as desk_router
from app.desk.auth import LoginThrottle, SessionCodec
from app.desk.config import DeskConfigError, load_desk_config
from app.desk.router import Desk
from app.late import LateReplySender
from app.late_sender import build_late_sender
from app.notify import Notifier, TurnLogWindow
from app.offers import TopicOffers
from app.ops.router import ReachSource, SurgeSource, build_ops_router
from app.push import links as push_links
from app.reload import Reloadable, Reloader
from app.reminders import NotificationTask
from app.services import AppServices, parse_endpoints
from app.settings import ConfigError, MatchSettings, Settings
from app.stores.base import Store
from app.stores.factory import build_store
from app.stores.memory import MemoryStore
from app.surge_watch import SurgeWatch
from app.turnlog.logger import TurnLogger
from app.turnlog.record import TurnRecord
from app.turns import TurnProcessor, TurnSink
from app.wechat.crypto import MessageCrypto
from app.wxapi.client import WeChatClient, shared_http
from flows import homophones
from flows.registry import FlowRegistry, load_flows
from flows.schema import BookingSpec
from handlers import handoff as handoff_handler
from handlers.context import HandlerContext, HandoffConfig
from knowledge.matcher import MatchConfig, Matcher
from knowledge.normalize import warm_up
from knowledge.topics import TOPICS_FILE, TopicCatalog, load_topics

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


def _handoff_config(settings: Settings, account: Account) -> HandoffConfig:
    hours = account.service_hours or settings.service_hours
    try:
        handoff_handler.parse_hours(hours)
    except ValueError as exc:
        where = "SERVICE_HOURS" if account.id == DEFAULT_ACCOUNT else f"account {account.id}: service_hours"
        raise ConfigError(f"{where}: {exc}") from exc
    return HandoffConfig(
        agent_account=account.kf_account if account.kf_account is not None else settings.kf_account,
        hours=hours,
        fallbacks_before_handoff=settings.fallbacks_before_handoff,
    )


def _message_crypto(account: Account) -> MessageCrypto | None:
    crypto = MessageCrypto(account.token, account.aes_key, account.appid) if len(account.aes_key) == 43 else None
    if account.encrypt_mode != "plain" and crypto is None:
        if account.id == DEFAULT_ACCOUNT:
            raise ConfigError("WECHAT_AES_KEY (43 characters) is required in compatible and safe mode")
        raise ConfigError(f"account {account.id}: aes_key (43 characters) is required in {account.encrypt_mode} mode")
    return crypto


def build_resources(
    settings: Settings,
    *,
    late_sender: LateReplySender | None = None,
    sink: TurnSink | None = None,
    engine: Engine | None = None,
) -> Resources:
    """Every long-lived resource; nothing here does network I/O (start-up does, in the lifespan).

    One store, database, turn log and set of HTTP pools for the whole deployment; per account
    (app.accounts) a turn processor, message crypto, ticket services, WeChat API client and
    the account's composition of the shared knowledge and flows.
    """
    try:
        accounts = configured_accounts(settings)
    except AccountsError as exc:
        raise ConfigError("ACCOUNTS_FILE:\n" + str(exc)) from exc
    store = build_store(settings.redis_url)
    if isinstance(store, MemoryStore):
        memory_store = store
        metrics.on_scrape("memory_store_keys", lambda: metrics.MEMORY_STORE_KEYS.set(len(memory_store)))
    db = engine or make_engine(settings.database_url)
    turnlog = TurnLogger.from_settings(settings, db) if sink is None else None
    turn_sink: TurnSink = sink or LoggingSink(turnlog)
    match_config = MatchConfig(**MatchSettings().model_dump())

    content_of: Callable[[Account], tuple[Callable[[], Any], Callable[[], FlowRegistry | None]]]
    reloadables: list[Reloadable[Any]]
    # The office calendar is the city's, one for the deployment (KNOWLEDGE_DIR/calendar.yaml),
    # checked against the booking windows of the default (or first) account's flows.
    calendar_flows: list[Callable[[], FlowRegistry | None]] = []
    calendar = CalendarWatch(
        settings.knowledge_dir / "calendar.yaml", lambda: calendar_flows[0]() if calendar_flows else None
    )
    if settings.accounts_file is None:
        # One account: one knowledge folder and one flows folder, as before accounts existed.
        knowledge: Reloadable[Matcher] = Reloadable(
            "knowledge", settings.knowledge_dir, _knowledge_loader(match_config, calendar)
        )
        flows: Reloadable[FlowRegistry] = Reloadable("flows", settings.flows_dir, _flows_loader)
        reloadables = [knowledge, flows]

        def content_of(account: Account) -> tuple[Callable[[], Any], Callable[[], FlowRegistry | None]]:
            return knowledge.get, flows.get
    else:
        calendar_dir = settings.knowledge_dir.resolve()

        def reload_calendar(folder: Path) -> None:
            # calendar.yaml lives in KNOWLEDGE_DIR and is reloaded with that folder, as with one account.
            if folder.resolve() == calendar_dir:
                calendar.load()

        content = SharedContent(match_config, on_loaded=reload_calendar)

        def content_of(account: Account) -> tuple[Callable[[], Any], Callable[[], FlowRegistry | None]]:
            return content.matcher_for(account.knowledge).get, content.flows_for(account.flows).get

    try:
        desk_config = load_desk_config(settings.desk_config, settings.service_hours)
    except DeskConfigError as exc:
        raise ConfigError(str(exc)) from exc
    # Shared by every account: one pool to the flow backends, one to WeChat's API.
    endpoints = parse_endpoints(settings.flow_endpoints)
    backend_http = httpx.AsyncClient(follow_redirects=False)
    api_http = shared_http(settings.wechat_api_base)

    def erase(openid: str) -> None:
        eraser = getattr(turn_sink, "erase_user", None)
        if eraser is not None:
            eraser(openid)

    # One writer for every account's reply-path writes, and one writer of topic offers: the
    # database's write lock is one too (app.db.writes).
    writes = Writes(db)
    offers = TopicOffers(db, writes=writes)
    runtimes: dict[str, AccountRuntime] = {}
    for account in accounts:
        matcher_of, flows_of = content_of(account)
        services = AppServices(engine=db, endpoints=endpoints, client=backend_http, account=account.id,
                               pseudonym_key=settings.pseudonym_key.get_secret_value().encode(),
                               sla=desk_config.sla, offers=offers, writes=writes)
        wechat = (
            WeChatClient(
                appid=account.appid,
                secret=account.appsecret,
                store=store,
                base_url=settings.wechat_api_base,
                observer=metrics.observe_wechat_api,
                http=api_http,
            )
            if account.appsecret and account.appid
            else None
        )
        late = late_sender or build_late_sender(wechat)
        topics = _topics(account.knowledge)
        runtimes[account.id] = AccountRuntime(
            account=account,
            processor=_processor(settings, account, store, late, turn_sink, erase, services,
                                 _handoff_config(settings, account), matcher_of, flows_of,
                                 topics),
            crypto=_message_crypto(account),
            services=services,
            late_sender=late,
            wechat=wechat,
            matcher=matcher_of,
            flows=flows_of,
            topics=topics,
        )
    if settings.accounts_file is not None:
        reloadables = content.reloadables()
    default_account = default_of(accounts)
    default = runtimes[default_account.id] if default_account is not None else None
    first = default or next(iter(runtimes.values()))
    calendar_flows.append(first.flows)
    window = TurnLogWindow(db, settings.pseudonym_key.get_secret_value().encode())
    desk = Desk(
        engine=db,
        codec=SessionCodec(settings.desk_secret_key.get_secret_value(), settings.desk_idle_minutes * 60),
        throttle=LoginThrottle(store),
        # A reply goes out through the WeChat client of the account the ticket was filed through.
        notifiers={
            account_id: Notifier(client=runtime.wechat, window=window, templates=desk_config.templates, store=store)
            for account_id, runtime in runtimes.items()
        },
        config=desk_config,
        secure_cookie=bool(settings.desk_cookie_secure),
        accounts=tuple(runtimes),
    )
    notifications = None
    if settings.notify_interval_s > 0:

        def booking_spec(account_id: str, flow_id: str) -> BookingSpec | None:
            runtime = runtimes.get(account_id)
            registry = runtime.flows() if runtime is not None else None
            flow = registry.current(flow_id) if registry is not None else None
            return flow.booking if flow is not None else None

        notifications = NotificationTask(
            db, desk.notifier, desk_config.reminders, store, accounts=tuple(runtimes), flows_for=booking_spec,
            interval_s=settings.notify_interval_s,
        )
    return Resources(
        desk=desk,
        notifications=notifications,
        settings=settings,
        store=store,
        crypto=first.crypto,
        processor=first.processor,
        late_sender=first.late_sender,
        sink=turn_sink,
        pseudonym_key=settings.pseudonym_key.get_secret_value().encode(),
        reloadables=reloadables,
        engine=db,
        turnlog=turnlog,
        services=first.services,
        wechat=first.wechat,
        reloader=Reloader(reloadables, store),
        accounts=runtimes,
        default=default,
        http_clients=[api_http],
        calendar=calendar,
        surges=SurgeWatch(lambda: db, tuple(runtimes), store=store),
        writes=writes,
    )


def _reach_source(res: ResourcesDep) -> ReachSource:
    """The dashboard's reach panel (issue 19): each account's campaigns with their topics' content."""
    from app.push.overview import campaign_reaches
    from app.turnlog.privacy import Pseudonymiser

    def topics_of(account: str) -> TopicCatalog | None:
        runtime = res.accounts.get(account)
        return runtime.topics if runtime is not None else None

    def entries_of(account: str) -> list[Any]:
        runtime = res.accounts.get(account)
        matcher = runtime.matcher() if runtime is not None else None
        return list(matcher.kb.entries) if matcher is not None else []

    def source(engine: Engine, account: str | None) -> list[dict[str, Any]]:
        return [item.as_dict() for item in campaign_reaches(
            engine, account, campaigns_dir=res.settings.campaigns_dir, topics_of=topics_of,
            entries_of=entries_of, pseudonym=Pseudonymiser(res.pseudonym_key),
        )]

    return source


def _surge_source(res: ResourcesDep) -> SurgeSource | None:
    """The watch's last check (app/surge_watch.py); before its first, the page detects on load."""
    watch = res.surges
    if watch is None or watch.checked_at is None:
        return None
    return lambda _engine, account, now: watch.snapshot(account, now)


def _topics(knowledge: Sequence[Path]) -> TopicCatalog | None:
    """The account's topics.yaml (issue 19): the last of its knowledge folders that has one wins."""
    found = [folder / TOPICS_FILE for folder in knowledge if (folder / TOPICS_FILE).exists()]
    return load_topics(found[-1]) if found else None


def _processor(
    settings: Settings,
    account: Account,
    store: Store,
    late: LateReplySender,
    sink: TurnSink,
    erase: Callable[[str], None],
    services: AppServices,
    handoff: HandoffConfig,
    matcher_of: Callable[[], Any],
    flows_of: Callable[[], FlowRegistry | None],
    topics: TopicCatalog | None = None,
) -> TurnProcessor:
    def context() -> HandlerContext:
        # Read once per turn: a reload swapping either mid-turn cannot mix two versions.
        return HandlerContext(
            matcher=matcher_of(),
            flows=flows_of(),
            services=services,
            handoff=handoff,
            session_timeout_s=settings.session_ttl_s,
            account=account.id,
            topics=topics,
        )

    return TurnProcessor(
        store=store,
        context=context,
        late_sender=late,
        sink=sink,
        app_id=account.appid,
        deadline_s=settings.reply_deadline_s,
        session_ttl_s=settings.session_ttl_s,
        dedup_ttl_s=settings.dedup_ttl_s,
        lock_ttl_s=settings.lock_ttl_s,
        rate_limit_per_minute=settings.rate_limit_per_minute,
        on_session_deleted=erase,
        account=account.id,
    )


async def _start(res: Resources) -> None:
    # jieba's dictionary (~1 s, ~80 MB) loads once, before the first user is served; so does the
    # pinyin table trigger words are matched with (issue 13, ~0.2 s).
    await asyncio.to_thread(warm_up)
    if res.calendar is not None:
        # Before the knowledge base: a broken FAQ file must not leave the shipped calendar in service.
        await asyncio.to_thread(res.calendar.load)
    await asyncio.to_thread(homophones.warm_up)
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
    if res.notifications is not None:
        res.notifications.start()
    if res.surges is not None and res.engine is not None:
        res.surges.start()


async def _stop(res: Resources) -> None:
    if res.notifications is not None:
        await res.notifications.stop()
    if res.calendar is not None:
        await res.calendar.stop()
    if res.surges is not None:
        await res.surges.stop()
    if res.reloader is not None:
        await res.reloader.stop()
    # Late replies still in flight need the WeChat client and the store: drain them first.
    runtimes = list(res.accounts.values()) or []
    await asyncio.gather(*(rt.processor.drain(wait_s=res.settings.reply_deadline_s + 10) for rt in runtimes))
    if not runtimes:
        await res.processor.drain(wait_s=res.settings.reply_deadline_s + 10)
    clients = {id(c): c for c in (res.wechat, *(rt.wechat for rt in runtimes)) if c is not None}
    for client in clients.values():
        await client.aclose()
    # Accounts share the backend pool: closing it again is a no-op.
    services = {id(s): s for s in (res.services, *(rt.services for rt in runtimes)) if s is not None}
    for service in services.values():
        await service.close()
    if res.writes is not None:
        await asyncio.to_thread(res.writes.close)
    for http in res.http_clients:
        await http.aclose()
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

    app = WxbotApp(title="wxbot", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    errors.install(app)
    # First in the routing table, and a Starlette route rather than a FastAPI one: every WeChat
    # delivery comes here. `WxbotApp` serves the two directly, with the app's exception handlers
    # (app/errors.py) but without FastAPI's middleware and router (app/asgi.py): about a tenth
    # of the worker's CPU per delivery each time.
    app.add_route("/wechat", callback.receive, methods=["POST"])
    default_route = app.router.routes[-1]
    # Each account of an accounts file: the same plain route, its account a dict lookup.
    app.add_route("/wechat/{account}", callback.receive_account, methods=["POST"])
    account_route = app.router.routes[-1]
    assert isinstance(default_route, Route) and isinstance(account_route, Route)
    app.serve_deliveries(default_route, account_route)
    app.include_router(callback.router)
    app.include_router(push_links.router)
    app.include_router(_admin_router())
    app.include_router(admin_sessions.router, dependencies=[AdminDep])
    app.include_router(metrics.build_metrics_router([require_metrics_token] if settings.metrics_token else []))
    desk_router.install(app)
    if settings.app_env == "dev":
        app.include_router(demo.router)

    def database(res: ResourcesDep) -> Engine:
        assert res.engine is not None, "build_resources always makes an engine"
        return res.engine

    # With an accounts file the dashboard filters by account and compares them (issue 16).
    ops_accounts = None
    if settings.accounts_file is not None:
        try:
            ops_accounts = {a.id: a.name for a in configured_accounts(settings)}
        except AccountsError as exc:
            raise ConfigError("ACCOUNTS_FILE:\n" + str(exc)) from exc
    app.include_router(build_ops_router(
        engine=database, require_admin=require_ops_reader, accounts=ops_accounts,
        reaches=_reach_source, surges=_surge_source,
    ))

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
            body.update(res.turnlog.health())
            if body["turnlog"] == "spool_failed":  # rows are being lost: someone must look
                body["status"] = "degraded"
        if res.calendar is not None:
            # 「incomplete」: a booking window reaches a year whose holiday schedule is not in calendar.yaml.
            body["calendar"] = res.calendar.health()
        # 503 only when we cannot answer at all; a degraded store still answers FAQs.
        return JSONResponse(body, status_code=200 if store_ok or any(loaded.values()) else 503)

    return app
