"""A small fake of the WeChat server API, served over real HTTP on 127.0.0.1 from a thread.

It implements what `app.wxapi` calls — `stable_token`, `message/custom/send`, `menu/create`,
`menu/get`, `message/template/send` — with WeChat's token rules (normal mode hands out the current token and renews it
inside the last `renew_window_s`; force mode replaces it and the old one stops working), and knobs
for what goes wrong in production: expired or rejected tokens, errcodes such as 45015/45047,
HTTP errors and slow answers. Every request is recorded in `calls` as it arrives.

    with FakeWeChat() as wechat:
        client = WeChatClient(appid=wechat.appid, secret=wechat.secret, base_url=wechat.url, …)
        wechat.fail_next("custom_send", 45015)
        wechat.delay("custom_send", 2.0)
"""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response

API_PATHS = {
    "stable_token": "/cgi-bin/stable_token",
    "custom_send": "/cgi-bin/message/custom/send",
    "menu_create": "/cgi-bin/menu/create",
    "menu_get": "/cgi-bin/menu/get",
    "template_send": "/cgi-bin/message/template/send",
    "mass_sendall": "/cgi-bin/message/mass/sendall",
    "subscribe_send": "/cgi-bin/message/subscribe/bizsend",
    "tags_tagging": "/cgi-bin/tags/members/batchtagging",
    "tags_untagging": "/cgi-bin/tags/members/batchuntagging",
    "tag_get": "/cgi-bin/user/tag/get",
}


@dataclass(frozen=True, slots=True)
class Call:
    api: str
    token: str | None  # the access_token query parameter, if any
    body: dict[str, Any] | None
    at: float = field(default_factory=time.monotonic)


@dataclass(slots=True)
class _Token:
    expires_at: float  # monotonic
    # When set, using the token answers this errcode (42001 expired, 40001 invalid).
    refused_with: int | None = None


