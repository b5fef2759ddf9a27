"""The account's access token: one for all workers, kept in the shared `Store`.

Fetched with `POST /cgi-bin/stable_token`, which unlike the classic `/cgi-bin/token` does not
invalidate the tokens other instances hold (the cross-instance overwrite is a top complaint:
silenceper/wechat#516, w7corp/easywechat#1453; PROTOCOL.md). In normal mode WeChat renews the
token 5 minutes before it expires and keeps the old one valid meanwhile, so we drop our cached
copy a little inside that window (`early_s`) and the next fetch returns the renewed token.

Refresh is single-flight: an asyncio lock inside the worker, then the store's lock across
workers, and a re-check of the cache after each, so a cold start of many workers costs one
`stable_token` call. When the store is down we degrade to a per-process copy: stable_token is
safe to call from several places, it only costs extra calls.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

import structlog

from app.stores.base import LockTimeout, Store, StoreUnavailable
from app.wxapi.errors import WeChatError, WeChatTimeout

log = structlog.get_logger(__name__)

# force_refresh -> (access_token, expires_in seconds)
TokenFetcher = Callable[[bool], Awaitable[tuple[str, float]]]

# WeChat allows 20 forced refreshes a day, 30 s apart; we force at most this often.
FORCE_INTERVAL_S = 60.0


def cache_ttl(expires_in: float, early_s: float) -> float:
    """How long to keep a token that WeChat says is valid for `expires_in` more seconds."""
    if expires_in <= 0:
        raise ValueError(f"expires_in must be positive, got {expires_in!r}")
    if expires_in > 2 * early_s:
        return expires_in - early_s
    # A token close to its end (we fetched inside the renewal window): keep it briefly.
    return expires_in / 2


class AccessTokenCache:
    def __init__(
        self,
        store: Store,
        appid: str,
        fetch: TokenFetcher,
        *,
        fetch_timeout_s: float,
        early_s: float = 240.0,
    ) -> None:
        self._store = store
        self._fetch = fetch
        self._early_s = early_s
        self._key = f"wxapi:token:{appid}"
        self._lock_key = f"wxapi:token-refresh:{appid}"
        self._force_key = f"wxapi:token-force:{appid}"
        # The lease outlives one fetch, so a crashed holder blocks others for one fetch at most.
        self._lock_ttl = fetch_timeout_s + 5.0
        self._lock_wait = self._lock_ttl + 1.0
        # A refresh, queueing included, never takes longer than this.
        self._budget = self._lock_wait + 2 * fetch_timeout_s
        self._local_lock = asyncio.Lock()
        # Used only while the store is unreachable: (token, monotonic time to drop it).
        self._fallback: tuple[str, float] | None = None
        # The last failed refresh in this process: (monotonic time, error).
        self._failure: tuple[float, WeChatError] | None = None

    async def get(self) -> str:
        token = await self._cached()
        if token is not None:
            return token
        return await self._refresh(rejected=None)

    async def replace(self, rejected: str) -> str:
        """A token other than `rejected`, which WeChat just refused (40001/42001)."""
        return await self._refresh(rejected=rejected)

    async def _refresh(self, rejected: str | None) -> str:
        asked_at = time.monotonic()
        try:
            async with asyncio.timeout(self._budget):
                async with self._local_lock:
                    token = await self._cached()
                    if token is not None and token != rejected:
                        return token
                    failure = self._failure
                    if failure is not None and failure[0] >= asked_at:
                        # We queued behind a refresh that failed: share its outcome rather
                        # than try again one after another against a slow or failing WeChat.
                        raise failure[1]
                    try:
                        return await self._refresh_across_workers(rejected)
                    except WeChatError as exc:
                        self._failure = (time.monotonic(), exc)
                        raise
        except TimeoutError as exc:
            raise WeChatTimeout("access token refresh took too long") from exc

    async def _refresh_across_workers(self, rejected: str | None) -> str:
        token: str | None = None
        try:
            async with self._store.lock(self._lock_key, ttl=self._lock_ttl, wait=self._lock_wait):
                # Another worker may have refreshed while we queued.
                token = await self._cached()
                if token is None or token == rejected:
                    token = await self._fetch_and_keep(rejected)
        except LockTimeout as exc:
            raise WeChatTimeout("access token refresh is queued behind slow refreshes") from exc
        except StoreUnavailable:
            if token is None:
                log.warning("wxapi_token_store_unavailable")
                token = await self._fetch_and_keep(rejected)
        return token

    async def _fetch_and_keep(self, rejected: str | None) -> str:
        token, expires_in = await self._fetch(False)
        if rejected is not None and token == rejected and await self._may_force():
            # WeChat still hands out the token it just refused (someone forced a refresh
            # elsewhere, or its clocks disagree): only a forced refresh gets a new one.
            log.warning("wxapi_token_force_refresh")
            token, expires_in = await self._fetch(True)
        ttl = cache_ttl(expires_in, self._early_s)
        self._fallback = (token, time.monotonic() + ttl)
        try:
            await self._store.set(self._key, token.encode(), ttl)
        except StoreUnavailable:
            log.warning("wxapi_token_store_unavailable")
        return token

    async def _may_force(self) -> bool:
        try:
            return await self._store.set_if_absent(self._force_key, b"1", FORCE_INTERVAL_S)
        except StoreUnavailable:
            return True

    async def _cached(self) -> str | None:
        try:
            value = await self._store.get(self._key)
        except StoreUnavailable:
            if self._fallback is not None and time.monotonic() < self._fallback[1]:
                return self._fallback[0]
            return None
        return value.decode() if value is not None else None
