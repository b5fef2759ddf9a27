"""The app factory: settings are read and every resource is built once, in the lifespan."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse

from app import callback, errors, logs
from app.deps import Resources, ResourcesDep
from app.late import DroppingLateSender, LateReplySender
from app.settings import Settings
from app.stores.factory import build_store
from app.turns import DiscardingSink, TurnProcessor, TurnSink
from app.wechat.crypto import MessageCrypto
from handlers.context import HandlerContext, HandoffConfig

log = logging.getLogger("wxbot")


class _NoServices:
    """Until tickets and backends are configured, flows that need them say so politely."""

    async def create_ticket(self, flow_id: str, openid: str, fields: object) -> str:
        raise RuntimeError("ticket storage not configured")

    async def call_endpoint(self, name: str, params: object) -> object:
        raise RuntimeError("endpoints not configured")


def build_resources(settings: Settings, *, late_sender: LateReplySender | None = None,
                    sink: TurnSink | None = None) -> Resources:
    store = build_store(settings.redis_url)
    aes_key = settings.wechat_aes_key.get_secret_value()
    message_crypto = (
        MessageCrypto(settings.wechat_token.get_secret_value(), aes_key, settings.wechat_appid)
        if settings.wechat_encrypt_mode != "plain" or len(aes_key) == 43
        else None
    )
    handoff = HandoffConfig(
        agent_account=settings.kf_account,
        hours=settings.service_hours,
        fallbacks_before_handoff=settings.fallbacks_before_handoff,
    )
    services = _NoServices()

    def context() -> HandlerContext:
        return HandlerContext(
            matcher=None,
            flows=None,
            services=services,  # type: ignore[arg-type]
            handoff=handoff,
            session_timeout_s=settings.session_ttl_s,
        )

    late = late_sender or DroppingLateSender()
    turn_sink = sink or DiscardingSink()
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
    )
    return Resources(
        settings=settings,
        store=store,
        crypto=message_crypto,
        processor=processor,
        late_sender=late,
        sink=turn_sink,
        pseudonym_key=settings.pseudonym_key.get_secret_value().encode(),
    )


def create_app(settings: Settings | None = None, resources: Resources | None = None) -> FastAPI:
    settings = settings or Settings()
    settings.check_production()
    logs.configure(settings.log_level)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        res = resources or build_resources(settings)
        app.state.resources = res
        # Everything loaded so far (jieba's dictionary, the indexes) lives for the whole process:
        # moving it out of the collector's sight keeps full collections from pausing replies.
        gc.collect()
        gc.freeze()
        try:
            yield
        finally:
            await res.processor.drain()
            await res.store.close()

    app = FastAPI(title="wxbot", lifespan=lifespan, docs_url=None, redoc_url=None, openapi_url=None)
    errors.install(app)
    app.include_router(callback.router)

    @app.get("/healthz")
    async def healthz(res: ResourcesDep) -> JSONResponse:
        store_ok = await res.store.ping()
        body = {"status": "ok" if store_ok else "degraded", "store": "ok" if store_ok else "unavailable"}
        return JSONResponse(body, status_code=200 if store_ok else 503)

    return app
