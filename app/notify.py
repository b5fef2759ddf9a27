"""Telling a citizen something after the conversation: a customer-service message while
WeChat's 48-hour window is open, else a template message, else an honest "could not".

WeChat lets an account message a user freely (客服消息) only within 48 hours of the user's last
message; after that only a template message (模板消息), pre-approved in the console, gets
through. The window is read from the turn log (the citizen's last non-retry row). A send that
WeChat refuses with 45015 (window closed after all) or 45047 (this window's quota used) falls
back to the template; neither is retried as such. Nothing here raises: every outcome is a
`Delivery` the caller stores.

The interface is two calls, shared by the desk (replies, status changes) and reminders:

    notifier = Notifier(client=wechat, window=TurnLogWindow(engine, key), templates=templates, store=store)
    delivery = await notifier.notify(openid, Notice(text="…", fields={"number": "…"}), template="ticket",
                                     once="ticket-event:42")

`once` makes the send idempotent across retries and workers: the first caller claims the key in
the shared store (Redis) and later callers get `Delivery(False, "", "duplicate")` without
sending. Template set-up (desk.yaml `notify.templates`, README "Template messages"):

    ticket:
      template_id: "Kx9…"          # from the console (模板消息 → 我的模板)
      url: ""                       # optional page the message opens
      fields:                       # the template's keys → text with {placeholders} from Notice.fields
        first: "您好，您提交的事项有新的进展。"
        keyword1: "{number}"
        keyword2: "{status}"
        remark: "{text}"
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal

import structlog
from sqlalchemy import Engine, func, select

from app.db.models import TurnRow
from app.stores.base import Store, StoreUnavailable
from app.turnlog.privacy import Pseudonymiser
from app.wxapi import WeChatClient, WeChatError
from app.wxapi.errors import QUOTA_USED, WINDOW_CLOSED, WeChatApiError

log = structlog.get_logger(__name__)

WINDOW = timedelta(hours=48)
# Keep idempotency claims well past any retry of the same work.
ONCE_TTL_S = 14 * 24 * 3600
Channel = Literal["kf", "template", ""]


@dataclass(frozen=True, slots=True)
class Notice:
    """What to say: `text` for a customer-service message, `fields` for a template's placeholders
    (`text` is available there as `{text}` too)."""

    text: str
    fields: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Delivery:
    ok: bool
    channel: Channel
    # "sent", or why not: "45015", "45047", "timeout", "no_template", "not_configured", "duplicate"…
    detail: str

    def describe(self) -> str:
        """For staff: what happened, in the desk's language."""
        if self.ok:
            return "已通过客服消息送达" if self.channel == "kf" else "已通过模板消息送达"
        return FAILURES.get(self.detail.split(";")[-1].strip(), f"发送失败（{self.detail}）")


FAILURES = {
    "no_template": "群众 48 小时内没有发消息，客服消息无法送达，且未配置模板消息：请电话联系",
    "not_configured": "未配置公众号 AppSecret，无法发送消息",
    "45015": "客服消息窗口已关闭，且模板消息未送达",
    "45047": "客服消息额度已用完，且模板消息未送达",
    "duplicate": "该消息已发送过，未重复发送",
    "timeout": "微信接口超时，未确认送达",
    # A worker died between claiming the send and storing its result (app/desk/outbox.py).
    "interrupted": "发送过程中断，无法确认是否送达；为免重复打扰，系统不会自动重发，如需请电话联系",
}


@dataclass(frozen=True, slots=True)
class Template:
    template_id: str
    fields: Mapping[str, str]
    url: str = ""


class NotifyConfigError(ValueError):
    """`notify.templates` is malformed; the message names the template."""


