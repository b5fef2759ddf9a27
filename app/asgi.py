"""The ASGI application: WeChat's deliveries go straight to their handler, the rest through FastAPI.

Every delivery is a `POST /wechat` or `POST /wechat/{account}`. Through FastAPI's stack each one
passed six middleware layers and the router (server errors, telemetry that reads the environment
for OpenTelemetry providers on every request, a body limit, exception handlers, an exit stack,
route matching, the endpoint wrapper) and built a Request, its query parameters and a body stream:
about a tenth of a worker's CPU per delivery (py-spy, docs/reliability.md "Where a delivery's time
goes"), for a route that needs none of them but the exception handlers. `WxbotApp` answers those
two routes itself (`app.callback.answer` on the ASGI scope and channel), with the app's exception
handlers looked up as Starlette does; anything else, and the delivery routes whenever the app is
configured in a way this shortcut does not reproduce (debug, a root path, user middleware), goes
through FastAPI and the routes' own endpoints unchanged.
"""

from __future__ import annotations

import inspect
from typing import Any

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from app import callback
from app.deps import Resources

PATH = "/wechat"
_ACCOUNT_PREFIX = PATH + "/"


class WxbotApp(FastAPI):
    """FastAPI, with the two delivery routes (`serve_deliveries`) answered without its middleware."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # (the route of `/wechat`, the route of `/wechat/{account}`), set by `serve_deliveries`.
        self._deliveries: tuple[Route, Route] | None = None

    def serve_deliveries(self, default: Route, per_account: Route) -> None:
        """Serve these two routes (already added to the router) directly."""
        self._deliveries = (default, per_account)

    def _delivery_route(self, scope: Scope) -> tuple[Route, dict[str, str]] | None:
        if (
            self._deliveries is None
            or scope["type"] != "http"
            or scope["method"] != "POST"
            or scope.get("root_path")
            or self.debug
            or self.user_middleware
        ):
            return None
        path: str = scope["path"]
        if path == PATH:
            return self._deliveries[0], {}
        if path.startswith(_ACCOUNT_PREFIX):
            account = path[len(_ACCOUNT_PREFIX) :]
            # Starlette's `{account}`: one non-empty path segment.
            if account and "/" not in account and "\n" not in account:
                return self._deliveries[1], {"account": account}
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = self._delivery_route(scope)
        if found is None:
            await super().__call__(scope, receive, send)
            return
        route, params = found
        # What the router would have put in the scope for the endpoint and the error handlers.
        scope["app"] = self
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope["path_params"] = params
        try:
            resources: Resources = self.state.resources
            # The route's endpoint does the same from a Request (callback.receive); none is built here.
            runtime = resources.account(params.get("account"))
            response = callback.reply_response(await callback.answer(resources, runtime, scope, receive))
        except Exception as exc:
            response = await self._handled(Request(scope, receive, send), exc, send)
        await response(scope, receive, send)

    async def _handled(self, request: Request, exc: Exception, send: Send) -> Response:
        """The response FastAPI's stack would give for `exc`: the handler registered for its
        nearest class (as Starlette's ExceptionMiddleware looks it up), else the server-error
        handler's response, and then `exc` raised again as ServerErrorMiddleware does (the server
        logs it)."""
        handlers = self.exception_handlers
        for cls in type(exc).__mro__:
            if cls is Exception:
                break
            handler = handlers.get(cls)
            if handler is not None:
                return await _call(handler, request, exc)
        server_error = handlers.get(500) or handlers.get(Exception)
        if server_error is None:
            response: Response = PlainTextResponse("Internal Server Error", status_code=500)
        else:
            response = await _call(server_error, request, exc)
        await response(request.scope, request.receive, send)
        raise exc


async def _call(handler: Any, request: Request, exc: Exception) -> Response:
    if inspect.iscoroutinefunction(handler):
        response: Response = await handler(request, exc)
    else:
        response = await run_in_threadpool(handler, request, exc)
    return response
