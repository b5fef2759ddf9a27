"""`wxbot chat`: a terminal WeChat — signs (and encrypts) messages exactly as WeChat does."""

from __future__ import annotations

import shlex
import uuid

import httpx
import typer

from app.accounts import Account
from app.cli.accounts import AccountOpt, resolve
from app.settings import Settings
from app.wechat.crypto import MessageCrypto
from app.wechat.simulator import Simulator

DEFAULT_URL = "http://127.0.0.1:8000/wechat"
HELP = """命令：/subscribe 关注  /unsubscribe 取消关注  /click KEY 点击菜单  /voice 文字 语音
      /location 纬度 经度 [地点]  /image 图片  /help 帮助  /quit 退出；其他输入作为文字消息发送。"""


def register(app: typer.Typer) -> None:
    app.command()(chat)


def _simulator(settings: Settings) -> Simulator:
    aes = settings.wechat_aes_key.get_secret_value()
    crypto = MessageCrypto(settings.wechat_token.get_secret_value(), aes, settings.wechat_appid) if aes else None
    return Simulator(settings.wechat_token.get_secret_value(), settings.wechat_encrypt_mode, crypto)


def _account_simulator(account: Account) -> Simulator:
    """Signs and encrypts with the account's own token and key, as WeChat does for that account."""
    crypto = MessageCrypto(account.token, account.aes_key, account.appid) if account.aes_key else None
    return Simulator(account.token, account.encrypt_mode, crypto)


def fields_for(sim: Simulator, openid: str, line: str) -> dict[str, str] | None:
    """Turn one line of input into a delivery's fields; None for local commands."""
    if not line.startswith("/"):
        return sim.text(openid, line)
    parts = shlex.split(line)
    command, args = parts[0].lower(), parts[1:]
    if command == "/subscribe":
        return sim.event(openid, "subscribe")
    if command == "/unsubscribe":
        return sim.event(openid, "unsubscribe")
    if command == "/click" and args:
        return sim.event(openid, "CLICK", args[0])
    if command == "/voice":
        return sim.voice(openid, " ".join(args))
    if command == "/location" and len(args) >= 2:
        return sim.location(openid, float(args[0]), float(args[1]), " ".join(args[2:]))
    if command == "/image":
        return sim._message(openid, "image", PicUrl="http://example.invalid/p.jpg", MediaId="m1")
    return None


def send(client: httpx.Client, url: str, sim: Simulator, fields: dict[str, str]) -> str:
    delivery = sim.deliver(fields)
    response = client.post(url, params=delivery.params, content=delivery.body)
    if response.status_code != 200:
        return f"[HTTP {response.status_code}] {response.text}"
    reply = sim.read_reply(response.text, delivery.params["nonce"])
    if not reply:
        return "（无回复：success）"
    kind = reply.get("MsgType", "")
    if kind == "text":
        return reply.get("Content", "")
    if kind == "news":
        return f"[图文] {reply.get('Title', '')} {reply.get('Url', '')}"
    if kind == "transfer_customer_service":
        return "[已转接人工客服]" + (f" {reply['KfAccount']}" if reply.get("KfAccount") else "")
    return f"[{kind}]"


def chat(
    url: str = typer.Option("", help="回调地址，默认 http://127.0.0.1:8000/wechat（多账号时为 /wechat/账号id）"),
    openid: str = typer.Option("", help="模拟的用户 OpenID（默认随机）"),
    send_text: str = typer.Option("", "--send", help="只发送这一条消息并打印回复"),
    account: AccountOpt = None,
) -> None:
    """在终端里模拟微信用户与服务号对话。"""
    settings = Settings()
    if account is None and settings.accounts_file is None:
        sim = _simulator(settings)
        url = url or DEFAULT_URL
    else:
        chosen = resolve(account, settings)
        sim = _account_simulator(chosen)
        url = url or f"{DEFAULT_URL}/{chosen.id}"
    user = openid or "o_chat_" + uuid.uuid4().hex[:12]
    with httpx.Client(timeout=10) as client:
        if send_text:
            fields = fields_for(sim, user, send_text)
            if fields is None:
                raise typer.BadParameter(f"unknown command: {send_text}")
            typer.echo(send(client, url, sim, fields))
            return
        typer.echo(f"已连接 {url}（用户 {user}，模式 {sim.mode}）。{HELP}")
        while True:
            try:
                line = input("我> ").strip()
            except (EOFError, KeyboardInterrupt):
                typer.echo("")
                return
            if not line:
                continue
            if line in ("/quit", "/exit"):
                return
            if line == "/help":
                typer.echo(HELP)
                continue
            fields = fields_for(sim, user, line)
            if fields is None:
                typer.echo(HELP)
                continue
            try:
                typer.echo("服务号> " + send(client, url, sim, fields))
            except httpx.HTTPError as exc:
                typer.echo(f"[连接失败] {exc}")