def parse_templates(raw: Mapping[str, object] | None) -> dict[str, Template]:
    templates: dict[str, Template] = {}
    for name, spec in (raw or {}).items():
        if not isinstance(spec, Mapping) or not isinstance(spec.get("template_id"), str) or not spec["template_id"]:
            raise NotifyConfigError(f"notify.templates.{name}: template_id is required")
        fields = spec.get("fields", {})
        if not isinstance(fields, Mapping) or not fields:
            raise NotifyConfigError(f"notify.templates.{name}: fields must map template keys to text")
        templates[str(name)] = Template(
            template_id=spec["template_id"],
            fields={str(k): str(v) for k, v in fields.items()},
            url=str(spec.get("url", "") or ""),
        )
    return templates


class _Blank(dict[str, str]):
    def __missing__(self, key: str) -> str:
        return ""


def fill(template: Template, notice: Notice) -> dict[str, str]:
    values = _Blank({**notice.fields, "text": notice.text})
    # Template values are capped by WeChat (about 200 characters for most keys).
    return {key: text.format_map(values)[:200] for key, text in template.fields.items()}


LastMessage = Callable[[str], Awaitable[datetime | None]]


class TurnLogWindow:
    """When the citizen last wrote to the account, from the turn log (pseudonymous ids)."""

    def __init__(self, engine: Engine, pseudonym_key: bytes) -> None:
        self.engine = engine
        self.pseudonym = Pseudonymiser(pseudonym_key)

    def last_message_sync(self, openid: str) -> datetime | None:
        with self.engine.connect() as conn:
            at: datetime | None = conn.execute(
                select(func.max(TurnRow.received_at)).where(
                    TurnRow.user_id == self.pseudonym(openid), TurnRow.is_retry.is_(False)
                )
            ).scalar_one_or_none()
        if at is not None and at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        return at

    async def __call__(self, openid: str) -> datetime | None:
        return await asyncio.to_thread(self.last_message_sync, openid)


class Notifier:
    def __init__(
        self,
        *,
        client: WeChatClient | None,
        window: LastMessage,
        templates: Mapping[str, Template] | None = None,
        store: Store | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        budget_s: float = 10.0,
    ) -> None:
        self.client = client
        self.window = window
        self.templates = dict(templates or {})
        self.store = store
        self.clock = clock
        self.budget_s = budget_s

    async def window_open(self, openid: str) -> bool:
        last = await self.window(openid)
        return last is not None and self.clock() - last < WINDOW

    async def notify(self, openid: str, notice: Notice, *, template: str = "ticket", once: str = "") -> Delivery:
        """Send `notice` by the best channel open; never raises."""
        if self.client is None:
            return Delivery(False, "", "not_configured")
        if once and not await self._claim(once):
            return Delivery(False, "", "duplicate")
        refused = ""
        if await self.window_open(openid):
            try:
                async with asyncio.timeout(self.budget_s):
                    await self.client.send_text(openid, notice.text)
                return Delivery(True, "kf", "sent")
            except WeChatApiError as exc:
                if exc.errcode not in (WINDOW_CLOSED, QUOTA_USED):
                    return Delivery(False, "kf", exc.code)
                refused = exc.code  # the window closed after all, or its quota is used: template
            except TimeoutError:
                # Unknown whether it arrived: a template on top might say it twice. Staff see it.
                return Delivery(False, "kf", "timeout")
            except WeChatError as exc:
                return Delivery(False, "kf", exc.code)
        spec = self.templates.get(template)
        if spec is None:
            return Delivery(False, "", f"{refused}; no_template" if refused else "no_template")
        try:
            async with asyncio.timeout(self.budget_s):
                await self.client.send_template(openid, spec.template_id, fill(spec, notice), url=spec.url)
        except TimeoutError:
            return Delivery(False, "template", "timeout")
        except WeChatError as exc:
            return Delivery(False, "template", f"{refused}; {exc.code}" if refused else exc.code)
        return Delivery(True, "template", "sent")

    async def _claim(self, key: str) -> bool:
        if self.store is None:
            return True
        try:
            return await self.store.set_if_absent(f"notify:once:{key}", b"1", ONCE_TTL_S)
        except StoreUnavailable:
            # Without the shared store we cannot prove nobody sent it; the caller's own claim
            # (the desk's event row) still holds, so sending is the lesser risk.
            log.warning("notify_claim_unavailable")
            return True
