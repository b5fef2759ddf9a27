"""`/desk/`: the staff desk's pages, server-rendered (Jinja2), one page per task.

Every page needs a desk session (app/desk/auth.py); every form carries `csrf_token` and is
refused without the session's token; every response carries the security headers (a CSP
with no inline script at all, no referrer, no framing). Reads are plain `def` endpoints
(FastAPI's thread pool, so the database never blocks a WeChat reply on the event loop);
actions that message the citizen are `async` and push the blocking parts to threads.
"""

# No `from __future__ import annotations`: FastAPI reads the Annotated dependencies at definition.

import asyncio
import csv
import io
import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

import jinja2
from fastapi import APIRouter, Depends, FastAPI, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine

from app.desk import staff as staff_repo
from app.desk import tickets as repo
from app.desk import workflow
from app.desk.auth import COOKIE, DeskSession, LoginThrottle, SessionCodec, csrf_matches, new_csrf
from app.desk.config import DeskConfig
from app.desk.outbox import deliver
from app.desk.sla import SHANGHAI, time_left
from app.desk.staff import Role, Staff
from app.errors import NotFound
from app.notify import Delivery, Notifier
from app.turnlog.privacy import mask_personal_data
from flows.schema import CONFIRM_STEP, DONE, RETRY_STEP, SATISFACTION_STEP

HERE = Path(__file__).parent
CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "X-Robots-Tag": "noindex",
}
THROTTLED = "登录失败次数过多，请15分钟后再试。"
BAD_LOGIN = "用户名或密码不正确，或账号已停用。"
# Shown after an action redirects back; codes, never text from the request, so nothing is reflected.
NOTICES = {
    "assigned": "已更新处理人。",
    "status": "状态已更新。",
    "replied": "回复已提交。",
    "repeat": "该操作已提交过，未重复执行。",
    "refused": "该操作不适用于工单当前状态。",
    "empty": "回复内容不能为空。",
}


@dataclass(slots=True)
class Desk:
    """What the desk's routes need, built once in the lifespan."""

    engine: Engine
    codec: SessionCodec
    throttle: LoginThrottle
    # One per account (app.accounts id): each account messages citizens with its own client.
    notifiers: Mapping[str, Notifier]
    config: DeskConfig
    secure_cookie: bool = True
    accounts: tuple[str, ...] = ("default",)
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    env: jinja2.Environment = field(init=False)

    def __post_init__(self) -> None:
        self.env = jinja2.Environment(
            loader=jinja2.FileSystemLoader(HERE / "templates"),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
        )
        self.env.filters["local"] = lambda at: at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if at else ""
        self.env.filters["mask"] = workflow.mask_phone

    def notifier(self, account: str) -> Notifier:
        """The account's notifier; one without a client ("not configured") for an unknown account."""
        found = self.notifiers.get(account)
        if found is None:
            found = Notifier(client=None, window=_no_window)
        return found


async def _no_window(openid: str) -> datetime | None:
    return None

class LoginRequired(Exception):
    """No valid desk session: pages redirect to the login form."""


class Forbidden(Exception):
    """Logged in, but the role does not allow this."""


class CsrfRefused(Exception):
    """A form without the session's CSRF token."""


# What the engine's own steps and the follow-up handler's turns were doing, in staff's words.
_STEP_WORDS = {CONFIRM_STEP: "核对信息", RETRY_STEP: "提交失败待重试", SATISFACTION_STEP: "评价", DONE: "已完成"}
_OTHER_FLOWS = {"followup": "查询/改约/取消", "rating": "评价", "subscribe": "订阅"}


def _where_in_flow(resources: Any, account: str, flow_id: str, step: str) -> str:
    """「预约办事（填写：预约日期、时段）」 for a hand-off inside a flow: its title and what it was
    asking, never the ids staff do not know (a flow no longer loaded keeps its id)."""
    if not flow_id:
        return ""
    try:
        registry = resources.account(account).flows()
    except NotFound:
        registry = None
    flow = registry.current(flow_id) if registry is not None else None
    if flow is None:
        return _OTHER_FLOWS.get(flow_id, flow_id)
    if step in _STEP_WORDS:
        return f"{flow.title}（{_STEP_WORDS[step]}）"
    asked: list[str] = next((s.ask for s in flow.steps if s.id == step), [])
    labels = "、".join(flow.slots[name].label for name in asked if name in flow.slots)
    return f"{flow.title}（填写：{labels}）" if labels else flow.title


