"""The WeChat callback: the HTTP boundary of a turn.

verify → decrypt → parse here; dedup → lock → session → route → render in app/turns.py;
encrypt and respond here; the turn row is written after the response is sent.

`/wechat/{account}` serves one account of an accounts file, `/wechat` the default one (the
only one without an accounts file). The account is looked up once from the path and passed
down explicitly; its own token, AES key and encrypt mode check the request, so a delivery
signed with another account's token is refused.
"""

from __future__ import annotations

import asyncio
import time
from typing import Annotated
from urllib.parse import parse_qsl

from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response
from starlette.requests import ClientDisconnect
from starlette.types import Receive, Scope

from app import logs
from app.deps import AccountRuntime, Resources, ResourcesDep
from app.errors import BadRequest, Forbidden, PayloadTooLarge, RequestTimeout
from app.stores import keys
from app.turns import Replay, Stages
from app.wechat import crypto
from app.wechat.parse import parse_xml, to_message
from app.wechat.render import SUCCESS

router = APIRouter()
Param = Annotated[str | None, Query()]


def _check_timestamp(resources: Resources, timestamp: str | None) -> None:
    window = resources.settings.timestamp_window_s
    if window <= 0:
        return
    try:
        skew = abs(time.time() - int(timestamp or ""))
    except ValueError as exc:
        raise Forbidden("timestamp is not a number") from exc
    if skew > window:
        # A replayed delivery outside the window is refused even with a valid signature.
        raise Forbidden("timestamp outside the accepted window")


def _verify(
    resources: Resources, runtime: AccountRuntime, signature: str | None, timestamp: str | None, nonce: str | None
) -> None:
    crypto.verify((runtime.account.token, timestamp or "", nonce or ""), signature)
    _check_timestamp(resources, timestamp)


def _verify_url(
    runtime: AccountRuntime, signature: str | None, timestamp: str | None, nonce: str | None, echostr: str | None
) -> PlainTextResponse:
    # For Official Accounts echostr is plaintext in every mode (WeCom differs).
    crypto.verify((runtime.account.token, timestamp or "", nonce or ""), signature)
    return PlainTextResponse(echostr or "")


def _replay(
    resources: Resources, runtime: AccountRuntime, signature: str | None, timestamp: str | None, nonce: str | None
) -> Replay | None:
    """The replay record for a verified request: kept until its timestamp leaves the window."""
    window = resources.settings.timestamp_window_s
    if window <= 0 or not signature:
        return None
    ttl = int(timestamp or "0") + window - time.time() + 1
    return Replay(keys.replay(runtime.account.appid, timestamp or "", nonce or "", signature), max(1.0, ttl))


@router.get("/wechat", response_class=PlainTextResponse)
async def verify_url(
    resources: ResourcesDep,
    signature: Param = None,
    timestamp: Param = None,
    nonce: Param = None,
    echostr: Param = None,
) -> PlainTextResponse:
    return _verify_url(resources.account(None), signature, timestamp, nonce, echostr)


@router.get("/wechat/{account}", response_class=PlainTextResponse)
async def verify_account_url(
    account: str,
    resources: ResourcesDep,
    signature: Param = None,
    timestamp: Param = None,
    nonce: Param = None,
    echostr: Param = None,
) -> PlainTextResponse:
    return _verify_url(resources.account(account), signature, timestamp, nonce, echostr)


async def _read_body(scope: Scope, receive: Receive, limit: int, timeout_s: float) -> bytes:
    # Read from the ASGI channel directly, as Starlette's Request.stream does (a disconnect is
    # ClientDisconnect), without building a Request per delivery.
    declared = next((value for name, value in scope["headers"] if name == b"content-length"), None)
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge("declared body over the limit")
    chunks: list[bytes] = []
    size = 0
    try:
        # A read deadline: a client trickling its body must not hold a worker's slot (issue 15).
        async with asyncio.timeout(timeout_s):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise ClientDisconnect()
                if message["type"] != "http.request":
                    continue
                chunk: bytes = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise PayloadTooLarge("body over the limit")
                chunks.append(chunk)
                if not message.get("more_body", False):
                    break
    except TimeoutError as exc:
        raise RequestTimeout("body not received within the read deadline") from exc
    return b"".join(chunks)


def _query(scope: Scope) -> dict[str, str]:
    """The query string's parameters, the last of a repeated name winning (as Starlette's QueryParams)."""
    return dict(parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True))


def reply_response(xml: str) -> Response:
    return Response(content=xml, media_type="text/plain" if xml == SUCCESS else "application/xml")


async def receive(request: Request) -> Response:
    """`POST /wechat` as a Starlette route; app.asgi.WxbotApp normally calls `answer` itself."""
    resources: Resources = request.app.state.resources
    return reply_response(await answer(resources, resources.account(None), request.scope, request.receive))


async def receive_account(request: Request) -> Response:
    """`POST /wechat/{account}`: the same, for one account of an accounts file (a dict lookup)."""
    resources: Resources = request.app.state.resources
    runtime = resources.account(request.path_params["account"])
    return reply_response(await answer(resources, runtime, request.scope, request.receive))


async def answer(resources: Resources, runtime: AccountRuntime, scope: Scope, receive: Receive) -> str:
    """One delivery to `runtime`'s account: the reply XML (encrypted in safe mode) or `success`.

    Works on the ASGI scope and channel: all of WeChat's traffic comes through here, so nothing
    is built per request that the turn does not need (no FastAPI dependency solving, no Request)."""
    stages = Stages()
    query = _query(scope)
    signature, timestamp, nonce = query.get("signature"), query.get("timestamp"), query.get("nonce")
    msg_signature = query.get("msg_signature")
    settings = resources.settings
    body = await _read_body(scope, receive, settings.max_body_bytes, settings.body_read_timeout_s)
    _verify(resources, runtime, signature, timestamp, nonce)
    stages.mark("verify")

    # The mode comes from configuration, never from what the request claims: an attacker
    # could drop encrypt_type to slip a plaintext body past a safe-mode account.
    mode = runtime.account.encrypt_mode
    message_crypto = runtime.crypto
    fields = parse_xml(body)
    encrypted = False
    if mode == "safe" or (mode == "compatible" and "Encrypt" in fields):
        if message_crypto is None or "Encrypt" not in fields:
            raise BadRequest("encrypted body expected")
        inner = message_crypto.decrypt_verified(fields["Encrypt"], timestamp or "", nonce or "", msg_signature)
        fields = parse_xml(inner)
        encrypted = True
    stages.mark("decrypt")
    message = to_message(fields)
    stages.mark("parse")
    # Pseudonyms only: a log line must never carry the OpenID or what the user typed.
    logs.bind_turn(resources.pseudonym_key, message.from_user, message.dedup_key())
    if resources.default is not runtime or len(resources.accounts) > 1:
        # Log context only, for people reading the logs: the turn itself gets its account passed in.
        logs.bind(account=runtime.account.id)

    turn = await runtime.processor.process(message, stages, _replay(resources, runtime, signature, timestamp, nonce))
    xml = turn.xml
    if encrypted and xml != SUCCESS and message_crypto is not None:
        xml = message_crypto.encrypt_reply(xml, str(int(time.time())), nonce or "")
        stages.mark("encrypt")
    if turn.record is not None:
        record = turn.record
        record.latency_ms = stages.elapsed_ms()
        record.stages = dict(stages.marks)
        # Only queued here (a deque append, never I/O): the row is written off this path, so
        # logging never delays a reply. A background task would cost more than the append.
        resources.sink.submit(record)
    return xml
