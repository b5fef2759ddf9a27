"""Typed boundary errors and the one place they become HTTP responses.

Errors at the boundary (bad signature, malformed body) are the caller's fault and get a 4xx
with a short plain-text reason; nothing after the boundary raises into a response — the turn
processor answers the user with an apology instead (see app/turns.py).
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import PlainTextResponse
from starlette.requests import ClientDisconnect

from app.wechat.crypto import DecryptError, SignatureError
from app.wechat.parse import MalformedMessage

log = logging.getLogger("wxbot.errors")

# nginx's "client closed request": not an HTTP status anyone receives, only what the log says.
CLIENT_CLOSED = 499


class BoundaryError(Exception):
    status_code = 400
    reason = "bad request"


class Forbidden(BoundaryError):
    status_code = 403
    reason = "forbidden"


class BadRequest(BoundaryError):
    status_code = 400
    reason = "bad request"


class PayloadTooLarge(BoundaryError):
    status_code = 413
    reason = "payload too large"


class NotFound(BoundaryError):
    status_code = 404
    reason = "not found"


class Unauthorized(BoundaryError):
    status_code = 401
    reason = "unauthorized"


class RequestTimeout(BoundaryError):
    """The body did not arrive within BODY_READ_TIMEOUT_S (a slow or stalled client)."""

    status_code = 408
    reason = "request timeout"


class TooManyRequests(BoundaryError):
    status_code = 429
    reason = "too many requests"


_MAPPED: dict[type[Exception], type[BoundaryError]] = {
    SignatureError: Forbidden,
    DecryptError: BadRequest,
    MalformedMessage: BadRequest,
}


def _route_path(request: Request) -> str:
    route = request.scope.get("route")
    return getattr(route, "path", None) or "(unrouted)"


def _respond(request: Request, error: type[BoundaryError], detail: str) -> PlainTextResponse:
    # The detail names the check that failed, never a secret or the body; the path is the
    # route's template, since concrete paths can carry an OpenID (/admin/sessions/{openid}).
    log.warning(
        "rejected request", extra={"path": _route_path(request), "status": error.status_code, "detail": detail}
    )
    return PlainTextResponse(error.reason, status_code=error.status_code)


def install(app: FastAPI) -> None:
    async def boundary(request: Request, exc: Exception) -> PlainTextResponse:
        assert isinstance(exc, BoundaryError)
        return _respond(request, type(exc), str(exc) or exc.reason)

    async def mapped(request: Request, exc: Exception) -> PlainTextResponse:
        return _respond(request, _lookup(exc), str(exc))

    async def unexpected(request: Request, exc: Exception) -> PlainTextResponse:
        log.exception("unhandled error", extra={"path": _route_path(request)})
        return PlainTextResponse("internal error", status_code=500)

    async def disconnected(request: Request, exc: Exception) -> PlainTextResponse:
        # The client went away (WeChat gave up, a proxy timed out): nothing to answer and
        # nothing broken here. One info line, no traceback; 499 as nginx logs it (issue 15).
        log.info("client disconnected", extra={"path": _route_path(request), "status": CLIENT_CLOSED})
        return PlainTextResponse("client closed request", status_code=CLIENT_CLOSED)

    app.add_exception_handler(BoundaryError, boundary)
    app.add_exception_handler(ClientDisconnect, disconnected)
    for exc_type in _MAPPED:
        app.add_exception_handler(exc_type, mapped)
    app.add_exception_handler(Exception, unexpected)


def _lookup(exc: Exception) -> type[BoundaryError]:
    for exc_type, error in _MAPPED.items():
        if isinstance(exc, exc_type):
            return error
    return BadRequest