def get_desk(request: Request) -> Desk:
    desk: Desk | None = getattr(request.app.state.resources, "desk", None)
    assert desk is not None, "the desk is built in the lifespan"
    return desk


DeskDep = Annotated[Desk, Depends(get_desk)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else ""


def session_of(request: Request, desk: Desk) -> DeskSession | None:
    return desk.codec.decode(request.cookies.get(COOKIE))


def staff_for(request: Request, desk: Desk) -> Staff | None:
    """The logged-in staff member, checked against the database on every request."""
    session = session_of(request, desk)
    if session is None or session.staff_id is None:
        return None
    member = staff_repo.get_by_id(desk.engine, session.staff_id)
    if member is None or member.disabled or member.session_version != session.version:
        return None
    request.state.desk_session = session
    return member


def current_staff(request: Request, desk: DeskDep) -> Staff:
    member = staff_for(request, desk)
    if member is None:
        raise LoginRequired()
    return member


StaffDep = Annotated[Staff, Depends(current_staff)]


def role(minimum: Role) -> Callable[..., Staff]:
    def check(member: StaffDep) -> Staff:
        if not member.at_least(minimum):
            raise Forbidden()
        return member

    return check


AgentDep = Annotated[Staff, Depends(role("agent"))]
AdminDep = Annotated[Staff, Depends(role("admin"))]


def check_csrf(request: Request, csrf_token: Annotated[str, Form()] = "") -> None:
    session = getattr(request.state, "desk_session", None) or session_of(request, get_desk(request))
    if not csrf_matches(session, csrf_token):
        raise CsrfRefused()


CsrfDep = Depends(check_csrf)


def secure(response: Response) -> Response:
    for name, value in SECURITY_HEADERS.items():
        response.headers[name] = value
    return response


def set_session(response: Response, desk: Desk, session: DeskSession) -> None:
    response.set_cookie(
        COOKIE,
        desk.codec.encode(session),
        max_age=int(desk.codec.idle_s),
        httponly=True,
        samesite="strict",
        secure=desk.secure_cookie,
        path="/",
    )


def render(request: Request, desk: Desk, template: str, status_code: int = 200, **context: Any) -> HTMLResponse:
    session = getattr(request.state, "desk_session", None) or session_of(request, desk)
    if session is None:
        session = DeskSession(csrf=new_csrf())
    member = context.get("me")
    html = desk.env.get_template(template).render(
        csrf=session.csrf,
        request_key=secrets.token_urlsafe(16),
        statuses=workflow.STATUSES,
        kinds=workflow.KINDS,
        role_labels=staff_repo.ROLE_LABELS,
        me=member,
        **{k: v for k, v in context.items() if k != "me"},
    )
    response = HTMLResponse(html, status_code=status_code)
    # Re-signed on every page: the idle expiry runs from the last request.
    set_session(response, desk, session)
    return secure(response)  # type: ignore[return-value]


def redirect(url: str) -> Response:
    return secure(RedirectResponse(url, status_code=303))


def _ticket_url(number: str, notice: str = "") -> str:
    return f"/desk/tickets/{number}" + (f"?notice={notice}" if notice else "")


def build_desk_router() -> APIRouter:
    router = APIRouter(prefix="/desk", include_in_schema=False)
    category_cache: dict[str, tuple[float, list[str]]] = {}

    def categories(desk: Desk) -> list[str]:
        hit = category_cache.get("all")
        if hit is not None and time.monotonic() - hit[0] < 60:
            return hit[1]
        found = repo.categories(desk.engine)
        category_cache["all"] = (time.monotonic(), found)
        return found

    @router.get("/static/desk.css")
    def stylesheet() -> Response:
        css = (HERE / "static" / "desk.css").read_text(encoding="utf-8")
        response = Response(css, media_type="text/css")
        secure(response)
        response.headers["Cache-Control"] = "max-age=3600"
        return response

    @router.get("/login")
    def login_form(request: Request, desk: DeskDep) -> Response:
        if staff_for(request, desk) is not None:
            return redirect("/desk/")
        return render(request, desk, "login.html", error="", username="")

    @router.post("/login", dependencies=[CsrfDep])
    async def login(
        request: Request,
        desk: DeskDep,
        username: Annotated[str, Form()] = "",
        password: Annotated[str, Form()] = "",
    ) -> Response:
        address = client_address(request)
        username = username.strip()[:64]
        if await desk.throttle.blocked(username, address):
            await asyncio.to_thread(
                staff_repo.audit, desk.engine, username or "?", "login_failed", detail="throttled", address=address
            )
            return render(request, desk, "login.html", 429, error=THROTTLED, username=username)
        member = await asyncio.to_thread(staff_repo.authenticate, desk.engine, username, password)
        if member is None:
            await desk.throttle.failed(username, address)
            await asyncio.to_thread(
                staff_repo.audit, desk.engine, username or "?", "login_failed", address=address
            )
            return render(request, desk, "login.html", 401, error=BAD_LOGIN, username=username)
        await desk.throttle.succeeded(username, address)
        await asyncio.to_thread(staff_repo.audit, desk.engine, member.username, "login", address=address)
        response = redirect("/desk/")
        # A fresh CSRF token at login: one planted in the browser before it is worthless.
        set_session(
            response, desk,
            DeskSession(csrf=new_csrf(), staff_id=member.id, version=member.session_version, login_at=time.time()),
        )
        return response

    @router.post("/logout", dependencies=[CsrfDep])
    def logout(request: Request, desk: DeskDep, me: StaffDep) -> Response:
        staff_repo.audit(desk.engine, me.username, "logout", address=client_address(request))
        response = redirect("/desk/login")
        response.delete_cookie(COOKIE, path="/")
        return response

    def queue_filter(
        status: str = "open", kind: str = "", category: str = "", account: str = "", assignee: str = "",
        age: str = "", q: str = "", page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    ) -> repo.QueueFilter:
        return repo.QueueFilter(
            status=status[:16], kind=kind[:8], category=category[:64], account=account[:64],
            assignee=assignee[:64], age=age[:8], q=q.strip()[:40], page=page,
        )

    FilterDep = Annotated[repo.QueueFilter, Depends(queue_filter)]

    @router.get("/")
    def queue_page(request: Request, desk: DeskDep, me: StaffDep, f: FilterDep) -> Response:
        now = desk.clock()
        if f.assignee == "me":
            f = repo.QueueFilter(**{**_asdict(f), "assignee": me.username})
        result = repo.queue(desk.engine, f, accounts=me.accounts, now=now)
        if f.q:
            staff_repo.audit(desk.engine, me.username, "search", detail=f"q={f.q}", address=client_address(request))
        params = f.params()
        pages = {
            "prev": "?" + urlencode({**params, "page": str(result.page - 1)}) if result.page > 1 else "",
            "next": "?" + urlencode({**params, "page": str(result.page + 1)}) if result.more else "",
        }
        return render(
            request, desk, "queue.html", me=me, f=f, result=result, now=now, pages=pages,
            time_left=lambda due: time_left(due, now),
            categories=categories(desk),
            accounts=me.accounts or desk.accounts,
            staff_names=[s.username for s in staff_repo.all_staff(desk.engine) if not s.disabled],
            export_url="/desk/tickets.csv" + ("?" + urlencode(params) if params else ""),
        )

    @router.get("/tickets/{number}")
    def ticket_page(
        request: Request, desk: DeskDep, me: StaffDep, number: str, notice: str = ""
    ) -> Response:
        found = repo.view(desk.engine, number[:32])
        if found is None or not me.sees_account(found.ticket.account):
            return render(request, desk, "error.html", 404, me=me, message="没有找到这个工单。")
        # Agents open the citizen's personal data (phone, fields in full), and that is audited.
        personal = me.at_least("agent")
        if personal:
            staff_repo.audit(
                desk.engine, me.username, "view_personal", ticket=found.ticket.number, address=client_address(request)
            )
        now = desk.clock()
        return render(
            request, desk, "ticket.html", me=me, t=found.ticket, events=found.events, turns=found.turns,
            personal=personal, fields=_shown_fields(found.ticket.fields, personal),
            moves=workflow.TRANSITIONS.get(found.ticket.status, ()),
            due_text=time_left(found.ticket.due_at, now),
            overdue=found.ticket.due_at is not None and found.ticket.due_at < now,
            notice=NOTICES.get(notice, ""),
            staff_names=[s.username for s in staff_repo.all_staff(desk.engine) if s.at_least("agent")
                         and not s.disabled],
            delivery_text=_delivery_text,
        )

    @router.post("/tickets/{number}/assign", dependencies=[CsrfDep])
    def assign(
        request: Request, desk: DeskDep, me: AgentDep, number: str,
        assignee: Annotated[str, Form()] = "", request_key: Annotated[str, Form()] = "",
    ) -> Response:
        ticket = repo.find(desk.engine, number[:32])
        if ticket is None or not me.sees_account(ticket.account):
            raise Forbidden()
        target = me.username if assignee == "me" else assignee.strip()[:64]
        if target and staff_repo.get(desk.engine, target) is None:
            return redirect(_ticket_url(number, "refused"))
        event = repo.assign(desk.engine, ticket.number, me.username, target, request_key=request_key or None)
        if event is None:
            return redirect(_ticket_url(number, "repeat"))
        staff_repo.audit(desk.engine, me.username, "assign", ticket=ticket.number, detail=target,
                         address=client_address(request))
        return redirect(_ticket_url(number, "assigned"))

    @router.post("/tickets/{number}/status", dependencies=[CsrfDep])
    async def change_status(
        request: Request, desk: DeskDep, me: AgentDep, number: str,
        status: Annotated[str, Form()], note: Annotated[str, Form()] = "",
        notify: Annotated[str, Form()] = "", request_key: Annotated[str, Form()] = "",
    ) -> Response:
        ticket = await asyncio.to_thread(repo.find, desk.engine, number[:32])
        if ticket is None or not me.sees_account(ticket.account):
            raise Forbidden()
        try:
            event = await asyncio.to_thread(
                repo.change_status, desk.engine, ticket.number, me.username, status, note.strip()[:2000],
                notify=bool(notify) and status in workflow.CITIZEN_NOTICES, request_key=request_key or None,
            )
        except repo.ActionRefused:
            return redirect(_ticket_url(number, "refused"))
        if event is None:
            return redirect(_ticket_url(number, "repeat"))
        await asyncio.to_thread(
            staff_repo.audit, desk.engine, me.username, "status", ticket=ticket.number,
            detail=f"{ticket.status} → {status}", address=client_address(request),
        )
        await deliver(desk.engine, desk.notifier, event)
        return redirect(_ticket_url(number, "status"))

    @router.post("/tickets/{number}/reply", dependencies=[CsrfDep])
    async def reply(
        request: Request, desk: DeskDep, me: AgentDep, number: str,
        text: Annotated[str, Form()] = "", request_key: Annotated[str, Form()] = "",
    ) -> Response:
        ticket = await asyncio.to_thread(repo.find, desk.engine, number[:32])
        if ticket is None or not me.sees_account(ticket.account):
            raise Forbidden()
        try:
            event = await asyncio.to_thread(
                repo.reply, desk.engine, ticket.number, me.username, text[:2000], request_key=request_key or None
            )
        except repo.ActionRefused:
            return redirect(_ticket_url(number, "empty"))
        if event is None:
            return redirect(_ticket_url(number, "repeat"))
        await asyncio.to_thread(
            staff_repo.audit, desk.engine, me.username, "reply", ticket=ticket.number, address=client_address(request)
        )
        await deliver(desk.engine, desk.notifier, event)
        return redirect(_ticket_url(number, "replied"))

    @router.get("/handoffs")
    def handoffs_page(
        request: Request, desk: DeskDep, me: StaffDep, hours: Annotated[int, Query(ge=1, le=168)] = 24
    ) -> Response:
        found = repo.handoffs(desk.engine, since=desk.clock() - timedelta(hours=hours), accounts=me.accounts)
        resources = request.app.state.resources
        described = [(h, _where_in_flow(resources, h.account, h.flow_id, h.step)) for h in found]
        return render(request, desk, "handoffs.html", me=me, handoffs=described, hours=hours)

    @router.get("/audit")
    def audit_page(
        request: Request, desk: DeskDep, me: AdminDep, actor: str = "", ticket: str = "",
        page: Annotated[int, Query(ge=1, le=10_000)] = 1,
    ) -> Response:
        entries = staff_repo.audit_entries(
            desk.engine, actor=actor[:64], ticket=ticket[:32], limit=100, offset=(page - 1) * 100
        )
        return render(request, desk, "audit.html", me=me, entries=entries, actor=actor, ticket=ticket, page=page,
                      members=staff_repo.all_staff(desk.engine))

    @router.get("/tickets.csv")
    def export_csv(request: Request, desk: DeskDep, me: AdminDep, f: FilterDep) -> Response:
        rows = repo.export_rows(desk.engine, f, accounts=me.accounts)
        staff_repo.audit(
            desk.engine, me.username, "export", detail=f"csv {len(rows)} rows {urlencode(f.params())}",
            address=client_address(request),
        )
        body = "\ufeff" + tickets_csv(rows)  # the BOM: Excel opens UTF-8 Chinese correctly only with it
        response = Response(body.encode("utf-8"), media_type="text/csv; charset=utf-8")
        stamp = desk.clock().astimezone(SHANGHAI).strftime("%Y%m%d-%H%M")
        response.headers["Content-Disposition"] = f'attachment; filename="tickets-{stamp}.csv"'
        return secure(response)

    return router


EXPORT_HEADER = (
    "编号", "类型", "类别", "状态", "公众号", "处理人", "提交时间", "首次响应", "办结时间", "联系电话", "内容",
)


def export_record(ticket: Any) -> list[str]:
    def local(at: datetime | None) -> str:
        return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if at else ""

    content = "；".join(f"{k}：{v}" for k, v in (ticket.fields or {}).items())
    return [
        ticket.number, ticket.kind, ticket.category, ticket.status, ticket.account, ticket.assignee,
        local(ticket.created_at), local(ticket.first_response_at), local(ticket.resolved_at), ticket.phone,
        content,
    ]


def tickets_csv(rows: list[Any]) -> str:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(EXPORT_HEADER)
    for ticket in rows:
        # A cell starting with = + - @ would run as a formula in Excel (CSV injection).
        writer.writerow([("'" + c) if c[:1] in ("=", "+", "-", "@") else c for c in export_record(ticket)])
    return out.getvalue()


def _asdict(f: repo.QueueFilter) -> dict[str, Any]:
    return {name: getattr(f, name) for name in f.__dataclass_fields__}


def _shown_fields(fields: dict[str, str], personal: bool) -> list[tuple[str, str]]:
    if personal:
        return list(fields.items())
    shown = []
    for label, value in fields.items():
        if label in workflow.PHONE_LABELS:
            value = workflow.mask_phone("".join(ch for ch in value if ch.isdigit()))
        elif label in ("预约人姓名", "姓名"):
            value = value[:1] + "*" * (len(value) - 1)
        else:
            # Free text carries numbers too (「电话13812345678」): masked as in the turn log.
            value = mask_personal_data(value)
        shown.append((label, value))
    return shown


def _delivery_text(event: repo.Event) -> str:
    if event.delivery == "none":
        return ""
    if event.delivery == "pending":
        return "待发送"
    if event.delivery == "sending":
        return "发送中（未确认）"
    return Delivery(event.delivery == "sent", event.channel, event.delivery_detail).describe()  # type: ignore[arg-type]


def install(app: FastAPI) -> None:
    """The desk's routes and the handlers that turn its exceptions into pages."""
    app.include_router(build_desk_router())

    @app.exception_handler(LoginRequired)
    async def to_login(request: Request, exc: LoginRequired) -> Response:
        response = redirect("/desk/login")
        response.delete_cookie(COOKIE, path="/")
        return response

    @app.exception_handler(Forbidden)
    async def forbidden(request: Request, exc: Forbidden) -> Response:
        return secure(HTMLResponse(_plain_page("没有权限", "您的账号没有执行此操作的权限。"), status_code=403))

    @app.exception_handler(CsrfRefused)
    async def csrf_refused(request: Request, exc: CsrfRefused) -> Response:
        return secure(HTMLResponse(
            _plain_page("页面已过期", "表单已过期或来源不明，请返回刷新页面后重试。"), status_code=403
        ))


def _plain_page(title: str, message: str) -> str:
    return (
        f'<!doctype html><html lang="zh-CN"><head><meta charset="utf-8"><title>{title}</title>'
        f'<link rel="stylesheet" href="/desk/static/desk.css"></head><body class="plain"><main class="card">'
        f'<h1>{title}</h1><p>{message}</p><p><a href="/desk/">返回工单列表</a></p></main></body></html>'
    )
