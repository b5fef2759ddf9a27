"""`WeChatClient`: the HTTP calls this service makes to WeChat, with one token retry and no others.

Each call is bounded by `timeout_s` end to end (connect, send, wait, read). Errcodes are raised
as `WeChatApiError`; only a rejected token (40001/40014/42001) is retried, once, after getting a
fresh token. Window and quota errors (45015, 45047), timeouts and network errors are logged,
counted and raised to the caller, which decides what to record: retrying them blindly would
only burn the quota or pile up behind a slow WeChat (PROTOCOL.md, wechatpy PR #643).
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import httpx
import structlog

from app.stores.base import Store
from app.wxapi.errors import (
    DAILY_QUOTA,
    DUPLICATE_CLIENTMSGID,
    NO_MENU,
    NOT_FOLLOWING,
    NOT_SUBSCRIBED,
    QUOTA_USED,
    TOKEN_REJECTED,
    WINDOW_CLOSED,
    WeChatApiError,
    WeChatTimeout,
    WeChatUnavailable,
)
from app.wxapi.stats import ApiObserver, ApiStats
from app.wxapi.token import AccessTokenCache
from handlers.replies import Article

if TYPE_CHECKING:
    from app.settings import Settings

log = structlog.get_logger(__name__)

DEFAULT_BASE_URL = "https://api.weixin.qq.com"
# Chinese text goes as UTF-8, not \u escapes: WeChat shows escapes literally in some APIs
# (menus), which is why wechatpy posts with ensure_ascii=False too.
_JSON_HEADERS = {"Content-Type": "application/json; charset=utf-8"}
# Errcodes the caller expects and handles; logged as warnings, not errors.
_EXPECTED = frozenset({
    WINDOW_CLOSED, QUOTA_USED, DAILY_QUOTA, NOT_FOLLOWING, NOT_SUBSCRIBED, DUPLICATE_CLIENTMSGID, *TOKEN_REJECTED
})


class WeChatClient:
    def __init__(
        self,
        *,
        appid: str,
        secret: str,
        store: Store,
        base_url: str = DEFAULT_BASE_URL,
        timeout_s: float = 3.0,
        token_early_s: float = 240.0,
        observer: ApiObserver | None = None,
        http: httpx.AsyncClient | None = None,
    ) -> None:
        """`http`: a connection pool shared by several accounts' clients (issue 16); the caller closes it."""
        _redact_httpx_logs()
        self.appid = appid
        self._secret = secret
        self._timeout_s = timeout_s
        self._owns_http = http is None
        self._http = http or shared_http(base_url, timeout_s)
        self.stats = ApiStats(observer)
        self._tokens = AccessTokenCache(
            store, appid, self._fetch_token, fetch_timeout_s=timeout_s, early_s=token_early_s
        )

    @classmethod
    def from_settings(
        cls, settings: Settings, store: Store, *, observer: ApiObserver | None = None
    ) -> WeChatClient | None:
        """A client for the configured account, or None when no AppSecret is configured."""
        secret = settings.wechat_appsecret.get_secret_value()
        if not secret or not settings.wechat_appid:
            return None
        return cls(
            appid=settings.wechat_appid,
            secret=secret,
            store=store,
            base_url=settings.wechat_api_base,
            observer=observer,
        )

    async def aclose(self) -> None:
        if self._owns_http:
            await self._http.aclose()

    async def __aenter__(self) -> WeChatClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- the calls -------------------------------------------------------------------------

    async def access_token(self) -> str:
        return await self._tokens.get()

    async def send_text(self, openid: str, content: str) -> None:
        await self._with_token(
            "custom_send",
            "POST",
            "/cgi-bin/message/custom/send",
            {"touser": openid, "msgtype": "text", "text": {"content": content}},
        )

    async def send_news(self, openid: str, article: Article) -> None:
        """One article: WeChat shows a single one in customer-service news since 2023."""
        item = {
            "title": article.title,
            "description": article.description,
            "url": article.url,
            "picurl": article.pic_url,
        }
        await self._with_token(
            "custom_send",
            "POST",
            "/cgi-bin/message/custom/send",
            {"touser": openid, "msgtype": "news", "news": {"articles": [item]}},
        )

    async def create_menu(self, menu: Mapping[str, Any]) -> None:
        await self._with_token("menu_create", "POST", "/cgi-bin/menu/create", menu)

    async def get_menu(self) -> dict[str, Any] | None:
        """The menu as WeChat holds it (`{"menu": {"button": …}}`), or None when there is none."""
        try:
            return await self._with_token("menu_get", "GET", "/cgi-bin/menu/get", None)
        except WeChatApiError as exc:
            if exc.errcode == NO_MENU:
                return None
            raise

    async def send_template(
        self, openid: str, template_id: str, data: Mapping[str, str], *, url: str = ""
    ) -> str:
        """A template message (模板消息): reaches the citizen outside the 48-hour window.

        Returns WeChat's msgid, which its TEMPLATESENDJOBFINISH report names (issue 19)."""
        body: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {key: {"value": value} for key, value in data.items()},
        }
        if url:
            body["url"] = url
        answer = await self._with_token("template_send", "POST", "/cgi-bin/message/template/send", body)
        return str(answer.get("msgid", ""))

    async def send_subscribe_notice(
        self, openid: str, template_id: str, data: Mapping[str, str], *, url: str = ""
    ) -> str:
        """A subscription notice (订阅通知, message/subscribe/bizsend) to a citizen who accepted the template.

        WeChat answers without a msgid; the result comes later as a subscribe_msg_sent_event,
        which names the template and a MsgID. Returns "" (issue 19)."""
        body: dict[str, Any] = {
            "touser": openid,
            "template_id": template_id,
            "data": {key: {"value": value} for key, value in data.items()},
        }
        if url:
            body["page"] = url
        await self._with_token("subscribe_send", "POST", "/cgi-bin/message/subscribe/bizsend", body)
        return ""

    async def mass_send_to_tag(self, tag_id: int, content: str, clientmsgid: str) -> str:
        """A text mass send to everyone with the tag; `clientmsgid` makes a repeat a refusal, not a resend."""
        body = {
            "filter": {"is_to_all": False, "tag_id": tag_id},
            "msgtype": "text",
            "text": {"content": content},
            "clientmsgid": clientmsgid,
        }
        answer = await self._with_token("mass_sendall", "POST", "/cgi-bin/message/mass/sendall", body)
        return str(answer.get("msg_id", ""))

    async def tag_members(self, tag_id: int) -> list[str]:
        """Every follower with the tag (user/tag/get, 10,000 a page)."""
        members: list[str] = []
        next_openid = ""
        while True:
            answer = await self._with_token(
                "tag_get", "POST", "/cgi-bin/user/tag/get", {"tagid": tag_id, "next_openid": next_openid}
            )
            data = answer.get("data")
            page = [str(o) for o in data.get("openid", [])] if isinstance(data, dict) else []
            members += page
            next_openid = str(answer.get("next_openid", ""))
            if not page or not next_openid:
                return members

    async def untag_users(self, tag_id: int, openids: list[str]) -> None:
        """Take up to 50 followers out of a tag."""
        await self._with_token(
            "tags_untagging", "POST", "/cgi-bin/tags/members/batchuntagging", {"openid_list": openids, "tagid": tag_id}
        )

    async def tag_users(self, tag_id: int, openids: list[str]) -> None:
        """Put up to 50 followers in a tag (tags are how mass sends reach only subscribers)."""
        await self._with_token(
            "tags_tagging", "POST", "/cgi-bin/tags/members/batchtagging", {"openid_list": openids, "tagid": tag_id}
        )

    # -- plumbing --------------------------------------------------------------------------

    async def _with_token(
        self, api: str, method: str, path: str, body: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        token = await self._tokens.get()
        try:
            return await self._call(api, method, path, token=token, body=body)
        except WeChatApiError as exc:
            if exc.errcode not in TOKEN_REJECTED:
                raise
        # Another instance forced a refresh, or the token expired early: once, with a new one.
        token = await self._tokens.replace(token)
        return await self._call(api, method, path, token=token, body=body)

    async def _fetch_token(self, force: bool) -> tuple[str, float]:
        data = await self._call(
            "stable_token",
            "POST",
            "/cgi-bin/stable_token",
            body={
                "grant_type": "client_credential",
                "appid": self.appid,
                "secret": self._secret,
                "force_refresh": force,
            },
        )
        token, expires_in = data.get("access_token"), data.get("expires_in")
        if not (isinstance(token, str) and token and isinstance(expires_in, int | float) and expires_in > 0):
            log.error("wxapi_token_malformed")
            raise WeChatUnavailable("stable_token: no access_token in the answer", code="bad_response")
        return token, float(expires_in)

    async def _call(
        self,
        api: str,
        method: str,
        path: str,
        *,
        token: str | None = None,
        body: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        params = {"access_token": token} if token is not None else None
        content = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        try:
            async with asyncio.timeout(self._timeout_s):
                response = await self._http.request(
                    method,
                    path,
                    params=params,
                    content=content,
                    headers=_JSON_HEADERS if content is not None else None,
                )
        except (TimeoutError, httpx.TimeoutException) as exc:
            self._failed(api, "timeout")
            raise WeChatTimeout(f"{api}: no answer within {self._timeout_s:g} s") from exc
        except httpx.TransportError as exc:
            # The exception's text can carry the URL, and with it the token: log its type only.
            self._failed(api, "network", error=type(exc).__name__)
            raise WeChatUnavailable(f"{api}: {type(exc).__name__}") from exc
        if response.status_code != 200:
            code = f"http_{response.status_code}"
            self._failed(api, code)
            raise WeChatUnavailable(f"{api}: HTTP {response.status_code}", code=code)
        try:
            data = response.json()
        except ValueError as exc:
            self._failed(api, "bad_response")
            raise WeChatUnavailable(f"{api}: answer is not JSON", code="bad_response") from exc
        if not isinstance(data, dict):
            self._failed(api, "bad_response")
            raise WeChatUnavailable(f"{api}: answer is not a JSON object", code="bad_response")
        errcode = _errcode(data.get("errcode", 0))
        if errcode != 0:
            errmsg = str(data.get("errmsg", ""))
            self.stats.record(api, str(errcode))
            if errcode in _EXPECTED:
                log.warning("wxapi_errcode", api=api, errcode=errcode, errmsg=errmsg)
            elif not (api == "menu_get" and errcode == NO_MENU):
                log.error("wxapi_errcode", api=api, errcode=errcode, errmsg=errmsg)
            raise WeChatApiError(api, errcode, errmsg)
        self.stats.record(api, "ok")
        return data

    def _failed(self, api: str, outcome: str, **fields: str) -> None:
        self.stats.record(api, outcome)
        log.warning("wxapi_call_failed", api=api, outcome=outcome, **fields)


def _errcode(value: object) -> int:
    """WeChat sends errcode as a number; tolerate a numeric string, treat anything else as -1."""
    if value is None:
        return 0
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return -1


_TOKEN_IN_URL = re.compile(r"(access_token=)[^&\s\"']+")


class _RedactAccessToken(logging.Filter):
    """httpx logs every request URL at INFO, and WeChat wants the token in the URL: mask it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple):
            record.args = tuple(_masked(a) for a in record.args)
        if "access_token=" in str(record.msg):
            record.msg = _TOKEN_IN_URL.sub(r"\1***", str(record.msg))
        return True


def _masked(arg: object) -> object:
    text = str(arg) if not isinstance(arg, int | float) else ""
    return _TOKEN_IN_URL.sub(r"\1***", text) if "access_token=" in text else arg


def shared_http(base_url: str = DEFAULT_BASE_URL, timeout_s: float = 3.0) -> httpx.AsyncClient:
    """The HTTP client the API calls go through; one can serve every account of a deployment."""
    # httpx's own timeouts are per phase; the end-to-end bound is the asyncio.timeout in _call.
    return httpx.AsyncClient(base_url=base_url, timeout=httpx.Timeout(timeout_s))


def _redact_httpx_logs() -> None:
    logger = logging.getLogger("httpx")
    if not any(isinstance(f, _RedactAccessToken) for f in logger.filters):
        logger.addFilter(_RedactAccessToken())