class FakeWeChat:
    def __init__(self, *, appid: str = "wxfake0000000001", secret: str = "fake-app-secret") -> None:
        self.appid = appid
        self.secret = secret
        self._serial = itertools.count(1)  # never reset: tokens stay unique across tests
        self._generation = 0
        self._mutex = threading.Lock()
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""
        self.reset()

    def reset(self) -> None:
        """Forget every token, knob and record, so that one running server serves many tests.

        A slow answer still in flight from before the reset returns 503 without touching state.
        """
        with self._mutex:
            self._generation += 1
            # expires_in of new tokens, and how early normal mode renews (WeChat: 7200/300).
            self.token_ttl_s = 7200.0
            self.renew_window_s = 300.0
            self.calls: list[Call] = []
            self.menu: dict[str, Any] | None = None
            self._accepted: list[dict[str, Any]] = []
            self._templates: list[dict[str, Any]] = []
            self._notices: list[dict[str, Any]] = []
            self._tokens: dict[str, _Token] = {}
            self._current: str | None = None
            self._errors: dict[str, deque[int]] = {}
            self._statuses: dict[str, deque[int]] = {}
            self._delays: dict[str, float] = {}
            # Pushes (issue 19): template messages and mass sends accepted, tags, refused users.
            self.mass: list[dict[str, Any]] = []
            self.tags: dict[int, set[str]] = {}
            self._refused: dict[str, int] = {}

    # -- knobs -----------------------------------------------------------------------------

    def fail_next(self, api: str, errcode: int, times: int = 1) -> None:
        """The next `times` calls of `api` answer HTTP 200 with this errcode."""
        with self._mutex:
            self._errors.setdefault(_check(api), deque()).extend([errcode] * times)

    def http_error_next(self, api: str, status: int, times: int = 1) -> None:
        """The next `times` calls of `api` answer this HTTP status with an HTML body."""
        with self._mutex:
            self._statuses.setdefault(_check(api), deque()).extend([status] * times)

    def refuse_user(self, openid: str, errcode: int) -> None:
        """Template messages to this user answer `errcode` (43004 not following, 43101 refused)."""
        with self._mutex:
            self._refused[openid] = errcode

    def delay(self, api: str, seconds: float) -> None:
        """Every call of `api` waits this long before answering (0 clears it)."""
        with self._mutex:
            self._delays[_check(api)] = seconds

    def expire_tokens(self) -> None:
        """Every issued token now answers 42001; the next normal-mode stable_token issues a new one."""
        with self._mutex:
            for token in self._tokens.values():
                token.refused_with = 42001
            self._current = None

    def refuse_current_token(self, errcode: int = 40001) -> None:
        """The current token is refused, yet normal mode keeps handing it out (only force helps)."""
        with self._mutex:
            assert self._current is not None, "no token issued yet"
            self._tokens[self._current].refused_with = errcode

    # -- records ---------------------------------------------------------------------------

    def calls_to(self, api: str) -> list[Call]:
        with self._mutex:
            return [call for call in self.calls if call.api == _check(api)]

    @property
    def sent(self) -> list[dict[str, Any]]:
        """Bodies of customer-service messages WeChat accepted."""
        with self._mutex:
            return list(self._accepted)

    @property
    def templates_sent(self) -> list[dict[str, Any]]:
        """Bodies of template messages WeChat accepted."""
        with self._mutex:
            return list(self._templates)

    # The pushes' tests read the same list by this name (issue 19).
    templates = templates_sent

    @property
    def notices(self) -> list[dict[str, Any]]:
        """Bodies of subscription notices (bizsend) WeChat accepted."""
        with self._mutex:
            return list(self._notices)

    @property
    def current_token(self) -> str | None:
        with self._mutex:
            return self._current

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeWeChat:
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        config = uvicorn.Config(
            self._app(), log_level="warning", access_log=False, lifespan="off", ws="none",
            http="h11", timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="fake-wechat", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 5
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("fake WeChat did not start")
            time.sleep(0.01)
        self.url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> FakeWeChat:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- the API ---------------------------------------------------------------------------

    def _app(self) -> FastAPI:
        app = FastAPI()

        @app.post(API_PATHS["stable_token"])
        async def stable_token(request: Request) -> Response:
            body = await request.json()
            return await self._answer("stable_token", None, body, lambda: self._issue(body))

        @app.post(API_PATHS["custom_send"])
        async def custom_send(request: Request, access_token: str = "") -> Response:
            body = await request.json()
            return await self._answer("custom_send", access_token, body, lambda: self._accept(body))

        @app.post(API_PATHS["template_send"])
        async def template_send(request: Request, access_token: str = "") -> Response:
            body = await request.json()
            return await self._answer("template_send", access_token, body, lambda: self._accept_template(body))

        @app.post(API_PATHS["subscribe_send"])
        async def subscribe_send(request: Request, access_token: str = "") -> Response:
            body = await request.json()
            return await self._answer("subscribe_send", access_token, body, lambda: self._accept_notice(body))

        @app.post(API_PATHS["menu_create"])
        async def menu_create(request: Request, access_token: str = "") -> Response:
            body = await request.json()
            return await self._answer("menu_create", access_token, body, lambda: self._set_menu(body))

        @app.post(API_PATHS["mass_sendall"])
        async def mass_sendall(request: Request, access_token: str = "") -> Response:
            body = await request.json()
            return await self._answer("mass_sendall", access_token, body, lambda: self._mass(body))

        @app.post(API_PATHS["tags_tagging"])
        async def tags_tagging(request: Request, access_token: str = "") -> Response:
            body = await request.json()
            return await self._answer("tags_tagging", access_token, body, lambda: self._tag(body))

        @app.post(API_PATHS["tags_untagging"])
        async def tags_untagging(request: Request, access_token: str = "") -> Response:
            body = await request.json()
            return await self._answer("tags_untagging", access_token, body, lambda: self._untag(body))

        @app.post(API_PATHS["tag_get"])
        async def tag_get(request: Request, access_token: str = "") -> Response:
            body = await request.json()
            return await self._answer("tag_get", access_token, body, lambda: self._tag_page(body))

        @app.get(API_PATHS["menu_get"])
        async def menu_get(access_token: str = "") -> Response:
            return await self._answer("menu_get", access_token, None, self._get_menu)

        return app

    async def _answer(
        self, api: str, token: str | None, body: dict[str, Any] | None, ok: Any
    ) -> Response:
        with self._mutex:
            self.calls.append(Call(api, token, body))
            wait = self._delays.get(api, 0.0)
            generation = self._generation
        if wait:
            await asyncio.sleep(wait)
        with self._mutex:
            if generation != self._generation:
                return Response("reset while answering", status_code=503)
            statuses = self._statuses.get(api)
            if statuses:
                return Response("<html>502 Bad Gateway</html>", status_code=statuses.popleft())
            errors = self._errors.get(api)
            if errors:
                return _error(errors.popleft())
            if token is not None:
                refused = self._check_token(token)
                if refused:
                    return _error(refused)
            result: dict[str, Any] = ok()
        return JSONResponse(result)

    # The handlers below run with the mutex held.

    def _check_token(self, token: str) -> int:
        state = self._tokens.get(token)
        if state is None:
            return 40001
        if state.refused_with is not None:
            return state.refused_with
        if time.monotonic() >= state.expires_at:
            return 42001
        return 0

    def _issue(self, body: dict[str, Any]) -> dict[str, Any]:
        if body.get("grant_type") != "client_credential" or body.get("appid") != self.appid:
            return {"errcode": 40013, "errmsg": "invalid appid"}
        if body.get("secret") != self.secret:
            return {"errcode": 40125, "errmsg": "invalid appsecret"}
        now = time.monotonic()
        current = self._tokens.get(self._current) if self._current else None
        if body.get("force_refresh"):
            if current is not None:
                current.refused_with = 40001  # a forced refresh invalidates the previous token
        elif current is not None and current.expires_at - now > self.renew_window_s:
            return {"access_token": self._current, "expires_in": int(current.expires_at - now)}
        token = f"fake-token-{next(self._serial)}"
        self._tokens[token] = _Token(expires_at=now + self.token_ttl_s)
        self._current = token
        return {"access_token": token, "expires_in": int(self.token_ttl_s)}

    def _accept(self, body: dict[str, Any]) -> dict[str, Any]:
        self._accepted.append(body)
        return {"errcode": 0, "errmsg": "ok"}

    def _accept_template(self, body: dict[str, Any]) -> dict[str, Any]:
        refused = self._refused.get(str(body.get("touser")))
        if refused:
            return {"errcode": refused, "errmsg": _MESSAGES.get(refused, "error")}
        self._templates.append(body)
        # WeChat's msgids are large numbers; TEMPLATESENDJOBFINISH names the same one.
        return {"errcode": 0, "errmsg": "ok", "msgid": 200000 + len(self._templates)}

    def _accept_notice(self, body: dict[str, Any]) -> dict[str, Any]:
        refused = self._refused.get(str(body.get("touser")))
        if refused:
            return {"errcode": refused, "errmsg": _MESSAGES.get(refused, "error")}
        self._notices.append(body)
        # bizsend answers without a msgid; subscribe_msg_sent_event carries one later.
        return {"errcode": 0, "errmsg": "ok"}

    def _mass(self, body: dict[str, Any]) -> dict[str, Any]:
        # WeChat refuses a second mass send with a clientmsgid it has seen (24 h): 45065.
        if any(m.get("clientmsgid") == body.get("clientmsgid") for m in self.mass):
            return {"errcode": 45065, "errmsg": "clientmsgid exist"}
        self.mass.append(body)
        return {"errcode": 0, "errmsg": "send job submission success", "msg_id": 3000 + len(self.mass),
                "msg_data_id": 2000 + len(self.mass)}

    def _tag(self, body: dict[str, Any]) -> dict[str, Any]:
        self.tags.setdefault(int(body["tagid"]), set()).update(body["openid_list"])
        return {"errcode": 0, "errmsg": "ok"}

    def _untag(self, body: dict[str, Any]) -> dict[str, Any]:
        self.tags.setdefault(int(body["tagid"]), set()).difference_update(body["openid_list"])
        return {"errcode": 0, "errmsg": "ok"}

    # Pages of user/tag/get; WeChat's are 10,000, small here so tests cross a page boundary.
    TAG_PAGE = 100

    def _tag_page(self, body: dict[str, Any]) -> dict[str, Any]:
        members = sorted(self.tags.get(int(body["tagid"]), set()))
        after = str(body.get("next_openid") or "")
        page = [o for o in members if o > after][: self.TAG_PAGE]
        return {"count": len(page), "data": {"openid": page}, "next_openid": page[-1] if page else ""}

    def _set_menu(self, body: dict[str, Any]) -> dict[str, Any]:
        self.menu = body
        return {"errcode": 0, "errmsg": "ok"}

    def _get_menu(self) -> dict[str, Any]:
        if self.menu is None:
            return {"errcode": 46003, "errmsg": "menu no exist"}
        return {"menu": self.menu}


_MESSAGES = {
    40001: "invalid credential, access_token is invalid or not latest",
    42001: "access_token expired",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    45009: "reach max api daily quota limit",
    43004: "require subscribe",
    43101: "user refuse to accept the msg",
    -1: "system error",
}


def _error(errcode: int) -> JSONResponse:
    return JSONResponse({"errcode": errcode, "errmsg": _MESSAGES.get(errcode, "error")})


def _check(api: str) -> str:
    if api not in API_PATHS:
        raise ValueError(f"unknown API {api!r}; one of {sorted(API_PATHS)}")
    return api
