"""The floor for bench/callback.py: FastAPI + wechatpy parse and render, nothing else.

Whatever our service does beyond this (dedup, locks, sessions, matching, logging) is the
cost the benchmark's ratio measures.
"""

from __future__ import annotations

from fastapi import FastAPI, Request, Response
from wechatpy import parse_message
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

TOKEN = "wxbotdev"
app = FastAPI()


@app.post("/wechat")
async def receive(request: Request, signature: str, timestamp: str, nonce: str) -> Response:
    check_signature(TOKEN, signature, timestamp, nonce)
    message = parse_message(await request.body())
    reply = TextReply(content="您好，已收到您的消息。", message=message)
    return Response(content=reply.render(), media_type="application/xml")
